//! Route name → outcome, through the filter's pure core: `Config::parse`
//! (defaults and each preview policy), `route::parse_route` with the
//! configured pattern, `PreviewRule`, and the per-VM `Recorder` with tiny
//! limits (label-set overflow, route-cache refills). Each must agree with
//! the hand-written contract in `starform_fuzz::contract`.
//!
//! Input: the whole input is one route name; then its `\n`-separated lines
//! are a sequence of requests through one `Recorder`.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use starform_envoy_filter::policy::{Decision, PreviewRule, Retention};
use starform_envoy_filter::route::parse_route;
use starform_envoy_filter::{Config, Outcome, Recorder};
use starform_fuzz::contract::{route_verdict, RouteVerdict};
use starform_fuzz::filter_model::{Counted, Model, Policy};

const MAX_LABEL_SETS: usize = 3;
const MAX_CACHED_ROUTES: usize = 2;

fn config(policy: Policy) -> Config {
    let json = format!(
        r#"{{"preview_policy":"{}","max_label_sets":{MAX_LABEL_SETS},"max_cached_routes":{MAX_CACHED_ROUTES}}}"#,
        policy.as_str()
    );
    Config::parse(json.as_bytes()).expect("a valid configuration")
}

/// The parser alone, under the defaults: the labels are exactly the route
/// name's parts, or the reason is the contract's.
fn check_parse(defaults: &Config, name: &[u8]) {
    let got = parse_route(&defaults.route_pattern, Some(name));
    match (route_verdict(Some(name)), got) {
        (RouteVerdict::Identity(want), Ok(id)) => assert_eq!(
            [
                id.project.as_str(),
                id.environment.as_str(),
                id.service.as_str()
            ],
            [want[0].as_str(), want[1].as_str(), want[2].as_str()],
            "{name:?}"
        ),
        (RouteVerdict::Unattributed(want), Err(reason)) => {
            assert_eq!(reason.as_str(), want, "{name:?}")
        }
        (want, got) => panic!(
            "{:?}: contract says {want:?}, parser {got:?}",
            String::from_utf8_lossy(name)
        ),
    }
    if let Ok(id) = parse_route(&defaults.route_pattern, Some(name)) {
        for policy in Policy::ALL {
            let decision = PreviewRule::new(&config(policy)).decide(id.clone());
            let preview = starform_fuzz::contract::is_preview(id.environment.as_str());
            match (policy, preview, decision) {
                (_, false, Decision::Count(kept, Retention::Standard))
                | (Policy::Full, true, Decision::Count(kept, Retention::Standard))
                | (Policy::ShortRetention, true, Decision::Count(kept, Retention::Short)) => {
                    assert_eq!(kept, id)
                }
                (Policy::Aggregate, true, Decision::Count(kept, Retention::Standard)) => {
                    assert_eq!(kept.environment.as_str(), "preview");
                    assert_eq!(
                        (kept.project, kept.service),
                        (id.project.clone(), id.service.clone())
                    );
                }
                (Policy::Suppress, true, Decision::Suppress) => {}
                (policy, preview, decision) => {
                    panic!("{policy:?} preview={preview}: {decision:?} for {id:?}")
                }
            }
        }
    }
}

/// One VM's recorder over a sequence of requests, against the model.
fn check_sequence(policy: Policy, names: &[&[u8]]) {
    let mut recorder = Recorder::new(&config(policy));
    let mut model = Model::new(policy, MAX_LABEL_SETS);
    // Label-set index in the model → the id the recorder gave it.
    let mut ids = HashMap::new();
    for name in names {
        let got = recorder.outcome(Some(name));
        let want = model.count(Some(name));
        match (&want, got) {
            (Counted::Unattributed(reason), Outcome::Unattributed(r)) => {
                assert_eq!(r.as_str(), *reason)
            }
            (Counted::Suppressed, Outcome::SuppressedPreview)
            | (Counted::Overflow, Outcome::Overflow) => {}
            (Counted::Set(i), Outcome::Attributed(id)) => {
                let first = *ids.entry(*i).or_insert(id);
                assert_eq!(first, id, "label set {:?} changed id", model.sets[*i]);
                assert_eq!(
                    ids.values().filter(|v| **v == id).count(),
                    1,
                    "two label sets share id {id:?}"
                );
            }
            (want, got) => panic!(
                "{policy:?}: {:?}: model {want:?}, recorder {got:?}",
                String::from_utf8_lossy(name)
            ),
        }
        // A repeated lookup (cached or refilled) gives the same outcome.
        assert_eq!(recorder.outcome(Some(name)), got);
        assert!(recorder.label_sets() <= MAX_LABEL_SETS);
        assert!(recorder.cached_routes() <= MAX_CACHED_ROUTES);
    }
    assert_eq!(recorder.label_sets(), model.sets.len());
}

fuzz_target!(|data: &[u8]| {
    let defaults = Config::parse(b"").expect("defaults");
    check_parse(&defaults, data);
    let names: Vec<&[u8]> = data.split(|b| *b == b'\n').take(64).collect();
    for name in &names {
        check_parse(&defaults, name);
    }
    for policy in Policy::ALL {
        check_sequence(policy, &names);
    }
});
