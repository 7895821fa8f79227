//! deploy/vmalert/ in the real vmalert: the rules pass its own validation,
//! every alert has what docs/operate.md promises (severity, a summary, a
//! runbook section), and each fires for its fault, alone, with the right
//! labels:
//! - against real Envoys with the filter, scraped by vmagent with the jobs
//!   of deploy/vmagent/scrape.yml into VictoriaMetrics: one gateway per
//!   fault (healthy, no filter on the listener, route names outside the
//!   contract and unrouted paths, more label sets than `max_label_sets`,
//!   near the limit, a rollout of a bad plugin configuration and a bad
//!   module through Envoy's filesystem LDS);
//! - the log side on Fluent Bit's metrics page
//!   (host-tests/fixtures/fluent-bit-metrics/) imported into VictoriaMetrics.
//!
//! vmalert runs a copy of the shipped rules in which only the groups'
//! intervals (1 s) and the alerts' `for:` (2 s) are shorter.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};
use starform_host_tests::repo_root;
use starform_wasm::envoy::{adapt_bootstrap, free_port, replace_routes, Envoy, Launch};

use crate::support::metrics::promql::Client;
use crate::support::metrics::traffic::Upstream;
use crate::support::metrics::{system_tool, Service};
use crate::support::{envoy_binary, poll, TempDir};

const RULES: &str = "deploy/vmalert/starform.rules.yml";

/// `max_label_sets` of every Envoy here, and so the value vmalert gets.
const MAX_LABEL_SETS: u32 = 4;

const GATEWAY_NAMESPACE: &str = "starform-gateway";

