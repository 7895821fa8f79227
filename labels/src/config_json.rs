//! The one reader both plugins' JSON configurations go through, so that the
//! Envoy filter and the log transform accept and reject the same bytes for
//! the same reasons, with the same messages (docs/contracts.md §5,
//! "Configuration rules").
//!
//! A plugin describes its configuration as a serde struct
//! (`deny_unknown_fields`, every field with a default); [`read`] checks the
//! object against that struct's own field names and hands each given value to
//! serde. The reader stays in charge of what serde alone gets wrong for an
//! operator: a repeated key (serde_json's `Value` keeps the last silently), a
//! value that is not JSON (serde_json names only a position), `null` (serde
//! rejects it for a non-`Option` field), and which field a type error is in.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// Why the bytes are not a configuration for the struct they were read into.
/// Every message is one line, whatever the configuration held: a rejection
/// is one log line (Envoy's, Fluent Bit's), and a key or a value may hold a
/// newline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("configuration is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// Not JSON outside any field's value, or not an object: serde_json's
    /// message, with the line and column.
    #[error("configuration is not a valid JSON object: {}", OneLine(.0))]
    NotObject(String),
    #[error("field `{}`: unknown (expected one of {})", OneLine(.key), Names(.expected))]
    Unknown {
        key: String,
        expected: &'static [&'static str],
    },
    #[error("field `{field}`: repeated (each field may be given once)")]
    Repeated { field: &'static str },
    /// The value stops being JSON (a number beyond f64, a cut-off string).
    #[error("field `{field}`: not valid JSON: {}", OneLine(.message))]
    NotJson {
        field: &'static str,
        message: String,
    },
    /// Valid JSON, but not of the field's type or range.
    #[error("field `{field}`: {}", OneLine(.message))]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl ReadError {
    /// The field the error is about: a known field, or the unknown key as
    /// written. `None` when the bytes are not a JSON object at all (the
    /// message then gives the position).
    pub fn field(&self) -> Option<&str> {
        match self {
            ReadError::NotUtf8(_) | ReadError::NotObject(_) => None,
            ReadError::Unknown { key, .. } => Some(key),
            ReadError::Repeated { field }
            | ReadError::NotJson { field, .. }
            | ReadError::Invalid { field, .. } => Some(field),
        }
    }
}

/// Reads a configuration into `T`. Empty bytes, or only JSON whitespace, are
/// the empty object: every field takes its default. A field set to `null` is
/// absent too.
///
/// `T` must be a struct whose fields all have defaults: the reader hands serde
/// only the fields that were given.
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ReadError> {
    if bytes.iter().all(|b| JSON_WHITESPACE.contains(b)) {
        return typed(&[]);
    }
    // Checked whole, so that bytes which are not text are one rejection
    // wherever they are, not a JSON error inside some field's value.
    let text = std::str::from_utf8(bytes)?;
    typed(&given_fields(text, field_names::<T>())?)
}

/// The fields given, in the order written, with their values; `null` ones
/// are left out.
type Given = [(&'static str, Value)];

/// What JSON allows around a value (RFC 8259 `ws`).
const JSON_WHITESPACE: [u8; 4] = [b' ', b'\t', b'\n', b'\r'];

/// The names of `T`'s fields as serde reads them (after renames): asked of
/// the derived `Deserialize` itself, so no plugin keeps a second list that
/// could drift from its struct. Empty when `T` is not a struct.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let names = Cell::new(&[][..]);
    // The answer is in `names`; the error is how the probe stops serde.
    let _ = T::deserialize(FieldNames(&names));
    names.get()
}

/// What went wrong that serde_json's own error would not name.
enum Fault {
    Unknown(String),
    Repeated(&'static str),
    /// The parser was inside this field's value.
    InValue(&'static str),
}

/// Inlined so that it is compiled into each plugin, beside the plugin's own
/// serde_json parsing (the transform reads its records with the same string
/// reader): compiled here, in another crate, serde_json's parser would be a
/// second copy in the module.
#[inline]
fn given_fields(
    text: &str,
    fields: &'static [&'static str],
) -> Result<Vec<(&'static str, Value)>, ReadError> {
    let fault = Cell::new(None);
    let mut json = serde_json::Deserializer::from_str(text);
    json.deserialize_map(Object {
        fields,
        fault: &fault,
    })
    .and_then(|given| json.end().map(|()| given))
    .map_err(|e| match fault.take() {
        Some(Fault::Unknown(key)) => ReadError::Unknown {
            key,
            expected: fields,
        },
        Some(Fault::Repeated(field)) => ReadError::Repeated { field },
        Some(Fault::InValue(field)) => ReadError::NotJson {
            field,
            message: e.to_string(),
        },
        None => ReadError::NotObject(e.to_string()),
    })
}

/// Visits the top-level object, keeping its given (non-`null`) values in
/// order. Unknown and repeated keys stop it at once, before their value is
/// read.
struct Object<'a> {
    fields: &'static [&'static str],
    fault: &'a Cell<Option<Fault>>,
}

