//! Spoofing against the compiled modules: what a client or a workload
//! writes never changes whose data it is.
//! - Filter (`modules::ENVOY_FILTER` in the embedded proxy-wasm host):
//!   request headers and request properties that name another tenant
//!   (`x-starform-*`, `x-envoy-original-path`, `:authority`/`host`, `:path`,
//!   `request.host`/`request.path`, even whole route names of other tenants)
//!   never change the labels; only `xds.route_name` does.
//! - Transform (`modules::VECTOR_TRANSFORM` in wasmtime): record content that
//!   names another project (top-level fields, nested fields, `log` lines
//!   that are JSON, Fluent Bit `Merge_Log` output under `log_json` or at the
//!   top level) never changes the identity, which comes from the pod labels
//!   only; a second pass (node, then aggregator) keeps it.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::filter::{filter, route};
use serde_json::{json, Map, Value};
use starform_vector_transform::{transform, CompiledConfig};
use starform_wasm::log_host::LogTransform;
use starform_wasm::prometheus::series;
use starform_wasm::proxy_wasm_host::{FilterHost, MetricValue, Request};

// ---------------------------------------------------------------- filter

/// Another tenant's names, in every form a client could send them.
fn claims_of_another_tenant() -> Vec<(&'static str, String)> {
    let globex = route("globex", "staging", "web");
    vec![
        ("x-starform-project", "globex".into()),
        ("x-starform-environment", "staging".into()),
        ("x-starform-service", "web".into()),
        ("x-envoy-original-path", format!("/{globex}")),
        ("x-envoy-original-path", "/globex/web".into()),
        (":authority", "globex.staging.web".into()),
        ("host", "globex.staging.web".into()),
        (":path", format!("/{globex}")),
        ("x-starform-route", globex.clone()),
        ("x-envoy-decorator-operation", globex),
    ]
}

fn spoofed(route_name: Option<&str>) -> Request {
    let mut request = Request::unrouted(200);
    request.route_name = route_name.map(|r| r.as_bytes().to_vec());
    for (name, value) in claims_of_another_tenant() {
        request = request.header(name, value);
    }
    // Properties Envoy derives from the request: the filter must not read
    // them for identity either.
    request
        .property("request.host", "globex.staging.web")
        .property("request.path", "/globex/web")
        .property("request.url_path", "/globex/web")
        .property("xds.virtual_host_name", "globex.staging.web")
}

