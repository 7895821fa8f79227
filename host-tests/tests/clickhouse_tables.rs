//! The shipped ClickHouse DDL (deploy/clickhouse/) in a real ClickHouse
//! engine (chdb, installed into ./.venv by scripts/test.sh): the tables
//! create, take the rows the Vector sinks write (built here from the compiled
//! log transform's output, shaped as deploy/vector/vector.yaml's `logs_rows`
//! and `quarantine_rows` shape them), and the dashboard's tenant filter
//! returns one tenant's rows and nothing else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use starform_host_tests::{repo_root, venv_tool};
use starform_wasm::log_host::LogTransform;

fn python() -> PathBuf {
    venv_tool("STARFORM_PYTHON", "python").unwrap_or_else(|e| panic!("{e}"))
}

fn clickhouse(job: &Value) -> Value {
    let mut child = Command::new(python())
        .arg(repo_root().join("scripts/clickhouse_session.py"))
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chdb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn record(project: &str, env: &str, service: &str, line: &str, build: bool) -> String {
    let mut labels = json!({
        "starform.io/project": project,
        "starform.io/environment": env,
        "starform.io/service": service,
    });
    if build {
        labels["starform.io/build-id"] = json!("b-1");
    }
    json!({
        "log": line,
        "stream": "stdout",
        "kubernetes": {"namespace_name": format!("{project}-{env}"), "pod_name": "p", "labels": labels},
    })
    .to_string()
}

#[test]
fn shipped_tables_store_transform_output_and_isolate_tenants() {
    let inputs = [
        record("acme", "prod", "api", "a1", false),
        record("acme", "prod", "api", "a2", false),
        record("ACME", " prod ", "worker", "a3", true),
        record("globex", "staging", "web", "g1", false),
        // A customer line merged to the top claiming another tenant.
        r#"{"log":"x","project":"globex","kubernetes":{"namespace_name":"acme-prod","labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"api"}}}"#.to_owned(),
        record("acme", "prod", "my_svc", "bad", false),
        r#"{"log":"no labels","kubernetes":{"namespace_name":"default","labels":{}}}"#.to_owned(),
    ];
    let mut transform = LogTransform::new().unwrap();
    let (mut logs, mut quarantine) = (Vec::new(), Vec::new());
    let timestamp = "2026-11-26T06:00:00.123456789Z";
    for input in &inputs {
        let out: Value =
            serde_json::from_slice(&transform.transform(input.as_bytes()).unwrap()).unwrap();
        let compact = out.to_string();
        if let Some(q) = out.get("starform_quarantine") {
            let k8s = &out["kubernetes"];
            let namespace = k8s["namespace_name"]
                .as_str()
                .or(k8s["pod_namespace"].as_str())
                .unwrap_or("");
            quarantine.push(json!({
                "timestamp": timestamp, "reason": q["reason"], "key": q["key"],
                "namespace": namespace, "record": compact,
            }));
        } else {
            logs.push(json!({
                "timestamp": timestamp, "project": out["project"], "environment": out["environment"],
                "service": out["service"], "log_kind": out["log_kind"], "record": compact,
            }));
        }
    }
    assert_eq!((logs.len(), quarantine.len()), (5, 2));

    // What Vector's clickhouse sink sends with the shipped options:
    // date_time_best_effort, skip_unknown_fields: false.
    let settings = "date_time_input_format='best_effort', input_format_skip_unknown_fields=0";
    let result = clickhouse(&json!({
        "ddl": ["deploy/clickhouse/logs.sql", "deploy/clickhouse/logs_quarantine.sql"],
        "inserts": [
            {"table": "starform.logs", "settings": settings, "rows": logs},
            {"table": "starform.logs_quarantine", "settings": settings, "rows": quarantine},
        ],
        "queries": [
            "SELECT project, environment, service, log_kind, JSONExtractString(record, 'log') AS line \
             FROM starform.logs WHERE project = 'acme' ORDER BY line",
            "SELECT count() AS n FROM starform.logs WHERE project = 'globex'",
            "SELECT reason, key, namespace FROM starform.logs_quarantine ORDER BY reason",
            "SELECT sorting_key FROM system.tables WHERE database = 'starform' AND name = 'logs'",
            "SELECT toString(timestamp) AS t FROM starform.logs LIMIT 1",
        ],
    }));
    let results = &result["results"];
    let acme = results[0].as_array().unwrap();
    let lines: Vec<&str> = acme.iter().map(|r| r["line"].as_str().unwrap()).collect();
    assert_eq!(
        lines,
        ["a1", "a2", "a3", "x"],
        "acme's rows, and only acme's"
    );
    assert!(acme.iter().all(|r| r["project"] == "acme"));
    let a3 = &acme[2];
    assert_eq!(
        (&a3["service"], &a3["log_kind"]),
        (&json!("worker"), &json!("build"))
    );
    assert_eq!(
        results[1][0]["n"],
        json!(1),
        "globex sees its one row, not the spoofed one"
    );
    assert_eq!(
        results[2],
        json!([
            {"reason": "invalid_value", "key": "starform.io/service", "namespace": "acme-prod"},
            {"reason": "missing_label", "key": "starform.io/project", "namespace": "default"},
        ])
    );
    let sort_key = results[3][0]["sorting_key"].as_str().unwrap();
    assert!(
        sort_key.starts_with("project"),
        "project leads the sort key: {sort_key}"
    );
    assert_eq!(results[4][0]["t"], json!("2026-11-26 06:00:00.123456789"));
    eprintln!("ClickHouse (chdb) {}", result["version"]);
}
