//! The metrics pipe end to end on the real stores: a real Envoy with the
//! filter (the shipped bootstrap with this test's routes, `preview_policy:
//! "short_retention"`) serves a known mix of production and previews for
//! three tenants; `vmagent` scrapes its `/stats/prometheus` with the job in
//! deploy/vmagent/scrape.yml and remote-writes, with the shipped per-URL
//! relabelling, to two single-node VictoriaMetrics started with their
//! shipped flags (deploy/victoria-metrics/README.md): the 90-day store and
//! the short-retention store; `vmauth`, configured by the rule
//! deploy/vmauth/auth.yml shows, fronts both. The previews' series land in
//! the short store only and everything else in the 90-day store only;
//! through each tenant's credentials the dashboard's PromQL (docs/queries.md,
//! read from the page) returns, from each store, exactly that tenant's
//! numbers, and nothing of anyone else's; the series without a project only
//! reach the operator; the short store runs with the short retention.
//!
//! All on loopback, in temporary directories, every wait bounded; the
//! processes are killed on drop. Envoy from `$STARFORM_ENVOY` or
//! `./.venv/bin/envoy`; `victoria-metrics`, `vmagent`, `vmauth` from
//! `$STARFORM_VICTORIA_METRICS`, `$STARFORM_VMAGENT`, `$STARFORM_VMAUTH` or
//! `PATH` (Debian package `victoria-metrics`). `scripts/test.sh` installs
//! both; without them this test fails.
//!
//! Exact numbers from `increase`: every series first appears in a warm-up
//! round (one request per route) and is in VictoriaMetrics before the
//! measured window starts at `T0`, so `increase(x[W])` at `T0 + W` is the
//! final value minus the warm-up value — the measured requests, nothing
//! extrapolated.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::metrics::promql::{parse_text, same_values, Client, Labels, Vector};
use crate::support::metrics::stack::{
    flag, vmagent_args, Pipe, Store, LONG_RETENTION, SHORT_PREFIX, SHORT_RETENTION,
};
use crate::support::metrics::system_tool;
use crate::support::metrics::traffic::{
    counted, expected_counts, measured, warm_up, Route, OVERFLOW, ROUTES, STRAYS, TENANTS,
};
use crate::support::{poll, TempDir};
use serde_json::json;
use starform_envoy_filter::names::DURATION_BUCKETS_MS;
use starform_host_tests::queries::{doc_query, doc_query_ids};
use starform_host_tests::repo_root;
use starform_wasm::envoy::Envoy;

/// Polls Envoy until it counted `want` (counters may be flushed on a tick,
/// histograms at stats flushes), and returns the whole `starform_*` scrape.
fn envoy_settled(envoy: &Envoy, want: &Vector) -> Vector {
    poll(
        "Envoy counts the requests sent",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let samples = parse_text(&envoy.prometheus().unwrap());
            if same_values(&counted(&samples), want) {
                Ok(samples)
            } else {
                Err(format!("{:#?}\n{}", counted(&samples), envoy.log_text()))
            }
        },
    )
}

