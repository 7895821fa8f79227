//! The L7 identity filter in a real Envoy (1.40, V8): the shipped bootstrap
//! deploy/envoy/envoy.yaml on free loopback ports, a known mix of requests,
//! and the exact series `/stats/prometheus` then shows.
//!
//! Envoy comes from `$STARFORM_ENVOY` or `./.venv/bin/envoy` (installed by
//! `scripts/test.sh`). Without it these tests fail: they are the only proof
//! that the module, the tag regexes and the bucket settings work together.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::support::{envoy_binary, poll, replace_once, TempDir};
use starform_envoy_filter::names::{DURATION_BUCKETS_MS, STATS_TAGS};
use starform_host_tests::repo_root;
use starform_wasm::envoy::{Launch, SHIPPED_BOOTSTRAP, SHIPPED_MODULE_PATH, SHIPPED_PLUGIN_CONFIG};

/// A running Envoy (the library's launcher), with the test's expectations.
struct Envoy(starform_wasm::envoy::Envoy);

impl Envoy {
    /// Starts the shipped bootstrap with `plugin_config` instead of the
    /// shipped one, one worker (one VM, so per-VM limits are exact), and
    /// waits until it is ready.
    fn start(dir: &TempDir, plugin_config: &str) -> Self {
        let mut launch = Launch::new(envoy_binary(), dir.path().to_owned());
        launch.plugin_config = Some(plugin_config.to_owned());
        Envoy(starform_wasm::envoy::Envoy::start(&launch).unwrap_or_else(|e| panic!("{e}")))
    }

    fn log_text(&self) -> String {
        self.0.log_text()
    }

    /// GET, or POST with `body` when it is not empty.
    fn send(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let method = if body.is_empty() { "GET" } else { "POST" };
        let r = starform_wasm::envoy::http::send(
            self.0.listener_port,
            method,
            path,
            headers,
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log_text()));
        (r.status, r.body)
    }

    /// Scrapes until `ready` holds for the parsed starform series (a stats
    /// flush has happened), then returns the full text of that scrape.
    fn scrape_when(&self, ready: impl Fn(&Series) -> bool) -> String {
        poll(
            "complete series",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let text = self.0.prometheus().unwrap();
                if ready(&parse_starform(&text)) {
                    Ok(text)
                } else {
                    Err(format!("scrape:\n{text}\nlog:\n{}", self.log_text()))
                }
            },
        )
    }
}

/// `metric name` → sorted labels → value, for `starform_*` samples.
type Series = BTreeMap<String, BTreeMap<Vec<(String, String)>, f64>>;

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let end = after.find('"').unwrap();
        labels.push((
            key.trim_start_matches(',').to_owned(),
            after[..end].to_owned(),
        ));
        rest = &after[end + 1..];
    }
    labels.sort();
    labels
}

