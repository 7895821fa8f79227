//! The golden corpus (host-tests/golden/<case>/) through both engines: the
//! native pure core and the compiled module in wasmtime (per record and
//! batched). Each must reproduce expected.ndjson exactly.
//!
//! `STARFORM_BLESS=1` rewrites expected.ndjson from the native core (after
//! checking that the module agrees); review the diff before committing.

use std::collections::BTreeSet;
use std::sync::Once;

use crate::support::transform::{
    assert_same_records, cases, module_per_record, native, parse_lines,
};
use starform_vector_transform::Reason;
use starform_wasm::log_host::LogTransform;

fn bless() -> bool {
    std::env::var("STARFORM_BLESS").as_deref() == Ok("1")
}

fn expected(case: &crate::support::transform::Case) -> Vec<u8> {
    // Tests run in parallel: bless every case once, before any is read.
    static BLESSED: Once = Once::new();
    BLESSED.call_once(|| {
        if bless() {
            for case in cases() {
                std::fs::write(case.expected_path(), native(&case.config, &case.input)).unwrap();
            }
        }
    });
    let path = case.expected_path();
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with STARFORM_BLESS=1)", path.display()))
}

#[test]
fn native_core_reproduces_the_corpus() {
    for case in cases() {
        let out = native(&case.config, &case.input);
        assert_eq!(
            parse_lines(&out).len(),
            case.records(),
            "{}: one output per input record",
            case.name
        );
        assert_same_records(&case.name, "native", &out, &expected(&case));
    }
}

#[test]
fn module_reproduces_the_corpus_per_record() {
    for case in cases() {
        let mut host = LogTransform::with_config(&case.config).unwrap();
        let out = module_per_record(&mut host, &case.input);
        assert_same_records(
            &case.name,
            "module, starform_filter_log",
            &out,
            &expected(&case),
        );
    }
}

#[test]
fn module_reproduces_the_corpus_batched() {
    for case in cases() {
        let mut host = LogTransform::with_config(&case.config).unwrap();
        let out = host.transform_batch(&case.input).unwrap();
        assert_same_records(
            &case.name,
            "module, starform_transform_batch",
            &out,
            &expected(&case),
        );
        // Byte for byte, too: the module is the same code as the native core.
        assert_eq!(
            out,
            native(&case.config, &case.input),
            "{}: module bytes differ from native",
            case.name
        );
        let counts = host.counts().unwrap();
        let total = counts.accepted + counts.total_quarantined();
        assert_eq!(total, case.records() as u64, "{}: counters", case.name);
    }
}

#[test]
fn every_case_is_documented() {
    for case in cases() {
        let readme = std::fs::read_to_string(case.dir.join("README.md")).unwrap_or_default();
        assert!(
            readme.trim().len() > 40,
            "{}: README.md missing or empty",
            case.name
        );
    }
}

#[test]
fn corpus_covers_every_reason_and_both_outcomes() {
    let mut reasons = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for case in cases() {
        for record in parse_lines(&expected(&case)) {
            match record.get("starform_quarantine") {
                Some(q) => reasons.insert(q["reason"].as_str().unwrap().to_owned()),
                None => kinds.insert(record["log_kind"].as_str().unwrap().to_owned()),
            };
        }
    }
    for reason in Reason::ALL
        .into_iter()
        .filter(|r| *r != Reason::ConfigInvalid)
    {
        assert!(
            reasons.contains(reason.code()),
            "no golden record is quarantined {}",
            reason.code()
        );
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["build".to_owned(), "runtime".to_owned()])
    );
}
