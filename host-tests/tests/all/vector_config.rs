//! deploy/vector/vector.yaml: it parses, names only component types and
//! options that Vector documents, wires the rules and dropped programs the
//! way the differential test assumes, and its ClickHouse rows fit the
//! tables in deploy/clickhouse/ — checked in a real ClickHouse engine (chdb,
//! installed into ./.venv by scripts/test.sh), where the dashboard's tenant
//! filter returns one tenant's rows and nothing else.
//!
//! The allow-list below was checked against Vector's generated reference
//! (website/cue/reference/components/{sources,transforms,sinks}/generated/
//! {fluent,remap,clickhouse}.cue and reference/generated/configuration.cue
//! for `schema.log_namespace`); add an option only after finding it there.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::support::clickhouse;
use crate::support::vrl::vector::{self, Namespace, VectorTwin};
use serde_json::{json, Map, Value as Json};
use starform_vector_transform::TransformConfig;

/// (component kind, type, options the type documents that we may use).
const COMPONENTS: &[(&str, &str, &[&str])] = &[
    (
        "sources",
        "fluent",
        &[
            "type",
            "mode",
            "address",
            "connection_limit",
            "keepalive",
            "permit_origin",
            "receive_buffer_bytes",
            "tls",
        ],
    ),
    (
        "transforms",
        "remap",
        &[
            "type",
            "inputs",
            "source",
            "file",
            "drop_on_abort",
            "drop_on_error",
            "reroute_dropped",
            "timezone",
        ],
    ),
    (
        "sinks",
        "clickhouse",
        &[
            "type",
            "inputs",
            "endpoint",
            "auth",
            "database",
            "table",
            "format",
            "skip_unknown_fields",
            "date_time_best_effort",
            "compression",
            "batch",
            "acknowledgements",
            "request",
            "tls",
        ],
    ),
];

/// Nested options: (type, option, sub-options).
const NESTED: &[(&str, &str, &[&str])] = &[
    ("clickhouse", "auth", &["strategy", "user", "password"]),
    (
        "clickhouse",
        "batch",
        &["max_bytes", "max_events", "timeout_secs"],
    ),
    ("clickhouse", "acknowledgements", &["enabled"]),
];

/// Enumerated values: (type, option, allowed).
const ENUMS: &[(&str, &str, &[&str])] = &[
    ("fluent", "mode", &["tcp", "unix"]),
    (
        "clickhouse",
        "format",
        &[
            "json_each_row",
            "json_as_object",
            "json_as_string",
            "arrow_stream",
        ],
    ),
    (
        "clickhouse",
        "compression",
        &["gzip", "none", "snappy", "zlib", "zstd"],
    ),
];

fn root() -> PathBuf {
    starform_host_tests::repo_root()
}

fn config() -> Map<String, Json> {
    let text = std::fs::read_to_string(root().join("deploy/vector/vector.yaml")).unwrap();
    let value: Json = serde_yaml_ng::from_str(&text).expect("vector.yaml is YAML");
    value.as_object().expect("a mapping at the top").clone()
}

fn components(config: &Map<String, Json>, kind: &str) -> Map<String, Json> {
    config
        .get(kind)
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default()
}

fn inputs(component: &Json) -> Vec<String> {
    component["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn names_only_documented_types_and_options() {
    let config = config();
    for key in config.keys() {
        assert!(
            ["schema", "sources", "transforms", "sinks"].contains(&key.as_str()),
            "top-level {key}"
        );
    }
    for key in components(&config, "schema").keys() {
        assert_eq!(key, "log_namespace", "schema.{key}");
    }
    let mut seen = 0;
    for kind in ["sources", "transforms", "sinks"] {
        for (id, component) in components(&config, kind) {
            let ty = component["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: no type"));
            let (_, _, options) = COMPONENTS
                .iter()
                .find(|(k, t, _)| *k == kind && *t == ty)
                .unwrap_or_else(|| panic!("{kind}.{id}: type {ty} is not on the checked list"));
            for (option, value) in component.as_object().unwrap() {
                assert!(
                    options.contains(&option.as_str()),
                    "{kind}.{id}: {ty} has no option {option}"
                );
                if let Some((_, _, subs)) = NESTED.iter().find(|(t, o, _)| *t == ty && o == option)
                {
                    for sub in value.as_object().unwrap().keys() {
                        assert!(
                            subs.contains(&sub.as_str()),
                            "{kind}.{id}.{option}: no option {sub}"
                        );
                    }
                }
                if let Some((_, _, allowed)) =
                    ENUMS.iter().find(|(t, o, _)| *t == ty && o == option)
                {
                    assert!(
                        allowed.contains(&value.as_str().unwrap()),
                        "{kind}.{id}.{option} = {value}"
                    );
                }
            }
            seen += 1;
        }
    }
    assert!(seen >= 4, "too few components: {seen}");
}

