//! Per-VM state and the per-request path: route name → cached outcome →
//! counts in VM memory, plus one histogram sample per attributed request.
//! After a route's first request the path does one hash lookup and no
//! allocation or formatting of its own; counters reach the host only when
//! [`Recorder::flush`] runs (the glue calls it on every tick).

use hashbrown::HashMap;
use regex_lite::Regex;

use crate::config::Config;
use crate::metrics::{MetricSink, SinkErrors, Slot};
use crate::names;
use crate::policy::{Decision, Outcome, PreviewRule};
use crate::registry::{LabelSet, LabelSetId, Registry};
use crate::request::{whole_millis, CodeClass, RequestFacts};
use crate::route::{parse_route, Unattributed};

/// A counter without tenant labels: its slot and what is not yet flushed.
#[derive(Debug, Clone, Copy, Default)]
struct SelfCounter {
    slot: Slot,
    pending: u64,
}

/// Everything one VM (one Envoy worker) keeps between requests.
#[derive(Debug)]
pub struct Recorder {
    route_pattern: Regex,
    preview: PreviewRule,
    max_cached_routes: usize,
    /// Route name → outcome. Route names come from the control plane, not
    /// from clients, so their number is the number of configured routes.
    routes: HashMap<Box<[u8]>, Outcome>,
    registry: Registry,
    /// Label sets with pending counts, each once, so a flush touches only
    /// what moved.
    dirty: Vec<LabelSetId>,
    unattributed: [SelfCounter; Unattributed::ALL.len()],
    overflow: SelfCounter,
    suppressed: SelfCounter,
    errors: SinkErrors,
}

impl Recorder {
    pub fn new(config: &Config) -> Self {
        Recorder {
            route_pattern: config.route_pattern.clone(),
            preview: PreviewRule::new(config),
            max_cached_routes: config.max_cached_routes,
            routes: HashMap::new(),
            registry: Registry::new(config.max_label_sets),
            dirty: Vec::new(),
            unattributed: [SelfCounter::default(); Unattributed::ALL.len()],
            overflow: SelfCounter::default(),
            suppressed: SelfCounter::default(),
            errors: SinkErrors::default(),
        }
    }

    /// Counts one finished request under `outcome` (from
    /// [`Recorder::outcome`] for its route name). Only an attributed request
    /// uses `facts`, and only its duration reaches the host now (Envoy owns
    /// the histogram's buckets); counts wait for [`Recorder::flush`].
    pub fn record<S: MetricSink>(&mut self, outcome: Outcome, facts: &RequestFacts, sink: &mut S) {
        let counter = match outcome {
            Outcome::Attributed(id) => return self.record_attributed(id, facts, sink),
            Outcome::Unattributed(reason) => self.unattributed.get_mut(reason.index()),
            Outcome::SuppressedPreview => Some(&mut self.suppressed),
            Outcome::Overflow => Some(&mut self.overflow),
        };
        if let Some(counter) = counter {
            counter.pending = counter.pending.saturating_add(1);
        }
    }

    fn record_attributed<S: MetricSink>(
        &mut self,
        id: LabelSetId,
        facts: &RequestFacts,
        sink: &mut S,
    ) {
        let Some(set) = self.registry.get_mut(id) else {
            return;
        };
        if set.pending.is_empty() {
            self.dirty.push(id);
        }
        let pending = &mut set.pending;
        if let Some(n) = pending
            .requests
            .get_mut(CodeClass::of(facts.response_code).index())
        {
            *n = n.saturating_add(1);
        }
        pending.request_bytes = pending.request_bytes.saturating_add(facts.request_bytes);
        pending.response_bytes = pending.response_bytes.saturating_add(facts.response_bytes);
        if let Some(nanos) = facts.duration_nanos {
            let (identity, retention) = (&set.identity, set.retention);
            set.duration.record(
                sink,
                whole_millis(nanos),
                || LabelSet::name(identity, retention, names::REQUEST_DURATION_MS),
                &mut self.errors,
            );
        }
    }

