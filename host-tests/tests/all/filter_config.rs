//! Plugin configurations the compiled Envoy filter must reject — with a log
//! line naming the field and a `false` from `proxy_on_configure`, never a
//! trap — and the filter linking against the host. How the host reports
//! traps and unknown imports is tested with small WAT modules in
//! src/proxy_wasm_host/tests.rs.

use crate::support::filter::{filter, rejected, samples};
use starform_wasm::proxy_wasm_host::{FilterHost, FilterModule, Request};

#[test]
fn bad_configurations_are_rejected_naming_the_problem() {
    let cases: [(&[u8], &str); 15] = [
        (b"{not json", "not a valid JSON object"),
        (b"[]", "not a valid JSON object"),
        (b"\xff{}", "not UTF-8"),
        (
            br#"{"route_patern": "x"}"#,
            "field `route_patern`: unknown (expected one of `route_pattern`, ",
        ),
        (
            br#"{"max_label_sets": 3, "max_label_sets": 3}"#,
            "field `max_label_sets`: repeated",
        ),
        (
            br#"{"max_label_sets": null, "max_label_sets": 3}"#,
            "field `max_label_sets`: repeated",
        ),
        (
            br#"{"max_label_sets": 1e999}"#,
            "field `max_label_sets`: not valid JSON: ",
        ),
        (
            br#"{"max_cached_routes": 4294967296}"#,
            "field `max_cached_routes`: invalid value",
        ),
        (
            br#"{"route_pattern": "("}"#,
            "field `route_pattern`: invalid regex",
        ),
        (
            br#"{"route_pattern": "^(?P<project>[a-z]+)$"}"#,
            "field `route_pattern`: missing named group",
        ),
        (br#"{"route_pattern": 7}"#, "field `route_pattern`"),
        (
            br#"{"preview_pattern": "[z-a]"}"#,
            "field `preview_pattern`: invalid regex",
        ),
        (br#"{"preview_policy": "drop"}"#, "field `preview_policy`"),
        (
            br#"{"max_label_sets": 0}"#,
            "field `max_label_sets`: must be at least 1",
        ),
        (
            br#"{"preview_environment": "Preview"}"#,
            "field `preview_environment`: not a DNS-1123 label",
        ),
    ];
    for (config, needle) in cases {
        let errors = rejected(config);
        assert_eq!(
            errors.len(),
            1,
            "{:?}: {errors:?}",
            String::from_utf8_lossy(config)
        );
        assert!(
            errors[0].contains("rejected plugin configuration"),
            "{errors:?}"
        );
        assert!(
            errors[0].contains(needle),
            "{:?}: {errors:?} lacks {needle:?}",
            String::from_utf8_lossy(config)
        );
    }
}

/// The configuration rules both plugins share (docs/contracts.md §5), in
/// the compiled module: `null` is absent, empty is `{}`.
#[test]
fn null_fields_and_empty_configurations_take_the_defaults() {
    for config in [
        "",
        " \n",
        "{}",
        r#"{"route_pattern": null, "preview_pattern": null, "preview_policy": null,
            "preview_environment": null, "max_label_sets": null, "max_cached_routes": null}"#,
    ] {
        let host = filter(config);
        let configured: Vec<&str> = host
            .logs()
            .iter()
            .map(|l| l.message.as_str())
            .filter(|m| m.contains("configured: "))
            .collect();
        assert_eq!(configured.len(), 1, "{config:?}: {:?}", host.logs());
        assert!(
            configured[0].ends_with(
                "configured: preview_policy=aggregate, max_label_sets=5000, max_cached_routes=20000"
            ),
            "{config:?}: {configured:?}"
        );
    }
}

#[test]
fn the_rejection_error_shows_the_filters_line() {
    let err = FilterHost::envoy_filter(br#"{"max_label_sets": -1}"#)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with("proxy_on_configure returned false (configuration rejected): "),
        "{text}"
    );
    assert!(text.contains("field `max_label_sets`"), "{text}");
}

#[test]
fn a_custom_route_pattern_is_used() {
    let mut host = filter(
        r#"{"route_pattern": "^(?P<project>[^.]+)\\.(?P<environment>[^.]+)\\.(?P<service>[^.]+)$"}"#,
    );
    host.request(&Request::to_route("acme.prod.web")).unwrap();
    host.request(&Request::to_route("acme.prod.web.extra"))
        .unwrap();
    // `[^.]+` takes `/` too: the Envoy Gateway name fits, with bad values.
    host.request(&Request::to_route(crate::support::filter::route(
        "acme", "prod", "web",
    )))
    .unwrap();
    assert_eq!(
        samples(&mut host, "starform_http_requests_total"),
        ["starform_http_requests_total{project=\"acme\",environment=\"prod\",service=\"web\",code_class=\"2xx\"} 1"]
    );
    assert_eq!(
        samples(&mut host, "starform_l7_unattributed_requests_total"),
        [
            "starform_l7_unattributed_requests_total{reason=\"invalid_value\"} 1",
            "starform_l7_unattributed_requests_total{reason=\"pattern_mismatch\"} 1"
        ]
    );
}

#[test]
fn the_shipped_filter_links_against_this_host() {
    // Every import of the compiled filter is provided (an unknown import would
    // fail here), and it declares ABI 0.2.1.
    FilterModule::envoy_filter().unwrap();
    let mut host = filter("");
    host.tick().unwrap();
    host.request(&Request::to_route("x")).unwrap();
    assert!(host.unimplemented_calls().is_empty());
    assert!(
        host.stderr().is_empty(),
        "{}",
        String::from_utf8_lossy(&host.stderr())
    );
}
