//! Property tests: the compiled module against the native core on arbitrary
//! JSON, arbitrary label maps, arbitrary configurations and arbitrary bytes.

use std::cell::RefCell;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use starform_labels::is_dns_label;
use starform_vector_transform::{ndjson, transform, CompiledConfig, Reason, RESERVED_FIELDS};
use starform_wasm::log_host::LogTransform;

thread_local! {
    static DEFAULT_HOST: RefCell<LogTransform> = RefCell::new(LogTransform::new().unwrap());
}

/// The module's output for one record (default configuration), checked to
/// be exactly one JSON object and byte-identical to the native core's.
fn run_default(input: &[u8]) -> Map<String, Value> {
    let module = DEFAULT_HOST
        .with(|h| h.borrow_mut().transform(input))
        .expect("the module must not trap");
    let native = transform(&CompiledConfig::default(), input);
    assert_eq!(
        String::from_utf8_lossy(&module),
        String::from_utf8_lossy(&native),
        "module and native disagree"
    );
    one_object(&module)
}

fn one_object(output: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice::<Value>(output) {
        Ok(Value::Object(map)) => map,
        other => panic!(
            "not one JSON object: {other:?}: {}",
            String::from_utf8_lossy(output)
        ),
    }
}

/// The contract's invariants for any output object.
fn check_output(out: &Map<String, Value>) {
    match out.get("starform_quarantine") {
        Some(q) => {
            let reason = q["reason"].as_str().unwrap();
            assert!(
                Reason::from_code(reason).is_some_and(|r| r != Reason::ConfigInvalid),
                "{reason}"
            );
            assert!(q["key"].is_string() || q["key"].is_null());
            assert_eq!(q.as_object().unwrap().len(), 2);
            for field in ["project", "environment", "service", "log_kind"] {
                assert!(
                    !out.contains_key(field),
                    "quarantined record carries {field}"
                );
            }
        }
        None => {
            for field in ["project", "environment", "service"] {
                let value = out[field].as_str().unwrap();
                assert!(
                    is_dns_label(value),
                    "accepted {field} {value:?} is not a DNS-1123 label"
                );
            }
            assert!(matches!(
                out["log_kind"].as_str(),
                Some("build" | "runtime")
            ));
        }
    }
    // `starform_shadowed` may be anything: a record's own one stays as it is
    // when the pass has nothing to move (record_content_never_changes_identity
    // checks its content against the input).
}

fn identity(out: &Map<String, Value>) -> Vec<Option<&Value>> {
    [
        "project",
        "environment",
        "service",
        "log_kind",
        "starform_quarantine",
    ]
    .map(|f| out.get(f))
    .to_vec()
}

/// The reserved fields the pass wrote to `out`, as (name, value).
fn identity_fields(out: &Map<String, Value>) -> Vec<(String, Value)> {
    [
        "project",
        "environment",
        "service",
        "log_kind",
        "starform_quarantine",
    ]
    .iter()
    .filter_map(|f| out.get(*f).map(|v| ((*f).to_owned(), v.clone())))
    .collect()
}

// ---- strategies ----------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
        Just("\u{3000}Acme\t".to_owned()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_]{1,8}",
        1 => proptest::sample::select(RESERVED_FIELDS.to_vec()).prop_map(str::to_owned),
        1 => Just("kubernetes".to_owned()),
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300f64).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const LABEL_KEYS: [&str; 7] = [
    "starform.io/project",
    "starform.io/environment",
    "starform.io/service",
    "starform.io/build-id",
    "team",
    "app",
    "env",
];

fn label_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => proptest::sample::select(vec!["acme", "prod", "web", " Acme ", "PROD", "production", "my_svc", "", "-x", "b-1"])
            .prop_map(Value::from),
        2 => "[ a-zA-Z0-9_.-]{0,66}".prop_map(Value::String),
        1 => any::<String>().prop_map(Value::String),
        1 => json_value(),
    ]
}

