//! The filter's plugin configuration (`Config::parse`) on arbitrary bytes:
//! it never panics; it accepts and rejects by the rules both plugins share
//! (`config_rules`: the field at fault named, on one line); what it accepts
//! is what was written (each field's value or its documented default) and
//! works in a `Recorder`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starform_envoy_filter::config::{
    DEFAULT_MAX_CACHED_ROUTES, DEFAULT_MAX_LABEL_SETS, DEFAULT_PREVIEW_ENVIRONMENT,
    DEFAULT_PREVIEW_PATTERN, DEFAULT_ROUTE_PATTERN,
};
use starform_envoy_filter::{Config, Outcome, Recorder};
use starform_fuzz::config_rules::{check_accepted, check_rejected};
use starform_fuzz::contract::is_label;

const FIELDS: [&str; 6] = [
    "route_pattern",
    "preview_pattern",
    "preview_policy",
    "preview_environment",
    "max_label_sets",
    "max_cached_routes",
];

const ROUTES: [&[u8]; 4] = [
    b"httproute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example",
    b"httproute/acme-pr-1/acme.pr-1.api/rule/0/match/-1/x",
    b"legacy-route",
    b"",
];

fn accepted(data: &[u8], config: &Config) {
    let fields = check_accepted(data, &FIELDS);
    let number = |name: &str, default: usize| {
        fields
            .get(name)
            .map_or(default as u64, |v| v.as_u64().expect("a number field"))
    };
    assert_eq!(
        config.max_label_sets as u64,
        number("max_label_sets", DEFAULT_MAX_LABEL_SETS)
    );
    assert_eq!(
        config.max_cached_routes as u64,
        number("max_cached_routes", DEFAULT_MAX_CACHED_ROUTES)
    );
    assert!(config.max_label_sets >= 1 && config.max_cached_routes >= 1);
    let text = |name: &str, default: &'static str| {
        fields.get(name).map_or(default.to_owned(), |v| {
            v.as_str().expect("a string field").to_owned()
        })
    };
    assert_eq!(
        config.route_pattern.as_str(),
        text("route_pattern", DEFAULT_ROUTE_PATTERN)
    );
    assert_eq!(
        config.preview_pattern.as_str(),
        text("preview_pattern", DEFAULT_PREVIEW_PATTERN)
    );
    let policy = fields
        .get("preview_policy")
        .map_or("aggregate", |v| v.as_str().unwrap());
    assert_eq!(config.preview_policy.as_str(), policy);
    let environment = fields
        .get("preview_environment")
        .map_or(DEFAULT_PREVIEW_ENVIRONMENT, |v| v.as_str().unwrap());
    assert_eq!(config.preview_environment.as_str(), environment);
    assert!(is_label(environment), "{environment:?}");

    // The configuration works: outcomes are stable per route, and the
    // default pattern attributes the contract's names.
    let mut recorder = Recorder::new(config);
    for route in ROUTES {
        let first = recorder.outcome(Some(route));
        assert_eq!(recorder.outcome(Some(route)), first);
    }
    if fields.get("route_pattern").is_none() {
        let mut fresh = Recorder::new(config);
        assert!(
            matches!(fresh.outcome(Some(ROUTES[0])), Outcome::Attributed(_)),
            "default pattern must attribute {:?}",
            String::from_utf8_lossy(ROUTES[0])
        );
    }
}

fuzz_target!(|data: &[u8]| {
    match Config::parse(data) {
        Ok(config) => accepted(data, &config),
        Err(error) => check_rejected(data, &FIELDS, &error.to_string(), error.field()),
    }
});
