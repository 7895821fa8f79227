//! Preview environments under each `preview_policy`, and the
//! `max_label_sets` cardinality bound, in the compiled Envoy filter.

use crate::support::filter::{filter, hit, lines, route, samples, scrape};
use starform_wasm::proxy_wasm_host::FilterHost;

const REQUESTS: &str = "starform_http_requests_total";
const SUPPRESSED: &str = "starform_l7_suppressed_preview_requests_total";
const OVERFLOW: &str = "starform_l7_overflow_requests_total";

fn requests(p: &str, e: &str, s: &str, n: u64) -> String {
    format!(
        "{REQUESTS}{{project=\"{p}\",environment=\"{e}\",service=\"{s}\",code_class=\"2xx\"}} {n}"
    )
}

/// Self-metrics carry no labels: a sample is the name, `{}` and the value.
fn unlabelled(name: &str, n: u64) -> String {
    format!("{name}{{}} {n}")
}

/// Two previews of one service plus its production environment.
fn traffic(host: &mut FilterHost) {
    hit(host, &route("acme", "pr-12", "web"));
    hit(host, &route("acme", "pr-13", "web"));
    hit(host, &route("acme", "pr-13", "web"));
    hit(host, &route("acme", "preview-login", "web"));
    hit(host, &route("acme", "prod", "web"));
}

/// A filter under `config` after [`traffic`], and its request counters.
fn after_traffic(config: &str) -> (FilterHost, Vec<String>) {
    let mut host = filter(config);
    traffic(&mut host);
    let counted = samples(&mut host, REQUESTS);
    (host, counted)
}

/// The request counters of acme's web service, by environment.
fn acme_web(counts: &[(&str, u64)]) -> Vec<String> {
    counts
        .iter()
        .map(|(environment, n)| requests("acme", environment, "web", *n))
        .collect()
}

#[test]
fn aggregate_folds_previews_into_one_environment() {
    for config in ["", r#"{"preview_policy": "aggregate"}"#] {
        let (_, counted) = after_traffic(config);
        let want = acme_web(&[("preview", 4), ("prod", 1)]);
        assert_eq!(counted, want, "config {config:?}");
    }
}

#[test]
fn aggregate_uses_the_configured_environment_name() {
    let (_, counted) =
        after_traffic(r#"{"preview_policy": "aggregate", "preview_environment": "ephemeral"}"#);
    assert_eq!(counted, acme_web(&[("ephemeral", 4), ("prod", 1)]));
}

#[test]
fn full_keeps_each_preview() {
    let (_, counted) = after_traffic(r#"{"preview_policy": "full"}"#);
    let want = acme_web(&[
        ("pr-12", 1),
        ("pr-13", 2),
        ("preview-login", 1),
        ("prod", 1),
    ]);
    assert_eq!(counted, want);
}

/// Each preview as under `full`, every one of its series marked
/// `retention="short"` (the collector's routing key); production series as
/// under every other policy, unmarked.
#[test]
fn short_retention_keeps_each_preview_and_marks_only_its_series() {
    let (mut host, counted) = after_traffic(r#"{"preview_policy": "short_retention"}"#);
    let marked = |e: &str, n: u64| {
        requests("acme", e, "web", n).replace(
            "code_class=\"2xx\"}",
            "code_class=\"2xx\",retention=\"short\"}",
        )
    };
    assert_eq!(
        counted,
        [
            marked("pr-12", 1),
            marked("pr-13", 2),
            marked("preview-login", 1),
            requests("acme", "prod", "web", 1),
        ]
    );
    let text = scrape(&mut host);
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    // Histogram buckets, _sum, _count and the byte counters alike.
    assert!(series.len() > 4 * 4, "{text}");
    for line in series {
        let preview = ["environment=\"pr-", "environment=\"preview-"]
            .iter()
            .any(|p| line.contains(p));
        assert_eq!(
            line.contains(r#"retention="short""#),
            preview,
            "{line}\n{text}"
        );
    }
    assert_eq!(samples(&mut host, SUPPRESSED), Vec::<String>::new());
}

/// The mark is short_retention's alone: the other policies' series are
/// exactly what they were.
#[test]
fn no_other_policy_marks_a_series() {
    for config in [
        "",
        r#"{"preview_policy": "aggregate"}"#,
        r#"{"preview_policy": "full"}"#,
        r#"{"preview_policy": "suppress"}"#,
    ] {
        let (mut host, _) = after_traffic(config);
        let text = scrape(&mut host);
        assert!(!text.contains("retention"), "{config}: {text}");
    }
}

#[test]
fn suppress_counts_previews_only_in_their_own_counter() {
    let (mut host, counted) = after_traffic(r#"{"preview_policy": "suppress"}"#);
    assert_eq!(counted, acme_web(&[("prod", 1)]));
    assert_eq!(samples(&mut host, SUPPRESSED), [unlabelled(SUPPRESSED, 4)]);
    assert!(!scrape(&mut host).contains("pr-1"), "{}", scrape(&mut host));
}

#[test]
fn preview_pattern_is_configurable() {
    let mut host =
        filter(r#"{"preview_policy": "suppress", "preview_pattern": "^review-[0-9]+$"}"#);
    hit(&mut host, &route("acme", "review-1", "web"));
    hit(&mut host, &route("acme", "pr-12", "web"));
    assert_eq!(
        samples(&mut host, REQUESTS),
        [requests("acme", "pr-12", "web", 1)]
    );
    assert_eq!(samples(&mut host, SUPPRESSED), [unlabelled(SUPPRESSED, 1)]);
}

#[test]
fn label_sets_beyond_the_bound_count_as_overflow() {
    let mut host = filter(r#"{"max_label_sets": 2}"#);
    for (p, n) in [("a", 1), ("b", 1), ("c", 2), ("a", 1), ("d", 1)] {
        for _ in 0..n {
            hit(&mut host, &route(p, "prod", "web"));
        }
    }
    let counters: Vec<String> = lines(&mut host)
        .into_iter()
        .filter(|l| !l.contains("starform_http_request_duration_milliseconds"))
        .collect();
    assert_eq!(
        counters,
        [
            "# TYPE starform_http_requests_total counter".to_owned(),
            requests("a", "prod", "web", 2),
            requests("b", "prod", "web", 1),
            "# TYPE starform_l7_overflow_requests_total counter".to_owned(),
            unlabelled(OVERFLOW, 3),
        ]
    );
}

#[test]
fn a_label_set_is_one_identity_whatever_its_status_codes() {
    let mut host = filter(r#"{"max_label_sets": 1}"#);
    let r = route("a", "prod", "web");
    for status in [200, 404, 503] {
        host.request(&starform_wasm::proxy_wasm_host::Request::to_route(r.as_str()).status(status))
            .unwrap();
    }
    assert_eq!(samples(&mut host, OVERFLOW), Vec::<String>::new());
    assert_eq!(samples(&mut host, REQUESTS).len(), 3);
}

#[test]
fn aggregated_previews_share_one_label_set() {
    let mut host = filter(r#"{"max_label_sets": 1}"#);
    for pr in 1..=5 {
        hit(&mut host, &route("acme", &format!("pr-{pr}"), "web"));
    }
    hit(&mut host, &route("acme", "prod", "web"));
    assert_eq!(
        samples(&mut host, REQUESTS),
        [requests("acme", "preview", "web", 5)]
    );
    assert_eq!(samples(&mut host, OVERFLOW), [unlabelled(OVERFLOW, 1)]);
}
