-- Stock availability as events: a store written before StockAvailabilityChanged existed gets one for every warehouse
-- that has stock to sell (available > 0), appended to its inventory stream as that warehouse's next event, so that
-- the products read model (which folds these events and no longer every reservation) shows what is in stock after
-- `python -m projector rebuild products` (run by `make up` through `projector upgrade`). A stream that has such an
-- event already is left alone, so running this on a newer store changes nothing. The write API folds the appended
-- events like any other (a snapshot older than them is simply caught up), and the relay publishes them.
INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
SELECT w.stream_id,
       'inventory',
       w.head + row_number() OVER (PARTITION BY w.stream_id ORDER BY w.warehouse),
       gen_random_uuid(),
       'StockAvailabilityChanged',
       1,
       jsonb_build_object(
           'sku', w.sku, 'warehouse', w.warehouse, 'in_stock', true, 'warehouse_version', w.events + 1
       ),
       jsonb_build_object('migration', '0002_stock_availability')
FROM (
    SELECT e.stream_id,
           e.data->>'sku' AS sku,
           e.data->>'warehouse' AS warehouse,
           count(*) AS events,
           sum(CASE e.event_type WHEN 'StockReceived' THEN (e.data->>'quantity')::bigint
                                 WHEN 'StockAdjusted' THEN (e.data->>'delta')::bigint
                                 WHEN 'StockShipped' THEN -(e.data->>'quantity')::bigint ELSE 0 END)
         - sum(CASE e.event_type WHEN 'StockReserved' THEN (e.data->>'quantity')::bigint
                                 WHEN 'StockReservationReleased' THEN -(e.data->>'quantity')::bigint
                                 WHEN 'StockShipped' THEN -(e.data->>'quantity')::bigint ELSE 0 END) AS available,
           (SELECT max(h.version) FROM events h WHERE h.stream_id = e.stream_id) AS head
    FROM events e
    WHERE e.stream_type = 'inventory'
      AND NOT EXISTS (
          SELECT 1 FROM events x WHERE x.stream_id = e.stream_id AND x.event_type = 'StockAvailabilityChanged'
      )
    GROUP BY e.stream_id, e.data->>'sku', e.data->>'warehouse'
) w
WHERE w.available > 0;