fn parse_starform(text: &str) -> Series {
    let mut series = Series::new();
    for line in text.lines().filter(|l| l.starts_with("starform_")) {
        let (sample, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match sample.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
            None => (sample, Vec::new()),
        };
        series
            .entry(name.to_owned())
            .or_default()
            .insert(labels, value.parse().unwrap());
    }
    series
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

fn identity_labels(set: (&str, &str, &str)) -> Vec<(String, String)> {
    labels(&[
        ("project", set.0),
        ("environment", set.1),
        ("service", set.2),
    ])
}

/// What a planned request must be counted as.
#[derive(Clone, Copy)]
enum Expect {
    /// (project, environment, service) and code class.
    Counted((&'static str, &'static str, &'static str), &'static str),
    /// The same, in series marked `retention="short"`.
    Marked((&'static str, &'static str, &'static str), &'static str),
    Unattributed(&'static str),
    Suppressed,
    Overflow,
}

impl Expect {
    /// The labels of the label set's series, when it is counted in one.
    fn set_labels(self) -> Option<Vec<(String, String)>> {
        match self {
            Expect::Counted(set, _) => Some(identity_labels(set)),
            Expect::Marked(set, _) => {
                let mut l = identity_labels(set);
                l.push(("retention".into(), "short".into()));
                l.sort();
                Some(l)
            }
            _ => None,
        }
    }
}

struct Planned {
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// Sent with POST when not empty.
    body: &'static str,
    status: u16,
    expect: Expect,
}

use Expect::{Counted, Marked, Overflow, Suppressed, Unattributed};

/// A GET of `path` sending `headers`, answered with `status`.
const fn request(
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    expect: Expect,
) -> Planned {
    Planned {
        path,
        headers,
        body: "",
        status,
        expect,
    }
}

impl Planned {
    /// The same request sent as a POST carrying `body`.
    const fn with_body(self, body: &'static str) -> Planned {
        Planned { body, ..self }
    }
}

const ACME_PROD_API: (&str, &str, &str) = ("acme", "prod", "api");
const ACME_PREVIEW_API: (&str, &str, &str) = ("acme", "preview", "api");
const GLOBEX_STAGING_WEB: (&str, &str, &str) = ("globex", "staging", "web");

/// Headers a client might send to claim another identity; none is read.
const SPOOF: &[(&str, &str)] = &[
    ("x-starform-project", "evil"),
    ("x-starform-environment", "evil"),
    ("x-starform-service", "evil"),
];
const HOST_TRICK: &[(&str, &str)] = &[("Host", "evil.prod.api")];
const HOST_OF_ANOTHER_TENANT: &[(&str, &str)] = &[
    ("Host", "globex.staging.web"),
    ("x-envoy-original-path", "/globex/web"),
];

/// Sends the plan; returns the response body length of each request.
fn run(envoy: &Envoy, plan: &[Planned]) -> Vec<usize> {
    plan.iter()
        .map(|p| {
            let (status, body) = envoy.send(p.path, p.headers, p.body);
            assert_eq!(
                status,
                p.status,
                "{} {} (a fail-closed filter that trapped answers 503)\n{}",
                if p.body.is_empty() { "GET" } else { "POST" },
                p.path,
                envoy.log_text()
            );
            body.len()
        })
        .collect()
}

/// The counters the plan implies: requests per label set and class,
/// unattributed per reason, overflow, suppressed.
fn expected_counters(plan: &[Planned]) -> Series {
    let mut want = Series::new();
    let mut bump = |name: &str, labels: Vec<(String, String)>| {
        *want
            .entry(name.to_owned())
            .or_default()
            .entry(labels)
            .or_default() += 1.0;
    };
    for p in plan {
        match p.expect {
            Expect::Counted(_, class) | Expect::Marked(_, class) => {
                let mut l = p.expect.set_labels().unwrap();
                l.push(("code_class".into(), class.into()));
                l.sort();
                bump("starform_http_requests_total", l);
            }
            Expect::Unattributed(reason) => bump(
                "starform_l7_unattributed_requests_total",
                labels(&[("reason", reason)]),
            ),
            Expect::Suppressed => bump("starform_l7_suppressed_preview_requests_total", vec![]),
            Expect::Overflow => bump("starform_l7_overflow_requests_total", vec![]),
        }
    }
    want
}

/// Requests per label set, which each histogram `_count` must equal.
fn expected_histogram_counts(plan: &[Planned]) -> BTreeMap<Vec<(String, String)>, f64> {
    let mut counts = BTreeMap::new();
    for p in plan {
        if let Some(set) = p.expect.set_labels() {
            *counts.entry(set).or_default() += 1.0;
        }
    }
    counts
}

/// Body bytes per label set: what the byte counters must show (a label set
/// that moved no bytes has no series). Every route here is a direct
/// response, which ends the stream at the request headers: a request body
/// never reaches the filter chain, so no request bytes are counted
/// (docs/contracts.md §3).
fn expected_bytes(plan: &[Planned], received: &[usize]) -> Series {
    let mut want = Series::new();
    for (p, got) in plan.iter().zip(received) {
        if let Some(set) = p.expect.set_labels() {
            for (name, n) in [("starform_http_response_bytes_total", *got)] {
                if n > 0 {
                    *want
                        .entry(name.to_owned())
                        .or_default()
                        .entry(set.clone())
                        .or_default() += n as f64;
                }
            }
        }
    }
    want
}

const HISTOGRAM: &str = "starform_http_request_duration_milliseconds";

fn histogram_counts(series: &Series) -> BTreeMap<Vec<(String, String)>, f64> {
    series
        .get(&format!("{HISTOGRAM}_count"))
        .cloned()
        .unwrap_or_default()
}

/// Whether a scrape shows everything `plan` implies: the filter flushed its
/// counters (its tick) and Envoy its histograms (a stats flush).
fn complete(series: &Series, plan: &[Planned], received: &[usize]) -> bool {
    let counters = expected_counters(plan)
        .into_iter()
        .chain(expected_bytes(plan, received));
    histogram_counts(series) == expected_histogram_counts(plan)
        && counters
            .into_iter()
            .all(|(name, want)| series.get(&name) == Some(&want))
}

/// Asserts every `starform_*` series of `text` is exactly what `plan`
/// implies, bytes included.
fn assert_series(text: &str, plan: &[Planned], received: &[usize]) {
    let series = parse_starform(text);
    let counters = expected_counters(plan);
    let bytes = expected_bytes(plan, received);
    let histograms = expected_histogram_counts(plan);

    let mut want_names: BTreeSet<String> = counters.keys().chain(bytes.keys()).cloned().collect();
    if !histograms.is_empty() {
        for suffix in ["_bucket", "_sum", "_count"] {
            want_names.insert(format!("{HISTOGRAM}{suffix}"));
        }
    }
    assert_eq!(
        series.keys().cloned().collect::<BTreeSet<_>>(),
        want_names,
        "metric names\n{text}"
    );

    for (name, want) in &counters {
        assert_eq!(&series[name], want, "{name}\n{text}");
    }

    assert_eq!(
        histogram_counts(&series),
        histograms,
        "histogram _count\n{text}"
    );
    let mut bounds: Vec<String> = DURATION_BUCKETS_MS.iter().map(u32::to_string).collect();
    bounds.push("+Inf".into());
    for (set, count) in &histograms {
        let buckets: BTreeMap<String, f64> = series[&format!("{HISTOGRAM}_bucket")]
            .iter()
            .filter(|(l, _)| l.iter().filter(|(k, _)| k != "le").eq(set.iter()))
            .map(|(l, v)| (l.iter().find(|(k, _)| k == "le").unwrap().1.clone(), *v))
            .collect();
        assert_eq!(
            buckets.keys().cloned().collect::<BTreeSet<_>>(),
            bounds.iter().cloned().collect::<BTreeSet<_>>(),
            "bucket bounds come from histogram_bucket_settings\n{text}"
        );
        assert_eq!(buckets["+Inf"], *count, "{set:?}");
    }

    for (name, want) in &bytes {
        assert_eq!(&series[name], want, "{name}\n{text}");
    }
}

#[test]
fn envoy_counts_the_known_mix_exactly() {
    let dir = TempDir::new("envoy-mix").unwrap();
    let envoy = Envoy::start(&dir, SHIPPED_PLUGIN_CONFIG);
    let plan = [
        request("/acme/api", &[], 200, Counted(ACME_PROD_API, "2xx")),
        // A body naming another tenant changes nothing.
        request(
            "/acme/api/v1/items?x=1",
            SPOOF,
            200,
            Counted(ACME_PROD_API, "2xx"),
        )
        .with_body(r#"{"order": 42, "project": "globex"}"#),
        request("/acme/api", HOST_TRICK, 200, Counted(ACME_PROD_API, "2xx")),
        request(
            "/acme/api",
            HOST_OF_ANOTHER_TENANT,
            200,
            Counted(ACME_PROD_API, "2xx"),
        ),
        request("/acme/missing", &[], 404, Counted(ACME_PROD_API, "4xx")),
        request("/acme/missing", SPOOF, 404, Counted(ACME_PROD_API, "4xx")),
        request("/globex/web", &[], 503, Counted(GLOBEX_STAGING_WEB, "5xx")),
        request(
            "/acme-pr-123/api",
            &[],
            200,
            Counted(ACME_PREVIEW_API, "2xx"),
        ),
        request(
            "/acme-pr-123/api",
            &[],
            200,
            Counted(ACME_PREVIEW_API, "2xx"),
        ),
        request("/invalid", &[], 200, Unattributed("invalid_value")),
        request("/legacy", SPOOF, 200, Unattributed("pattern_mismatch")),
        request("/legacy", &[], 200, Unattributed("pattern_mismatch")),
        request("/nowhere", &[], 404, Unattributed("no_route")),
        request("/nowhere", SPOOF, 404, Unattributed("no_route")),
        request("/", HOST_TRICK, 404, Unattributed("no_route")),
    ];
    let received = run(&envoy, &plan);
    let text = envoy.scrape_when(|s| complete(s, &plan, &received));
    assert_series(&text, &plan, &received);

    // Tag extraction happened: no encoded name survives, and nothing the
    // client sent reached any stat.
    assert!(!text.contains("=.="), "{text}");
    assert!(!text.contains("evil"), "{text}");
    // Prometheus shows the contract's form.
    assert!(
        text.contains(r#"starform_http_requests_total{project="acme",environment="prod",service="api",code_class="2xx"} 4"#),
        "{text}"
    );
    // The previews aggregated: no series carries a preview's own name.
    assert!(!text.contains("pr-123"), "{text}");

    let log = envoy.log_text();
    assert!(
        log.contains(&format!(
            "{}: VM started",
            starform_envoy_filter::VERSION_STAMP
        )),
        "version stamp missing:\n{log}"
    );
}

#[test]
fn envoy_suppresses_previews_and_overflows_without_labels() {
    let dir = TempDir::new("envoy-overflow").unwrap();
    let envoy = Envoy::start(
        &dir,
        r#"{"preview_policy": "suppress", "max_label_sets": 1}"#,
    );
    let plan = [
        request("/acme/api", &[], 200, Counted(ACME_PROD_API, "2xx")),
        // A second label set does not fit: counted with no labels at all,
        // its bytes nowhere.
        request("/globex/web", &[], 503, Overflow).with_body("overflowing bytes"),
        request("/globex/web", &[], 503, Overflow),
        // The existing set keeps counting, also on a route not seen before.
        request("/acme/missing", &[], 404, Counted(ACME_PROD_API, "4xx")),
        request("/acme-pr-123/api", &[], 200, Suppressed),
        request("/acme-pr-123/api", SPOOF, 200, Suppressed),
        request("/legacy", &[], 200, Unattributed("pattern_mismatch")),
    ];
    let received = run(&envoy, &plan);
    let text = envoy.scrape_when(|s| complete(s, &plan, &received));
    assert_series(&text, &plan, &received);
    for hidden in ["globex", "pr-123", "evil"] {
        assert!(!text.contains(hidden), "{hidden} leaked:\n{text}");
    }
    // Neither the overflowing nor the suppressed identity is in any label.
    let values: BTreeSet<String> = parse_starform(&text)
        .values()
        .flat_map(|s| s.keys().flatten().map(|(_, v)| v.clone()))
        .collect();
    for hidden in ["globex", "staging", "web", "preview", "pr-123"] {
        assert!(!values.contains(hidden), "{hidden} in a label:\n{text}");
    }
}

const ACME_PR_123_API: (&str, &str, &str) = ("acme", "pr-123", "api");

/// The plan of the preview tests: the preview twice, production around it.
fn preview_plan(preview: Expect) -> [Planned; 4] {
    [
        request("/acme/api", &[], 200, Counted(ACME_PROD_API, "2xx")),
        request("/acme-pr-123/api", &[], 200, preview),
        request("/acme-pr-123/api", SPOOF, 200, preview),
        request("/globex/web", &[], 503, Counted(GLOBEX_STAGING_WEB, "5xx")),
    ]
}

#[test]
fn envoy_keeps_each_preview_under_full() {
    let dir = TempDir::new("envoy-full").unwrap();
    let envoy = Envoy::start(&dir, r#"{"preview_policy": "full"}"#);
    let plan = preview_plan(Counted(ACME_PR_123_API, "2xx"));
    let received = run(&envoy, &plan);
    let text = envoy.scrape_when(|s| complete(s, &plan, &received));
    assert_series(&text, &plan, &received);
    assert!(
        text.contains(r#"starform_http_requests_total{project="acme",environment="pr-123",service="api",code_class="2xx"} 2"#),
        "{text}"
    );
    assert!(!text.contains("retention"), "{text}");
}

/// Under `short_retention` a preview's series are `full`'s, each marked
/// `retention="short"` by the shipped tag regex; production's are unmarked.
#[test]
fn envoy_marks_previews_under_short_retention() {
    let dir = TempDir::new("envoy-short").unwrap();
    let envoy = Envoy::start(&dir, r#"{"preview_policy": "short_retention"}"#);
    let plan = preview_plan(Marked(ACME_PR_123_API, "2xx"));
    let received = run(&envoy, &plan);
    let text = envoy.scrape_when(|s| complete(s, &plan, &received));
    assert_series(&text, &plan, &received);
    assert!(!text.contains("=.="), "{text}");
    assert!(
        text.contains(r#"starform_http_requests_total{project="acme",environment="pr-123",service="api",code_class="2xx",retention="short"} 2"#),
        "{text}"
    );
    for line in text.lines().filter(|l| l.starts_with("starform_")) {
        assert_eq!(
            line.contains(r#"retention="short""#),
            line.contains("pr-123"),
            "{line}"
        );
    }
}

/// A bootstrap without the `retention` tag regex (an `EnvoyProxy` patch
/// older than the policy) fails safe: the mark stays in the marked series'
/// metric names, which the shipped vmagent keep list does not match, so a
/// preview is lost rather than stored in the long-retention store.
#[test]
fn without_the_retention_tag_marked_series_fall_out_of_vmagents_keep_list() {
    let dir = TempDir::new("envoy-short-untagged").unwrap();
    let mut launch = Launch::new(envoy_binary(), dir.path().to_owned());
    launch.plugin_config = Some(r#"{"preview_policy": "short_retention"}"#.to_owned());
    let retention_tag = "  - tag_name: retention\n    regex: '(retention=\\.=(.+?);\\.;)'\n";
    let envoy = Envoy(
        starform_wasm::envoy::Envoy::start_edited(&launch, |yaml| {
            Ok(replace_once(&yaml, retention_tag, ""))
        })
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let plan = preview_plan(Counted(ACME_PR_123_API, "2xx"));
    run(&envoy, &plan);
    let text = envoy.scrape_when(|s| {
        s.get("starform_http_requests_total")
            .is_some_and(|sets| sets.values().sum::<f64>() == 2.0)
            && s.keys().any(|name| name.contains("retention"))
    });

    let scrape: serde_json::Value = serde_yaml_ng::from_str(
        &fs::read_to_string(repo_root().join("deploy/vmagent/scrape.yml")).unwrap(),
    )
    .unwrap();
    let keep = &scrape["scrape_configs"][0]["metric_relabel_configs"][0];
    assert_eq!(keep["action"], "keep");
    assert_eq!(keep["source_labels"], serde_json::json!(["__name__"]));
    // vmagent anchors relabelling regexes.
    let keep = regex::Regex::new(&format!("^(?:{})$", keep["regex"].as_str().unwrap())).unwrap();
    let mut previews = 0;
    for line in text.lines().filter(|l| l.starts_with("starform_")) {
        let name = line.split(['{', ' ']).next().unwrap();
        if line.contains("pr-123") {
            previews += 1;
            assert!(name.contains("retention"), "{line}");
            assert!(!keep.is_match(name), "kept: {line}");
        } else {
            assert!(keep.is_match(name), "dropped: {line}");
        }
    }
    assert!(previews > 0, "{text}");
}

/// `envoy --mode validate` of the shipped bootstrap with only the module
/// path substituted (Envoy loads the module, and runs `on_configure`, while
/// validating), and `plugin_config` in place of the shipped one when given:
/// whether it passed, and everything Envoy printed.
fn validate(name: &str, plugin_config: Option<&str>) -> (bool, String) {
    let dir = TempDir::new(name).unwrap();
    let module = dir.path().join(starform_wasm::modules::ENVOY_FILTER_FILE);
    fs::write(&module, starform_wasm::modules::ENVOY_FILTER).unwrap();
    let mut yaml = replace_once(
        SHIPPED_BOOTSTRAP,
        SHIPPED_MODULE_PATH,
        module.to_str().unwrap(),
    );
    if let Some(config) = plugin_config {
        yaml = replace_once(&yaml, SHIPPED_PLUGIN_CONFIG, config);
    }
    let config = dir.path().join("envoy.yaml");
    fs::write(&config, yaml).unwrap();
    let out = Command::new(envoy_binary())
        .args(["--mode", "validate", "--use-dynamic-base-id", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn shipped_bootstrap_validates() {
    let (passed, text) = validate("envoy-validate", None);
    assert!(passed, "{text}");
    assert!(text.contains("OK"), "{text}");
}

/// A bad plugin configuration: `on_configure` refuses it with one log line
/// naming the field, and a fail-closed Envoy refuses the config.
#[test]
fn bad_plugin_config_is_refused_with_one_line_naming_the_field() {
    let (passed, text) = validate(
        "envoy-badconfig",
        Some(r#"{"route_pattern": "^(?P<project>[a-z]+)$"}"#),
    );
    assert!(!passed, "{text}");
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(starform_envoy_filter::VERSION_STAMP) && !l.contains("VM started"))
        .collect();
    assert_eq!(ours.len(), 1, "{text}");
    assert!(ours[0].contains("[error]"), "{}", ours[0]);
    assert!(
        ours[0].contains("field `route_pattern`: missing named group `(?P<environment>...)`"),
        "{}",
        ours[0]
    );
}

/// The tag regexes and buckets the filter's names need are the ones every
/// shipped file and the contract carry.
#[test]
fn shipped_files_carry_the_contract_tags_and_buckets() {
    let root = repo_root();
    let buckets = DURATION_BUCKETS_MS
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    for file in [
        "deploy/envoy/envoy.yaml",
        "deploy/envoy-gateway/envoyproxy.yaml",
        "docs/contracts.md",
    ] {
        let text = fs::read_to_string(root.join(file)).unwrap();
        for (tag, regex) in STATS_TAGS {
            assert!(text.contains(tag), "{file}: tag {tag}");
            assert!(text.contains(regex), "{file}: regex {regex} for {tag}");
        }
        assert!(text.contains(&buckets), "{file}: buckets [{buckets}]");
        assert!(
            text.contains("wasmcustom.starform_http_request_duration_milliseconds"),
            "{file}: bucket match prefix"
        );
    }
    let contracts = fs::read_to_string(root.join("docs/contracts.md")).unwrap();
    assert!(
        contracts.contains(starform_envoy_filter::config::DEFAULT_ROUTE_PATTERN),
        "docs/contracts.md §1 shows the default route pattern"
    );
}
