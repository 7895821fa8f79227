//! The logs pipe end to end on the real store: the golden corpus as the node
//! (the wasm module) emits it, through the aggregator as Vector runs it (the
//! rules for the case's configuration, then the row programs of
//! deploy/vector/vector.yaml), inserted into the tables of deploy/clickhouse/
//! in a real ClickHouse engine (chdb) — and read back with the dashboard's
//! query from docs/queries.md, once per tenant.
//!
//! Asserted: every corpus record lands in exactly one table, accepted ones in
//! `starform.logs` and quarantined ones in `starform.logs_quarantine`, with
//! the node's verdict and the node's record byte for byte (nothing lost,
//! nothing rewritten); the tenant query returns exactly that tenant's rows,
//! with time, environment, service, log kind, stream and line.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::clickhouse;
use crate::support::vrl::vector::{self, Namespace, VectorTwin};
use serde_json::{json, Map, Value as Json};
use starform_host_tests::queries::doc_query;
use starform_host_tests::repo_root;
use starform_vector_transform::{TransformConfig, QUARANTINE_FIELD};
use starform_wasm::vrl_program;

/// One record as it leaves the aggregator.
struct Row {
    case: String,
    /// The node's output for it (golden `expected.ndjson`).
    node: Map<String, Json>,
    /// The row Vector's clickhouse sink sends.
    row: Map<String, Json>,
    quarantined: bool,
    /// `%fluent.timestamp`, Unix milliseconds (distinct per record).
    ms: i64,
}

