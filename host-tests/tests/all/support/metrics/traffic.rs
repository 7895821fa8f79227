//! The known mix: tenants, routes (named as the control plane names them),
//! statuses and delays, production and previews; the Envoy that serves them
//! under `preview_policy: "short_retention"`; and what Envoy must count for
//! them.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use starform_wasm::envoy::{
    add_clusters, insert_http_filter_before_router, replace_routes, Envoy, Launch,
};

use regex::Regex;
use starform_envoy_filter::config::DEFAULT_PREVIEW_PATTERN;

use super::promql::{Labels, Vector};
use crate::support::{envoy_binary, TempDir};

/// The tenants, each with a vmauth user.
pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// One attributed route: the control plane's name for it, a fixed status
/// and a fixed delay (Envoy's fault filter), and how many requests the
/// measured round sends (the warm-up round sends one more).
pub struct Route {
    pub project: &'static str,
    pub environment: &'static str,
    pub service: &'static str,
    pub rule: u32,
    pub status: u16,
    pub delay_ms: u32,
    pub measured: u32,
    /// 0: a GET answered by Envoy (direct response); else a POST of this
    /// many body bytes, proxied to the [`Upstream`], which echoes it.
    pub body: usize,
}

pub const fn route(
    id: (&'static str, &'static str, &'static str),
    rule: u32,
    status: u16,
    delay_ms: u32,
    measured: u32,
) -> Route {
    Route {
        project: id.0,
        environment: id.1,
        service: id.2,
        rule,
        status,
        delay_ms,
        measured,
        body: 0,
    }
}

/// A route to the upstream: POST `body` bytes, answered 201 with them.
pub const fn post(
    id: (&'static str, &'static str, &'static str),
    rule: u32,
    delay_ms: u32,
    measured: u32,
    body: usize,
) -> Route {
    Route {
        body,
        ..route(id, rule, UPSTREAM_STATUS, delay_ms, measured)
    }
}

// Delays sit well inside a latency bucket, so scheduling noise cannot move
// a request into the next one. acme and globex share (prod, api) and the
// preview (pr-7, api): a leak between them would show in every number.
// Every tenant has a preview, with a body, so each reads every query from
// each store.
pub const ROUTES: &[Route] = &[
    route(("acme", "prod", "api"), 0, 200, 12, 60),
    route(("acme", "prod", "api"), 1, 200, 120, 4),
    route(("acme", "prod", "api"), 2, 404, 12, 10),
    route(("acme", "prod", "api"), 3, 503, 12, 6),
    post(("acme", "prod", "api"), 4, 30, 8, 700),
    route(("acme", "staging", "web"), 0, 200, 30, 20),
    route(("acme", "staging", "web"), 1, 500, 30, 5),
    route(("globex", "prod", "api"), 0, 200, 30, 40),
    route(("globex", "prod", "api"), 1, 502, 30, 10),
    post(("globex", "prod", "api"), 2, 12, 5, 1500),
    route(("globex", "prod", "shop"), 0, 200, 600, 8),
    route(("globex", "dev", "shop"), 0, 404, 12, 7),
    route(("initech", "prod", "billing"), 0, 200, 12, 30),
    route(("initech", "prod", "billing"), 1, 200, 600, 3),
    post(("initech", "prod", "billing"), 2, 12, 4, 300),
    route(("initech", "qa", "billing"), 0, 500, 30, 4),
    route(("acme", "pr-7", "api"), 0, 200, 12, 9),
    route(("acme", "pr-7", "api"), 1, 503, 120, 3),
    post(("acme", "pr-7", "api"), 2, 30, 4, 400),
    route(("globex", "pr-7", "api"), 0, 200, 30, 6),
    post(("globex", "pr-7", "api"), 1, 12, 2, 900),
    route(("initech", "preview-login", "billing"), 0, 404, 12, 5),
    post(("initech", "preview-login", "billing"), 1, 600, 3, 250),
];

/// A valid route of a label set beyond `max_label_sets`: it only counts in
/// `starform_l7_overflow_requests_total`.
pub const OVERFLOW: Route = route(("hooli", "prod", "api"), 0, 200, 12, 5);

/// Unattributed traffic: (route name, path, status, reason, measured).
pub const STRAYS: &[(Option<&str>, &str, u16, &str, u32)] = &[
    (Some("legacy-route"), "/legacy", 200, "pattern_mismatch", 3),
    (
        Some("httproute/bad/Acme.prod.my_svc/rule/0/match/0/bad_example"),
        "/invalid",
        200,
        "invalid_value",
        2,
    ),
    (None, "/nowhere", 404, "no_route", 2),
];

impl Route {
    /// Envoy Gateway's name for the route, its shape taken in turn from
    /// those it generates (docs/contracts.md §1), so the pipe attributes
    /// each of them.
    fn name(&self) -> String {
        let (p, e, s) = (self.project, self.environment, self.service);
        let rule = format!("httproute/{p}-{e}/{p}.{e}.{s}/rule/{}", self.rule);
        match self.rule % 4 {
            0 => format!("{rule}/match/0/{s}_{p}_example_com"),
            1 => format!("{rule}/match/-1/*"),
            2 => format!("{rule}/match/0/cors-preflight/*_{p}_example_com"),
            _ => format!("{rule}/match/1/*_example_com"),
        }
    }

    /// Whether the filter's default `preview_pattern` makes the route's
    /// environment a preview: its series are marked and stored apart.
    pub fn preview(&self) -> bool {
        static PATTERN: OnceLock<Regex> = OnceLock::new();
        PATTERN
            .get_or_init(|| Regex::new(DEFAULT_PREVIEW_PATTERN).unwrap())
            .is_match(self.environment)
    }

    /// The route's label set as Envoy shows it, `retention="short"` on a
    /// preview's.
    fn set_labels(&self, name: &str) -> Vec<(&'static str, String)> {
        let mut l = vec![
            ("__name__", name.to_owned()),
            ("project", self.project.to_owned()),
            ("environment", self.environment.to_owned()),
            ("service", self.service.to_owned()),
        ];
        if self.preview() {
            l.push(("retention", "short".to_owned()));
        }
        l
    }

    fn set(&self) -> (&'static str, &'static str, &'static str) {
        (self.project, self.environment, self.service)
    }

    fn class(&self) -> String {
        format!("{}xx", self.status / 100)
    }

    fn yaml(&self) -> String {
        let delay = format!("{}.{:03}s", self.delay_ms / 1000, self.delay_ms % 1000);
        let answer = if self.body == 0 {
            format!(
                "direct_response: {{ status: {}, body: {{ inline_string: \"{} says {}\\n\" }} }}",
                self.status,
                self.path(),
                self.status
            )
        } else {
            "route: { cluster: upstream, timeout: 5s }".to_owned()
        };
        format!(
            "name: {name}\n\
             match: {{ path: {path} }}\n\
             {answer}\n\
             typed_per_filter_config:\n  \
               envoy.filters.http.fault:\n    \
                 \"@type\": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault\n    \
                 delay: {{ fixed_delay: {delay}, percentage: {{ numerator: 100, denominator: HUNDRED }} }}",
            name = self.name(),
            path = self.path(),
        )
    }

    /// Body bytes of one request.
    pub fn request_body(&self) -> usize {
        self.body
    }

    /// Body bytes of one response: Envoy's direct response, or the echo.
    pub fn response_body(&self) -> usize {
        if self.body == 0 {
            format!("{} says {}\n", self.path(), self.status).len()
        } else {
            self.body
        }
    }

    pub fn path(&self) -> String {
        format!(
            "/{}/{}/{}/{}",
            self.project, self.environment, self.service, self.rule
        )
    }
}

pub fn all_routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().chain(std::iter::once(&OVERFLOW))
}

pub fn label_sets() -> BTreeSet<(&'static str, &'static str, &'static str)> {
    ROUTES.iter().map(Route::set).collect()
}

/// What the upstream answers.
pub const UPSTREAM_STATUS: u16 = 201;

/// A loopback HTTP/1.1 server behind the `upstream` cluster: answers every
/// request 201 with the request's body (so request and response bodies
/// both pass the filter). Stopped on drop.
pub struct Upstream {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    std::thread::spawn(move || echo(stream));
                }
            }
        });
        Upstream {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves one keep-alive connection until Envoy closes it.
fn echo(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        let total = end + 4 + length;
        while data.len() < total {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        let body: Vec<u8> = data.drain(..total).skip(end + 4).collect();
        let mut response =
            format!("HTTP/1.1 {UPSTREAM_STATUS} Created\r\ncontent-length: {length}\r\n\r\n")
                .into_bytes();
        response.extend_from_slice(&body);
        if stream.write_all(&response).is_err() {
            return;
        }
    }
}

/// Envoy on the shipped bootstrap with this test's routes, the `upstream`
/// cluster, and the fault filter (after the Starform filter, so the delay
/// is part of the duration it records), the filter under
/// `short_retention`. One worker: one VM, so `max_label_sets` is exact.
pub fn start_envoy(dir: &TempDir, upstream: &Upstream) -> Envoy {
    let mut launch = Launch::new(envoy_binary(), dir.path().to_owned());
    launch.plugin_config = Some(format!(
        r#"{{"preview_policy": "short_retention", "max_label_sets": {}}}"#,
        label_sets().len()
    ));
    let mut routes: Vec<String> = all_routes().map(Route::yaml).collect();
    for (name, path, status, _, _) in STRAYS {
        if let Some(name) = name {
            routes.push(format!(
                "name: {name}\nmatch: {{ path: {path} }}\ndirect_response: {{ status: {status} }}"
            ));
        }
    }
    let cluster = format!(
        "name: upstream\n\
         type: STATIC\n\
         connect_timeout: 1s\n\
         load_assignment:\n  \
           cluster_name: upstream\n  \
           endpoints:\n  \
           - lb_endpoints:\n    \
             - endpoint:\n        \
                 address:\n          \
                   socket_address: {{ address: 127.0.0.1, port_value: {} }}",
        upstream.port
    );
    let fault = "name: envoy.filters.http.fault\n\
                 typed_config:\n  \
                   \"@type\": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
    Envoy::start_edited(&launch, |yaml| {
        let yaml = add_clusters(&replace_routes(&yaml, &routes)?, &[cluster])?;
        insert_http_filter_before_router(&yaml, fault)
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// One request through Envoy (GET, or POST of `body` bytes), checking the
/// status the route answers with.
pub fn request(port: u16, path: &str, status: u16, body: usize) {
    let r = if body == 0 {
        starform_wasm::envoy::get(port, path, &[]).unwrap()
    } else {
        let payload = vec![b'x'; body];
        starform_wasm::envoy::http::send(port, "POST", path, &[], &payload).unwrap()
    };
    assert_eq!(r.status, status, "{path}: {}", r.body);
    if body > 0 {
        assert_eq!(r.body.len(), body, "{path}: the upstream echoes the body");
    }
}

/// The warm-up round: every route once, in order, so the label sets are
/// admitted in a known order and the overflow route comes last.
pub fn warm_up(envoy: &Envoy) {
    for r in all_routes() {
        request(envoy.listener_port, &r.path(), r.status, r.body);
    }
    for (_, path, status, _, _) in STRAYS {
        request(envoy.listener_port, path, *status, 0);
    }
}

/// The measured round, interleaved and on eight connections at a time.
pub fn measured(envoy: &Envoy) {
    let mut queue: Vec<(String, u16, usize, u32)> = Vec::new();
    for r in all_routes() {
        queue.extend((0..r.measured).map(|i| (r.path(), r.status, r.body, i)));
    }
    for (_, path, status, _, measured) in STRAYS {
        queue.extend((0..*measured).map(|i| ((*path).to_owned(), *status, 0, i)));
    }
    queue.sort_by_key(|(path, _, _, i)| (*i, path.clone()));
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while let Some((path, status, body, _)) =
                    queue.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    request(envoy.listener_port, path, *status, *body);
                }
            });
        }
    });
}