/// Everything a store holds now, as the operator sees it through vmauth,
/// without the labels vmagent adds.
fn stored(operator: &Client) -> Result<Vector, String> {
    let now = operator.query(r#"{__name__=~"starform_.+"}"#, None)?;
    Ok(now
        .into_iter()
        .map(|(mut l, v)| {
            l.remove("job");
            l.remove("instance");
            (l, v)
        })
        .collect())
}

/// The part of Envoy's `samples` that belongs in `store`: the mark alone
/// decides.
fn for_store(samples: &Vector, store: Store) -> Vector {
    samples
        .iter()
        .filter(|(l, _)| store.holds_series(l))
        .map(|(l, v)| (l.clone(), *v))
        .collect()
}

/// Polls until each store holds exactly its part of Envoy's `samples`: the
/// marked series in the short store and nowhere else, the rest in the
/// 90-day store and nowhere else.
fn stores_settled(pipe: &Pipe, samples: &Vector) {
    for store in Store::ALL {
        let operator = pipe.client("operator", store);
        let want = for_store(samples, store);
        assert!(!want.is_empty(), "{store:?}: nothing to store");
        poll(
            &format!("the {store:?} store holds its part of what Envoy shows"),
            Duration::from_secs(30),
            Duration::from_millis(250),
            || {
                let got = stored(&operator)?;
                if same_values(&got, &want) {
                    Ok(())
                } else {
                    Err(format!(
                        "{} series stored, {} scraped for it",
                        got.len(),
                        want.len()
                    ))
                }
            },
        )
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn sleep_until(t: f64) {
    let wait = t - unix_now();
    if wait > 0.0 {
        sleep(Duration::from_secs_f64(wait));
    }
}

/// A dashboard variable's value: `$quantile` or `$preview`.
#[derive(Clone, Copy)]
enum Var<'a> {
    None,
    Quantile(f64),
    Preview(&'a str),
}

/// docs/queries.md's `promql <id>` over the window `[t - w, t]`.
fn dashboard_query(id: &str, window_s: u64, var: Var) -> String {
    let mut q = doc_query("promql", id).unwrap_or_else(|e| panic!("{e}"));
    // `$__range_s` first: `$__range` is its prefix.
    q = q.replace("$__range_s", &window_s.to_string());
    q = q.replace("$__range", &format!("{window_s}s"));
    match var {
        Var::None => {}
        Var::Quantile(quantile) => q = q.replace("$quantile", &quantile.to_string()),
        Var::Preview(environment) => q = q.replace("$preview", environment),
    }
    assert!(!q.contains('$'), "unsubstituted variable in {id}: {q}");
    q
}

/// (environment, service) of a result series.
fn group(l: &Labels) -> (String, String) {
    assert!(!l.contains_key("project"), "grouped away: {l:?}");
    (l["environment"].clone(), l["service"].clone())
}

type Groups = BTreeMap<(String, String), f64>;

fn by_group(v: &Vector) -> Groups {
    v.iter().map(|(l, x)| (group(l), *x)).collect()
}

fn assert_close(what: &str, got: &Groups, want: &Groups) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: groups\n got {got:?}\nwant {want:?}"
    );
    for (k, w) in want {
        let g = got[k];
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what} {k:?}: got {g}, want {w}"
        );
    }
}

/// The bucket `[lower, upper]` (ms) holding the `q` quantile of `delays`
/// ((delay, count) pairs), as histogram_quantile ranks it.
fn quantile_bucket(delays: &[(u32, u32)], q: f64) -> (f64, f64) {
    let total: u32 = delays.iter().map(|(_, n)| n).sum();
    let rank = q * f64::from(total);
    let mut lower = 0;
    for bound in DURATION_BUCKETS_MS {
        let below: u32 = delays
            .iter()
            .filter(|(d, _)| *d <= bound)
            .map(|(_, n)| n)
            .sum();
        if f64::from(below) >= rank {
            return (f64::from(lower), f64::from(bound));
        }
        lower = bound;
    }
    panic!("delays beyond the last bucket: {delays:?}");
}

/// Per (environment, service) of `project` (all projects: `None`), the sum
/// of `f` over its routes whose series `store` holds.
fn per_group(project: Option<&str>, store: Store, f: impl Fn(&Route) -> f64) -> Groups {
    let mut groups = Groups::new();
    for r in ROUTES
        .iter()
        .filter(|r| project.is_none_or(|p| r.project == p) && store.holds(r))
    {
        *groups
            .entry((r.environment.to_owned(), r.service.to_owned()))
            .or_default() += f(r);
    }
    groups
}

/// Totals over the window as rates: summed first, divided once, as the
/// queries do.
fn per_second(totals: Groups, window: f64) -> Groups {
    totals.into_iter().map(|(k, n)| (k, n / window)).collect()
}

