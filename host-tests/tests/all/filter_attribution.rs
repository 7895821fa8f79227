//! The compiled Envoy filter in the embedded host: what an attributed or
//! unattributed request records, exactly as Envoy's `/stats/prometheus`
//! would show it after tag extraction.

use std::time::Duration;

use crate::support::filter::{filter, hit, lines, route, samples, scrape};
use starform_wasm::prometheus::{self, RenderOptions};
use starform_wasm::proxy_wasm_host::{FilterHost, LogLevel, Request};

#[test]
fn attributed_requests_render_exact_series() {
    let mut host = filter("");
    let acme = route("acme", "prod", "web");
    // 12.7 ms → 12: the filter records whole milliseconds.
    let mut first = Request::to_route(acme.as_str()).bytes(100, 2000);
    first.duration = Duration::from_micros(12_700);
    host.request(&first).unwrap();
    host.request(
        &Request::to_route(acme.as_str())
            .status(503)
            .duration_ms(3000)
            .bytes(50, 10),
    )
    .unwrap();
    host.request(&Request::to_route(acme.as_str()).status(204))
        .unwrap();
    host.request(
        &Request::to_route(route("beta", "staging", "api"))
            .status(404)
            .duration_ms(7)
            .bytes(1, 1),
    )
    .unwrap();

    let a = r#"project="acme",environment="prod",service="web""#;
    let b = r#"project="beta",environment="staging",service="api""#;
    let h = "starform_http_request_duration_milliseconds";
    let expected = [
        "# TYPE starform_http_request_bytes_total counter".to_owned(),
        format!("starform_http_request_bytes_total{{{a}}} 150"),
        format!("starform_http_request_bytes_total{{{b}}} 1"),
        "# TYPE starform_http_requests_total counter".to_owned(),
        format!("starform_http_requests_total{{{a},code_class=\"2xx\"}} 2"),
        format!("starform_http_requests_total{{{a},code_class=\"5xx\"}} 1"),
        format!("starform_http_requests_total{{{b},code_class=\"4xx\"}} 1"),
        "# TYPE starform_http_response_bytes_total counter".to_owned(),
        format!("starform_http_response_bytes_total{{{a}}} 2010"),
        format!("starform_http_response_bytes_total{{{b}}} 1"),
        format!("# TYPE {h} histogram"),
        // acme samples: 12, 3000, 0
        format!("{h}_bucket{{{a},le=\"1\"}} 1"),
        format!("{h}_bucket{{{a},le=\"2\"}} 1"),
        format!("{h}_bucket{{{a},le=\"5\"}} 1"),
        format!("{h}_bucket{{{a},le=\"10\"}} 1"),
        format!("{h}_bucket{{{a},le=\"25\"}} 2"),
        format!("{h}_bucket{{{a},le=\"50\"}} 2"),
        format!("{h}_bucket{{{a},le=\"100\"}} 2"),
        format!("{h}_bucket{{{a},le=\"250\"}} 2"),
        format!("{h}_bucket{{{a},le=\"500\"}} 2"),
        format!("{h}_bucket{{{a},le=\"1000\"}} 2"),
        format!("{h}_bucket{{{a},le=\"2500\"}} 2"),
        format!("{h}_bucket{{{a},le=\"5000\"}} 3"),
        format!("{h}_bucket{{{a},le=\"10000\"}} 3"),
        format!("{h}_bucket{{{a},le=\"+Inf\"}} 3"),
        format!("{h}_sum{{{a}}} 3012"),
        format!("{h}_count{{{a}}} 3"),
        // beta sample: 7
        format!("{h}_bucket{{{b},le=\"1\"}} 0"),
        format!("{h}_bucket{{{b},le=\"2\"}} 0"),
        format!("{h}_bucket{{{b},le=\"5\"}} 0"),
        format!("{h}_bucket{{{b},le=\"10\"}} 1"),
        format!("{h}_bucket{{{b},le=\"25\"}} 1"),
        format!("{h}_bucket{{{b},le=\"50\"}} 1"),
        format!("{h}_bucket{{{b},le=\"100\"}} 1"),
        format!("{h}_bucket{{{b},le=\"250\"}} 1"),
        format!("{h}_bucket{{{b},le=\"500\"}} 1"),
        format!("{h}_bucket{{{b},le=\"1000\"}} 1"),
        format!("{h}_bucket{{{b},le=\"2500\"}} 1"),
        format!("{h}_bucket{{{b},le=\"5000\"}} 1"),
        format!("{h}_bucket{{{b},le=\"10000\"}} 1"),
        format!("{h}_bucket{{{b},le=\"+Inf\"}} 1"),
        format!("{h}_sum{{{b}}} 7"),
        format!("{h}_count{{{b}}} 1"),
    ];
    assert_eq!(lines(&mut host), expected);
}

