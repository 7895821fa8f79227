//! The stores as deployed: vmagent with the shipped scrape job,
//! VictoriaMetrics, and vmauth with the users the control plane generates,
//! all on loopback, stopped on drop.

use serde_json::{json, Value as Json};
use starform_host_tests::repo_root;
use starform_wasm::envoy::{free_port, Envoy};

use super::promql::Client;
use super::traffic::{start_envoy, Upstream, TENANTS};
use super::{system_tool, Service};
use crate::support::TempDir;

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
    // one to exported_<name>, out of the tenant filter's reach.
    for rule in job["relabel_configs"].as_array().unwrap() {
        if let Some(target) = rule["target_label"].as_str() {
            assert!(
                ![
                    "project",
                    "environment",
                    "service",
                    "code_class",
                    "reason",
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

/// The vmauth user the control plane generates for a project.
pub fn tenant_user(project: &str, backend: &str) -> Json {
    let env = project.to_ascii_uppercase().replace('-', "_");
    json!({
        "username": format!("tenant-{project}"),
        "password": format!("%{{VMAUTH_TENANT_{env}_PASSWORD}}"),
        "url_map": [{
            "src_paths": TENANT_PATHS,
            "url_prefix": format!("{backend}/?extra_label=project={project}"),
        }],
    })
}

pub fn password(user: &str) -> String {
    format!("pw-{user}-{}", std::process::id())
}

/// deploy/vmauth/auth.yml checked against the rule, then the rule applied
/// to this test's tenants, with VictoriaMetrics on `backend`. Returns the
/// config and the environment with the passwords.
pub fn vmauth_config(backend: &str) -> (Json, Vec<(String, String)>) {
    const SHIPPED_BACKEND: &str = "http://victoria-metrics:8428";
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
                &tenant_user(project, SHIPPED_BACKEND),
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
            operator = Some(user.clone());
        }
    }
    assert!(tenants >= 1, "deploy/vmauth/auth.yml shows a tenant user");
    let operator: Json = serde_json::from_str(
        &operator
            .expect("deploy/vmauth/auth.yml has the operator")
            .to_string()
            .replace(SHIPPED_BACKEND, backend),
    )
    .unwrap();
    let mut users = vec![operator];
    users.extend(TENANTS.iter().map(|t| tenant_user(t, backend)));
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
    _victoria: Service,
    pub envoy: Envoy,
    _upstream: Upstream,
    _dir: TempDir,
}

impl Pipe {
    pub fn start() -> Self {
        let dir = TempDir::new("metrics-pipe").unwrap();
        let upstream = Upstream::start();
        let envoy = start_envoy(&dir, &upstream);

        let victoria_port = free_port().unwrap();
        let victoria = Service::start(
            "victoria-metrics",
            &system_tool("STARFORM_VICTORIA_METRICS", "victoria-metrics"),
            &[
                format!("-storageDataPath={}", dir.path().join("vm-data").display()),
                format!("-httpListenAddr=127.0.0.1:{victoria_port}"),
                // Samples become searchable as soon as they are stored,
                // and every poll computes afresh.
                "-search.latencyOffset=0s".into(),
                "-search.disableCache".into(),
            ],
            &[],
            dir.path(),
            victoria_port,
        );

        let scrape = dir.path().join("scrape.yml");
        std::fs::write(&scrape, vmagent_config(envoy.admin_port).to_string()).unwrap();
        let vmagent_port = free_port().unwrap();
        let vmagent = Service::start(
            "vmagent",
            &system_tool("STARFORM_VMAGENT", "vmagent"),
            &[
                format!("-promscrape.config={}", scrape.display()),
                "-promscrape.config.strictParse".into(),
                format!("-remoteWrite.url=http://127.0.0.1:{victoria_port}/api/v1/write"),
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

        let (auth, env) = vmauth_config(&format!("http://127.0.0.1:{victoria_port}"));
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
            _victoria: victoria,
            envoy,
            _upstream: upstream,
            _dir: dir,
        }
    }

    pub fn client(&self, user: &str) -> Client {
        Client::new(self.vmauth.port, user, &password(user))
    }
}
