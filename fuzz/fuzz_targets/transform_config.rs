//! The log transform's configuration (`CompiledConfig::from_json`) on
//! arbitrary bytes: never panics; an accepted configuration round-trips
//! through its serde form and the rules under it follow the rulebook; a
//! rejected one names the field at fault, on one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starform_fuzz::log_line::{assert_one_line, shown};
use starform_fuzz::records::check;
use starform_vector_transform::{transform, CompiledConfig, TransformConfig};

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
        Err(error) => {
            let message = error.to_string();
            // Fluent Bit's log gets it as one stderr line.
            assert_one_line(&message);
            if let Some(field) = error.field() {
                // Control characters in a key are shown escaped.
                let shown = shown(field);
                assert!(
                    message.contains(&shown),
                    "{message} does not name {field:?}"
                );
            }
            // Valid JSON objects are rejected for a field, never for syntax.
            if let Ok(serde_json::Value::Object(_)) = serde_json::from_slice(data) {
                assert!(error.field().is_some(), "{message}");
            }
        }
    }
});