#[test]
fn inputs_form_the_documented_flow() {
    let config = config();
    assert_eq!(
        config["schema"]["log_namespace"],
        json!(true),
        "the programs read %fluent.record"
    );
    let sources = components(&config, "sources");
    let transforms = components(&config, "transforms");
    let sinks = components(&config, "sinks");

    let (source_id, source) = sources.iter().next().unwrap();
    assert_eq!(source["type"], "fluent");
    assert_eq!(
        source["address"], "0.0.0.0:24224",
        "Fluent Bit's forward output port"
    );

    let (rules_id, rules) = transforms
        .iter()
        .find(|(_, t)| t["file"] == "/etc/vector/starform.vrl")
        .expect("a rules remap");
    assert_eq!(inputs(rules), [source_id.as_str()]);
    assert_eq!(rules["drop_on_abort"], json!(true));
    assert_eq!(rules["reroute_dropped"], json!(true));
    assert_eq!(
        rules_id,
        crate::support::vrl::vector::RULES_COMPONENT,
        "the differential test annotates with this id"
    );

    let dropped_route = format!("{rules_id}.dropped");
    let (quarantine_id, _) = transforms
        .iter()
        .find(|(_, t)| t["file"] == "/etc/vector/starform-dropped.vrl")
        .expect("a remap for the dropped route");
    assert_eq!(inputs(&transforms[quarantine_id]), [dropped_route.as_str()]);

    // Every input names a component (or the rules remap's dropped output),
    // and every source and transform output is consumed.
    let mut outputs: BTreeSet<String> = sources.keys().chain(transforms.keys()).cloned().collect();
    outputs.insert(dropped_route);
    let mut consumed = BTreeSet::new();
    for (id, component) in transforms.iter().chain(sinks.iter()) {
        for input in inputs(component) {
            assert!(outputs.contains(&input), "{id}: unknown input {input}");
            consumed.insert(input);
        }
    }
    assert_eq!(consumed, outputs, "some output goes nowhere");

    for (id, transform) in &transforms {
        if let Some(file) = transform.get("file").and_then(Json::as_str) {
            let name = file
                .strip_prefix("/etc/vector/")
                .unwrap_or_else(|| panic!("{id}: {file}"));
            assert!(
                root().join("deploy/vector").join(name).is_file(),
                "{id}: deploy/vector/{name} missing"
            );
        }
    }
}

/// The inline programs: VRL without warnings, unable to fail or abort, and
/// free of `$` (Vector would interpolate environment variables into them).
#[test]
fn inline_programs_compile_cleanly() {
    let transforms = components(&config(), "transforms");
    let mut compiled = 0;
    for (id, transform) in transforms {
        let Some(source) = transform.get("source").and_then(Json::as_str) else {
            continue;
        };
        assert!(!source.contains('$'), "{id}: `$` in an inline program");
        let program = vector::compile(source).program;
        assert!(
            !program.info().fallible && !program.info().abortable,
            "{id} can fail or abort"
        );
        compiled += 1;
    }
    assert_eq!(compiled, 2);
}