#[test]
fn stored_stat_names_are_the_tagged_wasmcustom_names() {
    let mut host = filter("");
    host.request(
        &Request::to_route(route("acme", "prod", "web"))
            .status(302)
            .duration_ms(1),
    )
    .unwrap();
    let names = |host: &FilterHost| -> Vec<String> {
        host.metrics().iter().map(|(k, _)| k.name.clone()).collect()
    };
    let histogram = "wasmcustom.starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=web;.;";
    // The duration goes to Envoy's histogram per request; counts wait in
    // the VM for the tick.
    assert_eq!(names(&host), [histogram]);
    host.tick().unwrap();
    assert_eq!(
        names(&host),
        [
            "wasmcustom.starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=web;.;code_class=.=3xx;.;",
            histogram,
        ]
    );
}

#[test]
fn code_class_follows_the_response_code() {
    let mut host = filter("");
    let r = route("acme", "prod", "web");
    for status in [101, 200, 299, 301, 400, 451, 500, 599] {
        host.request(&Request::to_route(r.as_str()).status(status))
            .unwrap();
    }
    // A reset stream has no response code.
    host.request(&Request::to_route(r.as_str()).no_response())
        .unwrap();
    let l = r#"project="acme",environment="prod",service="web""#;
    let want: Vec<String> = [
        ("1xx", 1),
        ("2xx", 2),
        ("3xx", 1),
        ("4xx", 2),
        ("5xx", 2),
        ("none", 1),
    ]
    .iter()
    .map(|(class, n)| format!("starform_http_requests_total{{{l},code_class=\"{class}\"}} {n}"))
    .collect();
    assert_eq!(samples(&mut host, "starform_http_requests_total"), want);
}

#[test]
fn each_unattributed_reason_is_counted_apart() {
    let mut host = filter("");
    // no_route: no route matched (property absent), or an empty name.
    host.request(&Request::unrouted(404)).unwrap();
    host.request(&Request::to_route("")).unwrap();
    // pattern_mismatch: wrong shape, or not UTF-8.
    hit(&mut host, "httproute/default/acme.prod/rule/0/match/0/x");
    host.request(&Request::to_route(
        &b"httproute/default/acme.prod.w\xffb/rule/0/match/0/x"[..],
    ))
    .unwrap();
    hit(&mut host, "acme.prod.web");
    // invalid_value: right shape, a value that is not a DNS-1123 label.
    hit(&mut host, &route("Acme", "prod", "web"));
    hit(&mut host, &route("acme", "prod", "my_svc"));
    hit(&mut host, &route("acme", &"e".repeat(64), "web"));
    hit(&mut host, &route("acme", "-prod", "web"));

    assert_eq!(
        lines(&mut host),
        [
            "# TYPE starform_l7_unattributed_requests_total counter",
            "starform_l7_unattributed_requests_total{reason=\"invalid_value\"} 4",
            "starform_l7_unattributed_requests_total{reason=\"no_route\"} 2",
            "starform_l7_unattributed_requests_total{reason=\"pattern_mismatch\"} 3",
        ]
    );
}

