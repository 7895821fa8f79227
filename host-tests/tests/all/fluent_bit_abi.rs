//! The module driven exactly as Fluent Bit 5.1's `filter_wasm` drives it
//! (`src/wasm/flb_wasm.c`, `plugins/filter_wasm/filter_wasm.c`):
//! instantiated once per filter as a WASI reactor (WAMR runs `_initialize`
//! at instantiation), the `Accessible_Paths` preopened in order, each under
//! its own path, never configured by the host; per record the tag and the
//! record copied NUL-terminated into memory from the module's `malloc`
//! (`wasm_runtime_module_dup_data`), the function called with (tag,
//! tag_len, sec, nsec, record, record_len), the returned C string copied
//! out, both copies freed. Fluent Bit drops a record whose result is null or
//! empty, so every result must be one JSON object.
//!
//! What wasmtime cannot reproduce is WAMR's interpreter stack
//! (`Wasm_Stack_Size`); deploy/fluent-bit/README.md says what the shipped
//! value covers.

use std::path::Path;

use serde_json::Value;
use starform_vector_transform::{ndjson, transform, CompiledConfig};
use starform_wasm::log_host::{LogHostError, LogModule, LogTransform, Metering, FUEL};

use crate::support::transform::cases;
use crate::support::TempDir;

/// A tag as Fluent Bit's tail input and `Kube_Tag_Prefix` make it.
const TAG: &[u8] = b"kube.var.log.containers.web-7d4b9c-x2x_acme-prod_app-0123456789abcdef.log";
/// A record's time, as `flb_time` hands it over (seconds, nanoseconds).
const TIME: (u32, u32) = (1_767_225_600, 123_456_789);

/// A WASI module with the transform's exports in which nothing but
/// `_initialize` changes state: `starform_filter_log` returns
/// `{"initialised":N}`, N being how many times `_initialize` ran. `extra`
/// adds exports (`_initialize`, `_start`).
fn stub_module(extra: &str) -> LogModule {
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $inits (mut i32) (i32.const 0))
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "{{\"initialised\":0}}\00")
  (func $init (global.set $inits (i32.add (global.get $inits) (i32.const 1))))
  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $ptr))
  (func (export "free") (param i32))
  (func (export "starform_configure") (param i32 i32) (result i32) (i32.const 0))
  (func (export "starform_filter_log") (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 31) (i32.add (i32.const 48) (global.get $inits)))
    (i32.const 16))
  (func (export "starform_transform_batch") (param i32 i32) (result i32) (i32.const 0))
  (func (export "starform_output_ptr") (result i32) (i32.const 16))
  (func (export "starform_output_len") (result i32) (i32.const 17))
  (func (export "starform_counts") (result i32) (i32.const 16))
  {extra}
)"#
    );
    LogModule::compile(wat.as_bytes()).unwrap()
}