/// Every series' identity labels, with its value (requests or samples).
fn identities(host: &FilterHost) -> BTreeSet<(String, String, String)> {
    let mut found = BTreeSet::new();
    for (key, _) in host.metrics().iter() {
        let s = series(&key.name);
        let label = |name: &str| {
            s.labels
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        if let Some(project) = label("project") {
            found.insert((
                project,
                label("environment").unwrap(),
                label("service").unwrap(),
            ));
        }
    }
    found
}

fn counter(host: &FilterHost, name: &str, labels: &[(&str, &str)]) -> u64 {
    host.metrics()
        .iter()
        .filter(|(key, _)| {
            let s = series(&key.name);
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|(_, value)| match value {
            MetricValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

/// Counters may be kept in the VM and flushed on the tick.
fn flush(host: &mut FilterHost) {
    for _ in 0..2 {
        host.clock().advance(Duration::from_secs(5));
        host.tick().unwrap();
    }
}

#[test]
fn headers_and_properties_naming_another_tenant_never_change_labels() {
    for config in [
        "",
        r#"{"preview_policy":"full"}"#,
        r#"{"preview_policy":"suppress"}"#,
        r#"{"preview_policy":"short_retention"}"#,
    ] {
        let mut host = filter(config);
        let acme = route("acme", "prod", "api");
        for _ in 0..3 {
            host.request(&spoofed(Some(&acme))).unwrap();
        }
        host.request(&spoofed(Some("legacy-route"))).unwrap();
        host.request(&spoofed(Some(&route("Acme", "prod", "my_svc"))))
            .unwrap();
        host.request(&spoofed(None)).unwrap();
        flush(&mut host);

        let want: BTreeSet<_> = [("acme".into(), "prod".into(), "api".into())].into();
        assert_eq!(identities(&host), want, "{config}");
        assert_eq!(
            counter(
                &host,
                "starform_http_requests_total",
                &[("project", "acme"), ("code_class", "2xx")]
            ),
            3,
            "{config}"
        );
        for reason in ["pattern_mismatch", "invalid_value", "no_route"] {
            assert_eq!(
                counter(
                    &host,
                    "starform_l7_unattributed_requests_total",
                    &[("reason", reason)]
                ),
                1,
                "{config} {reason}"
            );
        }
        let text = host.prometheus_text();
        for other in ["globex", "staging", "web"] {
            assert!(!text.contains(other), "{config}: {other} leaked:\n{text}");
        }
    }
}

#[test]
fn spoofing_headers_alone_never_create_a_tenant_series() {
    let mut host = filter("");
    for route_name in [None, Some("legacy-route"), Some("")] {
        for _ in 0..5 {
            host.request(&spoofed(route_name)).unwrap();
        }
    }
    flush(&mut host);
    assert!(identities(&host).is_empty(), "{}", host.prometheus_text());
    assert_eq!(
        counter(&host, "starform_l7_unattributed_requests_total", &[]),
        15
    );
}

// ------------------------------------------------------------- transform

const ACME: [&str; 3] = ["acme", "prod", "web"];

fn acme_labels() -> Value {
    json!({
        "starform.io/project": "acme",
        "starform.io/environment": "prod",
        "starform.io/service": "web",
    })
}

fn globex_labels() -> Value {
    json!({
        "starform.io/project": "globex",
        "starform.io/environment": "staging",
        "starform.io/service": "api",
    })
}

/// A customer's JSON log line naming another project in every way it can.
fn globex_log_object() -> Value {
    json!({
        "project": "globex",
        "environment": "staging",
        "service": "api",
        "log_kind": "build",
        "starform_quarantine": null,
        "starform_shadowed": {"project": "globex"},
        "kubernetes": {"labels": globex_labels(), "namespace_name": "globex-staging"},
        "starform.io/project": "globex",
    })
}

/// Records whose labels say acme/prod/web and whose content says globex.
fn spoofing_records() -> Vec<(&'static str, String)> {
    let k8s = json!({"namespace_name": "acme-prod", "labels": acme_labels()});
    let log_line = globex_log_object().to_string();
    let mut top_level_merge = globex_log_object().as_object().unwrap().clone();
    top_level_merge.remove("kubernetes");
    top_level_merge.insert("log".into(), Value::String(log_line.clone()));
    top_level_merge.insert("kubernetes".into(), k8s.clone());
    vec![
        (
            "top-level fields",
            json!({"project": "globex", "environment": "staging", "service": "api",
                   "log_kind": "build", "log": "hello", "kubernetes": k8s})
            .to_string(),
        ),
        (
            "nested fields",
            json!({"log": "x", "data": {"project": "globex", "kubernetes": {"labels": globex_labels()}},
                   "meta": [{"starform.io/project": "globex"}], "kubernetes": k8s})
            .to_string(),
        ),
        (
            "labels of another project nested in kubernetes",
            json!({"log": "x", "kubernetes": {"namespace_name": "acme-prod", "labels": acme_labels(),
                   "annotations": globex_labels(), "pod": {"labels": globex_labels()}}})
            .to_string(),
        ),
        (
            "log line that is JSON",
            json!({"log": log_line, "stream": "stdout", "kubernetes": k8s}).to_string(),
        ),
        (
            "Merge_Log under log_json",
            json!({"log": log_line, "log_json": globex_log_object(), "kubernetes": k8s}).to_string(),
        ),
        (
            "Merge_Log at the top level",
            Value::Object(top_level_merge).to_string(),
        ),
        (
            // Fluent Bit packs the merged keys before its own `kubernetes`
            // map, so a log line's own `kubernetes` comes first; a JSON
            // object keeps the last of a repeated key.
            "Merge_Log at the top level with the log's own kubernetes key",
            format!(
                r#"{{"log":{},"kubernetes":{},"project":"globex","kubernetes":{}}}"#,
                Value::String(log_line.clone()),
                json!({"labels": globex_labels(), "namespace_name": "globex-staging"}),
                k8s
            ),
        ),
        (
            "Vector's pod_labels shape",
            json!({"message": log_line, "project": "globex",
                   "kubernetes": {"pod_namespace": "acme-prod", "pod_labels": acme_labels()}})
            .to_string(),
        ),
    ]
}

fn object(bytes: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => map,
        other => panic!(
            "not one object: {other:?}: {}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

fn identity(out: &Map<String, Value>) -> [Option<&str>; 3] {
    ["project", "environment", "service"].map(|k| out.get(k).and_then(Value::as_str))
}

#[test]
fn record_content_naming_another_project_never_changes_identity() {
    for config in [
        &b"{}"[..],
        br#"{"namespace_template":"{project}-{environment}"}"#,
    ] {
        let mut module = LogTransform::with_config(config).unwrap();
        let native = CompiledConfig::from_json(config).unwrap();
        for (what, record) in spoofing_records() {
            let first = module.transform(record.as_bytes()).unwrap();
            assert_eq!(first, transform(&native, record.as_bytes()), "{what}");
            let out = object(&first);
            assert_eq!(identity(&out), ACME.map(Some), "{what}: {out:?}");
            assert_eq!(out.get("log_kind"), Some(&json!("runtime")), "{what}");
            assert!(!out.contains_key("starform_quarantine"), "{what}: {out:?}");
            // Nothing the record said was dropped: content is kept as is and
            // top-level claims are kept under starform_shadowed.
            let text = String::from_utf8_lossy(&first);
            assert!(text.contains("globex"), "{what}: {text}");
            // The aggregator's pass over the node's output agrees.
            let second = module.transform(&first).unwrap();
            assert_eq!(second, first, "{what}: second pass");
        }
    }
}

#[test]
fn content_naming_a_project_without_labels_is_quarantined() {
    let mut module = LogTransform::new().unwrap();
    for (what, record) in [
        ("top-level fields only", {
            let mut claims = globex_log_object();
            claims.as_object_mut().unwrap().remove("kubernetes");
            claims.to_string()
        }),
        (
            "labels only inside log_json",
            json!({"log": globex_log_object().to_string(), "log_json": globex_log_object()}).to_string(),
        ),
        (
            "kubernetes.labels not an object",
            json!({"kubernetes": {"labels": globex_log_object().to_string()}, "log_json": globex_log_object()})
                .to_string(),
        ),
    ] {
        let out = object(&module.transform(record.as_bytes()).unwrap());
        assert_eq!(identity(&out), [None, None, None], "{what}: {out:?}");
        assert_eq!(
            out["starform_quarantine"]["reason"],
            json!("missing_label"),
            "{what}: {out:?}"
        );
    }
    let counts = module.counts().unwrap();
    assert_eq!((counts.accepted, counts.total_quarantined()), (0, 3));
}
