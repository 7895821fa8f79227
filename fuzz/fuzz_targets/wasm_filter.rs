//! Arbitrary route names, request headers, `:status` values and bodies
//! COMPILED filter module (`modules::ENVOY_FILTER`) in the embedded
//! proxy-wasm host. Fails on any trap or host error, on any series whose
//! labels the route names do not justify (headers such as
//! `x-starform-project`, `:authority` or `x-envoy-original-path` carry other
//! tenants' names and must never matter), and on any request missing from
//! or double-counted in the totals.
//!
//! Input: byte 0 picks the preview policy and `max_label_sets`; then each
//! `\n`-separated line is one request: its first byte is a control byte (see
//! [`Control`]), the rest is the route name.
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use starform_envoy_filter::{Config, Recorder};
use starform_fuzz::filter_model::{Counted, Model, Policy};
use starform_wasm::prometheus::series;
use starform_wasm::proxy_wasm_host::{FilterHost, FilterModule, HostOptions, MetricValue, Request};

const MAX_REQUESTS: usize = 32;
const MAX_CACHED_ROUTES: usize = 2;

/// Bits of a request's control byte.
struct Control(u8);

impl Control {
    /// No `xds.route_name` at all (no route matched).
    fn no_route(&self) -> bool {
        self.0 & 1 != 0
    }
    /// The stream resets before a response (no `response.code`).
    fn no_response(&self) -> bool {
        self.0 & 2 != 0
    }
    /// 0: plain; 1: the response's `:status` header is the route name's
    /// bytes (not a number); 2: the request took no time; 3: both bodies
    /// are the route name's bytes.
    fn variant(&self) -> u8 {
        (self.0 >> 2) & 3
    }
    /// Spoofing headers carry the previous line's route (another tenant).
    fn spoof_previous(&self) -> bool {
        self.0 & 16 != 0
    }
    fn status(&self) -> u16 {
        [200, 204, 301, 404, 503, 101, 0, 999][usize::from(self.0 >> 5)]
    }
}

fn headers_claiming(other: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut path = b"/".to_vec();
    path.extend_from_slice(other);
    [
        (&b"x-starform-project"[..], other.to_vec()),
        (b"x-starform-environment", other.to_vec()),
        (b"x-starform-service", other.to_vec()),
        (b"x-envoy-original-path", path.clone()),
        (b":path", path),
        (b":authority", other.to_vec()),
        (b"host", other.to_vec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_vec(), v))
    .collect()
}

fn request(control: &Control, route: &[u8], previous: &[u8]) -> Request {
    let mut r = Request::default();
    if !control.no_route() {
        r.route_name = Some(route.to_vec());
    }
    if !control.no_response() {
        r.status = Some(control.status());
    }
    r.duration = Duration::from_micros(1500);
    r.request_headers = headers_claiming(if control.spoof_previous() {
        previous
    } else {
        route
    });
    match control.variant() {
        1 => r
            .response_headers
            .push((b":status".to_vec(), route.to_vec())),
        2 => r.duration = Duration::ZERO,
        3 => {
            r.request_body = route.to_vec();
            r.response_body = route.to_vec();
        }
        _ => {}
    }
    r
}

/// What the totals must be after the requests.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    /// (project, environment, service) → requests.
    requests: BTreeMap<[String; 3], u64>,
    /// Same key → duration samples (one per request).
    durations: BTreeMap<[String; 3], u64>,
    unattributed: BTreeMap<String, u64>,
    overflow: u64,
    suppressed: u64,
}