fn shipped_rules() -> Json {
    let text = std::fs::read_to_string(repo_root().join(RULES)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn alerts(rules: &Json) -> Vec<&Json> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

/// The filter's `max_label_sets` as deploy/envoy-gateway/ ships it.
fn shipped_max_label_sets() -> String {
    let text =
        std::fs::read_to_string(repo_root().join("deploy/envoy-gateway/envoyextensionpolicy.yaml"))
            .unwrap();
    let policy: Json = serde_yaml_ng::from_str(&text).unwrap();
    policy["spec"]["wasm"][0]["config"]["max_label_sets"].to_string()
}

fn vmalert() -> std::path::PathBuf {
    system_tool("STARFORM_VMALERT", "vmalert")
}

/// `vmalert -dryRun` on `rules` with `max_label_sets` in its environment.
fn dry_run(rules: &Path, max_label_sets: Option<&str>) -> std::process::Output {
    let mut command = std::process::Command::new(vmalert());
    command
        .arg(format!("-rule={}", rules.display()))
        .args(["-dryRun", "-loggerLevel=ERROR"])
        .env_remove("STARFORM_MAX_LABEL_SETS");
    if let Some(value) = max_label_sets {
        command.env("STARFORM_MAX_LABEL_SETS", value);
    }
    command.output().unwrap()
}

#[test]
fn shipped_rules_pass_vmalert_dry_run() {
    let rules = repo_root().join(RULES);
    let out = dry_run(&rules, Some(&shipped_max_label_sets()));
    assert!(
        out.status.success(),
        "vmalert -dryRun {RULES}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The limit is not optional: without it vmalert refuses the file
    // instead of comparing against nothing.
    let out = dry_run(&rules, None);
    assert!(
        !out.status.success(),
        "loaded without STARFORM_MAX_LABEL_SETS"
    );
    // Its own validation is real: a broken expression fails.
    let dir = TempDir::new("vmalert-dry-run").unwrap();
    let broken = dir.path().join("broken.yml");
    let text = std::fs::read_to_string(&rules).unwrap().replacen(
        "sum by (gateway_namespace, pod) (starform_l7_overflow_requests_total) > 0",
        "sum by (gateway_namespace, pod) (starform_l7_overflow_requests_total > 0",
        1,
    );
    std::fs::write(&broken, text).unwrap();
    assert!(!dry_run(&broken, Some("5000")).status.success());
}

#[test]
fn every_alert_has_severity_summary_and_runbook_section() {
    let rules = shipped_rules();
    let operate = std::fs::read_to_string(repo_root().join("docs/operate.md")).unwrap();
    let headings: BTreeSet<String> = operate
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_owned())
        .collect();
    let alerts = alerts(&rules);
    assert_eq!(alerts.len(), 6);
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap();
        assert!(
            ["critical", "warning"].contains(&alert["labels"]["severity"].as_str().unwrap()),
            "{name}: severity"
        );
        let summary = alert["annotations"]["summary"].as_str().unwrap();
        let place = if name.starts_with("StarformLogs") {
            "{{ $labels.node }}"
        } else {
            "{{ $labels.gateway_namespace }}/{{ $labels.pod }}"
        };
        assert!(summary.contains(place), "{name}: the summary names {place}");
        assert_eq!(
            alert["annotations"]["runbook_url"],
            format!("docs/operate.md#{}", name.to_ascii_lowercase()),
            "{name}: runbook_url"
        );
        assert!(
            headings.contains(name),
            "docs/operate.md has no section `## {name}`"
        );
    }
    // The rule and the filter must agree on the limit: the shipped deploy
    // passes the policy's value (deploy/vmalert/README.md).
    let readme = std::fs::read_to_string(repo_root().join("deploy/vmalert/README.md")).unwrap();
    assert!(readme.contains(&format!(
        "STARFORM_MAX_LABEL_SETS={}",
        shipped_max_label_sets()
    )));
}

/// The shipped rules with every group's interval 1 s and every `for:` 2 s
/// (0 stays 0); the expressions, labels and annotations as shipped.
fn test_rules(dir: &Path) -> std::path::PathBuf {
    let mut rules = shipped_rules();
    let shipped = rules.clone();
    for group in rules["groups"].as_array_mut().unwrap() {
        group["interval"] = json!("1s");
        for rule in group["rules"].as_array_mut().unwrap() {
            if rule.get("for").is_some_and(|f| f != "0m" && f != "0s") {
                rule["for"] = json!("2s");
            }
        }
    }
    for (ours, theirs) in alerts(&rules).into_iter().zip(alerts(&shipped)) {
        assert_eq!(ours["expr"], theirs["expr"]);
    }
    let path = dir.join("rules.yml");
    std::fs::write(&path, rules.to_string()).unwrap();
    path
}

fn start_victoria(dir: &TempDir) -> Service {
    let port = free_port().unwrap();
    Service::start(
        "victoria-metrics",
        &system_tool("STARFORM_VICTORIA_METRICS", "victoria-metrics"),
        &[
            format!("-storageDataPath={}", dir.path().join("vm-data").display()),
            format!("-httpListenAddr=127.0.0.1:{port}"),
            "-search.latencyOffset=0s".into(),
            "-search.disableCache".into(),
        ],
        &[],
        dir.path(),
        port,
    )
}

fn start_vmalert(dir: &TempDir, victoria: &Service, notifier: &Upstream) -> Service {
    let port = free_port().unwrap();
    Service::start(
        "vmalert",
        &vmalert(),
        &[
            format!("-rule={}", test_rules(dir.path()).display()),
            format!("-datasource.url=http://127.0.0.1:{}", victoria.port),
            format!("-notifier.url=http://127.0.0.1:{}", notifier.port),
            "-evaluationInterval=1s".into(),
            format!("-httpListenAddr=127.0.0.1:{port}"),
        ],
        &[(
            "STARFORM_MAX_LABEL_SETS".to_owned(),
            MAX_LABEL_SETS.to_string(),
        )],
        dir.path(),
        port,
    )
}

/// One alert as the test compares them: name, the labels that place it
/// (pod or node, reason), and its state.
type Seen = (String, String, String, String);

/// vmalert's `/api/v1/alerts`: every active alert (pending or firing).
fn active_alerts(vmalert: &Service) -> Result<Vec<Seen>, String> {
    let client = Client::new(vmalert.port, "operator", "");
    let (status, body) = client.get("/api/v1/alerts", &[]);
    let value: Json = serde_json::from_str(&body).map_err(|e| format!("{status} {e}: {body}"))?;
    let mut seen = Vec::new();
    for alert in value["data"]["alerts"].as_array().into_iter().flatten() {
        let labels = &alert["labels"];
        let text = |k: &str| labels[k].as_str().unwrap_or_default().to_owned();
        let place = if labels.get("node").is_some() {
            text("node")
        } else {
            text("pod")
        };
        if labels.get("pod").is_some() && labels.get("node").is_none() {
            assert_eq!(
                labels["gateway_namespace"], GATEWAY_NAMESPACE,
                "{alert}: the gateway's namespace"
            );
        }
        assert!(
            ["critical", "warning"].contains(&labels["severity"].as_str().unwrap_or_default()),
            "{alert}: severity"
        );
        seen.push((
            text("alertname"),
            place,
            text("reason"),
            alert["state"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    seen.sort();
    Ok(seen)
}

/// Polls until the firing alerts are exactly `want` and nothing else is
/// pending, then checks that this holds for a few more evaluations.
fn exactly_firing(vmalert: &Service, want: &[(&str, &str, &str)], limit: Duration) {
    let want: Vec<Seen> = want
        .iter()
        .map(|(a, p, r)| {
            (
                (*a).to_owned(),
                (*p).to_owned(),
                (*r).to_owned(),
                "firing".to_owned(),
            )
        })
        .collect();
    let mut want = want;
    want.sort();
    let check = || {
        let seen = active_alerts(vmalert)?;
        if seen == want {
            Ok(())
        } else {
            Err(format!(
                "want {want:#?}\nseen {seen:#?}\n{}",
                vmalert.log_text()
            ))
        }
    };
    poll(
        "exactly the expected alerts firing",
        limit,
        Duration::from_millis(500),
        check,
    );
    std::thread::sleep(Duration::from_secs(3));
    if let Err(state) = check() {
        panic!("the alerts changed after settling:\n{state}");
    }
}

// ---- the gateways -------------------------------------------------------

fn attributed_route(project: &str, rule: u32, path: &str) -> String {
    format!(
        "name: httproute/{project}-prod/{project}.prod.api/rule/{rule}/match/0/api_{project}_example\n\
         match: {{ path: {path} }}\n\
         direct_response: {{ status: 200 }}"
    )
}

/// `count` tenants, each with one route `/t<i>`.
fn tenant_routes(count: usize) -> (Vec<String>, Vec<String>) {
    (0..count)
        .map(|i| {
            let path = format!("/t{i}");
            (attributed_route(&format!("tenant-{i}"), 0, &path), path)
        })
        .unzip()
}

fn plugin_config() -> String {
    format!(r#"{{"preview_policy": "aggregate", "max_label_sets": {MAX_LABEL_SETS}}}"#)
}

/// An Envoy of the shipped bootstrap with `edit` applied.
fn gateway(
    dir: &TempDir,
    name: &str,
    edit: impl FnOnce(String) -> Result<String, starform_wasm::envoy::EnvoyError>,
) -> Envoy {
    let work = dir.path().join(name);
    std::fs::create_dir_all(&work).unwrap();
    let mut launch = Launch::new(envoy_binary(), work);
    launch.plugin_config = Some(plugin_config());
    Envoy::start_edited(&launch, edit).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The shipped bootstrap without the filter: the router alone.
fn without_filter(yaml: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "- name: envoy.filters.http.wasm")
        .unwrap();
    let end = lines
        .iter()
        .position(|l| l.trim() == "- name: envoy.filters.http.router")
        .unwrap();
    assert!(start < end);
    let mut kept: Vec<&str> = lines[..start].to_vec();
    kept.extend(&lines[end..]);
    kept.join("\n") + "\n"
}

/// Envoy on the shipped bootstrap with its listener served from a file
/// (filesystem LDS), as a control plane pushes it; `rollout` replaces that
/// file's filter configuration.
struct LdsGateway {
    envoy: Envoy,
    lds: std::path::PathBuf,
    listener: Json,
}

impl LdsGateway {
    fn start(dir: &TempDir) -> Self {
        let work = dir.path().join("rollout");
        std::fs::create_dir_all(&work).unwrap();
        let module = work.join(starform_wasm::modules::ENVOY_FILTER_FILE);
        std::fs::write(&module, starform_wasm::modules::ENVOY_FILTER).unwrap();
        let lds = work.join("lds.yaml");
        let mut launch = Launch::new(envoy_binary(), work.clone());
        launch.plugin_config = Some(plugin_config());
        let mut listener = Json::Null;
        let envoy = Envoy::start_bootstrap(&launch, |admin, port| {
            let yaml = adapt_bootstrap(&launch, &module, admin, port)?;
            let mut bootstrap: Json = serde_yaml_ng::from_str(&yaml).unwrap();
            let listeners = bootstrap["static_resources"]
                .as_object_mut()
                .unwrap()
                .remove("listeners")
                .unwrap();
            assert_eq!(listeners.as_array().unwrap().len(), 1);
            listener = listeners[0].clone();
            write_lds(&lds, &listener);
            bootstrap["node"] = json!({"id": "rollout", "cluster": "starform"});
            bootstrap["dynamic_resources"] = json!({
                "lds_config": {
                    "path_config_source": {"path": lds.display().to_string()},
                    "resource_api_version": "V3",
                }
            });
            Ok(bootstrap.to_string())
        })
        .unwrap();
        LdsGateway {
            envoy,
            lds,
            listener,
        }
    }

    /// The listener again with the filter's plugin configuration or module
    /// path replaced.
    fn rollout(&self, config: Option<&str>, module: Option<&Path>) {
        let mut listener = self.listener.clone();
        let wasm = &mut listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
            [0]["typed_config"]["config"];
        assert_eq!(wasm["name"], "starform_l7_identity");
        if let Some(config) = config {
            wasm["configuration"]["value"] = json!(config);
        }
        if let Some(module) = module {
            wasm["vm_config"]["code"]["local"]["filename"] = json!(module.display().to_string());
        }
        write_lds(&self.lds, &listener);
    }

    fn rejected(&self) -> u64 {
        self.envoy
            .prometheus()
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("envoy_listener_manager_lds_update_rejected{} "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Envoy watches the file's directory for a file moved into place.
fn write_lds(path: &Path, listener: &Json) {
    let mut resource = listener.clone();
    resource["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json!({ "resources": [resource] }).to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The scrape jobs of deploy/vmagent/scrape.yml for Envoy, each with the
/// gateways as static targets (their `pod` and `gateway_namespace` set as
/// the Kubernetes relabelling would), every 1 s; the series relabelling
/// and Envoy's `filter` parameter as shipped.
fn vmagent_config(gateways: &[(&str, u16)]) -> Json {
    let text = std::fs::read_to_string(repo_root().join("deploy/vmagent/scrape.yml")).unwrap();
    let mut config: Json = serde_yaml_ng::from_str(&text).unwrap();
    let targets: Vec<Json> = gateways
        .iter()
        .map(|(pod, port)| {
            json!({
                "targets": [format!("127.0.0.1:{port}")],
                "labels": {"pod": pod, "gateway_namespace": GATEWAY_NAMESPACE},
            })
        })
        .collect();
    let jobs = config["scrape_configs"].as_array_mut().unwrap();
    jobs.retain(|j| j["metrics_path"] == "/stats/prometheus");
    assert_eq!(jobs.len(), 2, "the filter's series and Envoy's own");
    for job in jobs.iter_mut() {
        let job = job.as_object_mut().unwrap();
        job.remove("kubernetes_sd_configs").unwrap();
        job.remove("relabel_configs").unwrap();
        job.insert("static_configs".into(), json!(targets));
        job.insert("scrape_interval".into(), json!("1s"));
    }
    config["global"]["scrape_interval"] = json!("1s");
    config["global"]["scrape_timeout"] = json!("1s");
    config
}

/// Sends GETs round the `paths` of each gateway until dropped, each
/// checked for its status (so a gateway that stops serving fails the test).
struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Traffic {
    fn start(plan: Vec<(u16, Vec<(String, u16)>)>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = plan
            .into_iter()
            .map(|(port, paths)| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut sent = 0;
                    while !stop.load(Ordering::Relaxed) {
                        for (path, status) in &paths {
                            let r = starform_wasm::envoy::get(port, path, &[]).unwrap();
                            assert_eq!(r.status, *status, "{port}{path}");
                            sent += 1;
                        }
                        std::thread::sleep(Duration::from_millis(40));
                    }
                    sent
                })
            })
            .collect();
        Traffic { stop, threads }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum()
    }
}

/// A failed assertion elsewhere must not leave requests running against
/// the Envoys it drops.
impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn paths(list: &[(&str, u16)]) -> Vec<(String, u16)> {
    list.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect()
}

#[test]
fn each_fault_fires_its_alert_alone() {
    let dir = TempDir::new("operate-alerts").unwrap();
    let victoria = start_victoria(&dir);
    let notifier = Upstream::start();

    // The shipped routes; /acme-pr-123/api counts as acme/preview/api: three
    // label sets, under 80 % of MAX_LABEL_SETS.
    let healthy_paths = paths(&[
        ("/acme/api", 200),
        ("/acme/missing", 404),
        ("/globex/web", 503),
        ("/acme-pr-123/api", 200),
    ]);
    let healthy = gateway(&dir, "healthy", Ok);
    let no_filter = gateway(&dir, "no-filter", |y| Ok(without_filter(&y)));
    let unattributed = gateway(&dir, "unattributed", Ok);
    let (routes, overflow_paths) = tenant_routes(6);
    let overflow = gateway(&dir, "overflow", |y| replace_routes(&y, &routes));
    let (routes, near_paths) = tenant_routes(MAX_LABEL_SETS as usize);
    let near = gateway(&dir, "near-limit", |y| replace_routes(&y, &routes));
    let rollout = LdsGateway::start(&dir);

    let gateways = [
        ("healthy", healthy.admin_port),
        ("no-filter", no_filter.admin_port),
        ("unattributed", unattributed.admin_port),
        ("overflow", overflow.admin_port),
        ("near-limit", near.admin_port),
        ("rollout", rollout.envoy.admin_port),
    ];
    let scrape = dir.path().join("scrape.yml");
    std::fs::write(&scrape, vmagent_config(&gateways).to_string()).unwrap();
    let vmagent_port = free_port().unwrap();
    let _vmagent = Service::start(
        "vmagent",
        &system_tool("STARFORM_VMAGENT", "vmagent"),
        &[
            format!("-promscrape.config={}", scrape.display()),
            "-promscrape.config.strictParse".into(),
            format!(
                "-remoteWrite.url=http://127.0.0.1:{}/api/v1/write",
                victoria.port
            ),
            format!(
                "-remoteWrite.tmpDataPath={}",
                dir.path().join("vmagent-data").display()
            ),
            "-remoteWrite.flushInterval=1s".into(),
            format!("-httpListenAddr=127.0.0.1:{vmagent_port}"),
        ],
        &[],
        dir.path(),
        vmagent_port,
    );

    let to =
        |ps: &[String]| -> Vec<(String, u16)> { ps.iter().map(|p| (p.clone(), 200)).collect() };
    let traffic = Traffic::start(vec![
        (healthy.listener_port, healthy_paths.clone()),
        (no_filter.listener_port, healthy_paths.clone()),
        (
            unattributed.listener_port,
            paths(&[
                ("/acme/api", 200),
                ("/legacy", 200),
                ("/invalid", 200),
                ("/nowhere", 404),
            ]),
        ),
        (overflow.listener_port, to(&overflow_paths)),
        (near.listener_port, to(&near_paths)),
        (rollout.envoy.listener_port, healthy_paths),
    ]);

    // Envoy itself shows only what vmagent asks for with `filter` (the LDS
    // counter exists only where listeners come from a control plane).
    let health = Client::new(rollout.envoy.admin_port, "operator", "");
    let filter = vmagent_config(&gateways)["scrape_configs"][1]["params"]["filter"][0].clone();
    let (_, page) = health.get("/stats/prometheus", &[("filter", filter.as_str().unwrap())]);
    let names: BTreeSet<&str> = page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split('{').next())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "envoy_http_downstream_rq_total",
            "envoy_http_no_route",
            "envoy_listener_manager_lds_update_rejected"
        ]),
        "{page}"
    );

    // A rollout of an invalid plugin configuration, then of a module that
    // is not wasm: Envoy rejects each listener update and keeps serving
    // (and counting) with the listener it had.
    let garbage = dir.path().join("not-a-module.wasm");
    std::fs::write(&garbage, b"\0asm but not really a module").unwrap();
    rollout.rollout(Some(r#"{"max_label_sets": "many"}"#), None);
    poll(
        "Envoy rejects the bad configuration",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            (rollout.rejected() == 1)
                .then_some(())
                .ok_or_else(|| rollout.envoy.log_text())
        },
    );
    rollout.rollout(None, Some(&garbage));
    poll(
        "Envoy rejects the bad module",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            (rollout.rejected() == 2)
                .then_some(())
                .ok_or_else(|| rollout.envoy.log_text())
        },
    );
    let log = rollout.envoy.log_text();
    assert!(
        log.contains("Unable to create Wasm plugin starform_l7_identity"),
        "{log}"
    );

    // Rates need a few scrapes; the filter's series appear a tick after
    // their first request, so a short head start keeps that first count
    // small against the rest.
    std::thread::sleep(Duration::from_secs(8));
    let vmalert = start_vmalert(&dir, &victoria, &notifier);
    exactly_firing(
        &vmalert,
        &[
            ("StarformFilterNotCounting", "no-filter", ""),
            (
                "StarformUnattributedTraffic",
                "unattributed",
                "pattern_mismatch",
            ),
            (
                "StarformUnattributedTraffic",
                "unattributed",
                "invalid_value",
            ),
            ("StarformUnattributedTraffic", "unattributed", "no_route"),
            ("StarformLabelSetLimitReached", "overflow", ""),
            ("StarformLabelSetsNearLimit", "near-limit", ""),
            ("StarformGatewayConfigRejected", "rollout", ""),
        ],
        Duration::from_secs(60),
    );
    assert!(traffic.stop() > 0);
    // The rejected rollouts left the filter counting on that gateway.
    assert!(rollout
        .envoy
        .prometheus()
        .unwrap()
        .contains("starform_http_requests_total{project=\"acme\""));
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[test]
fn quarantine_share_fires_for_the_node_that_quarantines() {
    let dir = TempDir::new("operate-alerts-logs").unwrap();
    let victoria = start_victoria(&dir);
    let notifier = Upstream::start();
    let fixtures = repo_root().join("host-tests/fixtures/fluent-bit-metrics");
    // Two scrapes a minute apart, the later one 10 s ago.
    let now = unix_millis();
    for (node, page) in [("node-a", "healthy"), ("node-b", "quarantining")] {
        for (suffix, age_ms) in [("0", 70_000u128), ("60", 10_000)] {
            let body = std::fs::read(fixtures.join(format!("{page}-{suffix}.prom"))).unwrap();
            let path = format!(
                "/api/v1/import/prometheus?timestamp={}&extra_label=node={node}&extra_label=pod=fluent-bit-{node}&extra_label=job=starform-fluent-bit",
                now - age_ms
            );
            let r =
                starform_wasm::envoy::http::send(victoria.port, "POST", &path, &[], &body).unwrap();
            assert_eq!(r.status, 204, "{}", r.body);
        }
    }
    let vm = Client::new(victoria.port, "operator", "");
    poll(
        "VictoriaMetrics holds the pages",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let v = vm.query(
                r#"count(count_over_time(fluentbit_input_records_total[5m]) == 2)"#,
                None,
            )?;
            (v.values().next() == Some(&6.0))
                .then_some(())
                .ok_or_else(|| format!("{v:?}"))
        },
    );
    let vmalert = start_vmalert(&dir, &victoria, &notifier);
    exactly_firing(
        &vmalert,
        &[("StarformLogsQuarantineHigh", "node-b", "")],
        Duration::from_secs(30),
    );
}
