//! Per-VM state and the per-request path: route name → cached outcome →
//! cached metric ids → host calls. After a route's first request the path
//! does one hash lookup and no allocation or formatting of its own.

use hashbrown::HashMap;
use regex::Regex;

use crate::config::Config;
use crate::metrics::{MetricSink, SinkErrors, Slot};
use crate::names;
use crate::policy::{Decision, Outcome, PreviewRule};
use crate::registry::{LabelSet, Registry};
use crate::request::{whole_millis, CodeClass, FactSource};
use crate::route::{parse_route, Unattributed};

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
    unattributed: [Slot; Unattributed::ALL.len()],
    overflow: Slot,
    suppressed: Slot,
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
            unattributed: [Slot::Undefined; Unattributed::ALL.len()],
            overflow: Slot::Undefined,
            suppressed: Slot::Undefined,
            errors: SinkErrors::default(),
        }
    }

    /// Records one finished request and says how it was counted.
    pub fn record<F: FactSource, S: MetricSink>(&mut self, facts: &mut F, sink: &mut S) -> Outcome {
        let outcome = self.outcome(facts.route_name());
        let errors = &mut self.errors;
        match outcome {
            Outcome::Unattributed(reason) => {
                if let Some(slot) = self.unattributed.get_mut(reason.index()) {
                    slot.add(
                        sink,
                        1,
                        || names::tagged(names::UNATTRIBUTED_TOTAL, &[("reason", reason.as_str())]),
                        errors,
                    );
                }
            }
            Outcome::SuppressedPreview => {
                self.suppressed.add(
                    sink,
                    1,
                    || names::SUPPRESSED_PREVIEW_TOTAL.to_owned(),
                    errors,
                );
            }
            Outcome::Overflow => {
                self.overflow
                    .add(sink, 1, || names::OVERFLOW_TOTAL.to_owned(), errors);
            }
            Outcome::Attributed(id) => {
                let f = facts.request_facts();
                let Some(set) = self.registry.get_mut(id) else {
                    return outcome;
                };
                let identity = &set.identity;
                let class = CodeClass::of(f.response_code);
                if let Some(slot) = set.requests.get_mut(class.index()) {
                    slot.add(sink, 1, || LabelSet::requests_name(identity, class), errors);
                }
                if let Some(nanos) = f.duration_nanos {
                    set.duration.record(
                        sink,
                        whole_millis(nanos),
                        || LabelSet::name(identity, names::REQUEST_DURATION_MS),
                        errors,
                    );
                }
                set.request_bytes.add(
                    sink,
                    f.request_bytes.unwrap_or(0),
                    || LabelSet::name(identity, names::REQUEST_BYTES_TOTAL),
                    errors,
                );
                set.response_bytes.add(
                    sink,
                    f.response_bytes.unwrap_or(0),
                    || LabelSet::name(identity, names::RESPONSE_BYTES_TOTAL),
                    errors,
                );
            }
        }
        outcome
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
            Decision::Count(identity) => match self.registry.get_or_insert(identity) {
                Some(id) => Outcome::Attributed(id),
                None => Outcome::Overflow,
            },
        }
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
    use crate::request::RequestFacts;
    use std::collections::BTreeMap;

    /// Records what the core asks of the host, by metric name.
    #[derive(Default)]
    struct FakeSink {
        defined: Vec<(MetricKind, String)>,
        counters: BTreeMap<String, u64>,
        histograms: BTreeMap<String, Vec<u64>>,
        refuse: Option<SinkError>,
        refused: usize,
    }

    impl FakeSink {
        fn name(&self, id: u32) -> &str {
            &self.defined[id as usize].1
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

    /// One request's facts, counting how often each is read.
    struct Req {
        route: Option<Vec<u8>>,
        facts: RequestFacts,
        fact_reads: usize,
    }

    impl FactSource for Req {
        fn route_name(&mut self) -> Option<&[u8]> {
            self.route.as_deref()
        }
        fn request_facts(&mut self) -> RequestFacts {
            self.fact_reads += 1;
            self.facts
        }
    }

    fn req(route: &str, code: i64) -> Req {
        Req {
            route: Some(route.as_bytes().to_vec()),
            facts: RequestFacts {
                response_code: Some(code),
                duration_nanos: Some(3_700_000),
                request_bytes: Some(120),
                response_bytes: Some(80),
            },
            fact_reads: 0,
        }
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
        let mut q = req(&route("acme", "prod", "api"), 200);
        assert!(matches!(
            r.record(&mut q, &mut sink),
            Outcome::Attributed(_)
        ));
        assert_eq!(q.fact_reads, 1);
        assert_eq!(
            sink.defined,
            vec![
                (MetricKind::Counter, REQ_ACME.to_owned()),
                (MetricKind::Histogram, "starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned()),
                (MetricKind::Counter, "starform_http_request_bytes_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned()),
                (MetricKind::Counter, "starform_http_response_bytes_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;".to_owned()),
            ]
        );
        // A second request reuses every id.
        r.record(&mut req(&route("acme", "prod", "api"), 201), &mut sink);
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
            r.record(&mut req(&route("acme", "prod", "api"), code), &mut sink);
        }
        let mut q = req(&route("acme", "prod", "api"), 0);
        q.facts.response_code = None;
        r.record(&mut q, &mut sink);
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
    fn unattributed_requests_count_by_reason_and_read_nothing_else() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        let mut requests = vec![
            Req {
                route: None,
                facts: RequestFacts::default(),
                fact_reads: 0,
            },
            Req {
                route: Some(Vec::new()),
                facts: RequestFacts::default(),
                fact_reads: 0,
            },
            req("legacy-route", 200),
            Req {
                route: Some(b"httproute/ns/acme.prod.\xff/rule/0/match/0/h".to_vec()),
                facts: RequestFacts::default(),
                fact_reads: 0,
            },
            req(&route("Acme", "prod", "api"), 200),
            req(&route("acme", "prod", "my_svc"), 200),
            req(&route("acme", "prod", "api"), 200),
        ];
        for q in &mut requests {
            r.record(q, &mut sink);
        }
        assert_eq!(
            requests.iter().map(|q| q.fact_reads).collect::<Vec<_>>(),
            [0, 0, 0, 0, 0, 0, 1]
        );
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
        assert!(sink
            .defined
            .iter()
            .all(|(_, n)| !n.contains("Acme") && !n.contains("my_svc")));
    }

    #[test]
    fn preview_aggregate() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        r.record(&mut req(&route("acme", "pr-1", "api"), 200), &mut sink);
        r.record(&mut req(&route("acme", "pr-2", "api"), 200), &mut sink);
        r.record(&mut req(&route("acme", "preview-x", "api"), 500), &mut sink);
        let p = |c: &str| {
            format!("starform_http_requests_total_project=.=acme;.;environment=.=preview;.;service=.=api;.;code_class=.={c};.;")
        };
        assert_eq!(sink.counters[&p("2xx")], 2);
        assert_eq!(sink.counters[&p("5xx")], 1);
        assert_eq!(r.label_sets(), 1);
        assert!(sink.defined.iter().all(|(_, n)| !n.contains("pr-")));
    }

    #[test]
    fn preview_full() {
        let mut r = recorder(r#"{"preview_policy":"full"}"#);
        let mut sink = FakeSink::default();
        r.record(&mut req(&route("acme", "pr-1", "api"), 200), &mut sink);
        r.record(&mut req(&route("acme", "pr-2", "api"), 200), &mut sink);
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
        let mut q = req(&route("acme", "pr-1", "api"), 200);
        assert_eq!(r.record(&mut q, &mut sink), Outcome::SuppressedPreview);
        r.record(&mut req(&route("acme", "pr-2", "api"), 200), &mut sink);
        r.record(&mut req(&route("acme", "prod", "api"), 200), &mut sink);
        assert_eq!(q.fact_reads, 0);
        assert_eq!(
            sink.counters["starform_l7_suppressed_preview_requests_total"],
            2
        );
        assert_eq!(sink.counters[REQ_ACME], 1);
        assert_eq!(r.label_sets(), 1);
        // The self-metric has no tenant labels; no preview series exists.
        assert!(sink
            .defined
            .iter()
            .all(|(_, n)| !n.contains("pr-") && !n.contains("preview;")));
    }

    #[test]
    fn overflow_counts_new_sets_without_labels_and_keeps_existing_ones() {
        let mut r = recorder(r#"{"max_label_sets":2}"#);
        let mut sink = FakeSink::default();
        r.record(&mut req(&route("acme", "prod", "api"), 200), &mut sink);
        r.record(&mut req(&route("globex", "prod", "api"), 200), &mut sink);
        let mut q = req(&route("initech", "prod", "api"), 200);
        assert_eq!(r.record(&mut q, &mut sink), Outcome::Overflow);
        assert_eq!(q.fact_reads, 0);
        r.record(&mut req(&route("hooli", "dev", "web"), 200), &mut sink);
        r.record(&mut req(&route("initech", "prod", "api"), 200), &mut sink);
        // Existing sets keep counting, also on routes not seen before.
        r.record(&mut req(&route("acme", "prod", "api"), 404), &mut sink);
        r.record(
            &mut req("httproute/other-ns/acme.prod.api/rule/3/match/-1/x", 200),
            &mut sink,
        );
        assert_eq!(r.label_sets(), 2);
        assert_eq!(sink.counters["starform_l7_overflow_requests_total"], 3);
        assert_eq!(sink.counters[REQ_ACME], 2);
        assert_eq!(
            sink.counters["starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;code_class=.=4xx;.;"],
            1
        );
        assert!(sink
            .defined
            .iter()
            .all(|(_, n)| !n.contains("initech") && !n.contains("hooli")));
    }

    #[test]
    fn route_cache_is_bounded_and_refills_without_redefining() {
        let mut r = recorder(r#"{"max_cached_routes":3}"#);
        let mut sink = FakeSink::default();
        for round in 0..3 {
            for rule in 0..10 {
                let name = format!("httproute/ns/acme.prod.api/rule/{rule}/match/0/h");
                r.record(&mut req(&name, 200), &mut sink);
                assert!(r.cached_routes() <= 3, "round {round} rule {rule}");
            }
        }
        assert_eq!(sink.counters[REQ_ACME], 30);
        // FakeSink asserts no name is defined twice.
        assert_eq!(sink.defined.len(), 4);
    }

    #[test]
    fn zero_and_absent_facts_are_skipped() {
        let mut r = recorder("{}");
        let mut sink = FakeSink::default();
        let mut q = req(&route("acme", "prod", "api"), 200);
        q.facts.request_bytes = Some(0);
        q.facts.response_bytes = None;
        q.facts.duration_nanos = None;
        r.record(&mut q, &mut sink);
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
            r.record(&mut req(&route("acme", "prod", "api"), 200), &mut sink);
            r.record(&mut req("legacy", 200), &mut sink);
        }
        // Four series of the label set and one reason, each tried once.
        assert_eq!(sink.refused, 5);
        assert_eq!(r.sink_errors().count, 5);
        assert_eq!(r.sink_errors().last, Some(SinkError(2)));
        assert!(sink.counters.is_empty());
    }
}