impl<'de> Visitor<'de> for Object<'_> {
    type Value = Vec<(&'static str, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut given = Vec::new();
        let mut seen = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let Some(&field) = self.fields.iter().find(|f| **f == key) else {
                self.fault.set(Some(Fault::Unknown(key)));
                return Err(de::Error::custom("unknown field"));
            };
            // `null` then a value is repeated too: the key was written twice.
            if seen.contains(&field) {
                self.fault.set(Some(Fault::Repeated(field)));
                return Err(de::Error::custom("repeated field"));
            }
            seen.push(field);
            self.fault.set(Some(Fault::InValue(field)));
            let value = map.next_value::<Value>()?;
            self.fault.set(None);
            if !value.is_null() {
                given.push((field, value));
            }
        }
        Ok(given)
    }
}

/// Hands the given fields to `T`'s derived `Deserialize`, noting which
/// field's value serde is converting so that its error names that field.
fn typed<T: DeserializeOwned>(given: &Given) -> Result<T, ReadError> {
    let current = Cell::new(None);
    let mut pairs = given.iter();
    let pairs = std::iter::from_fn(|| {
        let next = pairs.next();
        current.set(next.map(|(field, _)| *field));
        next.map(|(field, value)| (*field, value))
    });
    T::deserialize(MapDeserializer::<_, serde_json::Error>::new(pairs)).map_err(|e| {
        match current.get() {
            Some(field) => ReadError::Invalid {
                field,
                message: e.to_string(),
            },
            // After the last field: only a field without a default, which
            // `read`'s contract rules out; serde's message names it.
            None => ReadError::NotObject(e.to_string()),
        }
    })
}

/// A `Deserializer` that answers nothing but records the field names a
/// struct asks for.
struct FieldNames<'a>(&'a Cell<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(fields);
        Err(de::Error::custom("field names only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Shows `T` on one line: control characters (newline, ESC, DEL, …) are
/// escaped as Rust writes them (`\n`, `\u{1b}`), everything else is as
/// written. For any text a rejection quotes from the configuration.
pub struct OneLine<T>(pub T);

impl<T: fmt::Display> fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping(f), "{}", self.0)
    }
}

struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            if c.is_control() {
                write!(self.0, "{}", c.escape_default())?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// A field table as a message lists it: `` `a`, `b` ``.
struct Names(&'static [&'static str]);

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A configuration of each kind of field the plugins have.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Sample {
        name: String,
        count: u32,
        maybe: Option<String>,
        map: std::collections::BTreeMap<String, String>,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                name: "default".into(),
                count: 7,
                maybe: None,
                map: Default::default(),
            }
        }
    }

    fn err(json: &str) -> ReadError {
        read::<Sample>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn field_names_come_from_the_struct() {
        assert_eq!(field_names::<Sample>(), ["name", "count", "maybe", "map"]);
        assert!(field_names::<u32>().is_empty());
    }

    #[test]
    fn empty_whitespace_and_empty_object_are_all_defaults() {
        for json in ["", " \n\t", "{}", " {} "] {
            assert_eq!(read::<Sample>(json.as_bytes()).unwrap(), Sample::default());
        }
    }

    #[test]
    fn given_fields_are_read() {
        let s = read::<Sample>(br#"{"count": 3, "name": "x", "maybe": "y", "map": {"a": "b"}}"#)
            .unwrap();
        assert_eq!(
            (s.name.as_str(), s.count, s.maybe.as_deref()),
            ("x", 3, Some("y"))
        );
        assert_eq!(s.map.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn null_is_absent_for_every_field() {
        let s = read::<Sample>(br#"{"name": null, "count": null, "maybe": null, "map": null}"#)
            .unwrap();
        assert_eq!(s, Sample::default());
    }

    #[test]
    fn an_unknown_key_is_named_with_the_fields_expected() {
        let e = err(r#"{"count": 1, "cuont": 2}"#);
        assert_eq!(e.field(), Some("cuont"));
        assert_eq!(
            e.to_string(),
            "field `cuont`: unknown (expected one of `name`, `count`, `maybe`, `map`)"
        );
        // Even when its value is null, and before its value is read.
        assert_eq!(err(r#"{"x": null}"#).field(), Some("x"));
        assert_eq!(err(r#"{"x": 1e999}"#).field(), Some("x"));
    }

    #[test]
    fn a_repeated_key_is_named_whatever_the_values() {
        for json in [
            r#"{"count": 1, "count": 2}"#,
            r#"{"count": null, "count": 2}"#,
            r#"{"count": 1, "name": "a", "count": 1}"#,
        ] {
            let e = err(json);
            assert_eq!(e, ReadError::Repeated { field: "count" }, "{json}");
            assert_eq!(
                e.to_string(),
                "field `count`: repeated (each field may be given once)"
            );
        }
    }

    #[test]
    fn a_value_that_is_not_json_names_its_field() {
        for (json, field) in [
            (r#"{"count": 1e999}"#, "count"),
            (r#"{"name": "a", "count": -1e400, "x": 1}"#, "count"),
            (r#"{"name": "cut"#, "name"),
            (r#"{"maybe": tru}"#, "maybe"),
            (r#"{"map": {"a": 1e999}}"#, "map"),
        ] {
            let e = err(json);
            assert!(matches!(e, ReadError::NotJson { .. }), "{json}: {e}");
            assert_eq!(e.field(), Some(field), "{json}");
            assert!(
                e.to_string()
                    .starts_with(&format!("field `{field}`: not valid JSON: ")),
                "{e}"
            );
            assert!(e.to_string().contains("line 1 column"), "{e}");
        }
    }

    #[test]
    fn outside_any_value_the_position_is_given() {
        for json in [
            "not json",
            "[]",
            "null",
            "3",
            r#"{"count": 3,}"#,
            r#"{"count": 3"#,
            r#"{"count": 3 "name": "a"}"#,
            "{} {}",
            r#"{"na"#,
        ] {
            let e = err(json);
            assert!(matches!(e, ReadError::NotObject(_)), "{json}: {e}");
            assert_eq!(e.field(), None);
            assert!(e.to_string().contains("line 1 column"), "{e}");
        }
        assert!(matches!(
            read::<Sample>(b"{\"name\": \"\xff\"}"),
            Err(ReadError::NotUtf8(_))
        ));
    }

    #[test]
    fn wrong_types_and_out_of_range_values_name_the_field() {
        for (json, field) in [
            (r#"{"name": 3}"#, "name"),
            (r#"{"count": "3"}"#, "count"),
            (r#"{"count": -1}"#, "count"),
            (r#"{"count": 4294967296}"#, "count"),
            (r#"{"count": 1.5}"#, "count"),
            (r#"{"count": 1, "maybe": false}"#, "maybe"),
            (r#"{"map": {"a": 1}}"#, "map"),
            (r#"{"map": []}"#, "map"),
        ] {
            let e = err(json);
            assert!(matches!(e, ReadError::Invalid { .. }), "{json}: {e}");
            assert_eq!(e.field(), Some(field), "{json}");
            assert!(e.to_string().starts_with(&format!("field `{field}`: ")));
        }
    }

    #[test]
    fn every_message_is_one_line() {
        for json in [
            "{\"a\nb\": 1}",
            r#"{"a\u0000b\u001b": 1}"#,
            "{\"x\u{7f}\": 1}",
            r#"{"name": 1, "name": 2}"#,
            r#"{"count": "1\n2"}"#,
            r#"{"map": {"k\r": 5}}"#,
            "{\"count\": 1,\n\n}",
            "{\"name\": \"a\nb",
        ] {
            let message = err(json).to_string();
            assert!(!message.contains(char::is_control), "{json:?}: {message:?}");
        }
        assert!(err(r#"{"a\nb": 1}"#)
            .to_string()
            .starts_with("field `a\\nb`: unknown"));
    }

    #[test]
    fn one_line_escapes_control_characters_only() {
        assert_eq!(
            OneLine("é\t\u{7f}\u{1b}`x`").to_string(),
            "é\\t\\u{7f}\\u{1b}`x`"
        );
    }
}