    /// Hands every pending count to the host: one increment per counter
    /// that moved since the last flush, defining it on first use.
    pub fn flush<S: MetricSink>(&mut self, sink: &mut S) {
        let errors = &mut self.errors;
        for id in self.dirty.drain(..) {
            let Some(set) = self.registry.get_mut(id) else {
                continue;
            };
            let pending = std::mem::take(&mut set.pending);
            let (identity, retention) = (&set.identity, set.retention);
            for (class, (slot, n)) in CodeClass::ALL
                .iter()
                .zip(set.requests.iter_mut().zip(pending.requests))
            {
                slot.add(
                    sink,
                    n,
                    || LabelSet::requests_name(identity, retention, *class),
                    errors,
                );
            }
            set.request_bytes.add(
                sink,
                pending.request_bytes,
                || LabelSet::name(identity, retention, names::REQUEST_BYTES_TOTAL),
                errors,
            );
            set.response_bytes.add(
                sink,
                pending.response_bytes,
                || LabelSet::name(identity, retention, names::RESPONSE_BYTES_TOTAL),
                errors,
            );
        }
        for (reason, counter) in Unattributed::ALL.iter().zip(self.unattributed.iter_mut()) {
            let n = std::mem::take(&mut counter.pending);
            counter.slot.add(
                sink,
                n,
                || names::tagged(names::UNATTRIBUTED_TOTAL, &[("reason", reason.as_str())]),
                errors,
            );
        }
        let n = std::mem::take(&mut self.suppressed.pending);
        self.suppressed.slot.add(
            sink,
            n,
            || names::SUPPRESSED_PREVIEW_TOTAL.to_owned(),
            errors,
        );
        let n = std::mem::take(&mut self.overflow.pending);
        self.overflow
            .slot
            .add(sink, n, || names::OVERFLOW_TOTAL.to_owned(), errors);
    }

    /// The outcome for a route name, from the cache or worked out once.
    pub fn outcome(&mut self, route_name: Option<&[u8]>) -> Outcome {
        let name = match route_name {
            None | Some([]) => return Outcome::Unattributed(Unattributed::NoRoute),
            Some(name) => name,
        };
        if let Some(outcome) = self.routes.get(name) {
            return *outcome;
        }
        let outcome = self.resolve(name);
        // Emptying (rather than evicting one) keeps the cache a plain map;
        // refilling costs one pattern match per route, and label sets keep
        // their ids, so no series is redefined.
        if self.routes.len() >= self.max_cached_routes {
            self.routes.clear();
        }
        self.routes.insert(Box::from(name), outcome);
        outcome
    }

    fn resolve(&mut self, name: &[u8]) -> Outcome {
        let identity = match parse_route(&self.route_pattern, Some(name)) {
            Ok(identity) => identity,
            Err(reason) => return Outcome::Unattributed(reason),
        };
        match self.preview.decide(identity) {
            Decision::Suppress => Outcome::SuppressedPreview,
            Decision::Count(identity, retention) => {
                match self.registry.get_or_insert(identity, retention) {
                    Some(id) => Outcome::Attributed(id),
                    None => Outcome::Overflow,
                }
            }
        }
    }

    /// The label set an [`Outcome::Attributed`] counts under: its identity
    /// and its series' retention mark.
    pub fn label_set(&self, id: LabelSetId) -> Option<&LabelSet> {
        self.registry.get(id)
    }

    /// Distinct label sets defined so far.
    pub fn label_sets(&self) -> usize {
        self.registry.len()
    }

    /// Route names whose outcome is cached.
    pub fn cached_routes(&self) -> usize {
        self.routes.len()
    }

    /// Host refusals so far (define/increment/record).
    pub fn sink_errors(&self) -> SinkErrors {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MetricKind, SinkError};
    use std::collections::BTreeMap;

    /// Records what the core asks of the host, by metric name.
    #[derive(Default)]
    struct FakeSink {
        defined: Vec<(MetricKind, String)>,
        counters: BTreeMap<String, u64>,
        histograms: BTreeMap<String, Vec<u64>>,
        refuse: Option<SinkError>,
        refused: usize,
        increments: usize,
    }