#[test]
fn a_module_that_is_not_a_reactor_is_refused() {
    for (what, extra) in [
        ("neither a command nor a reactor", ""),
        ("a command", r#"(export "_start" (func $init))"#),
        (
            "both",
            r#"(export "_start" (func $init)) (export "_initialize" (func $init))"#,
        ),
    ] {
        let err = LogTransform::fluent_bit(&stub_module(extra), &[]).err();
        assert!(
            matches!(&err, Some(LogHostError::Abi(m)) if m.contains("reactor")),
            "{what}: {:?}",
            err.map(|e| e.to_string())
        );
    }
}

#[test]
fn a_reactor_is_initialised_once_before_the_first_call() {
    let module = stub_module(r#"(export "_initialize" (func $init))"#);
    let mut host = LogTransform::fluent_bit(&module, &[]).unwrap();
    for _ in 0..3 {
        let out = host.filter_log_as_fluent_bit(TAG, TIME, b"{}").unwrap();
        assert_eq!(String::from_utf8_lossy(&out), r#"{"initialised":1}"#);
    }
}

#[test]
fn the_shipped_module_is_a_reactor_with_fluent_bits_exports() {
    let module = wasmtime::Module::new(
        &wasmtime::Engine::default(),
        starform_wasm::modules::VECTOR_TRANSFORM,
    )
    .unwrap();
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    for name in [
        "_initialize",
        "malloc",
        "free",
        "memory",
        "starform_filter_log",
    ] {
        assert!(exports.contains(&name), "no {name}: {exports:?}");
    }
    assert!(!exports.contains(&"_start"), "a command, not a reactor");
}

/// The module's own `malloc` (WAMR copies every record and tag in through
/// it): blocks 16-byte aligned (C's promise) and holding what is written,
/// blocks freed by the host reused for its next copies (the record's
/// copies never reach the general allocator in steady state), large blocks
/// given back, and the host's copies of a run of records staying within
/// the same few blocks.
#[test]
fn the_modules_malloc_aligns_keeps_and_reuses_the_hosts_copies() {
    let module = LogModule::vector_transform().unwrap();
    let mut host = LogTransform::fluent_bit(module, &[]).unwrap();
    let sizes = [
        0,
        1,
        7,
        15,
        16,
        17,
        75,
        100,
        1_000,
        1_175,
        4_096,
        65_536,
        65_537,
        1 << 20,
    ];
    let mut live = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let ptr = host.module_malloc(*size).unwrap();
        assert_ne!(ptr, 0, "malloc({size})");
        assert_eq!(ptr % 16, 0, "malloc({size}) = {ptr}");
        let fill = vec![i as u8 + 1; *size as usize];
        host.write_memory(ptr, &fill).unwrap();
        live.push((ptr, fill));
    }
    // No block overlaps another: each still holds what was written.
    for (ptr, fill) in &live {
        assert_eq!(&host.read_memory(*ptr, fill.len()).unwrap(), fill);
    }
    for (ptr, _) in live {
        host.module_free(ptr).unwrap();
    }
    // A tag and a record copied, freed tag first (Fluent Bit's order), then
    // the next record's copies, a few bytes longer or shorter: the same two
    // blocks.
    let copies = |host: &mut LogTransform, tag: u32, record: u32| {
        let pair = (
            host.module_malloc(tag).unwrap(),
            host.module_malloc(record).unwrap(),
        );
        host.module_free(pair.0).unwrap();
        host.module_free(pair.1).unwrap();
        pair
    };
    let first = copies(&mut host, 75, 1_175);
    for (tag, record) in [(76, 1_100), (74, 1_200), (75, 1_175), (80, 600)] {
        assert_eq!(copies(&mut host, tag, record), first, "({tag}, {record})");
    }
    // A record larger than any before gets a larger block, which the next
    // records then reuse.
    let larger = copies(&mut host, 75, 3_000);
    assert_eq!(larger.0, first.0);
    assert_eq!(copies(&mut host, 75, 2_900), larger);
    assert_eq!(copies(&mut host, 75, 1_175), larger);
    // Records of every size the corpus has, through the real call
    // sequence: memory stays where the first thousand left it.
    let sizes = (0..3_000).map(|i| 400 + (i * 7_919) % 3_500);
    let record = |size: usize| format!(r#"{{"log":"{}"}}"#, "a".repeat(size));
    for size in sizes.clone().take(1_000) {
        host.filter_log_as_fluent_bit(TAG, TIME, record(size).as_bytes())
            .unwrap();
    }
    let settled = host.memory_bytes();
    for size in sizes.skip(1_000) {
        host.filter_log_as_fluent_bit(TAG, TIME, record(size).as_bytes())
            .unwrap();
    }
    assert_eq!(host.memory_bytes(), settled);
}

/// A host may stop the module mid-call (WAMR: `wasm operand stack
/// overflow` when `Wasm_Stack_Size` is smaller than a record needs; Fluent
/// Bit drops that record, logs the exception and goes on calling). Nothing
/// in the module unwinds then, and the next call must still transform its
/// record: not refuse it, not quarantine it, and not have lost the
/// configuration. Interrupted here by running out of instructions, at
/// several points of one call (in the host's copies, in the scan, in the
/// general path's parser).
#[test]
fn a_call_the_host_interrupted_does_not_break_the_next() {
    let dir = TempDir::new("fb-abi-trap").unwrap();
    std::fs::write(
        dir.path().join("log-transform.json"),
        br#"{"key_aliases":{"team":"starform.io/project"}}"#,
    )
    .unwrap();
    let module = LogModule::compile_with(
        starform_wasm::modules::VECTOR_TRANSFORM,
        Metering::Instructions,
    )
    .unwrap();
    let mut host = LogTransform::fluent_bit(&module, &[dir.path()]).unwrap();
    let labelled = |extra: &str| {
        format!(
            r#"{{"log":"x{extra}","kubernetes":{{"namespace_name":"acme-prod","labels":{{"team":"acme","starform.io/environment":"prod","starform.io/service":"web"}}}}}}"#
        )
    };
    let project = |out: &[u8]| {
        let value: Value = serde_json::from_slice(out).unwrap();
        value
            .get("project")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let first = host
        .filter_log_as_fluent_bit(TAG, TIME, labelled("").as_bytes())
        .unwrap();
    assert_eq!(project(&first).as_deref(), Some("acme"));
    // Deep and escaped (`\u00e9` takes the general path): many calls deep.
    let deep = format!(
        r#"{{"log":"caf\u00e9","deep":{}1{},"kubernetes":{{"labels":{{"team":"acme"}}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    for budget in [50, 500, 2_000, 5_000, 20_000, 60_000] {
        host.set_instruction_budget(budget).unwrap();
        let interrupted = host.filter_log_as_fluent_bit(TAG, TIME, deep.as_bytes());
        assert!(interrupted.is_err(), "budget {budget}: not interrupted");
        host.set_instruction_budget(FUEL).unwrap();
        for extra in ["", " and more"] {
            let out = host
                .filter_log_as_fluent_bit(TAG, TIME, labelled(extra).as_bytes())
                .unwrap();
            assert_eq!(
                project(&out).as_deref(),
                Some("acme"),
                "after an interruption at {budget}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
    assert!(
        host.stderr()
            .unwrap()
            .contains("the previous call did not return"),
        "{}",
        host.stderr().unwrap()
    );
}

/// Every record of every golden case through Fluent Bit's call sequence:
/// the configuration file in the second of two accessible paths (the first
/// has none), the result a non-empty C string that is byte for byte the
/// pure core's output.
#[test]
fn the_golden_corpus_through_fluent_bits_call_sequence() {
    let module = LogModule::vector_transform().unwrap();
    let mut records_seen = 0;
    for case in cases() {
        let first = TempDir::new("fb-abi-first").unwrap();
        let second = TempDir::new("fb-abi-second").unwrap();
        let file = second.path().join("log-transform.json");
        std::fs::write(&file, &case.config).unwrap();
        let config = CompiledConfig::from_json(&case.config).unwrap();
        let dirs: [&Path; 2] = [first.path(), second.path()];
        let mut host = LogTransform::fluent_bit(module, &dirs).unwrap();

        let mut memory = Vec::new();
        for round in 0..2 {
            for (n, record) in ndjson::records(&case.input).enumerate() {
                let out = host.filter_log_as_fluent_bit(TAG, TIME, record).unwrap();
                let context = format!("{} record {}", case.name, n + 1);
                assert!(
                    !out.is_empty(),
                    "{context}: empty result (Fluent Bit drops it)"
                );
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&transform(&config, record)),
                    "{context}"
                );
                let value: Value = serde_json::from_slice(&out).unwrap();
                assert!(value.is_object(), "{context}");
                records_seen += usize::from(round == 0);
            }
            memory.push(host.memory_bytes());
        }
        // Every input copy was freed: the same records again take no more.
        assert_eq!(memory[0], memory[1], "{}: memory grew", case.name);

        let counts = host.counts().unwrap();
        assert_eq!(
            counts.accepted + counts.total_quarantined(),
            2 * case.records() as u64,
            "{}: counters",
            case.name
        );
        assert_eq!(
            counts.quarantined(starform_vector_transform::Reason::ConfigInvalid),
            0,
            "{}: the file was found",
            case.name
        );
        let stderr = host.stderr().unwrap();
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [format!(
                "starform-vector-transform {}: configuration: {}",
                env!("CARGO_PKG_VERSION"),
                file.display()
            )],
            "{}",
            case.name
        );
    }
    assert!(records_seen > 100, "{records_seen}");
}
