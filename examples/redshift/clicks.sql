-- Redshift table for examples/csv-redshift.yaml. Columns in the order the
-- pipeline writes them (its schema, then derived columns), the same list as
-- the delivery stream's DataTableColumns. (examples_test.go creates this
-- table in PostgreSQL, which firehose-local loads as Redshift would.)
CREATE TABLE IF NOT EXISTS clicks (
  event_id    varchar(36)  NOT NULL,
  user_id     varchar(32),
  page        varchar(256),
  country     char(2),
  ts          timestamp,
  price       double precision,
  user_agent  varchar(512),
  price_cents bigint
);

-- At-least-once delivery: the same event can arrive twice (a replay after a
-- crash, a COPY Firehose retried). Either deduplicate when reading:
--   SELECT count(DISTINCT event_id) FROM clicks;
-- or have Firehose load into a staging table (DataTableName clicks_staging)
-- and merge it on a schedule:
--   MERGE INTO clicks USING clicks_staging s ON clicks.event_id = s.event_id
--   WHEN MATCHED THEN UPDATE SET ts = s.ts
--   WHEN NOT MATCHED THEN INSERT VALUES (s.event_id, s.user_id, s.page, s.country, s.ts, s.price, s.user_agent, s.price_cents);
--   TRUNCATE clicks_staging;
