//! The host against small WAT modules: lifecycle, host functions, errors.

use std::time::Duration;

use super::*;

/// A minimal filter written against the raw ABI. It counts each request
/// under a counter named after its route (or `no_route`), records the
/// duration in ms, logs the `:status` response header, rejects a plugin
/// configuration starting with `n`, writes to stdout at VM start, asks for
/// a 5 s tick, and on each tick logs the statuses of two bad metric calls
/// and stores the clock in a gauge.
const PROBE: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 100) "xds\00route_name")
  (data (i32.const 120) "request\00duration")
  (data (i32.const 140) ":status")
  (data (i32.const 150) "no_route")
  (data (i32.const 160) "duration_ms")
  (data (i32.const 180) "field `mode`: must be on")
  (data (i32.const 220) "ticked")
  (data (i32.const 230) "hello stdout\n")
  (data (i32.const 250) "now")
  (data (i32.const 260) "x-seen")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "_initialize"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (i32.store (i32.const 32) (i32.const 230))
    (i32.store (i32.const 36) (i32.const 13))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))
    (drop (call $set_tick (i32.const 5000)))
    (i32.const 1))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (i32.eqz (local.get $size)) (then (return (i32.const 1))))
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (if (i32.eq (i32.load8_u (i32.load (i32.const 0))) (i32.const 110))
      (then
        (drop (call $log (i32.const 4) (i32.const 180) (i32.const 24)))
        (return (i32.const 0))))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $replace_header (i32.const 0) (i32.const 260) (i32.const 6) (i32.const 220) (i32.const 6)))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $get_header (i32.const 2) (i32.const 140) (i32.const 7) (i32.const 0) (i32.const 4)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 0)) (i32.load (i32.const 4))))
    (i32.const 0))
  (func (export "proxy_on_log") (param $ctx i32)
    (if (i32.eqz (call $get_property (i32.const 100) (i32.const 14) (i32.const 0) (i32.const 4)))
      (then (drop (call $define (i32.const 0) (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 8))))
      (else (drop (call $define (i32.const 0) (i32.const 150) (i32.const 8) (i32.const 8)))))
    (drop (call $inc (i32.load (i32.const 8)) (i64.const 1)))
    (drop (call $get_property (i32.const 120) (i32.const 16) (i32.const 0) (i32.const 4)))
    (drop (call $define (i32.const 2) (i32.const 160) (i32.const 11) (i32.const 12)))
    (drop (call $record (i32.load (i32.const 12))
      (i64.div_u (i64.load (i32.load (i32.const 0))) (i64.const 1000000)))))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $log (i32.const 2) (i32.const 220) (i32.const 6)))
    (drop (call $define (i32.const 0) (i32.const 220) (i32.const 6) (i32.const 16)))
    (i32.store8 (i32.const 24) (i32.add (i32.const 48) (call $inc (i32.load (i32.const 16)) (i64.const 0))))
    (i32.store8 (i32.const 25) (i32.add (i32.const 48) (call $inc (i32.const 999) (i64.const 1))))
    (i32.store8 (i32.const 26) (i32.add (i32.const 48)
      (call $http_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                       (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
    (drop (call $log (i32.const 3) (i32.const 24) (i32.const 3)))
    (drop (call $now (i32.const 40)))
    (drop (call $define (i32.const 1) (i32.const 250) (i32.const 3) (i32.const 20)))
    (drop (call $record (i32.load (i32.const 20)) (i64.load (i32.const 40)))))
)
"#;

fn probe() -> FilterModule {
    FilterModule::compile(PROBE.as_bytes()).unwrap()
}

fn messages(host: &FilterHost) -> Vec<String> {
    host.logs().iter().map(|l| l.to_string()).collect()
}

/// A VM of the module `wat`, with an empty plugin configuration.
fn vm(wat: &str) -> FilterHost {
    FilterHost::new(&FilterModule::compile(wat.as_bytes()).unwrap(), b"").unwrap()
}

/// A VM of a module with memory, the ABI marker and `callbacks`, which trap
/// in the first request: the VM, and the callback and detail of the trap.
fn trapped(callbacks: &str) -> (FilterHost, String, String) {
    let mut host = vm(&format!(
        r#"(module
          (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_2_1"))
          {callbacks})"#
    ));
    let err = host.request(&Request::to_route("r")).unwrap_err();
    let HostError::Trap { function, detail } = err else {
        panic!("{err}")
    };
    (host, function, detail)
}

/// What compiling a module with the ABI marker and `import` fails with.
fn import_error(import: &str) -> HostError {
    let wat = format!(r#"(module {import} (func (export "proxy_abi_version_0_2_1")))"#);
    FilterModule::compile(wat.as_bytes()).err().unwrap()
}

#[test]
fn runs_the_lifecycle_and_records_metrics() {
    let mut host = FilterHost::new(&probe(), b"{}").unwrap();
    assert_eq!(host.stdout(), b"hello stdout\n");
    assert_eq!(host.tick_period(), Some(Duration::from_secs(5)));

    let outcome = host
        .request(&Request::to_route("r1").status(503).duration_ms(42))
        .unwrap();
    host.request(&Request::to_route("r1").duration_ms(7))
        .unwrap();
    host.request(&Request::unrouted(404)).unwrap();

    assert_eq!(host.metrics().counter("r1"), Some(2));
    assert_eq!(host.metrics().counter("no_route"), Some(1));
    assert_eq!(
        host.metrics().histogram("duration_ms"),
        Some(&[42, 7, 0][..])
    );
    assert_eq!(messages(&host), ["[info] 503", "[info] 200", "[info] 404"]);
    assert_eq!(
        outcome.actions,
        [
            ("proxy_on_request_headers", Action::Continue),
            ("proxy_on_response_headers", Action::Continue)
        ]
    );
    assert_eq!(outcome.done, Some(true));
    assert_eq!(outcome.request_headers.get(b"X-Seen"), Some(&b"ticked"[..]));
    assert!(host.unimplemented_calls().is_empty());
}

#[test]
fn stored_names_carry_the_envoy_namespace() {
    let mut host = FilterHost::new(&probe(), b"").unwrap();
    host.request(&Request::to_route("a.b")).unwrap();
    let names: Vec<String> = host.metrics().iter().map(|(k, _)| k.name.clone()).collect();
    assert_eq!(names, ["wasmcustom.a.b", "wasmcustom.duration_ms"]);
    assert!(
        host.prometheus_text().contains("\na_b{} 1\n"),
        "{}",
        host.prometheus_text()
    );
}

#[test]
fn rejected_configuration_carries_the_log_line() {
    let err = FilterHost::new(&probe(), b"nope").err().unwrap();
    assert!(
        matches!(err, HostError::ConfigurationRejected { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "proxy_on_configure returned false (configuration rejected): field `mode`: must be on"
    );
    assert_eq!(err.rejection_logs().unwrap().len(), 1);
}

#[test]
fn ticks_see_the_controlled_clock_and_envoy_statuses() {
    let mut host = FilterHost::new(&probe(), b"").unwrap();
    host.clock().advance(Duration::from_secs(5));
    host.tick().unwrap();
    // increment by 0 → BadArgument (2), unknown id → NotFound (1),
    // unimplemented call → 12 (printed as '<').
    assert_eq!(messages(&host), ["[info] ticked", "[warn] 21<"]);
    assert_eq!(host.unimplemented_calls(), ["proxy_http_call"]);
    let start = u64::try_from(HostOptions::default().start_time.as_nanos()).unwrap();
    assert_eq!(host.metrics().gauge("now"), Some(start + 5_000_000_000));
}

#[test]
fn a_trap_names_the_callback_and_fails_the_vm() {
    let (mut host, function, detail) = trapped(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)"#,
    );
    assert_eq!(function, "proxy_on_request_headers");
    assert!(detail.contains("unreachable"), "{detail}");
    let again = host.request(&Request::to_route("x")).unwrap_err();
    assert_eq!(
        again.to_string(),
        "the VM failed earlier (in `proxy_on_request_headers`) and takes no more calls"
    );
}

#[test]
fn a_trap_in_a_module_is_an_error_naming_the_callback() {
    let (mut host, function, detail) = trapped(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
          (func (export "proxy_on_log") (param i32) (drop (i32.div_u (i32.const 1) (i32.const 0))))"#,
    );
    assert_eq!(function, "proxy_on_log");
    assert!(detail.contains("divide by zero"), "{detail}");
    assert!(matches!(
        host.request(&Request::to_route("r")),
        Err(HostError::VmFailed { .. })
    ));
}

#[test]
fn an_unknown_import_is_named() {
    let err = import_error(r#"(import "env" "proxy_frobnicate" (func (param i32) (result i32)))"#);
    assert_eq!(
        err.to_string(),
        "the module imports `env::proxy_frobnicate`, which this host does not provide"
    );
}

#[test]
fn an_unknown_import_is_an_error_naming_it() {
    let err = import_error(
        r#"(import "env" "proxy_get_header_map_size" (func (param i32 i32) (result i32)))"#,
    );
    let HostError::UnknownImport { module, name } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (module.as_str(), name.as_str()),
        ("env", "proxy_get_header_map_size")
    );
}

/// Every host function left unimplemented still links: a module importing
/// them all starts, each call answers `Unimplemented` (12) on the data path
/// without a trap, and the host records the calls in order.
#[test]
fn unimplemented_imports_link_and_answer_unimplemented() {
    let mut imports = String::new();
    let mut calls = String::new();
    for (name, arity) in super::imports::UNIMPLEMENTED {
        let params = " i32".repeat(arity);
        imports.push_str(&format!(
            "(import \"env\" \"{name}\" (func ${name} (param{params}) (result i32)))\n"
        ));
        let args = " (i32.const 0)".repeat(arity);
        calls.push_str(&format!(
            "(if (i32.ne (call ${name}{args}) (i32.const 12)) (then unreachable))\n"
        ));
    }
    let wat = format!(
        r#"(module
          {imports}
          (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
            {calls}
            (i32.const 0)))"#
    );
    let mut host = vm(&wat);
    let outcome = host.request(&Request::to_route("r")).unwrap();
    assert_eq!(
        outcome.actions,
        [("proxy_on_request_headers", Action::Continue)]
    );
    let names: Vec<&str> = super::imports::UNIMPLEMENTED
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(host.unimplemented_calls(), names);
}

#[test]
fn a_wrong_import_signature_is_a_link_error_naming_it() {
    let err = import_error(r#"(import "env" "proxy_log" (func (param i32) (result i32)))"#);
    assert!(matches!(err, HostError::Link(_)), "{err}");
    assert!(err.to_string().contains("proxy_log"), "{err}");
}

#[test]
fn abi_marker_and_export_signatures_are_checked() {
    let err = FilterModule::compile(b"(module)").err().unwrap();
    assert!(matches!(err, HostError::UnsupportedAbi), "{err}");
    let module = FilterModule::compile(
        br#"(module
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_configure") (param i32) (result i32) (i32.const 1)))"#,
    )
    .unwrap();
    let err = FilterHost::new(&module, b"").err().unwrap();
    assert!(
        matches!(&err, HostError::BadExport { function, .. } if function == "proxy_on_configure"),
        "{err}"
    );
}

#[test]
fn a_failing_allocator_is_a_trap_in_the_calling_callback() {
    let mut host = vm(r#"(module
          (import "env" "proxy_get_property" (func $get (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 100) "xds\00route_name")
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_log") (param i32)
            (drop (call $get (i32.const 100) (i32.const 14) (i32.const 0) (i32.const 4)))))"#);
    let err = host.request(&Request::to_route("r")).unwrap_err();
    assert!(
        matches!(&err, HostError::Trap { function, .. } if function == "proxy_on_log"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("neither `proxy_on_memory_allocate` nor `malloc`"),
        "{err}"
    );
}

#[test]
fn out_of_bounds_pointers_are_reported_not_fatal() {
    let mut host = vm(r#"(module
          (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
          (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
          (import "env" "proxy_increment_metric" (func $inc (param i32 i64) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "s")
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_log") (param i32)
            (drop (call $define (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            ;; count the status of a log call reading past the end of memory
            (drop (call $inc (i32.load (i32.const 8))
              (i64.extend_i32_u (call $log (i32.const 2) (i32.const 65530) (i32.const 100)))))))"#);
    host.request(&Request::to_route("r")).unwrap();
    assert_eq!(
        host.metrics().counter("s"),
        Some(6),
        "InvalidMemoryAccess is status 6"
    );
}

#[test]
fn several_vms_sum_in_one_rendering() {
    let module = probe();
    let mut a = FilterHost::new(&module, b"").unwrap();
    let mut b = FilterHost::new(&module, b"").unwrap();
    a.request(&Request::to_route("hits")).unwrap();
    b.request(&Request::to_route("hits")).unwrap();
    b.request(&Request::to_route("hits")).unwrap();
    let text = crate::prometheus::render(
        [a.metrics(), b.metrics()],
        &crate::prometheus::RenderOptions::default(),
    );
    assert!(
        text.starts_with("# TYPE hits counter\nhits{} 3\n"),
        "{text}"
    );
    assert!(text.contains("duration_ms_count{} 3\n"), "{text}");
}
