-- Accepted log records: one row per record the log label-set transform
-- accepted (Vector sink `clickhouse_logs`, deploy/vector/vector.yaml).
--
-- `record` is the record exactly as the transform shaped it (compact JSON:
-- the customer's fields, `kubernetes`, `starform_shadowed`, and the
-- validated `project`/`environment`/`service`/`log_kind`); the other columns
-- are copies of those four for filtering and retention, plus the time
-- Fluent Bit stamped the record with.
--
-- Tenant isolation: every dashboard query filters `project = '<id>'`, so
-- `project` leads the sort key and a query reads only that tenant's granules.
--
-- Retention by log kind (TTL below): runtime logs 30 days, build logs 90
-- days. Parts are split by (log_kind, day), so with ttl_only_drop_parts an
-- expired day of one kind is dropped whole instead of rewritten.
CREATE DATABASE IF NOT EXISTS starform;

CREATE TABLE IF NOT EXISTS starform.logs
(
    timestamp   DateTime64(9, 'UTC') DEFAULT now64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    project     LowCardinality(String),
    environment LowCardinality(String),
    service     LowCardinality(String),
    -- 'runtime' or 'build' (a starform.io/build-id label was present).
    log_kind    LowCardinality(String),
    record      String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY (log_kind, toDate(timestamp))
ORDER BY (project, environment, service, timestamp)
TTL toDateTime(timestamp) + INTERVAL 30 DAY DELETE WHERE log_kind = 'runtime',
    toDateTime(timestamp) + INTERVAL 90 DAY DELETE WHERE log_kind = 'build'
SETTINGS ttl_only_drop_parts = 1;