fn label_map() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(
        prop_oneof![4 => proptest::sample::select(LABEL_KEYS.to_vec()).prop_map(str::to_owned), 1 => "[a-z./]{1,12}"],
        label_value(),
        0..7,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// A record whose `kubernetes` object has labels in one of the two shapes.
fn labelled_record() -> impl Strategy<Value = Vec<(String, Value)>> {
    let kubernetes = (
        any::<bool>(),
        label_map(),
        prop_oneof![Just("acme-prod".to_owned()), "[a-z-]{0,12}"],
    )
        .prop_map(|(fluent_bit, labels, namespace)| {
            if fluent_bit {
                json!({"namespace_name": namespace, "labels": labels})
            } else {
                json!({"pod_namespace": namespace, "pod_labels": labels})
            }
        });
    let other = btree_map("[a-z_]{1,8}", json_value(), 0..5).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| k != "kubernetes" && !RESERVED_FIELDS.contains(&k.as_str()))
            .collect::<Vec<_>>()
    });
    (kubernetes, other).prop_map(|(k, mut other)| {
        other.push(("kubernetes".to_owned(), k));
        other
    })
}

fn reserved_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    btree_map(
        proptest::sample::select(RESERVED_FIELDS.to_vec()).prop_map(str::to_owned),
        json_value(),
        1..6,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn config() -> impl Strategy<Value = String> {
    let aliases = btree_map(
        proptest::sample::select(vec!["team", "app", "env", "tenant", "build"]),
        proptest::sample::select(LABEL_KEYS[..4].to_vec()),
        0..4,
    );
    let env_aliases = btree_map(
        proptest::sample::select(vec!["prod", "production", "stg", "dev"]),
        proptest::sample::select(vec!["production", "prod", "staging"]),
        0..3,
    );
    let template = proptest::option::of(proptest::sample::select(vec![
        "{project}-{environment}",
        "{project}",
        "tenant-{service}-{environment}",
    ]));
    let max = prop_oneof![Just(1_048_576u64), 1u64..400];
    (aliases, env_aliases, template, max).prop_map(|(a, e, t, m)| {
        json!({"key_aliases": a, "environment_aliases": e, "namespace_template": t, "max_record_bytes": m}).to_string()
    })
}

fn to_bytes(fields: &[(String, Value)]) -> Vec<u8> {
    serde_json::to_vec(&fields.iter().cloned().collect::<Map<String, Value>>()).unwrap()
}

// ---- properties ----------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_gives_one_valid_object(value in json_value()) {
        let out = run_default(&serde_json::to_vec(&value).unwrap());
        check_output(&out);
        if !value.is_object() {
            prop_assert_eq!(out["starform_quarantine"]["reason"].as_str(), Some("malformed"));
        }
    }

    #[test]
    fn arbitrary_labels_give_one_valid_object(record in labelled_record()) {
        check_output(&run_default(&to_bytes(&record)));
    }

    #[test]
    fn arbitrary_bytes_give_one_valid_object(bytes in vec(any::<u8>(), 0..300)) {
        check_output(&run_default(&bytes));
    }

    #[test]
    fn damaged_records_give_one_valid_object(record in labelled_record(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = to_bytes(&record);
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        check_output(&run_default(&bytes));
    }

    #[test]
    fn record_content_never_changes_identity(
        record in labelled_record(),
        spoof in reserved_fields(),
        positions in vec(any::<prop::sample::Index>(), 6),
    ) {
        let clean = run_default(&to_bytes(&record));
        let mut spoofed = record.clone();
        for ((name, value), at) in spoof.iter().zip(&positions) {
            spoofed.insert(at.index(spoofed.len() + 1), (name.clone(), value.clone()));
        }
        let out = run_default(&to_bytes(&spoofed));
        check_output(&out);
        prop_assert_eq!(identity(&out), identity(&clean));
        prop_assert!(!clean.contains_key("starform_shadowed"));
        // Every spoofed field is kept, unchanged, in starform_shadowed, except
        // one equal to the value the pass writes to it (it is that value).
        let moved: Vec<&(String, Value)> = spoof
            .iter()
            .filter(|(name, value)| name != "starform_shadowed" && clean.get(name) != Some(value))
            .collect();
        let lone = spoof.iter().find(|(name, _)| name == "starform_shadowed");
        match (moved.is_empty(), lone) {
            (true, Some((_, value))) => prop_assert_eq!(&out["starform_shadowed"], value),
            (true, None) => prop_assert!(!out.contains_key("starform_shadowed")),
            (false, _) => {
                let shadowed = out["starform_shadowed"].as_object().unwrap();
                prop_assert_eq!(shadowed.len(), moved.len() + usize::from(lone.is_some()));
                for (name, value) in moved.into_iter().chain(lone) {
                    prop_assert_eq!(&shadowed[name], value);
                }
            }
        }
    }

    /// The node and the aggregator both apply the rules: the second pass
    /// must give back the first pass's output byte for byte.
    #[test]
    fn second_pass_is_a_no_op(
        config in config(),
        input in prop_oneof![
            3 => (labelled_record(), reserved_fields(), vec(any::<prop::sample::Index>(), 6), any::<bool>())
                .prop_map(|(mut record, spoof, positions, with_spoof)| {
                    if with_spoof {
                        for ((name, value), at) in spoof.into_iter().zip(&positions) {
                            record.insert(at.index(record.len() + 1), (name, value));
                        }
                    }
                    to_bytes(&record)
                }),
            1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            1 => vec(any::<u8>(), 0..60),
        ],
    ) {
        let compiled = CompiledConfig::from_json(config.as_bytes()).unwrap();
        let mut host = LogTransform::with_config(config.as_bytes()).unwrap();
        let first = host.transform(&input).unwrap();
        prop_assert_eq!(&first, &transform(&compiled, &input));
        let second = host.transform(&first).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&second), String::from_utf8_lossy(&first));
        prop_assert_eq!(&transform(&compiled, &first), &first);
    }

    /// Pass 1's output with identity fields equal to the verdict spliced in
    /// anywhere: still one canonical output, and a further pass keeps it.
    #[test]
    fn equal_reserved_fields_are_rewritten_in_place_of_shadowing(
        record in labelled_record(),
        positions in vec(any::<prop::sample::Index>(), 5),
    ) {
        let first = run_default(&to_bytes(&record));
        let mut respoofed = record.clone();
        for ((name, value), at) in identity_fields(&first).into_iter().zip(&positions) {
            respoofed.insert(at.index(respoofed.len() + 1), (name, value));
        }
        let out = run_default(&to_bytes(&respoofed));
        prop_assert_eq!(&out, &first);
        prop_assert_eq!(
            out.keys().collect::<Vec<_>>(),
            first.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn module_and_native_agree_under_any_config(config in config(), records in vec(labelled_record(), 1..8)) {
        let compiled = CompiledConfig::from_json(config.as_bytes()).unwrap();
        let mut host = LogTransform::with_config(config.as_bytes()).unwrap();
        let mut ndjson_input = Vec::new();
        let mut per_record = Vec::new();
        for record in &records {
            let bytes = to_bytes(record);
            let module = host.transform(&bytes).unwrap();
            prop_assert_eq!(&module, &transform(&compiled, &bytes));
            check_output(&one_object(&module));
            per_record.extend(module);
            per_record.push(b'\n');
            ndjson_input.extend(bytes);
            ndjson_input.push(b'\n');
        }
        prop_assert_eq!(host.transform_batch(&ndjson_input).unwrap(), per_record);
    }

    #[test]
    fn batch_equals_per_record_on_arbitrary_lines(lines in vec(prop_oneof![
        labelled_record().prop_map(|r| to_bytes(&r)),
        vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40),
    ], 0..10), trailing_newline in any::<bool>()) {
        let mut input = lines.join(&b'\n');
        if trailing_newline {
            input.push(b'\n');
        }
        let mut host = LogTransform::new().unwrap();
        let batch = host.transform_batch(&input).unwrap();
        let per_record = crate::support::transform::module_per_record(&mut host, &input);
        prop_assert_eq!(&batch, &per_record);
        let mut native = Vec::new();
        ndjson::transform_batch(&CompiledConfig::default(), &input, &mut native, &mut Default::default());
        prop_assert_eq!(&batch, &native);
        let records = ndjson::records(&input).count();
        prop_assert_eq!(batch.iter().filter(|b| **b == b'\n').count(), records);
    }
}