/// The column names of the table `deploy/clickhouse/<file>` creates.
fn columns(file: &str) -> BTreeSet<String> {
    let sql = std::fs::read_to_string(root().join("deploy/clickhouse").join(file)).unwrap();
    let body = sql.split("CREATE TABLE").nth(1).unwrap();
    let body = &body[body.find('(').unwrap() + 1..body.find("\n)").unwrap()];
    body.lines()
        .map(|l| l.split("--").next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// The time Fluent Bit stamps records with in these tests.
const STAMP: &str = "t'2026-05-01T12:00:00.123456789Z'";

/// One record through the whole aggregator: rules, the route it leaves
/// on, the row program after it. Returns (dropped?, row as the sink
/// encodes it).
fn through_vector(record: Json) -> (bool, Map<String, Json>) {
    through_vector_at(record, STAMP)
}

/// As [`through_vector`], with `%fluent.timestamp` set to the VRL
/// expression `stamp`.
fn through_vector_at(record: Json, stamp: &str) -> (bool, Map<String, Json>) {
    let config = config();
    let transforms = components(&config, "transforms");
    let mut twin = VectorTwin::new(
        &std::fs::read_to_string(root().join("deploy/vector/starform.vrl")).unwrap(),
        &std::fs::read_to_string(root().join("deploy/vector/starform-dropped.vrl")).unwrap(),
    );
    let mut event = vector::event(record.as_object().unwrap(), Namespace::Vector);
    let stamp = vector::compile(&format!("%fluent.timestamp = {stamp}")).program;
    vector::run(&stamp, &mut event).unwrap();
    let (mut out, dropped) = twin.run_event(event).unwrap();
    let row_input = if dropped {
        "starform_quarantine"
    } else {
        "starform_labels"
    };
    let (_, rows) = transforms
        .iter()
        .find(|(_, t)| inputs(t) == [row_input])
        .unwrap();
    let program = vector::compile(rows["source"].as_str().unwrap()).program;
    vector::run(&program, &mut out).unwrap();
    // The clickhouse sink's JSON encoding of the event (Vector namespace:
    // the event value; timestamps as RFC 3339).
    (
        dropped,
        serde_json::to_value(&out.value)
            .unwrap()
            .as_object()
            .unwrap()
            .clone(),
    )
}

fn module_output(record: &Json) -> Json {
    let (out, _) = starform_vector_transform::apply(
        &starform_vector_transform::config::CompiledConfig::compile(&TransformConfig::default())
            .unwrap(),
        &serde_json::to_vec(record).unwrap(),
    );
    Json::Object(out)
}

#[test]
fn accepted_rows_fit_the_logs_table() {
    let record = json!({"log": "hi", "project": "spoof", "kubernetes": {"namespace_name": "acme-prod", "labels": {
        "starform.io/project": "Acme", "starform.io/environment": "prod", "starform.io/service": "web",
        "starform.io/build-id": "b-7"}}});
    let (dropped, row) = through_vector(record.clone());
    assert!(!dropped);
    assert_eq!(
        row.keys().cloned().collect::<BTreeSet<_>>(),
        columns("logs.sql")
    );
    assert_eq!(row["timestamp"], "2026-05-01T12:00:00.123456789Z");
    assert_eq!(
        (&row["project"], &row["log_kind"]),
        (&json!("acme"), &json!("build"))
    );
    let stored: Json = serde_json::from_str(row["record"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored,
        module_output(&record),
        "the stored record is the module's output"
    );
}

#[test]
fn quarantined_rows_fit_the_quarantine_table() {
    let record = json!({"message": "hi", "log_kind": "build", "kubernetes": {"pod_namespace": "acme-prod", "pod_labels": {
        "starform.io/project": "acme", "starform.io/environment": "my_env", "starform.io/service": "web"}}});
    let (dropped, row) = through_vector(record.clone());
    assert!(dropped);
    assert_eq!(
        row.keys().cloned().collect::<BTreeSet<_>>(),
        columns("logs_quarantine.sql")
    );
    assert_eq!(
        (&row["reason"], &row["key"]),
        (&json!("invalid_value"), &json!("starform.io/environment"))
    );
    assert_eq!(row["namespace"], "acme-prod");
    let stored: Json = serde_json::from_str(row["record"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored,
        module_output(&record),
        "the stored record is the module's output"
    );

    let (_, row) = through_vector(json!({"log": "x".repeat(1_048_577)}));
    assert_eq!(
        (&row["reason"], &row["key"], &row["namespace"]),
        (&json!("too_large"), &Json::Null, &json!(""))
    );
}

fn fluent_bit_record(project: &str, env: &str, service: &str, line: &str, build: bool) -> Json {
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
}

/// The whole logs pipe as shipped: the module on the node (Fluent Bit), the
/// rules and row programs in the aggregator (vector.yaml), the rows inserted
/// into the shipped tables with the sink's settings.
#[test]
fn rows_load_into_the_shipped_tables_and_the_tenant_filter_isolates() {
    let inputs = [
        fluent_bit_record("acme", "prod", "api", "a1", false),
        fluent_bit_record("acme", "prod", "api", "a2", false),
        fluent_bit_record("ACME", " prod ", "worker", "a3", true),
        fluent_bit_record("globex", "staging", "web", "g1", false),
        // A customer line merged to the top, claiming another tenant.
        json!({"log": "x", "project": "globex", "kubernetes": {"namespace_name": "acme-prod", "labels": {
            "starform.io/project": "acme", "starform.io/environment": "prod", "starform.io/service": "api"}}}),
        fluent_bit_record("acme", "prod", "my_svc", "bad", false),
        json!({"log": "no labels", "kubernetes": {"namespace_name": "default", "labels": {}}}),
    ];
    // Rows must be recent: the tables' TTL drops expired parts, at insert too.
    let now = "now()";
    let days_ago = |d: u32| format!("from_unix_timestamp!(to_unix_timestamp(now()) - {d} * 86400)");
    let (mut logs, mut quarantine) = (Vec::new(), Vec::new());
    for input in &inputs {
        let (dropped, row) = through_vector_at(module_output(input), now);
        if dropped {
            quarantine.push(Json::Object(row));
        } else {
            logs.push(Json::Object(row));
        }
    }
    assert_eq!((logs.len(), quarantine.len()), (5, 2));
    // Retention by log kind: 40 days old, a runtime log has expired (30 d),
    // a build log has not (90 d).
    for (line, build) in [("old-runtime", false), ("old-build", true)] {
        let record = fluent_bit_record("acme", "prod", "api", line, build);
        let (_, row) = through_vector_at(module_output(&record), &days_ago(40));
        logs.push(Json::Object(row));
    }

    // What Vector's clickhouse sink sends with the shipped options
    // (date_time_best_effort, skip_unknown_fields: false).
    let settings = "date_time_input_format='best_effort', input_format_skip_unknown_fields=0";
    let result = clickhouse(&json!({
        "ddl": ["deploy/clickhouse/logs.sql", "deploy/clickhouse/logs_quarantine.sql"],
        "inserts": [
            {"table": "starform.logs", "settings": settings, "rows": logs},
            {"table": "starform.logs_quarantine", "settings": settings, "rows": quarantine},
        ],
        "queries": [
            // TTL runs in merges (sometimes already at insert); force one.
            "OPTIMIZE TABLE starform.logs FINAL",
            "SELECT project, environment, service, log_kind, JSONExtractString(record, 'log') AS line \
             FROM starform.logs WHERE project = 'acme' ORDER BY line",
            "SELECT count() AS n FROM starform.logs WHERE project = 'globex'",
            "SELECT reason, key, namespace FROM starform.logs_quarantine ORDER BY reason",
            "SELECT sorting_key FROM system.tables WHERE database = 'starform' AND name = 'logs'",
            "SELECT count() AS n FROM starform.logs WHERE timestamp > now64(9) - INTERVAL 1 HOUR",
        ],
    }));
    let results = &result["results"];
    let acme = results[1].as_array().unwrap();
    let lines: Vec<&str> = acme.iter().map(|r| r["line"].as_str().unwrap()).collect();
    assert_eq!(
        lines,
        ["a1", "a2", "a3", "old-build", "x"],
        "acme's rows, and only acme's; the expired runtime row is gone"
    );
    assert!(acme.iter().all(|r| r["project"] == "acme"));
    assert_eq!(
        (&acme[2]["service"], &acme[2]["log_kind"]),
        (&json!("worker"), &json!("build"))
    );
    assert_eq!(acme[3]["log_kind"], json!("build"));
    assert_eq!(
        results[2][0]["n"],
        json!(1),
        "globex sees its one row, not the spoofed one"
    );
    assert_eq!(
        results[3],
        json!([
            {"reason": "invalid_value", "key": "starform.io/service", "namespace": "acme-prod"},
            {"reason": "missing_label", "key": "starform.io/project", "namespace": "default"},
        ])
    );
    let sort_key = results[4][0]["sorting_key"].as_str().unwrap();
    assert!(
        sort_key.starts_with("project"),
        "project leads the sort key: {sort_key}"
    );
    assert_eq!(
        results[5][0]["n"],
        json!(5),
        "RFC 3339 timestamps parsed (date_time_best_effort)"
    );
    eprintln!("ClickHouse (chdb) {}", result["version"]);
}