    impl FakeSink {
        fn name(&self, id: u32) -> &str {
            &self.defined[id as usize].1
        }
        fn assert_no_name_contains(&self, parts: &[&str]) {
            for (_, name) in &self.defined {
                for part in parts {
                    assert!(!name.contains(part), "{name} contains {part:?}");
                }
            }
        }
        fn defined_names(&self) -> Vec<&str> {
            let mut v: Vec<&str> = self.defined.iter().map(|(_, n)| n.as_str()).collect();
            v.sort();
            v
        }
    }

    impl MetricSink for FakeSink {
        fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, SinkError> {
            if let Some(e) = self.refuse {
                self.refused += 1;
                return Err(e);
            }
            assert!(
                !self.defined.iter().any(|(_, n)| n == name),
                "{name} defined twice"
            );
            self.defined.push((kind, name.to_owned()));
            Ok((self.defined.len() - 1) as u32)
        }
        fn increment(&mut self, id: u32, offset: u64) -> Result<(), SinkError> {
            assert!(offset > 0, "Envoy rejects offset {offset}");
            self.increments += 1;
            assert_eq!(self.defined[id as usize].0, MetricKind::Counter);
            *self.counters.entry(self.name(id).to_owned()).or_default() += offset;
            Ok(())
        }
        fn record(&mut self, id: u32, value: u64) -> Result<(), SinkError> {
            assert_eq!(self.defined[id as usize].0, MetricKind::Histogram);
            let name = self.name(id).to_owned();
            self.histograms.entry(name).or_default().push(value);
            Ok(())
        }
    }

    fn facts(code: i64) -> RequestFacts {
        RequestFacts {
            response_code: Some(code),
            duration_nanos: Some(3_700_000),
            request_bytes: 120,
            response_bytes: 80,
        }
    }

    /// One request the way the glue does it: outcome at request headers,
    /// record at the end of the stream.
    fn send(
        r: &mut Recorder,
        sink: &mut FakeSink,
        route: Option<&str>,
        f: RequestFacts,
    ) -> Outcome {
        let outcome = r.outcome(route.map(str::as_bytes));
        r.record(outcome, &f, sink);
        outcome
    }

    fn req(r: &mut Recorder, sink: &mut FakeSink, route: &str, code: i64) -> Outcome {
        send(r, sink, Some(route), facts(code))
    }

    fn route(p: &str, e: &str, s: &str) -> String {
        format!("httproute/ns/{p}.{e}.{s}/rule/0/match/0/host")
    }

    fn recorder(json: &str) -> Recorder {
        Recorder::new(&Config::parse(json.as_bytes()).unwrap())
    }

    const REQ_ACME: &str = "starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;code_class=.=2xx;.;";