#[test]
fn headers_path_and_host_never_change_the_labels() {
    let mut host = filter("");
    let spoofed = |req: Request| {
        req.header(":authority", "evil.prod.web")
            .header(":path", "/httproute/default/evil.prod.web/rule/0/match/0/x")
            .header("host", "evil.example")
            .header("x-starform-project", "evil")
            .header("x-starform-environment", "evil")
            .header("x-starform-service", "evil")
            .header("x-envoy-original-path", "/evil")
            .request_body("project=evil")
            .response_header("x-starform-project", "evil")
    };
    host.request(&spoofed(Request::to_route(route("acme", "prod", "web"))))
        .unwrap();
    host.request(&spoofed(Request::unrouted(200))).unwrap();
    let text = scrape(&mut host);
    assert!(!text.contains("evil"), "{text}");
    assert_eq!(
        samples(&mut host, "starform_http_requests_total"),
        ["starform_http_requests_total{project=\"acme\",environment=\"prod\",service=\"web\",code_class=\"2xx\"} 1"]
    );
    assert_eq!(
        samples(&mut host, "starform_l7_unattributed_requests_total"),
        ["starform_l7_unattributed_requests_total{reason=\"no_route\"} 1"]
    );
}

#[test]
fn the_filter_does_not_alter_or_stop_traffic() {
    let mut host = filter("");
    let req = Request::to_route(route("acme", "prod", "web"))
        .header("x-a", "1")
        .request_body("b")
        .response_body("c");
    let outcome = host.request(&req).unwrap();
    assert!(
        outcome
            .actions
            .iter()
            .all(|(_, a)| *a == starform_wasm::proxy_wasm_host::Action::Continue),
        "{outcome:?}"
    );
    assert_eq!(outcome.request_headers.get(b"x-a"), Some(&b"1"[..]));
    // A local response, a closed stream or an edited header would each be
    // a call of a host function this host leaves unimplemented.
    assert!(host.unimplemented_calls().is_empty());
}

#[test]
fn vm_start_and_configuration_are_logged() {
    let host = filter(r#"{"preview_policy": "full", "max_label_sets": 7}"#);
    let info: Vec<&str> = host
        .logs()
        .iter()
        .filter(|l| l.level == LogLevel::Info)
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(info.len(), 2, "{info:?}");
    assert!(info[0].ends_with(": VM started"), "{info:?}");
    assert!(
        info[1].contains("configured: preview_policy=full, max_label_sets=7"),
        "{info:?}"
    );
    assert!(
        info[0].starts_with(starform_envoy_filter::VERSION_STAMP),
        "{info:?}"
    );
}

#[test]
fn worker_vms_sum_like_envoy_stats() {
    let r = route("acme", "prod", "web");
    let mut workers: Vec<FilterHost> = (0..3).map(|_| filter("")).collect();
    for (i, worker) in workers.iter_mut().enumerate() {
        for _ in 0..=i {
            worker
                .request(&Request::to_route(r.as_str()).duration_ms(20).bytes(10, 0))
                .unwrap();
        }
    }
    for worker in &mut workers {
        worker.tick().unwrap();
    }
    let text = prometheus::render(
        workers.iter().map(FilterHost::metrics),
        &RenderOptions::default(),
    );
    let l = r#"project="acme",environment="prod",service="web""#;
    for line in [
        format!("starform_http_requests_total{{{l},code_class=\"2xx\"}} 6"),
        format!("starform_http_request_bytes_total{{{l}}} 60"),
        format!("starform_http_request_duration_milliseconds_bucket{{{l},le=\"10\"}} 0"),
        format!("starform_http_request_duration_milliseconds_bucket{{{l},le=\"25\"}} 6"),
        format!("starform_http_request_duration_milliseconds_sum{{{l}}} 120"),
        format!("starform_http_request_duration_milliseconds_count{{{l}}} 6"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains("starform_http_response_bytes_total"),
        "zero bytes are never counted\n{text}"
    );
}