/// Envoy's byte counter `name` grown between two scrapes, per group of the
/// series `store` holds.
fn bytes_grown(
    name: &str,
    project: Option<&str>,
    store: Store,
    before: &Vector,
    after: &Vector,
) -> Groups {
    let mut groups = Groups::new();
    for (l, v) in after
        .iter()
        .filter(|(l, _)| l["__name__"] == name && store.holds_series(l))
    {
        if project.is_some_and(|p| l["project"] != p) {
            continue;
        }
        let grown = v - before.get(l).copied().unwrap_or(0.0);
        assert!(grown > 0.0, "{name} {l:?} did not grow");
        *groups
            .entry((l["environment"].clone(), l["service"].clone()))
            .or_default() += grown;
    }
    groups
}

#[test]
fn shipped_vmagent_config_passes_vmagent_dry_run() {
    let dir = TempDir::new("vmagent-dry-run").unwrap();
    // The README's command as shipped: the scrape job and both stores'
    // relabelling, each file with its URL.
    let args = vmagent_args(
        &repo_root().join("deploy/vmagent/scrape.yml"),
        &dir.path().join("vmagent-data"),
        "victoria-metrics:8428",
        "victoria-metrics-short:8428",
    );
    let out = Command::new(system_tool("STARFORM_VMAGENT", "vmagent"))
        .args(&args)
        .args(["-dryRun", "-loggerLevel=ERROR"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        args.iter()
            .filter(|a| a.starts_with("-remoteWrite.urlRelabelConfig="))
            .count(),
        2,
        "{args:?}"
    );
}

/// The dashboard's checks for one tenant in one store: every promql block
/// gives exactly the tenant's numbers of the routes that store holds.
struct Dashboard<'a> {
    query: &'a dyn Fn(&Client, &str, Var) -> Vector,
    window: f64,
    before: &'a Vector,
    after: &'a Vector,
}

impl Dashboard<'_> {
    fn check(&self, client: &Client, tenant: &str, store: Store) {
        let (query, w) = (self.query, self.window);
        let p = Some(tenant);
        let what = format!("{tenant} in the {store:?} store");

        let rps = by_group(&query(client, "rps", Var::None));
        let want = per_second(per_group(p, store, |r| f64::from(r.measured)), w);
        assert!(!want.is_empty(), "{what}: no routes");
        assert_close(&format!("{what}: rps"), &rps, &want);

        let errors = by_group(&query(client, "error_ratio", Var::None));
        let all = per_group(p, store, |r| f64::from(r.measured));
        let five = per_group(p, store, |r| {
            if r.status >= 500 {
                f64::from(r.measured)
            } else {
                0.0
            }
        });
        let want: Groups = all.iter().map(|(k, n)| (k.clone(), five[k] / n)).collect();
        assert_close(&format!("{what}: error_ratio"), &errors, &want);

        for q in [0.5, 0.99] {
            let got = by_group(&query(client, "latency_quantile", Var::Quantile(q)));
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                all.keys().collect::<Vec<_>>(),
                "{what}: p{q}"
            );
            for ((e, s), v) in &got {
                let delays: Vec<(u32, u32)> = ROUTES
                    .iter()
                    .filter(|r| r.project == tenant && r.environment == e && r.service == s)
                    .map(|r| (r.delay_ms, r.measured))
                    .collect();
                let (lower, upper) = quantile_bucket(&delays, q);
                assert!(
                    (lower..=upper).contains(v),
                    "{what}: {e}/{s} quantile {q}: {v} ms, outside the bucket [{lower}, {upper}] of the delays {delays:?}"
                );
            }
        }

        // Body bytes (docs/contracts.md §3): exactly the bodies this test
        // sent and got back; a group that moved none has no series.
        for (id, name, body) in [
            (
                "received_bytes_per_second",
                "starform_http_request_bytes_total",
                Route::request_body as fn(&Route) -> usize,
            ),
            (
                "sent_bytes_per_second",
                "starform_http_response_bytes_total",
                Route::response_body,
            ),
        ] {
            let got = by_group(&query(client, id, Var::None));
            // In bytes first: whole numbers compare exactly.
            let bodies: Groups = per_group(p, store, |r| (r.measured as usize * body(r)) as f64)
                .into_iter()
                .filter(|(_, b)| *b > 0.0)
                .collect();
            assert_eq!(
                bytes_grown(name, p, store, self.before, self.after),
                bodies,
                "{what}: Envoy's {name}"
            );
            assert!(!bodies.is_empty(), "{what}: {id}: no bodies sent");
            assert_close(&format!("{what}: {id}"), &got, &per_second(bodies, w));
        }

        // A preview by name: its groups from the short store; nothing from
        // the 90-day store, which holds no preview.
        let previews: BTreeSet<&str> = ROUTES
            .iter()
            .filter(|r| r.project == tenant && r.preview())
            .map(|r| r.environment)
            .collect();
        assert!(!previews.is_empty(), "{tenant} has a preview");
        for preview in previews {
            let got = by_group(&query(client, "preview_rps", Var::Preview(preview)));
            let want: Groups = per_group(p, store, |r| f64::from(r.measured))
                .into_iter()
                .filter(|((e, _), _)| e == preview)
                .collect();
            assert_eq!(want.is_empty(), store == Store::Long, "{what}: {preview}");
            assert_close(
                &format!("{what}: preview_rps {preview}"),
                &got,
                &per_second(want, w),
            );
        }

        // The series without a project: not for tenants.
        for id in ["unattributed", "overflow"] {
            let got = query(client, id, Var::None);
            assert!(got.is_empty(), "{what}: sees {id}: {got:?}");
        }
    }
}

