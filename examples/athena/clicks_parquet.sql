-- Athena / Glue table over examples/s3-parquet-athena.yaml's output.
-- Replace my-data-lake with your bucket (outputs[].s3.bucket). The columns
-- are the pipeline's schema, in order, with these types (the Parquet
-- files' own: string → UTF8, int64 → INT64, float64 → DOUBLE, bool →
-- BOOLEAN, timestamp → TIMESTAMP(MICROS, UTC)); examples_test.go checks
-- this list against the files the pipeline writes.
--
-- Partition projection computes the partitions from the dt=/hr= keys: no
-- crawler, no MSCK REPAIR TABLE, no ALTER TABLE ADD PARTITION.
CREATE EXTERNAL TABLE IF NOT EXISTS clicks_parquet (
  event_id   string,
  user_id    string,
  page       string,
  country    string,
  ts         timestamp,
  price      double,
  user_agent string
)
PARTITIONED BY (dt string, hr string)
STORED AS PARQUET
LOCATION 's3://my-data-lake/clicks-parquet/'
TBLPROPERTIES (
  'projection.enabled'        = 'true',
  'projection.dt.type'        = 'date',
  'projection.dt.format'      = 'yyyy-MM-dd',
  'projection.dt.range'       = '2026-01-01,NOW',
  'projection.dt.interval'    = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hr.type'        = 'integer',
  'projection.hr.range'       = '0,23',
  'projection.hr.digits'      = '2',
  'storage.location.template' = 's3://my-data-lake/clicks-parquet/dt=${dt}/hr=${hr}/'
);

-- At-least-once delivery: a crash between an upload and its checkpoint
-- writes the replayed rows again (into another file). Deduplicate by id:
--   SELECT country, count(DISTINCT event_id) AS clicks
--   FROM clicks_parquet
--   WHERE dt = '2026-11-22' AND hr BETWEEN '08' AND '12'
--   GROUP BY country ORDER BY clicks DESC;