/// The row programs of deploy/vector/vector.yaml: (accepted, quarantined).
fn row_programs() -> (String, String) {
    let text = std::fs::read_to_string(repo_root().join("deploy/vector/vector.yaml")).unwrap();
    let config: Json = serde_yaml_ng::from_str(&text).unwrap();
    let program = |input: &str| {
        let transforms = config["transforms"].as_object().unwrap();
        let found: Vec<&Json> = transforms
            .values()
            .filter(|t| t["inputs"] == json!([input]))
            .collect();
        assert_eq!(found.len(), 1, "one row program after {input}");
        found[0]["source"].as_str().unwrap().to_owned()
    };
    (program("starform_labels"), program("starform_quarantine"))
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Every golden record through the aggregator, stamped `base_ms + i`.
fn aggregator_rows(base_ms: i64) -> Vec<Row> {
    let (accepted_program, quarantine_program) = row_programs();
    let accepted_program = vector::compile(&accepted_program).program;
    let quarantine_program = vector::compile(&quarantine_program).program;
    let mut rows = Vec::new();
    for case in crate::support::transform::cases() {
        // Node and aggregator run one configuration (deploy/fluent-bit/README.md).
        let config: TransformConfig = serde_json::from_slice(&case.config).unwrap();
        let mut twin = VectorTwin::new(
            &vrl_program::generate(&config).unwrap(),
            &vrl_program::generate_dropped(),
        );
        let expected = std::fs::read(case.expected_path()).unwrap();
        let node_records = crate::support::transform::parse_lines(&expected);
        assert_eq!(node_records.len(), case.records(), "{}", case.name);
        for node in node_records {
            let node = node.as_object().unwrap().clone();
            let ms = base_ms + i64::try_from(rows.len()).unwrap();
            let mut event = vector::event(&node, Namespace::Vector);
            let stamp =
                format!(r#"%fluent.timestamp = from_unix_timestamp!({ms}, unit: "milliseconds")"#);
            vector::run(&vector::compile(&stamp).program, &mut event).unwrap();
            let (mut out, quarantined) = twin
                .run_event(event)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let program = if quarantined {
                &quarantine_program
            } else {
                &accepted_program
            };
            vector::run(program, &mut out).unwrap();
            let row = serde_json::to_value(&out.value).unwrap();
            rows.push(Row {
                case: case.name.clone(),
                node,
                row: row.as_object().unwrap().clone(),
                quarantined,
                ms,
            });
        }
    }
    rows
}

fn text_field(record: &Map<String, Json>, key: &str) -> String {
    record
        .get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// What the dashboard must show for an accepted row, from the node's record
/// (never from the stored row): time, environment, service, log kind,
/// stream, line.
fn dashboard_line(row: &Row) -> Json {
    let node = &row.node;
    let line = match (node.get("log"), node.get("message")) {
        (Some(Json::String(log)), _) => log.clone(),
        (_, Some(Json::String(message))) => message.clone(),
        _ => String::new(),
    };
    json!({
        "ms": row.ms,
        "environment": text_field(node, "environment"),
        "service": text_field(node, "service"),
        "log_kind": text_field(node, "log_kind"),
        "stream": text_field(node, "stream"),
        "line": line,
    })
}

/// `x.yyy` seconds, the form ClickHouse parses into a DateTime64 parameter.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[test]
fn golden_corpus_lands_whole_and_each_tenant_reads_only_its_rows() {
    // Recent enough for the tables' TTL (30 days for runtime logs).
    let base_ms = now_ms() - 3_600_000;
    let rows = aggregator_rows(base_ms);
    let corpus: usize = crate::support::transform::cases()
        .iter()
        .map(|c| c.records())
        .sum();
    assert_eq!(rows.len(), corpus, "one row per corpus record");

    // The aggregator reaches the node's verdict, and keeps the node's
    // record unchanged (the second pass is a no-op).
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r.quarantined,
            r.node.contains_key(QUARANTINE_FIELD),
            "{} record {i}: aggregator and node disagree",
            r.case
        );
        // As the fluent source hands it over (integers above i64::MAX
        // become strings, deploy/vector/README.md); VRL writes keys sorted.
        let received = vector::to_json(&vector::from_json(&Json::Object(r.node.clone()))).unwrap();
        let stored: Json = serde_json::from_str(r.row["record"].as_str().unwrap()).unwrap();
        assert_eq!(
            stored, received,
            "{} record {i}: the stored record is the node's",
            r.case
        );
    }
    let (quarantined, accepted): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.quarantined);
    let projects: BTreeSet<String> = accepted
        .iter()
        .map(|r| text_field(&r.node, "project"))
        .collect();
    assert!(
        projects.len() >= 3 && !quarantined.is_empty(),
        "the corpus must exercise several tenants and the quarantine: {projects:?}"
    );

    // What Vector's clickhouse sink sends with the shipped options.
    let settings = "date_time_input_format='best_effort', input_format_skip_unknown_fields=0";
    let dashboard = doc_query("sql", "logs").unwrap();
    let from = seconds(base_ms - 1000);
    let to = seconds(now_ms() + 60_000);
    let tenant_query = |project: &str| {
        json!({
            // The dashboard's query as written, plus the time as a number to compare.
            "sql": format!("SELECT toUnixTimestamp64Milli(timestamp) AS ms, * FROM ({dashboard})"),
            "params": {"project": project, "from": from, "to": to},
        })
    };
    let mut queries = vec![
        json!("SELECT record FROM starform.logs ORDER BY timestamp"),
        json!("SELECT record, reason, key FROM starform.logs_quarantine ORDER BY timestamp"),
        json!("SELECT project, count() AS n FROM starform.logs GROUP BY project ORDER BY project"),
    ];
    let tenants: Vec<String> = projects
        .iter()
        .cloned()
        .chain(["nobody".to_owned(), "acme' OR '1'='1".to_owned()])
        .collect();
    queries.extend(tenants.iter().map(|p| tenant_query(p)));

    let result = clickhouse(&json!({
        "ddl": ["deploy/clickhouse/logs.sql", "deploy/clickhouse/logs_quarantine.sql"],
        "inserts": [
            {"table": "starform.logs", "settings": settings,
             "rows": accepted.iter().map(|r| Json::Object(r.row.clone())).collect::<Vec<_>>()},
            {"table": "starform.logs_quarantine", "settings": settings,
             "rows": quarantined.iter().map(|r| Json::Object(r.row.clone())).collect::<Vec<_>>()},
        ],
        "queries": queries,
    }));
    let results = result["results"].as_array().unwrap();

    // Nothing lost: each table holds exactly its records, byte for byte.
    let stored_logs: Vec<&Json> = results[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["record"])
        .collect();
    let sent_logs: Vec<&Json> = accepted.iter().map(|r| &r.row["record"]).collect();
    assert_eq!(
        stored_logs.len(),
        sent_logs.len(),
        "starform.logs row count"
    );
    assert!(stored_logs == sent_logs, "starform.logs records differ");
    let stored_quarantine = results[1].as_array().unwrap();
    assert_eq!(
        stored_quarantine.len(),
        quarantined.len(),
        "starform.logs_quarantine row count"
    );
    for (stored, sent) in stored_quarantine.iter().zip(&quarantined) {
        assert_eq!(stored["record"], sent.row["record"]);
        let verdict = &sent.node[QUARANTINE_FIELD];
        assert_eq!(
            (&stored["reason"], &stored["key"]),
            (&verdict["reason"], &verdict["key"]),
            "{}",
            sent.case
        );
    }
    assert_eq!(
        stored_logs.len() + stored_quarantine.len(),
        corpus,
        "records in = rows out"
    );
    let per_project: BTreeMap<String, u64> = results[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["project"].as_str().unwrap().to_owned(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();

    // Each tenant: exactly its rows, newest first, with the dashboard's columns.
    for (tenant, got) in tenants.iter().zip(&results[3..]) {
        let mut want: Vec<&Row> = accepted
            .iter()
            .copied()
            .filter(|r| text_field(&r.node, "project") == *tenant)
            .collect();
        want.sort_by_key(|r| std::cmp::Reverse(r.ms));
        let want: Vec<Json> = want.into_iter().map(dashboard_line).collect();
        let got: Vec<Json> = got
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut columns = r.as_object().unwrap().clone();
                assert!(
                    columns.remove("timestamp").is_some_and(|t| t.is_string()),
                    "{tenant}: the query returns the time: {r}"
                );
                // toUnixTimestamp64Milli comes back as a string (64-bit in JSON).
                let ms = columns["ms"]
                    .as_str()
                    .map_or_else(|| columns["ms"].as_i64().unwrap(), |s| s.parse().unwrap());
                columns.insert("ms".into(), json!(ms));
                Json::Object(columns)
            })
            .collect();
        assert!(
            got == want,
            "{tenant}: the dashboard shows\n{got:#?}\nwant\n{want:#?}"
        );
        assert_eq!(
            got.len() as u64,
            per_project.get(tenant).copied().unwrap_or(0),
            "{tenant}"
        );
    }
    eprintln!(
        "ClickHouse (chdb) {}: {} corpus records -> {} in starform.logs ({} tenants), {} in starform.logs_quarantine",
        result["version"],
        corpus,
        stored_logs.len(),
        projects.len(),
        stored_quarantine.len()
    );
}
