//! The metrics pipe end to end on the real stores: a real Envoy with the
//! filter (the shipped bootstrap with this test's routes) serves a known mix
//! for three tenants; `vmagent` scrapes its `/stats/prometheus` with the
//! job in deploy/vmagent/scrape.yml and remote-writes to a single-node
//! VictoriaMetrics; `vmauth`, configured by the rule deploy/vmauth/auth.yml
//! shows, fronts it. Through each tenant's credentials the dashboard's
//! PromQL (docs/queries.md, read from the page) returns exactly that
//! tenant's numbers, and nothing of anyone else's; the series without a
//! project only reach the operator.
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
use crate::support::metrics::stack::Pipe;
use crate::support::metrics::system_tool;
use crate::support::metrics::traffic::{
    counted, expected_counts, measured, warm_up, Route, OVERFLOW, ROUTES, STRAYS, TENANTS,
};
use crate::support::poll;
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

/// Everything VictoriaMetrics holds now, as the operator sees it, without
/// the labels vmagent adds.
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

/// Polls until VictoriaMetrics holds exactly Envoy's `samples`.
fn stored_settled(operator: &Client, samples: &Vector) {
    poll(
        "VictoriaMetrics holds what Envoy shows",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || {
            let got = stored(operator)?;
            if same_values(&got, samples) {
                Ok(())
            } else {
                Err(format!(
                    "{} series stored, {} scraped",
                    got.len(),
                    samples.len()
                ))
            }
        },
    )
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

/// docs/queries.md's `promql <id>` over the window `[t - w, t]`.
fn dashboard_query(id: &str, window_s: u64, quantile: Option<f64>) -> String {
    let mut q = doc_query("promql", id).unwrap_or_else(|e| panic!("{e}"));
    // `$__range_s` first: `$__range` is its prefix.
    q = q.replace("$__range_s", &window_s.to_string());
    q = q.replace("$__range", &format!("{window_s}s"));
    if let Some(quantile) = quantile {
        q = q.replace("$quantile", &quantile.to_string());
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
/// of `f` over its routes.
fn per_group(project: Option<&str>, f: impl Fn(&Route) -> f64) -> Groups {
    let mut groups = Groups::new();
    for r in ROUTES
        .iter()
        .filter(|r| project.is_none_or(|p| r.project == p))
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

/// Envoy's byte counter `name` grown between two scrapes, per group.
fn bytes_grown(name: &str, project: Option<&str>, before: &Vector, after: &Vector) -> Groups {
    let mut groups = Groups::new();
    for (l, v) in after.iter().filter(|(l, _)| l["__name__"] == name) {
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
    let out = Command::new(system_tool("STARFORM_VMAGENT", "vmagent"))
        .arg(format!(
            "-promscrape.config={}",
            repo_root().join("deploy/vmagent/scrape.yml").display()
        ))
        .args(["-dryRun", "-loggerLevel=ERROR"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_tenant_reads_exactly_its_own_l7_signals_through_vmauth() {
    let started = Instant::now();
    let pipe = Pipe::start();
    let operator = pipe.client("operator");

    // Warm-up: every series exists, in Envoy and then in VictoriaMetrics.
    warm_up(&pipe.envoy);
    let before = envoy_settled(&pipe.envoy, &expected_counts(1, 0));
    stored_settled(&operator, &before);
    // The window starts on a whole second after that: every sample up to it
    // holds the warm-up values.
    let t0 = unix_now().ceil();
    sleep_until(t0 + 0.05);

    measured(&pipe.envoy);
    let after = envoy_settled(&pipe.envoy, &expected_counts(1, 1));
    stored_settled(&operator, &after);
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

    let exercised = RefCell::new(BTreeSet::new());
    let query = |client: &Client, id: &str, quantile: Option<f64>| -> Vector {
        exercised.borrow_mut().insert(id.to_owned());
        client
            .query(&dashboard_query(id, window, quantile), Some(t))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let ids = doc_query_ids("promql").unwrap();

    for tenant in TENANTS {
        let client = pipe.client(&format!("tenant-{tenant}"));
        let p = Some(tenant);

        let rps = by_group(&query(&client, "rps", None));
        let want = per_second(per_group(p, |r| f64::from(r.measured)), w);
        assert_close(&format!("{tenant} rps"), &rps, &want);

        let errors = by_group(&query(&client, "error_ratio", None));
        let all = per_group(p, |r| f64::from(r.measured));
        let five = per_group(p, |r| {
            if r.status >= 500 {
                f64::from(r.measured)
            } else {
                0.0
            }
        });
        let want: Groups = all.iter().map(|(k, n)| (k.clone(), five[k] / n)).collect();
        assert_close(&format!("{tenant} error_ratio"), &errors, &want);

        for q in [0.5, 0.99] {
            let got = by_group(&query(&client, "latency_quantile", Some(q)));
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                all.keys().collect::<Vec<_>>(),
                "{tenant} p{q}"
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
                    "{tenant} {e}/{s} quantile {q}: {v} ms, outside the bucket [{lower}, {upper}] of the delays {delays:?}"
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
            let got = by_group(&query(&client, id, None));
            // In bytes first: whole numbers compare exactly.
            let bodies: Groups = per_group(p, |r| (r.measured as usize * body(r)) as f64)
                .into_iter()
                .filter(|(_, b)| *b > 0.0)
                .collect();
            assert_eq!(
                bytes_grown(name, p, &before, &after),
                bodies,
                "{tenant}: Envoy's {name}"
            );
            assert!(!bodies.is_empty(), "{tenant} {id}: no bodies sent");
            assert_close(&format!("{tenant} {id}"), &got, &per_second(bodies, w));
        }

        // The series without a project: not for tenants.
        for id in ["unattributed", "overflow"] {
            let got = query(&client, id, None);
            assert!(got.is_empty(), "{tenant} sees {id}: {got:?}");
        }

        // Asking for another tenant, in the query or in the URL: nothing of it.
        for other in TENANTS.iter().filter(|o| **o != tenant) {
            let selector = format!(r#"{{__name__=~"starform_.+", project="{other}"}}"#);
            let got = client.query(&selector, Some(t)).unwrap();
            assert!(got.is_empty(), "{tenant} reads {other}: {got:?}");
            // An extra_label of the client's own: in the URL, vmauth puts
            // its own in its place (the tenant gets its own series back)...
            let extra = format!("project={other}");
            let params = [
                ("query", "starform_http_requests_total"),
                ("extra_label", extra.as_str()),
            ];
            let got = client.api("/api/v1/query", &params).unwrap();
            let results = got["result"].as_array().unwrap();
            assert!(
                !results.is_empty() && results.iter().all(|r| r["metric"]["project"] == tenant),
                "{tenant} with extra_label {other} in the URL: {got}"
            );
            // ...in a form body it is added to vmauth's, and both must hold.
            let (status, body) = client.post_form("/api/v1/query", &params);
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                (status, &answer["data"]["result"]),
                (200, &json!([])),
                "{tenant} with extra_label {other} in the body: {body}"
            );
        }
        let projects = client.api("/api/v1/label/project/values", &[]).unwrap();
        assert_eq!(projects, json!([tenant]), "{tenant}: project values");
        // Label names come from the tenant's series only: `reason` exists
        // only on the unattributed counter.
        let names = client.api("/api/v1/labels", &[]).unwrap();
        assert!(
            names.as_array().unwrap().contains(&json!("project"))
                && !names.as_array().unwrap().contains(&json!("reason")),
            "{tenant}: /api/v1/labels {names}"
        );
        let (start, end) = (format!("{t0:.0}"), format!("{t:.0}"));
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
            "{tenant}: /api/v1/query_range {range:?}"
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
            "{tenant}: /api/v1/series"
        );
        assert_eq!(
            series.as_array().unwrap().len(),
            own.as_array().unwrap().len(),
            "{tenant}: all its series"
        );

        // Paths the filter does not cover are not forwarded at all.
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
            let (status, body) = client.get(path, &params);
            assert_ne!(status, 200, "{tenant} reached {path}: {body}");
        }
        let intruder = Client::new(pipe.vmauth.port, &format!("tenant-{tenant}"), "wrong");
        let (status, _) = intruder.get("/api/v1/query", &[("query", "1")]);
        assert_ne!(status, 200, "a wrong password is refused");
    }

    // The operator: every tenant at once (acme and globex add up in
    // prod/api), and the series without a project.
    let rps = by_group(&query(&operator, "rps", None));
    assert_close(
        "operator rps",
        &rps,
        &per_second(per_group(None, |r| f64::from(r.measured)), w),
    );
    let unattributed: BTreeMap<String, f64> = query(&operator, "unattributed", None)
        .into_iter()
        .map(|(l, v)| (l["reason"].clone(), v))
        .collect();
    let want: BTreeMap<String, f64> = STRAYS
        .iter()
        .map(|(_, _, _, reason, n)| ((*reason).to_owned(), f64::from(*n)))
        .collect();
    assert_eq!(unattributed, want, "operator: unattributed");
    let overflow = query(&operator, "overflow", None);
    assert_eq!(
        overflow.into_values().collect::<Vec<_>>(),
        [f64::from(OVERFLOW.measured)],
        "operator: overflow"
    );
    let names = operator.api("/api/v1/labels", &[]).unwrap();
    assert!(
        names.as_array().unwrap().contains(&json!("reason")),
        "operator: /api/v1/labels {names}"
    );
    let all_projects = operator.api("/api/v1/label/project/values", &[]).unwrap();
    assert_eq!(
        all_projects,
        json!(TENANTS),
        "hooli overflowed: no series of its own"
    );

    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        exercised.into_inner(),
        "every promql block of docs/queries.md is exercised here"
    );

    let stored_now = stored(&operator).unwrap();
    let series = stored_now.len();
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
    eprintln!(
        "metrics pipe: {} requests measured over a {window} s window; {series} starform series stored ({}; {by_name:?}); \
         data in after {:.1} s, all assertions after {:.1} s",
        expected_counts(0, 1)
            .iter()
            .filter(|(l, _)| l["__name__"] != "starform_http_request_duration_milliseconds_count")
            .map(|(_, v)| v)
            .sum::<f64>(),
        per_tenant.join(", "),
        ingested.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}