/// What a tenant can reach in one store besides the dashboard's numbers:
/// its own series and label values only, however it asks.
fn check_isolation(
    client: &Client,
    operator: &Client,
    tenant: &str,
    store: Store,
    t0: f64,
    t: f64,
) {
    let what = format!("{tenant} in the {store:?} store");
    // Asking for another tenant, in the query or in the URL: nothing of it.
    for other in TENANTS.iter().filter(|o| **o != tenant) {
        let selector = format!(r#"{{__name__=~"starform_.+", project="{other}"}}"#);
        let got = client.query(&selector, Some(t)).unwrap();
        assert!(got.is_empty(), "{what}: reads {other}: {got:?}");
        // An extra_label of the client's own: in the URL, vmauth puts
        // its own in its place (the tenant gets its own series back)...
        let extra = format!("project={other}");
        let time = format!("{t:.3}");
        let params = [
            ("query", "starform_http_requests_total"),
            ("extra_label", extra.as_str()),
            ("time", time.as_str()),
        ];
        let got = client.api("/api/v1/query", &params).unwrap();
        let results = got["result"].as_array().unwrap();
        assert!(
            !results.is_empty() && results.iter().all(|r| r["metric"]["project"] == tenant),
            "{what}: with extra_label {other} in the URL: {got}"
        );
        // ...in a form body it is added to vmauth's, and both must hold.
        let (status, body) = client.post_form("/api/v1/query", &params);
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, &answer["data"]["result"]),
            (200, &json!([])),
            "{what}: with extra_label {other} in the body: {body}"
        );
    }
    let projects = client.api("/api/v1/label/project/values", &[]).unwrap();
    assert_eq!(projects, json!([tenant]), "{what}: project values");
    // The environments the store holds for the tenant: in the short store,
    // its previews (how the dashboard lists them, docs/queries.md).
    let (start, end) = (format!("{t0:.0}"), format!("{t:.0}"));
    let environments = client
        .api(
            "/api/v1/label/environment/values",
            &[("start", &start), ("end", &end)],
        )
        .unwrap();
    let want: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|r| r.project == tenant && store.holds(r))
        .map(|r| r.environment)
        .collect();
    assert_eq!(environments, json!(want), "{what}: environment values");
    // Label names come from the tenant's series only: `reason` exists only
    // on the unattributed counter, `retention` only on previews.
    let names = client.api("/api/v1/labels", &[]).unwrap();
    let names = names.as_array().unwrap();
    assert!(
        names.contains(&json!("project"))
            && !names.contains(&json!("reason"))
            && names.contains(&json!("retention")) == (store == Store::Short),
        "{what}: /api/v1/labels {names:?}"
    );
    let range = client
        .api(
            "/api/v1/query_range",
            &[
                ("query", "starform_http_requests_total"),
                ("start", &start),
                ("end", &end),
                ("step", "1s"),
            ],
        )
        .unwrap();
    let range = range["result"].as_array().unwrap();
    assert!(
        !range.is_empty() && range.iter().all(|r| r["metric"]["project"] == tenant),
        "{what}: /api/v1/query_range {range:?}"
    );
    let series = client
        .api(
            "/api/v1/series",
            &[("match[]", r#"{__name__=~"starform_.+"}"#)],
        )
        .unwrap();
    let own = operator
        .api(
            "/api/v1/series",
            &[(
                "match[]",
                &format!(r#"{{__name__=~"starform_.+", project="{tenant}"}}"#),
            )],
        )
        .unwrap();
    assert!(
        series
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["project"] == tenant),
        "{what}: /api/v1/series"
    );
    assert_eq!(
        series.as_array().unwrap().len(),
        own.as_array().unwrap().len(),
        "{what}: all its series"
    );
}

/// Each store runs with its retention: VictoriaMetrics reports the flag, and
/// a sample 10 days old written to each store directly (on loopback, as
/// vmagent would) is kept by the 90-day store and refused by the short one.
fn assert_retention(pipe: &Pipe) {
    assert_eq!(
        flag(&pipe.long_flags, "retentionPeriod"),
        Some(LONG_RETENTION)
    );
    assert_eq!(
        flag(&pipe.short_flags, "retentionPeriod"),
        Some(SHORT_RETENTION)
    );
    let now_ms = (unix_now() * 1000.0) as u64;
    let day_ms = 86_400_000;
    let probe = format!(
        "retention_probe{{age=\"10d\"}} 1 {}\nretention_probe{{age=\"1d\"}} 1 {}\n",
        now_ms - 10 * day_ms,
        now_ms - day_ms
    );
    for (store, retention, kept) in [
        (Store::Long, LONG_RETENTION, json!(["10d", "1d"])),
        (Store::Short, SHORT_RETENTION, json!(["1d"])),
    ] {
        let direct = pipe.direct(store);
        let (status, metrics) = direct.get("/metrics", &[]);
        assert_eq!(status, 200, "{store:?}: /metrics");
        let flag_line =
            format!(r#"flag{{name="retentionPeriod", value="{retention}", is_set="true"}} 1"#);
        assert!(
            metrics.lines().any(|l| l == flag_line),
            "{store:?}: no `{flag_line}`"
        );
        let write = format!("{}/api/v1/import/prometheus", direct.prefix);
        let r =
            starform_wasm::envoy::http::send(direct.port, "POST", &write, &[], probe.as_bytes())
                .unwrap();
        assert_eq!(r.status, 204, "{store:?}: import: {}", r.body);
        let start = format!("{}", (now_ms - 11 * day_ms) / 1000);
        poll(
            &format!("the {store:?} store keeps {kept}"),
            Duration::from_secs(15),
            Duration::from_millis(250),
            || {
                let ages = direct.api(
                    "/api/v1/label/age/values",
                    &[("match[]", "retention_probe"), ("start", &start)],
                )?;
                if ages == kept {
                    Ok(())
                } else {
                    Err(format!("{ages}"))
                }
            },
        );
    }
    // The refusal is counted, not only logged (the count is published
    // with a delay).
    let short = pipe.direct(Store::Short);
    poll(
        "the short store counts the old sample as refused",
        Duration::from_secs(15),
        Duration::from_millis(250),
        || {
            let (_, metrics) = short.get("/metrics", &[]);
            let ignored: Vec<&str> = metrics.lines().filter(|l| l.contains("ignored")).collect();
            if ignored.contains(&r#"vm_rows_ignored_total{reason="small_timestamp"} 1"#) {
                Ok(())
            } else {
                Err(ignored.join("\n"))
            }
        },
    );
}

#[test]
fn each_tenant_reads_exactly_its_own_l7_signals_through_vmauth() {
    let started = Instant::now();
    let pipe = Pipe::start();

    // Warm-up: every series exists, in Envoy and then in its store.
    warm_up(&pipe.envoy);
    let before = envoy_settled(&pipe.envoy, &expected_counts(1, 0));
    stores_settled(&pipe, &before);
    // The window starts on a whole second after that: every sample up to it
    // holds the warm-up values.
    let t0 = unix_now().ceil();
    sleep_until(t0 + 0.05);

    measured(&pipe.envoy);
    let after = envoy_settled(&pipe.envoy, &expected_counts(1, 1));
    stores_settled(&pipe, &after);
    let window = (unix_now() - t0).ceil() as u64 + 1;
    let t = t0 + window as f64;
    sleep_until(t + 0.05);
    let ingested = started.elapsed();
    let w = window as f64;

    // Envoy itself counted exactly the measured mix.
    let grown: Vector = counted(&after)
        .into_iter()
        .map(|(l, v)| {
            let b = before.get(&l).copied().unwrap_or(0.0);
            (l, v - b)
        })
        .collect();
    assert!(same_values(&grown, &expected_counts(0, 1)), "{grown:#?}");

    // Previews only in the short store, the rest only in the 90-day store:
    // the stores hold exactly their parts (stores_settled), and by
    // environment that is the split the filter's preview pattern makes.
    for store in Store::ALL {
        let environments: BTreeSet<String> = stored(&pipe.client("operator", store))
            .unwrap()
            .keys()
            .filter_map(|l| l.get("environment").cloned())
            .collect();
        let want: BTreeSet<String> = ROUTES
            .iter()
            .filter(|r| store.holds(r))
            .map(|r| r.environment.to_owned())
            .collect();
        assert_eq!(environments, want, "{store:?} store: environments");
        assert!(
            want.iter()
                .all(|e| e.starts_with("pr-") || e.starts_with("preview-"))
                == (store == Store::Short),
            "{want:?}"
        );
    }

    let exercised = RefCell::new(BTreeSet::new());
    let query = |client: &Client, id: &str, var: Var| -> Vector {
        exercised.borrow_mut().insert(id.to_owned());
        client
            .query(&dashboard_query(id, window, var), Some(t))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let ids = doc_query_ids("promql").unwrap();
    let dashboard = Dashboard {
        query: &query,
        window: w,
        before: &before,
        after: &after,
    };

    for tenant in TENANTS {
        let user = format!("tenant-{tenant}");
        for store in Store::ALL {
            let client = pipe.client(&user, store);
            dashboard.check(&client, tenant, store);
            check_isolation(
                &client,
                &pipe.client("operator", store),
                tenant,
                store,
                t0,
                t,
            );
        }

        // Paths the filter does not cover are not forwarded at all, in
        // either store.
        let client = pipe.client(&user, Store::Long);
        for (path, params) in [
            ("/api/v1/export", vec![("match[]", r#"{__name__=~".+"}"#)]),
            ("/api/v1/status/tsdb", vec![]),
            ("/api/v1/import/prometheus", vec![]),
            ("/api/v1/write", vec![]),
            (
                "/api/v1/admin/tsdb/delete_series",
                vec![("match[]", r#"{project!=""}"#)],
            ),
            ("/federate", vec![("match[]", r#"{__name__=~".+"}"#)]),
            ("/metrics", vec![]),
            ("/flags", vec![]),
            ("/debug/pprof/heap", vec![]),
            ("/-/reload", vec![]),
        ] {
            for prefix in ["", SHORT_PREFIX] {
                let path = format!("{prefix}{path}");
                let (status, body) = client.get(&path, &params);
                assert_ne!(status, 200, "{tenant} reached {path}: {body}");
            }
        }
        let intruder = Client::new(pipe.vmauth.port, &user, "wrong");
        for store in Store::ALL {
            let (status, _) = intruder
                .under(store.prefix())
                .get("/api/v1/query", &[("query", "1")]);
            assert_ne!(status, 200, "a wrong password is refused ({store:?})");
        }
    }

    // The operator: every tenant at once (acme and globex add up in prod/api
    // and in pr-7/api), and the series without a project, which are never
    // marked, so in the 90-day store only.
    for store in Store::ALL {
        let operator = pipe.client("operator", store);
        let rps = by_group(&query(&operator, "rps", Var::None));
        assert_close(
            &format!("operator rps, {store:?} store"),
            &rps,
            &per_second(per_group(None, store, |r| f64::from(r.measured)), w),
        );
        let unattributed: BTreeMap<String, f64> = query(&operator, "unattributed", Var::None)
            .into_iter()
            .map(|(l, v)| (l["reason"].clone(), v))
            .collect();
        let overflow = query(&operator, "overflow", Var::None);
        let names = operator.api("/api/v1/labels", &[]).unwrap();
        let all_projects = operator.api("/api/v1/label/project/values", &[]).unwrap();
        assert_eq!(
            all_projects,
            json!(TENANTS),
            "{store:?}: hooli overflowed, no series of its own"
        );
        match store {
            Store::Long => {
                let want: BTreeMap<String, f64> = STRAYS
                    .iter()
                    .map(|(_, _, _, reason, n)| ((*reason).to_owned(), f64::from(*n)))
                    .collect();
                assert_eq!(unattributed, want, "operator: unattributed");
                assert_eq!(
                    overflow.into_values().collect::<Vec<_>>(),
                    [f64::from(OVERFLOW.measured)],
                    "operator: overflow"
                );
                assert!(
                    names.as_array().unwrap().contains(&json!("reason")),
                    "operator: /api/v1/labels {names}"
                );
            }
            Store::Short => {
                assert!(
                    unattributed.is_empty() && overflow.is_empty(),
                    "the short store holds no self-metric"
                );
                assert!(
                    !names.as_array().unwrap().contains(&json!("reason")),
                    "operator, short store: /api/v1/labels {names}"
                );
            }
        }
    }

    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        exercised.into_inner(),
        "every promql block of docs/queries.md is exercised here"
    );

    assert_retention(&pipe);

    let mut summary = Vec::new();
    for store in Store::ALL {
        let operator = pipe.client("operator", store);
        let stored_now = stored(&operator).unwrap();
        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for l in stored_now.keys() {
            *by_name.entry(l["__name__"].as_str()).or_default() += 1;
        }
        let per_tenant: Vec<String> = TENANTS
            .iter()
            .map(|t| {
                let n = operator
                    .query(
                        &format!(r#"count({{__name__=~"starform_.+", project="{t}"}})"#),
                        None,
                    )
                    .unwrap()
                    .into_values()
                    .next()
                    .unwrap_or(0.0);
                format!("{t} {n}")
            })
            .collect();
        summary.push(format!(
            "{store:?} store: {} starform series ({}; {by_name:?})",
            stored_now.len(),
            per_tenant.join(", ")
        ));
    }
    eprintln!(
        "metrics pipe: {} requests measured over a {window} s window; {}; \
         data in after {:.1} s, all assertions after {:.1} s",
        expected_counts(0, 1)
            .iter()
            .filter(|(l, _)| l["__name__"] != "starform_http_request_duration_milliseconds_count")
            .map(|(_, v)| v)
            .sum::<f64>(),
        summary.join("; "),
        ingested.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}
