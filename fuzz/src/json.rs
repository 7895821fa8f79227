//! "Exactly one JSON object": the transform's promise for every input.

use serde_json::{Map, Value};

/// The one object `output` holds; panics (a finding) when it holds anything
/// else: nothing, two values, a non-object, or trailing bytes.
pub fn one_object(output: &[u8], context: &str) -> Map<String, Value> {
    let mut values = serde_json::Deserializer::from_slice(output).into_iter::<Value>();
    let first = values.next();
    let rest = values.next();
    match (first, rest) {
        (Some(Ok(Value::Object(map))), None) => {
            assert!(
                output.first() == Some(&b'{') && output.last() == Some(&b'}'),
                "{context}: output has bytes around the object: {:?}",
                String::from_utf8_lossy(output)
            );
            map
        }
        other => panic!(
            "{context}: output is not exactly one JSON object ({other:?}): {:?}",
            String::from_utf8_lossy(output)
        ),
    }
}
