//! The log transform's rules (the pure core, `transform`) on arbitrary
//! bytes under the default configuration and a configuration using every
//! field: the output is exactly the object the rulebook gives
//! (`starform_fuzz::records`), so exactly one JSON object whose identity is
//! the record's normalised labels or a quarantine; the fast path for records
//! already in output form (`transform_with_scratch`, one scratch for the
//! whole input, so later records meet keys its memo learnt from earlier
//! ones) writes exactly what the general path (`transform_general_into`)
//! writes, with the same outcome; and a second pass over an output changes
//! nothing.
//!
//! Input: one record (the whole input), then each `\n`-separated line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use starform_fuzz::records::check;
use starform_vector_transform::{
    ndjson, transform, transform_general_into, transform_with_scratch, CompiledConfig, Scratch,
    TransformConfig,
};

/// Aliases for every canonical key, an environment alias, a namespace
/// template and a small size limit.
const FULL: &[u8] = br#"{"key_aliases":{"team":"starform.io/project","app":"starform.io/service","env":"starform.io/environment","build":"starform.io/build-id"},"environment_aliases":{"prod":"production"},"namespace_template":"{project}-{environment}","max_record_bytes":300}"#;

fn configs() -> &'static [(TransformConfig, CompiledConfig); 2] {
    static CONFIGS: OnceLock<[(TransformConfig, CompiledConfig); 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        [b"{}" as &[u8], FULL].map(|json| {
            (
                TransformConfig::from_json(json).expect("valid"),
                CompiledConfig::from_json(json).expect("valid"),
            )
        })
    })
}

/// `transform_with_scratch` (the fast path where it applies) against the
/// general path alone: same bytes, same outcome.
fn same_as_general(compiled: &CompiledConfig, record: &[u8], scratch: &mut Scratch) {
    let (mut fast, mut general) = (Vec::new(), Vec::new());
    let fast_outcome = transform_with_scratch(compiled, record, &mut fast, scratch);
    let general_outcome = transform_general_into(compiled, record, &mut general);
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&general),
        "the fast path wrote something else"
    );
    assert_eq!(fast, general, "the fast path wrote other bytes");
    assert_eq!(
        fast_outcome, general_outcome,
        "the fast path decided otherwise"
    );
}

fn one(raw: &TransformConfig, compiled: &CompiledConfig, record: &[u8], scratch: &mut Scratch) {
    same_as_general(compiled, record, scratch);
    let out = transform(compiled, record);
    check(raw, record, &out, "first pass");
    // An output is in output form: this is where the fast path applies.
    same_as_general(compiled, &out, scratch);
    let again = transform(compiled, &out);
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&out),
        "a second pass changed the record"
    );
}

fuzz_target!(|data: &[u8]| {
    for (raw, compiled) in configs() {
        let mut scratch = Scratch::default();
        one(raw, compiled, data, &mut scratch);
        for record in ndjson::records(data).take(64) {
            one(raw, compiled, record, &mut scratch);
        }
    }
});
