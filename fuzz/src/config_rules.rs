//! The configuration rules both plugins share (docs/contracts.md §5), as one
//! oracle both configuration targets apply with their own field table: what
//! bytes must be accepted as, and which field a rejection must name.

use std::cell::RefCell;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::log_line::{assert_one_line, shown};

/// What the rules make of a configuration before any value is converted.
#[derive(Debug)]
pub enum Reading {
    /// Empty, JSON whitespace, or an object of known fields each given once;
    /// the fields not `null`. A rejection must name one of them.
    Fields(Map<String, Value>),
    /// An unknown key, a known one repeated, or a known field whose value
    /// stops being JSON, the first in the text: the rejection names it.
    Fault(String),
    /// Not UTF-8, not JSON outside any field's value, or not an object: the
    /// rejection names no field.
    Shapeless,
}

pub fn reading(data: &[u8], fields: &[&str]) -> Reading {
    if data.iter().all(|b| b" \t\n\r".contains(b)) {
        return Reading::Fields(Map::new());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return Reading::Shapeless;
    };
    let fault = RefCell::new(None);
    let mut json = serde_json::Deserializer::from_str(text);
    let read = json.deserialize_map(Walk {
        fields,
        fault: &fault,
    });
    match (read, fault.into_inner()) {
        (_, Some(key)) => Reading::Fault(key),
        (Ok(given), None) if json.end().is_ok() => Reading::Fields(given),
        _ => Reading::Shapeless,
    }
}

/// Walks the object key by key; `fault` gets the first key at fault.
struct Walk<'a> {
    fields: &'a [&'a str],
    fault: &'a RefCell<Option<String>>,
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys: Vec<String> = Vec::new();
        let mut given = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let bad = !self.fields.contains(&key.as_str()) || keys.contains(&key);
            *self.fault.borrow_mut() = Some(key.clone());
            if bad {
                return Err(serde::de::Error::custom("at fault"));
            }
            let value: Value = map.next_value()?;
            *self.fault.borrow_mut() = None;
            keys.push(key.clone());
            if !value.is_null() {
                given.insert(key, value);
            }
        }
        Ok(given)
    }
}

/// A rejection, `message` with `field()`: one line; the field it names is
/// the one the rules put at fault, shown in the message as `` field `…` ``.
pub fn check_rejected(data: &[u8], fields: &[&str], message: &str, field: Option<&str>) {
    assert_one_line(message);
    if let Some(field) = field {
        let named = format!("field `{}`", shown(field));
        assert!(message.contains(&named), "{message:?} lacks {named:?}");
    }
    let input = String::from_utf8_lossy(data);
    match reading(data, fields) {
        Reading::Fault(key) => assert_eq!(
            field,
            Some(key.as_str()),
            "{input:?}: {key:?} is at fault: {message}"
        ),
        Reading::Fields(given) => {
            let field = field.unwrap_or_else(|| {
                panic!("{input:?}: known fields, rejected naming none: {message}")
            });
            assert!(
                given.contains_key(field),
                "{input:?}: {field:?} was not given (defaults are valid): {message}"
            );
        }
        Reading::Shapeless => assert_eq!(field, None, "{input:?}: {message}"),
    }
}

/// An accepted configuration: the rules allowed it. Returns the fields
/// given (not `null`), whose values the plugin must hold; every other field
/// holds its default.
pub fn check_accepted(data: &[u8], fields: &[&str]) -> Map<String, Value> {
    match reading(data, fields) {
        Reading::Fields(given) => given,
        other => panic!(
            "{:?} accepted, but the rules say {other:?}",
            String::from_utf8_lossy(data)
        ),
    }
}