    #[test]
    fn attributed_request_defines_and_bumps_exact_series() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        assert!(matches!(
            req(&mut r, &mut sink, &route("acme", "prod", "api"), 200),
            Outcome::Attributed(_)
        ));
        // Only the histogram sample goes out per request.
        assert_eq!(
            sink.defined,
            vec![(MetricKind::Histogram, "starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned())]
        );
        assert!(sink.counters.is_empty());
        r.flush(&mut sink);
        assert_eq!(
            sink.defined,
            vec![
                (MetricKind::Histogram, "starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned()),
                (MetricKind::Counter, REQ_ACME.to_owned()),
                (MetricKind::Counter, "starform_http_request_bytes_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned()),
                (MetricKind::Counter, "starform_http_response_bytes_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned()),
            ]
        );
        // A second request reuses every id.
        req(&mut r, &mut sink, &route("acme", "prod", "api"), 201);
        r.flush(&mut sink);
        assert_eq!(sink.defined.len(), 4);
        assert_eq!(sink.counters[REQ_ACME], 2);
        assert_eq!(
            sink.histograms["starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=api;.;"],
            vec![3, 3]
        );
        assert_eq!(sink.counters["starform_http_request_bytes_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;"], 240);
        assert_eq!(sink.counters["starform_http_response_bytes_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;"], 160);
    }

    #[test]
    fn each_code_class_is_its_own_series() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        for code in [101, 200, 302, 404, 404, 503, 0, 700] {
            req(&mut r, &mut sink, &route("acme", "prod", "api"), code);
        }
        let mut f = facts(0);
        f.response_code = None;
        send(&mut r, &mut sink, Some(&route("acme", "prod", "api")), f);
        r.flush(&mut sink);
        let counts: Vec<(String, u64)> = sink
            .counters
            .iter()
            .filter(|(n, _)| n.starts_with(names::REQUESTS_TOTAL))
            .map(|(n, v)| (n.rsplit("code_class=.=").next().unwrap().to_owned(), *v))
            .collect();
        assert_eq!(
            counts,
            [
                ("1xx;.;", 1),
                ("2xx;.;", 1),
                ("3xx;.;", 1),
                ("4xx;.;", 2),
                ("5xx;.;", 1),
                ("none;.;", 3)
            ]
            .map(|(c, n)| (c.to_owned(), n))
        );
    }

    #[test]
    fn unattributed_requests_count_by_reason() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        let outcomes: Vec<Outcome> = [
            None,
            Some(""),
            Some("legacy-route"),
            Some(route("Acme", "prod", "api").as_str()),
            Some(route("acme", "prod", "my_svc").as_str()),
            Some(route("acme", "prod", "api").as_str()),
        ]
        .into_iter()
        .map(|name| send(&mut r, &mut sink, name, facts(200)))
        .collect();
        let mut bad = r.outcome(Some(b"httproute/ns/acme.prod.\xff/rule/0/match/0/h"));
        r.record(bad, &facts(200), &mut sink);
        bad = r.outcome(Some(b"httproute/ns/acme.prod.\xff/rule/0/match/0/h"));
        assert_eq!(bad, Outcome::Unattributed(Unattributed::PatternMismatch));
        assert_eq!(
            outcomes[..5]
                .iter()
                .map(|o| matches!(o, Outcome::Attributed(_)))
                .collect::<Vec<_>>(),
            [false; 5]
        );
        // Unattributed requests send nothing to the host until the flush.
        assert_eq!(
            sink.defined.len(),
            1,
            "only the attributed request's histogram"
        );
        r.flush(&mut sink);
        let u = |reason: &str| {
            sink.counters[&format!("starform_l7_unattributed_requests_total_reason=.={reason};.;")]
        };
        assert_eq!(
            (u("no_route"), u("pattern_mismatch"), u("invalid_value")),
            (2, 2, 2)
        );
        assert_eq!(sink.counters[REQ_ACME], 1);
        assert_eq!(r.label_sets(), 1);
        // Nothing was defined for the invalid names' values.
        sink.assert_no_name_contains(&["Acme", "my_svc"]);
    }

    #[test]
    fn preview_aggregate() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        req(&mut r, &mut sink, &route("acme", "pr-1", "api"), 200);
        req(&mut r, &mut sink, &route("acme", "pr-2", "api"), 200);
        req(&mut r, &mut sink, &route("acme", "preview-x", "api"), 500);
        r.flush(&mut sink);
        let p = |c: &str| {
            format!("starform_http_requests_total_project=.=acme;.;environment=.=preview;.;service=.=api;.;code_class=.={c};.;")
        };
        assert_eq!(sink.counters[&p("2xx")], 2);
        assert_eq!(sink.counters[&p("5xx")], 1);
        assert_eq!(r.label_sets(), 1);
        sink.assert_no_name_contains(&["pr-"]);
    }

    #[test]
    fn preview_full() {
        let mut r = recorder(r#"{"preview_policy":"full"}"#);
        let mut sink = FakeSink::default();
        req(&mut r, &mut sink, &route("acme", "pr-1", "api"), 200);
        req(&mut r, &mut sink, &route("acme", "pr-2", "api"), 200);
        r.flush(&mut sink);
        assert_eq!(r.label_sets(), 2);
        for env in ["pr-1", "pr-2"] {
            let n = format!("starform_http_requests_total_project=.=acme;.;environment=.={env};.;service=.=api;.;code_class=.=2xx;.;");
            assert_eq!(sink.counters[&n], 1);
        }
    }

    #[test]
    fn preview_suppress() {
        let mut r = recorder(r#"{"preview_policy":"suppress"}"#);
        let mut sink = FakeSink::default();
        assert_eq!(
            req(&mut r, &mut sink, &route("acme", "pr-1", "api"), 200),
            Outcome::SuppressedPreview
        );
        req(&mut r, &mut sink, &route("acme", "pr-2", "api"), 200);
        req(&mut r, &mut sink, &route("acme", "prod", "api"), 200);
        r.flush(&mut sink);
        assert_eq!(
            sink.counters["starform_l7_suppressed_preview_requests_total"],
            2
        );
        assert_eq!(sink.counters[REQ_ACME], 1);
        assert_eq!(r.label_sets(), 1);
        // The self-metric has no tenant labels; no preview series exists.
        sink.assert_no_name_contains(&["pr-", "preview;"]);
    }

    /// Previews under `short_retention` get exactly the series `full` gives
    /// them, each name with the mark appended; everything else is
    /// byte-for-byte what `full` gives.
    #[test]
    fn preview_short_retention_marks_exactly_the_preview_series() {
        let traffic = |policy: &str| {
            let mut r = recorder(&format!(r#"{{"preview_policy":"{policy}"}}"#));
            let mut sink = FakeSink::default();
            req(&mut r, &mut sink, &route("acme", "pr-1", "api"), 200);
            req(&mut r, &mut sink, &route("acme", "pr-1", "api"), 503);
            req(&mut r, &mut sink, &route("acme", "preview-x", "web"), 200);
            req(&mut r, &mut sink, &route("acme", "prod", "api"), 200);
            let outcome = req(&mut r, &mut sink, "legacy", 200);
            assert_eq!(
                outcome,
                Outcome::Unattributed(Unattributed::PatternMismatch)
            );
            r.flush(&mut sink);
            assert_eq!(r.label_sets(), 3);
            sink
        };
        let full = traffic("full");
        let short = traffic("short_retention");
        let preview = |name: &str| {
            name.contains("environment=.=pr-") || name.contains("environment=.=preview-")
        };
        let marked = |name: &str| {
            if preview(name) {
                format!("{name}retention=.=short;.;")
            } else {
                name.to_owned()
            }
        };
        let mut want: Vec<(MetricKind, String)> = full
            .defined
            .iter()
            .map(|(kind, name)| (*kind, marked(name)))
            .collect();
        let mut got = short.defined.clone();
        want.sort_by(|a, b| a.1.cmp(&b.1));
        got.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(got, want);
        let want_counts: BTreeMap<String, u64> = full
            .counters
            .iter()
            .map(|(name, n)| (marked(name), *n))
            .collect();
        assert_eq!(short.counters, want_counts);
        assert_eq!(
            short.counters["starform_http_requests_total_project=.=acme;.;environment=.=pr-1;.;service=.=api;.;code_class=.=5xx;.;retention=.=short;.;"],
            1
        );
        assert_eq!(short.counters[REQ_ACME], 1);
        // Marked: the preview series, all of them, and nothing else.
        let preview_names = short.defined.iter().filter(|(_, n)| preview(n)).count();
        assert_eq!(preview_names, 2 * 4 + 1, "two label sets' series, one 5xx");
        assert_eq!(
            short
                .defined
                .iter()
                .filter(|(_, n)| n.ends_with("retention=.=short;.;"))
                .count(),
            preview_names
        );
    }

    /// The mark exists only under `short_retention`.
    #[test]
    fn no_other_policy_marks_anything() {
        for policy in ["aggregate", "full", "suppress"] {
            let mut r = recorder(&format!(r#"{{"preview_policy":"{policy}"}}"#));
            let mut sink = FakeSink::default();
            for env in ["pr-1", "preview-x", "prod"] {
                req(&mut r, &mut sink, &route("acme", env, "api"), 200);
            }
            r.flush(&mut sink);
            sink.assert_no_name_contains(&["retention"]);
        }
    }

    #[test]
    fn overflow_counts_new_sets_without_labels_and_keeps_existing_ones() {
        let mut r = recorder(r#"{"max_label_sets":2}"#);
        let mut sink = FakeSink::default();
        req(&mut r, &mut sink, &route("acme", "prod", "api"), 200);
        req(&mut r, &mut sink, &route("globex", "prod", "api"), 200);
        assert_eq!(
            req(&mut r, &mut sink, &route("initech", "prod", "api"), 200),
            Outcome::Overflow
        );
        req(&mut r, &mut sink, &route("hooli", "dev", "web"), 200);
        req(&mut r, &mut sink, &route("initech", "prod", "api"), 200);
        // Existing sets keep counting, also on routes not seen before.
        req(&mut r, &mut sink, &route("acme", "prod", "api"), 404);
        req(
            &mut r,
            &mut sink,
            "httproute/other-ns/acme.prod.api/rule/3/match/-1/x",
            200,
        );
        r.flush(&mut sink);
        assert_eq!(r.label_sets(), 2);
        assert_eq!(sink.counters["starform_l7_overflow_requests_total"], 3);
        assert_eq!(sink.counters[REQ_ACME], 2);
        assert_eq!(
            sink.counters["starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;code_class=.=4xx;.;"],
            1
        );
        sink.assert_no_name_contains(&["initech", "hooli"]);
    }

    #[test]
    fn route_cache_is_bounded_and_refills_without_redefining() {
        let mut r = recorder(r#"{"max_cached_routes":3}"#);
        let mut sink = FakeSink::default();
        for round in 0..3 {
            for rule in 0..10 {
                let name = format!("httproute/ns/acme.prod.api/rule/{rule}/match/0/h");
                req(&mut r, &mut sink, &name, 200);
                assert!(r.cached_routes() <= 3, "round {round} rule {rule}");
            }
            r.flush(&mut sink);
        }
        assert_eq!(sink.counters[REQ_ACME], 30);
        // FakeSink asserts no name is defined twice.
        assert_eq!(sink.defined.len(), 4);
    }

    #[test]
    fn zero_and_absent_facts_are_skipped() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        let mut f = facts(200);
        f.request_bytes = 0;
        f.response_bytes = 0;
        f.duration_nanos = None;
        send(&mut r, &mut sink, Some(&route("acme", "prod", "api")), f);
        r.flush(&mut sink);
        assert_eq!(sink.defined_names(), [REQ_ACME]);
    }

    #[test]
    fn host_refusals_never_panic_and_are_not_retried() {
        let mut r = recorder("{}");
        let mut sink = FakeSink {
            refuse: Some(SinkError(2)),
            ..FakeSink::default()
        };
        for _ in 0..3 {
            req(&mut r, &mut sink, &route("acme", "prod", "api"), 200);
            req(&mut r, &mut sink, "legacy", 200);
            r.flush(&mut sink);
        }
        // Four series of the label set and one reason, each tried once.
        assert_eq!(sink.refused, 5);
        assert_eq!(r.sink_errors().count, 5);
        assert_eq!(r.sink_errors().last, Some(SinkError(2)));
        assert!(sink.counters.is_empty());
    }

    #[test]
    fn flush_sends_each_moved_counter_once_and_nothing_when_idle() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        for _ in 0..1000 {
            req(&mut r, &mut sink, &route("acme", "prod", "api"), 200);
            req(&mut r, &mut sink, "legacy", 200);
        }
        let calls_before = sink.increments;
        r.flush(&mut sink);
        // requests{2xx}, request bytes, response bytes, one reason.
        assert_eq!(sink.increments - calls_before, 4);
        assert_eq!(sink.counters[REQ_ACME], 1000);
        assert_eq!(
            sink.counters["starform_l7_unattributed_requests_total_reason=.=pattern_mismatch;.;"],
            1000
        );
        let after_first = sink.increments;
        r.flush(&mut sink);
        assert_eq!(
            sink.increments, after_first,
            "an idle flush calls the host for nothing"
        );
        req(&mut r, &mut sink, &route("acme", "prod", "api"), 200);
        r.flush(&mut sink);
        assert_eq!(sink.counters[REQ_ACME], 1001);
    }
}
