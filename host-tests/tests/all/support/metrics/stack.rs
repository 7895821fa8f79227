//! The stores as deployed: vmagent with the shipped scrape job and
//! remote-write routing, the 90-day and the short-retention VictoriaMetrics
//! with their shipped flags, and vmauth with the users the control plane
//! generates, all on loopback, stopped on drop.

use std::path::Path;

use serde_json::{json, Value as Json};
use starform_host_tests::queries::{command_flags, doc_block};
use starform_host_tests::repo_root;
use starform_wasm::envoy::{free_port, Envoy};

use super::promql::{Client, Labels};
use super::traffic::{start_envoy, Route, Upstream, TENANTS};
use super::{system_tool, Service};
use crate::support::TempDir;

/// Where the short store serves its API (its `-http.pathPrefix`), and so
/// where vmauth routes to it.
pub const SHORT_PREFIX: &str = "/short";

/// The retention each store runs with, as deploy/victoria-metrics/README.md
/// documents it.
pub const LONG_RETENTION: &str = "90d";
pub const SHORT_RETENTION: &str = "7d";

/// One of the two VictoriaMetrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The 90-day store: everything not marked.
    Long,
    /// The short-retention store: the series marked `retention="short"`.
    Short,
}

impl Store {
    pub const ALL: [Store; 2] = [Store::Long, Store::Short];

    /// Where vmauth serves the store.
    pub fn prefix(self) -> &'static str {
        match self {
            Store::Long => "",
            Store::Short => SHORT_PREFIX,
        }
    }

    /// Whether the route's series belong in this store.
    pub fn holds(self, route: &Route) -> bool {
        route.preview() == (self == Store::Short)
    }

    /// Whether a series with these labels belongs in this store: the mark
    /// alone decides.
    pub fn holds_series(self, labels: &Labels) -> bool {
        let marked = labels.get("retention").is_some_and(|v| v == "short");
        marked == (self == Store::Short)
    }
}

/// The flags of the ```` ```sh <id> ```` command in `file`, checked to run
/// `program`.
fn shipped_command(file: &str, id: &str, program: &str) -> Vec<(String, String)> {
    let block = doc_block(file, "sh", id).unwrap_or_else(|e| panic!("{e}"));
    let (shipped, flags) = command_flags(&block).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(shipped, program, "{file}: the {id} command");
    flags
}

/// The shipped flags of a store (deploy/victoria-metrics/README.md, block
/// `sh <id>`), with this test's data directory and loopback port in place of
/// `-storageDataPath` and `-httpListenAddr`.
pub fn store_args(id: &str, data: &Path, port: u16) -> Vec<(String, String)> {
    let mut flags = shipped_command("deploy/victoria-metrics/README.md", id, "victoria-metrics");
    for (name, value) in [
        ("storageDataPath", data.display().to_string()),
        ("httpListenAddr", format!("127.0.0.1:{port}")),
    ] {
        let flag = flags
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the {id} command sets no -{name}"));
        flag.1 = value;
    }
    flags
}

