"""The projector: consumes events from RabbitMQ and keeps the Elasticsearch read models."""