fn owned(pairs: &[(&str, String)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What Envoy must count after `rounds` requests per route beyond the
/// measured ones (0: measured only; 1: warm-up included): requests per
/// label set and class, histogram `_count` per label set, unattributed per
/// reason, overflow.
pub fn expected_counts(warm_up: u32, measured: u32) -> Vector {
    let mut want = Vector::new();
    let mut bump = |l: Labels, n: u32| *want.entry(l).or_default() += f64::from(n);
    for r in ROUTES {
        let n = warm_up + measured * r.measured;
        let mut requests = r.set_labels("starform_http_requests_total");
        requests.push(("code_class", r.class()));
        bump(owned(&requests), n);
        bump(
            owned(&r.set_labels("starform_http_request_duration_milliseconds_count")),
            n,
        );
    }
    for (_, _, _, reason, m) in STRAYS {
        bump(
            labels(&[
                ("__name__", "starform_l7_unattributed_requests_total"),
                ("reason", reason),
            ]),
            warm_up + measured * m,
        );
    }
    bump(
        labels(&[("__name__", "starform_l7_overflow_requests_total")]),
        warm_up + measured * OVERFLOW.measured,
    );
    want
}

/// The counted series of a scrape (the names `expected_counts` covers).
pub fn counted(samples: &Vector) -> Vector {
    samples
        .iter()
        .filter(|(l, _)| {
            matches!(
                l["__name__"].as_str(),
                "starform_http_requests_total"
                    | "starform_http_request_duration_milliseconds_count"
                    | "starform_l7_unattributed_requests_total"
                    | "starform_l7_overflow_requests_total"
            )
        })
        .map(|(l, v)| (l.clone(), *v))
        .collect()
}