fn label(labels: &[(&'static str, String)], name: &str) -> Option<String> {
    labels
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.clone())
}

/// The totals the VM shows; panics on any series outside the contract,
/// a retention mark where `model` has none or none where it has one
/// included.
fn observed(host: &FilterHost, model: &Model) -> Totals {
    let mut totals = Totals::default();
    for (key, value) in host.metrics().iter() {
        let s = series(&key.name);
        let identity = match (
            label(&s.labels, "project"),
            label(&s.labels, "environment"),
            label(&s.labels, "service"),
        ) {
            (Some(p), Some(e), Some(v)) => Some([p, e, v]),
            (None, None, None) => None,
            _ => panic!("partial identity on {}", key.name),
        };
        let mark = label(&s.labels, "retention");
        let want_mark = identity
            .as_ref()
            .is_some_and(|[_, environment, _]| model.marked(environment))
            .then(|| "short".to_owned());
        assert_eq!(mark, want_mark, "the retention mark on {}", key.name);
        let n = match value {
            MetricValue::Counter(n) | MetricValue::Gauge(n) => *n,
            MetricValue::Histogram(samples) => samples.len() as u64,
        };
        match (s.name.as_str(), identity) {
            ("starform_http_requests_total", Some(id)) => {
                *totals.requests.entry(id).or_default() += n
            }
            ("starform_http_request_duration_milliseconds", Some(id)) => {
                *totals.durations.entry(id).or_default() += n
            }
            (
                "starform_http_request_bytes_total" | "starform_http_response_bytes_total",
                Some(_),
            ) => {}
            ("starform_l7_unattributed_requests_total", None) => {
                let reason = label(&s.labels, "reason").expect("a reason");
                *totals.unattributed.entry(reason).or_default() += n;
            }
            ("starform_l7_overflow_requests_total", None) => totals.overflow += n,
            ("starform_l7_suppressed_preview_requests_total", None) => totals.suppressed += n,
            (name, identity) => panic!("unexpected series {name} {identity:?} ({})", key.name),
        }
    }
    totals.requests.retain(|_, n| *n > 0);
    totals.durations.retain(|_, n| *n > 0);
    totals.unattributed.retain(|_, n| *n > 0);
    totals
}

fn module() -> &'static FilterModule {
    FilterModule::envoy_filter().expect("the embedded filter compiles")
}

fuzz_target!(|data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let policy = Policy::ALL[usize::from(settings) % Policy::ALL.len()];
    let max_label_sets = 1 + usize::from(settings) / Policy::ALL.len() % 4;
    let config = format!(
        r#"{{"preview_policy":"{}","max_label_sets":{max_label_sets},"max_cached_routes":{MAX_CACHED_ROUTES}}}"#,
        policy.as_str()
    );
    let mut host = FilterHost::with_options(
        module(),
        HostOptions {
            plugin_config: config.clone().into_bytes(),
            ..HostOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("VM start with {config}: {e}"));
    // The native core on the same routes: coverage for libFuzzer (it cannot
    // see inside the module) and a second opinion.
    let mut native = Recorder::new(&Config::parse(config.as_bytes()).expect("valid"));
    let mut model = Model::new(policy, max_label_sets);
    let mut want = Totals::default();
    let mut previous: &[u8] = b"";
    for line in rest.split(|b| *b == b'\n').take(MAX_REQUESTS) {
        let (control, route) = match line.split_first() {
            Some((c, route)) => (Control(*c), route),
            None => (Control(0), line),
        };
        let req = request(&control, route, previous);
        let name = req.route_name.as_deref();
        native.outcome(name);
        match model.count(name) {
            Counted::Unattributed(reason) => {
                *want.unattributed.entry(reason.to_owned()).or_default() += 1
            }
            Counted::Suppressed => want.suppressed += 1,
            Counted::Overflow => want.overflow += 1,
            Counted::Set(i) => {
                let id = model.sets[i].clone();
                *want.requests.entry(id.clone()).or_default() += 1;
                *want.durations.entry(id).or_default() += 1;
            }
        }
        host.request(&req).unwrap_or_else(|e| {
            panic!(
                "request {:?} ({}): {e}\nlogs: {:?}",
                String::from_utf8_lossy(line),
                config,
                host.logs()
            )
        });
        previous = route;
    }
    // Counters may be kept in the VM and flushed on the tick.
    for _ in 0..2 {
        host.clock().advance(Duration::from_secs(5));
        host.tick().unwrap_or_else(|e| panic!("tick: {e}"));
    }
    let got = observed(&host, &model);
    assert_eq!(
        got, want,
        "{config}: totals differ from the route names' verdicts"
    );
});
