//! Throughput of the compiled wasm modules in the embedded wasmtime host:
//! the log transform (records/s, per-record `starform_filter_log` entry and
//! `starform_transform_batch` entry) and the Envoy filter (µs per attributed
//! and per unattributed request, whole HTTP context lifecycle).
//!
//! `cargo bench -p starform-host-tests --bench modules` measures the embedded
//! modules. With `STARFORM_BENCH_MODULES=dir1,dir2,…` it measures the
//! `starform_envoy_filter.wasm` / `starform_vector_transform.wasm` files in
//! each dir instead, side by side in this one process: variants take turns
//! inside every run so background load hits them alike, and each figure is
//! the median of the runs. Ratios are against the first variant. Before
//! timing, every variant must produce the baseline's exact output.
//!
//! How the opt-level variants are built and compared: docs/performance.md.

// Bench-only code, like the tests: indexes into small constant tables by `i % len`.
#![allow(clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::{Component, Path};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use starform_wasm::log_host::{LogModule, LogTransform};
use starform_wasm::modules;
use starform_wasm::proxy_wasm_host::{FilterHost, FilterModule, Request};

/// Timed runs per benchmark and variant (after one warm-up run).
const RUNS: usize = 9;
/// Compilations per module and variant.
const COMPILE_RUNS: usize = 3;
/// Records per run of the log benchmarks (one batch call in batch mode).
const RECORDS: usize = 10_000;
/// Requests per run of the filter benchmarks.
const REQUESTS: usize = 10_000;

/// Of every ten records, how many are quarantined (the rest are accepted).
const QUARANTINED_PER_TEN: usize = 2;

struct Variant {
    label: String,
    filter_bytes: usize,
    log_bytes: usize,
    filter_compile: Duration,
    log_compile: Duration,
    filter: FilterModule,
    log: LogModule,
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let variants = load_variants()?;
    print_modules(&variants);

    let records = log_records(RECORDS);
    let ndjson = records.join(&b'\n');
    check_log_outputs(&variants, &records, &ndjson)?;
    let attributed = attributed_requests(REQUESTS);
    let unattributed = unattributed_requests(REQUESTS);
    check_filter_outputs(&variants, &attributed, &unattributed)?;

    println!(
        "\nthroughput: median of {RUNS} runs (after 1 warm-up); speed = first variant's time / this variant's time"
    );
    println!("| benchmark | variant | median | speed |");
    println!("|---|---|---:|---:|");

    let mut hosts = log_hosts(&variants)?;
    let times = measure(&mut hosts, |host| {
        for record in &records {
            black_box(host.transform(record)?);
        }
        Ok(())
    })?;
    report(&variants, "log, per record", &times, |t| {
        format!("{:.0} records/s", per_second(RECORDS, t))
    });

    let mut hosts = log_hosts(&variants)?;
    let times = measure(&mut hosts, |host| {
        black_box(host.transform_batch(&ndjson)?);
        Ok(())
    })?;
    report(&variants, "log, batch", &times, |t| {
        format!("{:.0} records/s", per_second(RECORDS, t))
    });

    for (name, requests) in [
        ("filter, attributed", &attributed),
        ("filter, unattributed", &unattributed),
    ] {
        let mut hosts = filter_hosts(&variants)?;
        let times = measure(&mut hosts, |host| {
            for request in requests {
                black_box(host.request(request)?);
            }
            // The filter hands its counters over on the tick: once a second
            // in Envoy, about once per this many requests at 10k requests/s.
            host.tick()?;
            Ok(())
        })?;
        report(&variants, name, &times, |t| {
            format!("{:.2} µs/request", micros_each(REQUESTS, t))
        });
    }

