//! The log transform's configuration (`CompiledConfig::from_json`) on
//! arbitrary bytes: never panics; it accepts and rejects by the rules both
//! plugins share (`config_rules`: the field at fault named, on one line); an
//! accepted configuration holds what was written (each field's value or its
//! default), round-trips through its serde form, and the rules under it
//! follow the rulebook.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use starform_fuzz::config_rules::{check_accepted, check_rejected};
use starform_fuzz::records::check;
use starform_vector_transform::{transform, CompiledConfig, TransformConfig};

const FIELDS: [&str; 4] = [
    "key_aliases",
    "environment_aliases",
    "namespace_template",
    "max_record_bytes",
];

/// Records using the canonical keys, the usual legacy keys, both
/// collectors' shapes and namespaces.
const RECORDS: [&[u8]; 6] = [
    br#"{"log":"a","kubernetes":{"namespace_name":"acme-prod","labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"}}}"#,
    br#"{"log":"b","kubernetes":{"namespace_name":"acme-production","labels":{"team":"Acme","env":"prod","app":"web","build":" 42 "}}}"#,
    br#"{"log":"c","kubernetes":{"pod_namespace":"globex-stg","pod_labels":{"app.kubernetes.io/part-of":"globex","app.kubernetes.io/instance":"stg","app.kubernetes.io/name":"api","starform.io/environment":"staging"}}}"#,
    br#"{"project":"evil","kubernetes":{"labels":{"starform.io/project":"acme","tenant":"globex","starform.io/environment":"prod","starform.io/service":"web"}}}"#,
    br#"{"log":"no labels"}"#,
    b"not json",
];

fuzz_target!(|data: &[u8]| {
    match CompiledConfig::from_json(data) {
        Ok(compiled) => {
            let raw = TransformConfig::from_json(data).expect("parsed once, parses again");
            let given = check_accepted(data, &FIELDS);
            let Ok(Value::Object(held)) = serde_json::to_value(&raw) else {
                panic!("the serde form is an object");
            };
            let Ok(Value::Object(defaults)) = serde_json::to_value(TransformConfig::default())
            else {
                panic!("the serde form is an object");
            };
            for field in FIELDS {
                let expected = given.get(field).or(defaults.get(field));
                assert_eq!(held.get(field), expected, "{field}");
            }
            assert_eq!(CompiledConfig::compile(&raw).as_ref(), Ok(&compiled));
            let json = serde_json::to_vec(&raw).expect("serialises");
            assert_eq!(
                CompiledConfig::from_json(&json).as_ref(),
                Ok(&compiled),
                "round trip through {}",
                String::from_utf8_lossy(&json)
            );
            for record in RECORDS {
                check(
                    &raw,
                    record,
                    &transform(&compiled, record),
                    "records under it",
                );
            }
            if let Some(template) = compiled.namespace_template() {
                for (p, e, s) in [("acme", "prod", "web"), ("a", "b", "c")] {
                    let rendered = template.render(p, e, s);
                    assert!(template.matches(&rendered, p, e, s), "{rendered}");
                    assert!(!template.matches(&format!("{rendered}x"), p, e, s));
                }
            }
        }
        Err(error) => check_rejected(data, &FIELDS, &error.to_string(), error.field()),
    }
});
