-- Quarantined log records: one row per record the log label-set transform
-- quarantined (Vector sink `clickhouse_quarantine`, deploy/vector/vector.yaml).
--
-- `record` is the record exactly as the wasm module would have written it:
-- reserved fields moved into `starform_shadowed`, and
-- `starform_quarantine = {"reason": …, "key": …}`. `reason` and `key` are
-- copies of that object for filtering; `namespace` is the pod's namespace
-- as the record gives it ('' when it has none) — untrusted, for triage only.
--
-- No `project` column: a quarantined record has no trusted project, and
-- must never be shown to a tenant. Operators look at it by reason first.
--
-- Retention: 30 days (enough to notice and fix a labelling problem), one
-- partition per day dropped whole once expired.
CREATE DATABASE IF NOT EXISTS starform;

CREATE TABLE IF NOT EXISTS starform.logs_quarantine
(
    timestamp DateTime64(9, 'UTC') DEFAULT now64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    -- missing_label, invalid_value, conflict, namespace_mismatch, too_large
    -- (docs/contracts.md); malformed cannot reach Vector.
    reason    LowCardinality(String),
    -- The label key or field path at fault; NULL for too_large.
    key       Nullable(String),
    namespace LowCardinality(String),
    record    String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (reason, namespace, timestamp)
TTL toDateTime(timestamp) + INTERVAL 30 DAY DELETE
SETTINGS ttl_only_drop_parts = 1;
