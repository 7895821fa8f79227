//! Spoofing in a real Envoy (1.40, V8) with the shipped bootstrap and the
//! embedded filter: requests whose headers, authority and path name another
//! tenant are counted under the route Envoy matched, and nothing the client
//! sent reaches a label. envoy_e2e.rs sends `x-starform-*` and a foreign
//! `Host`; this adds the authority of an absolute-form request target (the
//! `:authority` pseudo-header), paths and `x-envoy-original-path` values
//! that are whole route names of another tenant, and spoofing on every
//! unattributed reason. The filter flushes its counters on a tick, so the
//! test polls `/stats/prometheus` until the totals appear.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{envoy_binary, poll, TempDir};
use starform_wasm::envoy::{Envoy, Launch, SHIPPED_PLUGIN_CONFIG};

const GLOBEX_ROUTE: &str =
    "httproute/globex-staging/globex.staging.web/rule/0/match/-1/web_globex_example";

/// Every header a client could use to claim globex/staging/web.
fn claims() -> Vec<(&'static str, String)> {
    vec![
        ("x-starform-project", "globex".into()),
        ("x-starform-environment", "staging".into()),
        ("x-starform-service", "web".into()),
        ("x-envoy-original-path", format!("/{GLOBEX_ROUTE}")),
        ("x-starform-route", GLOBEX_ROUTE.into()),
        ("x-envoy-decorator-operation", GLOBEX_ROUTE.into()),
        ("Host", "globex.staging.web".into()),
    ]
}

/// `starform_*` samples: (metric, sorted labels) → value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

fn samples(text: &str) -> Samples {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("starform_")) {
        let (sample, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = sample.split_once('{').unwrap_or((sample, ""));
        let mut labels: Vec<(String, String)> = labels
            .trim_end_matches('}')
            .split(',')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        labels.sort();
        out.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    out
}

fn value(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    want.sort();
    s.get(&(name.to_owned(), want)).copied().unwrap_or(0.0)
}

#[test]
fn envoy_counts_spoofed_requests_under_the_matched_route_only() {
    let dir = TempDir::new("envoy-spoofing").unwrap();
    let mut launch = Launch::new(envoy_binary(), dir.path().to_owned());
    launch.plugin_config = Some(SHIPPED_PLUGIN_CONFIG.to_owned());
    let envoy = Envoy::start(&launch).unwrap_or_else(|e| panic!("{e}"));
    let headers = claims();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let get = |path: &str, want: u16| {
        let r = envoy
            .get(path, &headers)
            .unwrap_or_else(|e| panic!("{path}: {e}\n{}", envoy.log_text()));
        assert_eq!(r.status, want, "{path}\n{}", envoy.log_text());
    };
    // Routed to acme/prod/api by prefix, whatever else the request says.
    let acme = [
        "/acme/api".to_owned(),
        format!("/acme/api/{GLOBEX_ROUTE}"),
        // Absolute form: Envoy takes :authority from the request target.
        "http://globex.staging.web/acme/api".to_owned(),
        format!("http://globex.staging.web/acme/api/{GLOBEX_ROUTE}?project=globex"),
    ];
    for path in &acme {
        get(path, 200);
    }
    // Unattributed, with the same claims.
    get("/legacy", 200); // pattern_mismatch
    get("/invalid", 200); // invalid_value
    get(&format!("/{GLOBEX_ROUTE}"), 404); // no_route: a path is not a route
    get("http://globex.staging.web/nowhere", 404); // no_route

    let want_acme = acme.len() as f64;
    let text = poll(
        "spoofed requests counted",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || {
            let text = envoy.prometheus().unwrap();
            let s = samples(&text);
            let counted = value(
                &s,
                "starform_http_requests_total",
                &[
                    ("project", "acme"),
                    ("environment", "prod"),
                    ("service", "api"),
                    ("code_class", "2xx"),
                ],
            );
            let unattributed: f64 = ["pattern_mismatch", "invalid_value", "no_route"]
                .iter()
                .map(|r| {
                    value(
                        &s,
                        "starform_l7_unattributed_requests_total",
                        &[("reason", r)],
                    )
                })
                .sum();
            if counted == want_acme && unattributed == 4.0 {
                Ok(text)
            } else {
                Err(format!(
                    "acme {counted}, unattributed {unattributed}:\n{text}\n{}",
                    envoy.log_text()
                ))
            }
        },
    );
    let s = samples(&text);
    for reason in ["pattern_mismatch", "invalid_value"] {
        assert_eq!(
            value(
                &s,
                "starform_l7_unattributed_requests_total",
                &[("reason", reason)]
            ),
            1.0,
            "{reason}\n{text}"
        );
    }
    assert_eq!(
        value(
            &s,
            "starform_l7_unattributed_requests_total",
            &[("reason", "no_route")]
        ),
        2.0,
        "{text}"
    );
    // The only identity in any label is the matched route's.
    for (name, labels) in s.keys() {
        for (key, v) in labels {
            if ["project", "environment", "service"].contains(&key.as_str()) {
                assert!(
                    ["acme", "prod", "api"].contains(&v.as_str()),
                    "{name} {labels:?}\n{text}"
                );
            }
        }
    }
    let starform: String = text
        .lines()
        .filter(|l| l.contains("starform_"))
        .collect::<Vec<_>>()
        .join("\n");
    for other in ["globex", "staging", "web"] {
        assert!(!starform.contains(other), "{other} leaked:\n{starform}");
    }
}
