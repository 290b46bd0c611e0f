"""The search API: every read, answered from the Elasticsearch read models only."""