    println!(
        "\ntotal bench time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The embedded modules, or the module files named by `STARFORM_BENCH_MODULES`.
fn load_variants() -> anyhow::Result<Vec<Variant>> {
    let dirs: Vec<String> = std::env::var("STARFORM_BENCH_MODULES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    if dirs.is_empty() {
        let variant = compile_variant(
            "embedded".to_owned(),
            modules::ENVOY_FILTER,
            modules::VECTOR_TRANSFORM,
        )?;
        return Ok(vec![variant]);
    }
    let labels = short_labels(&dirs);
    dirs.iter()
        .zip(labels)
        .map(|(dir, label)| {
            let read = |file: &str| {
                let path = Path::new(dir).join(file);
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
            };
            let filter = read(modules::ENVOY_FILTER_FILE)?;
            let log = read(modules::VECTOR_TRANSFORM_FILE)?;
            compile_variant(label, &filter, &log)
        })
        .collect()
}

/// Each dir's first path component that not all dirs share (e.g.
/// `optlevel-s` for `/tmp/optlevel-s/wasm32-wasip1/wasm-release`), else the
/// whole dir.
fn short_labels(dirs: &[String]) -> Vec<String> {
    let parts: Vec<Vec<String>> = dirs
        .iter()
        .map(|d| {
            Path::new(d)
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    let depth = parts.iter().map(Vec::len).max().unwrap_or(0);
    let differing = (0..depth).find(|&i| {
        let first = parts.first().and_then(|p| p.get(i));
        parts.iter().any(|p| p.get(i) != first)
    });
    dirs.iter()
        .zip(&parts)
        .map(|(dir, p)| {
            differing
                .and_then(|i| p.get(i))
                .cloned()
                .unwrap_or_else(|| dir.clone())
        })
        .collect()
}

fn compile_variant(label: String, filter: &[u8], log: &[u8]) -> anyhow::Result<Variant> {
    let (filter_module, filter_compile) = median_compile(|| FilterModule::compile(filter))
        .with_context(|| format!("{label}: compiling the Envoy filter"))?;
    let (log_module, log_compile) = median_compile(|| LogModule::compile(log))
        .with_context(|| format!("{label}: compiling the log transform"))?;
    Ok(Variant {
        label,
        filter_bytes: filter.len(),
        log_bytes: log.len(),
        filter_compile,
        log_compile,
        filter: filter_module,
        log: log_module,
    })
}

/// Compiles `COMPILE_RUNS` times; the last module and the median time.
fn median_compile<M, E>(mut compile: impl FnMut() -> Result<M, E>) -> anyhow::Result<(M, Duration)>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut times = Vec::with_capacity(COMPILE_RUNS);
    let mut last = None;
    for _ in 0..COMPILE_RUNS {
        let start = Instant::now();
        let module = compile()?;
        times.push(start.elapsed());
        last = Some(module);
    }
    let module = last.context("COMPILE_RUNS is 0")?;
    Ok((module, median(times)))
}

fn print_modules(variants: &[Variant]) {
    println!(
        "modules: size in bytes, wasmtime compile time (median of {COMPILE_RUNS}); ratios against the first variant"
    );
    println!("| variant | envoy filter bytes | ratio | compile ms | log transform bytes | ratio | compile ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let Some(first) = variants.first() else {
        return;
    };
    for v in variants {
        println!(
            "| {} | {} | {:.2} | {:.1} | {} | {:.2} | {:.1} |",
            v.label,
            v.filter_bytes,
            ratio(v.filter_bytes, first.filter_bytes),
            millis(v.filter_compile),
            v.log_bytes,
            ratio(v.log_bytes, first.log_bytes),
            millis(v.log_compile),
        );
    }
}

/// ~300-byte Fluent Bit (kubernetes filter) records: of every ten,
/// `10 - QUARANTINED_PER_TEN` accepted (one of them needing normalisation)
/// and the rest quarantined (a missing label, an invalid value).
fn log_records(n: usize) -> Vec<Vec<u8>> {
    const TENANTS: [(&str, &str, &str); 4] = [
        ("acme", "prod", "api"),
        ("acme", "staging", "web"),
        ("globex", "prod", "checkout"),
        ("initech", "dev", "worker"),
    ];
    (0..n)
        .map(|i| {
            let (project, environment, service) = TENANTS[i % TENANTS.len()];
            let labels = match i % 10 {
                8 => format!(
                    r#""starform.io/project":"{project}","starform.io/environment":"{environment}""#
                ),
                9 => format!(
                    r#""starform.io/project":"{project}","starform.io/environment":"{environment}","starform.io/service":"{service}_v2""#
                ),
                7 => format!(
                    r#""starform.io/project":" {} ","starform.io/environment":"{environment}","starform.io/service":"{service}""#,
                    project.to_ascii_uppercase()
                ),
                _ => format!(
                    r#""starform.io/project":"{project}","starform.io/environment":"{environment}","starform.io/service":"{service}""#
                ),
            };
            format!(
                r#"{{"log":"2026-11-26T06:00:{:02}.{:03}Z INFO GET /v1/orders/{} 200 {}ms\n","stream":"stdout","time":"2026-11-26T06:00:{:02}.{:09}Z","kubernetes":{{"pod_name":"{service}-7d9f5c-{:05}","namespace_name":"{project}-{environment}","container_name":"app","labels":{{{labels}}}}}}}"#,
                i % 60,
                i % 1000,
                i * 7919 % 100_000,
                i % 250,
                i % 60,
                i,
                i % 100_000,
            )
            .into_bytes()
        })
        .collect()
}

fn quarantined_in(n: usize) -> u64 {
    let whole = n / 10 * QUARANTINED_PER_TEN;
    let rest = (n % 10).saturating_sub(10 - QUARANTINED_PER_TEN);
    u64::try_from(whole + rest).unwrap_or(u64::MAX)
}

/// Every variant must give the first variant's bytes, per record and in
/// batch, with the intended accepted/quarantined mix.
fn check_log_outputs(
    variants: &[Variant],
    records: &[Vec<u8>],
    ndjson: &[u8],
) -> anyhow::Result<()> {
    let mut baseline: Option<Vec<u8>> = None;
    let sizes: Vec<usize> = records.iter().map(Vec::len).collect();
    for v in variants {
        let mut host = LogTransform::with_module(&v.log, b"{}")?;
        let mut per_record = Vec::new();
        for record in records {
            per_record.extend(host.transform(record)?);
            per_record.push(b'\n');
        }
        let counts = host.counts()?;
        let expected_quarantined = quarantined_in(records.len());
        ensure!(
            counts.total_quarantined() == expected_quarantined
                && counts.accepted + expected_quarantined == records.len() as u64,
            "{}: unexpected mix: {}",
            v.label,
            counts.summary()
        );
        let batch = LogTransform::with_module(&v.log, b"{}")?.transform_batch(ndjson)?;
        ensure!(
            batch == per_record,
            "{}: batch output differs from per-record output",
            v.label
        );
        match &baseline {
            None => {
                println!(
                    "\nlog records: {} of {}–{} bytes (mean {}); {}",
                    records.len(),
                    sizes.iter().min().unwrap_or(&0),
                    sizes.iter().max().unwrap_or(&0),
                    sizes.iter().sum::<usize>() / sizes.len().max(1),
                    counts.summary()
                );
                baseline = Some(per_record);
            }
            Some(first) if *first != per_record => {
                bail!("{}: log output differs from the first variant's", v.label)
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Requests to 16 tenants' routes, mostly 200 with some 404/503.
fn attributed_requests(n: usize) -> Vec<Request> {
    const PROJECTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
    const ENVIRONMENTS: [&str; 2] = ["prod", "staging"];
    const SERVICES: [&str; 2] = ["api", "web"];
    (0..n)
        .map(|i| {
            let p = PROJECTS[i % 4];
            let e = ENVIRONMENTS[i / 4 % 2];
            let s = SERVICES[i / 8 % 2];
            let status = match i % 20 {
                0 => 503,
                1 | 2 => 404,
                _ => 200,
            };
            browser_request(Request::to_route(format!(
                "httproute/{p}-{e}/{p}.{e}.{s}/rule/0/match/0/{s}_{p}_example_com"
            )))
            .status(status)
            .duration_ms((i * 37 % 400) as u64)
            .bytes(400 + i % 50, 1500 + i * 131 % 20_000)
        })
        .collect()
}

/// No route, a route name not from an HTTPRoute, an invalid label value.
fn unattributed_requests(n: usize) -> Vec<Request> {
    (0..n)
        .map(|i| {
            let request = match i % 3 {
                0 => Request::unrouted(404),
                1 => Request::to_route(format!("envoy-gateway/gateway-{}/http", i % 8)),
                _ => Request::to_route(format!(
                    "httproute/bad/Acme.prod.my_svc{}/rule/0/match/0/bad_example",
                    i % 8
                )),
            };
            browser_request(request)
                .duration_ms((i * 13 % 100) as u64)
                .bytes(350, 200)
        })
        .collect()
}

fn browser_request(request: Request) -> Request {
    request
        .header(":method", "GET")
        .header(":path", "/v1/orders?page=2")
        .header(":authority", "www.example.com")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .header("accept", "application/json")
}

/// Every variant's filter must expose the first variant's metrics after the
/// same traffic, with every request counted where it belongs.
fn check_filter_outputs(
    variants: &[Variant],
    attributed: &[Request],
    unattributed: &[Request],
) -> anyhow::Result<()> {
    let mut baseline: Option<String> = None;
    for v in variants {
        let mut host = FilterHost::new(&v.filter, b"")?;
        for request in attributed.iter().chain(unattributed) {
            host.request(request)?;
        }
        host.tick()?;
        let text = host.prometheus_text();
        let counted = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        ensure!(
            counted("starform_http_requests_total{") == attributed.len() as f64
                && counted("starform_l7_unattributed_requests_total{") == unattributed.len() as f64,
            "{}: requests not counted as expected:\n{text}",
            v.label
        );
        match &baseline {
            None => baseline = Some(text),
            Some(first) if *first != text => {
                bail!(
                    "{}: filter metrics differ from the first variant's",
                    v.label
                )
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn log_hosts(variants: &[Variant]) -> anyhow::Result<Vec<LogTransform>> {
    variants
        .iter()
        .map(|v| Ok(LogTransform::with_module(&v.log, b"{}")?))
        .collect()
}

fn filter_hosts(variants: &[Variant]) -> anyhow::Result<Vec<FilterHost>> {
    variants
        .iter()
        .map(|v| Ok(FilterHost::new(&v.filter, b"")?))
        .collect()
}

/// One warm-up run, then `RUNS` timed runs; within a run every state takes a
/// turn, starting at a different one each run. Returns each state's median.
fn measure<S>(
    states: &mut [S],
    mut run: impl FnMut(&mut S) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    for state in states.iter_mut() {
        run(state)?;
    }
    let n = states.len();
    let mut times = vec![Vec::with_capacity(RUNS); n];
    for round in 0..RUNS {
        for k in 0..n {
            let i = (round + k) % n;
            let (Some(state), Some(slot)) = (states.get_mut(i), times.get_mut(i)) else {
                continue;
            };
            let start = Instant::now();
            run(state)?;
            slot.push(start.elapsed());
        }
    }
    Ok(times.into_iter().map(median).collect())
}

fn report(variants: &[Variant], name: &str, times: &[Duration], show: impl Fn(Duration) -> String) {
    let Some(&first) = times.first() else {
        return;
    };
    for (v, &t) in variants.iter().zip(times) {
        println!(
            "| {name} | {} | {} | {:.2} |",
            v.label,
            show(t),
            first.as_secs_f64() / t.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn per_second(items: usize, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn micros_each(items: usize, elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e6 / items.max(1) as f64
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}