pub fn flag<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The shipped vmagent command (deploy/vmagent/README.md, block
/// `sh vmagent`): its `-remoteWrite.url` and `-remoteWrite.urlRelabelConfig`
/// in their order, the URLs moved to `long` and `short` (`host:port`), the
/// files to deploy/vmagent/; `-promscrape.config` and
/// `-remoteWrite.tmpDataPath` to `scrape` and `tmp`. Any other flag is a
/// change this test does not know, and fails it.
pub fn vmagent_args(scrape: &Path, tmp: &Path, long: &str, short: &str) -> Vec<String> {
    let flags = shipped_command("deploy/vmagent/README.md", "vmagent", "vmagent");
    let mut args = Vec::new();
    let mut seen = Vec::new();
    for (name, value) in flags {
        let value = match name.as_str() {
            "promscrape.config" => {
                assert_eq!(value, "/etc/vmagent/scrape.yml");
                scrape.display().to_string()
            }
            "remoteWrite.tmpDataPath" => tmp.display().to_string(),
            "remoteWrite.url" => value
                .replace("http://victoria-metrics:8428/", &format!("http://{long}/"))
                .replace(
                    "http://victoria-metrics-short:8428/",
                    &format!("http://{short}/"),
                ),
            "remoteWrite.urlRelabelConfig" => {
                let file = value
                    .strip_prefix("/etc/vmagent/")
                    .unwrap_or_else(|| panic!("{value}: not a file of deploy/vmagent/"));
                repo_root()
                    .join("deploy/vmagent")
                    .join(file)
                    .display()
                    .to_string()
            }
            other => panic!("deploy/vmagent/README.md: vmagent -{other}: unknown to this test"),
        };
        seen.push(name.clone());
        args.push(format!("-{name}={value}"));
    }
    for name in ["promscrape.config", "remoteWrite.tmpDataPath"] {
        assert!(
            seen.iter().any(|n| n == name),
            "the vmagent command has no -{name}"
        );
    }
    args
}

/// deploy/vmagent/scrape.yml for this test: the shipped job with its
/// metric relabelling, a static target instead of the Kubernetes discovery
/// (and the relabelling of discovered targets), and a 1 s interval.
pub fn vmagent_config(envoy_admin: u16) -> Json {
    let text = std::fs::read_to_string(repo_root().join("deploy/vmagent/scrape.yml")).unwrap();
    let mut config: Json = serde_yaml_ng::from_str(&text).unwrap();
    // The other jobs (Envoy's own counters, Fluent Bit) feed the alerts,
    // host-tests/tests/all/operate_alerts.rs.
    config["scrape_configs"]
        .as_array_mut()
        .unwrap()
        .retain(|job| job["job_name"] == "starform-envoy");
    let jobs = config["scrape_configs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "one job: the gateway Envoys");
    let job = &jobs[0];
    assert_eq!(job["metrics_path"], "/stats/prometheus");
    assert!(
        job["metric_relabel_configs"].is_array(),
        "the shipped series relabelling"
    );
    // A target label named like a series label would rename the scraped
    // one to exported_<name>, out of the tenant filter's or the routing's
    // reach.
    for rule in job["relabel_configs"].as_array().unwrap() {
        if let Some(target) = rule["target_label"].as_str() {
            assert!(
                ![
                    "project",
                    "environment",
                    "service",
                    "code_class",
                    "reason",
                    "retention",
                    "le"
                ]
                .contains(&target),
                "relabel_configs writes {target}"
            );
        }
    }
    let job = config["scrape_configs"][0].as_object_mut().unwrap();
    job.remove("kubernetes_sd_configs").unwrap();
    job.remove("relabel_configs").unwrap();
    job.insert(
        "static_configs".into(),
        json!([{"targets": [format!("127.0.0.1:{envoy_admin}")]}]),
    );
    job.insert("scrape_interval".into(), json!("1s"));
    config["global"]["scrape_interval"] = json!("1s");
    config["global"]["scrape_timeout"] = json!("1s");
    config
}

/// The read paths a tenant may use; `extra_label` applies to each.
pub const TENANT_PATHS: [&str; 5] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/[^/]+/values",
];

/// The vmauth user the control plane generates for a project: the read
/// paths of each store, each with the tenant filter.
pub fn tenant_user(project: &str, long: &str, short: &str) -> Json {
    let env = project.to_ascii_uppercase().replace('-', "_");
    let short_paths: Vec<String> = TENANT_PATHS
        .iter()
        .map(|p| format!("{SHORT_PREFIX}{p}"))
        .collect();
    json!({
        "username": format!("tenant-{project}"),
        "password": format!("%{{VMAUTH_TENANT_{env}_PASSWORD}}"),
        "url_map": [
            {
                "src_paths": TENANT_PATHS,
                "url_prefix": format!("{long}/?extra_label=project={project}"),
            },
            {
                "src_paths": short_paths,
                "url_prefix": format!("{short}/?extra_label=project={project}"),
            },
        ],
    })
}

pub fn password(user: &str) -> String {
    format!("pw-{user}-{}", std::process::id())
}

/// deploy/vmauth/auth.yml checked against the rule, then the rule applied
/// to this test's tenants, with the stores on `long` and `short` (URLs).
/// Returns the config and the environment with the passwords.
pub fn vmauth_config(long: &str, short: &str) -> (Json, Vec<(String, String)>) {
    const SHIPPED_LONG: &str = "http://victoria-metrics:8428";
    const SHIPPED_SHORT: &str = "http://victoria-metrics-short:8428";
    let text = std::fs::read_to_string(repo_root().join("deploy/vmauth/auth.yml")).unwrap();
    let shipped: Json = serde_yaml_ng::from_str(&text).unwrap();
    let users = shipped["users"].as_array().unwrap();
    let mut operator = None;
    let mut tenants = 0;
    for user in users {
        let name = user["username"].as_str().unwrap();
        if let Some(project) = name.strip_prefix("tenant-") {
            assert_eq!(
                user,
                &tenant_user(project, SHIPPED_LONG, SHIPPED_SHORT),
                "deploy/vmauth/auth.yml: {name} is not what the rule generates"
            );
            tenants += 1;
        } else {
            assert_eq!(name, "operator", "deploy/vmauth/auth.yml: unknown user");
            assert!(operator.is_none(), "one operator");
            assert!(
                !user.to_string().contains("extra_label"),
                "the operator sees everything"
            );
            for map in user["url_map"].as_array().unwrap() {
                let to_short = map["url_prefix"]
                    .as_str()
                    .unwrap()
                    .starts_with(SHIPPED_SHORT);
                for path in map["src_paths"].as_array().unwrap() {
                    assert_eq!(
                        path.as_str()
                            .unwrap()
                            .starts_with(&format!("{SHORT_PREFIX}/")),
                        to_short,
                        "the operator's {path} goes to the store its prefix names"
                    );
                }
            }
            operator = Some(user.clone());
        }
    }
    assert!(tenants >= 1, "deploy/vmauth/auth.yml shows a tenant user");
    let operator: Json = serde_json::from_str(
        &operator
            .expect("deploy/vmauth/auth.yml has the operator")
            .to_string()
            .replace(SHIPPED_SHORT, short)
            .replace(SHIPPED_LONG, long),
    )
    .unwrap();
    let mut users = vec![operator];
    users.extend(TENANTS.iter().map(|t| tenant_user(t, long, short)));
    let mut env = vec![("VMAUTH_OPERATOR_PASSWORD".to_owned(), password("operator"))];
    for t in TENANTS {
        env.push((
            format!("VMAUTH_TENANT_{}_PASSWORD", t.to_ascii_uppercase()),
            password(&format!("tenant-{t}")),
        ));
    }
    (json!({ "users": users }), env)
}

/// The stack under test, stopped on drop (in reverse order of start).
pub struct Pipe {
    pub vmauth: Service,
    _vmagent: Service,
    /// The 90-day store, and its flags as started.
    pub long: Service,
    pub long_flags: Vec<(String, String)>,
    /// The short-retention store (under [`SHORT_PREFIX`]), and its flags.
    pub short: Service,
    pub short_flags: Vec<(String, String)>,
    pub envoy: Envoy,
    _upstream: Upstream,
    _dir: TempDir,
}

/// A VictoriaMetrics with the shipped flags of `id`, plus the test's own:
/// samples searchable as soon as they are stored, every poll computed
/// afresh.
fn start_store(id: &'static str, dir: &TempDir) -> (Service, Vec<(String, String)>) {
    let port = free_port().unwrap();
    let flags = store_args(id, &dir.path().join(id), port);
    let mut args: Vec<String> = flags.iter().map(|(n, v)| format!("-{n}={v}")).collect();
    args.extend([
        "-search.latencyOffset=0s".into(),
        "-search.disableCache".into(),
    ]);
    let prefix = flag(&flags, "http.pathPrefix")
        .unwrap_or_default()
        .to_owned();
    let store = Service::start_at(
        id,
        &system_tool("STARFORM_VICTORIA_METRICS", "victoria-metrics"),
        &args,
        &[],
        dir.path(),
        port,
        &prefix,
    );
    (store, flags)
}

impl Pipe {
    pub fn start() -> Self {
        let dir = TempDir::new("metrics-pipe").unwrap();
        let upstream = Upstream::start();
        let envoy = start_envoy(&dir, &upstream);

        let (long, long_flags) = start_store("long-store", &dir);
        let (short, short_flags) = start_store("short-store", &dir);
        assert_eq!(flag(&long_flags, "http.pathPrefix"), None);
        assert_eq!(flag(&short_flags, "http.pathPrefix"), Some(SHORT_PREFIX));

        let scrape = dir.path().join("scrape.yml");
        std::fs::write(&scrape, vmagent_config(envoy.admin_port).to_string()).unwrap();
        let vmagent_port = free_port().unwrap();
        let mut args = vmagent_args(
            &scrape,
            &dir.path().join("vmagent-data"),
            &format!("127.0.0.1:{}", long.port),
            &format!("127.0.0.1:{}", short.port),
        );
        args.extend([
            "-promscrape.config.strictParse".into(),
            "-remoteWrite.flushInterval=1s".into(),
            format!("-httpListenAddr=127.0.0.1:{vmagent_port}"),
        ]);
        let vmagent = Service::start(
            "vmagent",
            &system_tool("STARFORM_VMAGENT", "vmagent"),
            &args,
            &[],
            dir.path(),
            vmagent_port,
        );

        let (auth, env) = vmauth_config(
            &format!("http://127.0.0.1:{}", long.port),
            &format!("http://127.0.0.1:{}", short.port),
        );
        let auth_file = dir.path().join("auth.yml");
        std::fs::write(&auth_file, auth.to_string()).unwrap();
        let vmauth_port = free_port().unwrap();
        let vmauth = Service::start(
            "vmauth",
            &system_tool("STARFORM_VMAUTH", "vmauth"),
            &[
                format!("-auth.config={}", auth_file.display()),
                format!("-httpListenAddr=127.0.0.1:{vmauth_port}"),
                // vmauth's own pages are open without these
                // (deploy/vmauth/README.md).
                format!("-metricsAuthKey={}", password("metrics")),
                format!("-flagsAuthKey={}", password("flags")),
                format!("-pprofAuthKey={}", password("pprof")),
                format!("-reloadAuthKey={}", password("reload")),
            ],
            &env,
            dir.path(),
            vmauth_port,
        );
        Pipe {
            vmauth,
            _vmagent: vmagent,
            long,
            long_flags,
            short,
            short_flags,
            envoy,
            _upstream: upstream,
            _dir: dir,
        }
    }

    /// `user` through vmauth, reading `store`.
    pub fn client(&self, user: &str, store: Store) -> Client {
        Client::new(self.vmauth.port, user, &password(user)).under(store.prefix())
    }

    /// A store itself, on loopback, bypassing vmauth.
    pub fn direct(&self, store: Store) -> Client {
        match store {
            Store::Long => Client::anonymous(self.long.port, ""),
            Store::Short => Client::anonymous(self.short.port, SHORT_PREFIX),
        }
    }
}
