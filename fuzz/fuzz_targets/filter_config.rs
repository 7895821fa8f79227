//! The filter's plugin configuration (`Config::parse`) on arbitrary bytes:
//! it never panics; what it accepts is what was written (each field's value
//! or its documented default) and works in a `Recorder`; what it rejects is
//! rejected with a message naming the field at fault.
#![no_main]

use std::cell::Cell;
use std::fmt;

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use starform_envoy_filter::config::{
    DEFAULT_MAX_CACHED_ROUTES, DEFAULT_MAX_LABEL_SETS, DEFAULT_PREVIEW_ENVIRONMENT,
};
use starform_envoy_filter::{Config, Outcome, Recorder};
use starform_fuzz::contract::is_label;
use starform_fuzz::log_line::{assert_one_line, shown};

const FIELDS: [&str; 6] = [
    "route_pattern",
    "preview_pattern",
    "preview_policy",
    "preview_environment",
    "max_label_sets",
    "max_cached_routes",
];

const ROUTES: [&[u8]; 4] = [
    b"httproute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example",
    b"httproute/acme-pr-1/acme.pr-1.api/rule/0/match/-1/x",
    b"legacy-route",
    b"",
];

/// The keys of a JSON object in order, duplicates kept (serde_json's
/// `Value` keeps only the last).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// The known field, met for the first time, whose value serde_json was
/// reading when the text stopped being JSON; `None` when it stopped elsewhere
/// or a bad (unknown, repeated) key came first.
fn value_not_json(text: &str) -> Option<&'static str> {
    struct V<'a>(&'a Cell<Option<&'static str>>);
    impl<'de> Visitor<'de> for V<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let Some(&field) = FIELDS.iter().find(|f| **f == key) else {
                    return Err(serde::de::Error::custom("unknown"));
                };
                if seen.contains(&field) {
                    return Err(serde::de::Error::custom("repeated"));
                }
                seen.push(field);
                self.0.set(Some(field));
                map.next_value::<Value>()?;
                self.0.set(None);
            }
            Ok(())
        }
    }
    let reading = Cell::new(None);
    let mut json = serde_json::Deserializer::from_str(text);
    match json.deserialize_map(V(&reading)) {
        Ok(()) => None,
        Err(_) => reading.get(),
    }
}

/// A field as written; JSON `null` counts as absent (serde reads an
/// `Option` field that is `null` as `None`).
fn given<'a>(fields: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|v| !v.is_null())
}

fn accepted(data: &[u8], config: &Config) {
    let text = std::str::from_utf8(data).expect("an accepted configuration is UTF-8");
    let fields = if text.trim().is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => fields,
            other => panic!("accepted a configuration that is not a JSON object: {other:?}"),
        }
    };
    for key in fields.keys() {
        assert!(
            FIELDS.contains(&key.as_str()),
            "accepted unknown field {key:?}"
        );
    }
    let number = |name: &str, default: usize| {
        given(&fields, name).map_or(default as u64, |v| v.as_u64().expect("a number field"))
    };
    assert_eq!(
        config.max_label_sets as u64,
        number("max_label_sets", DEFAULT_MAX_LABEL_SETS)
    );
    assert_eq!(
        config.max_cached_routes as u64,
        number("max_cached_routes", DEFAULT_MAX_CACHED_ROUTES)
    );
    assert!(config.max_label_sets >= 1 && config.max_cached_routes >= 1);
    let policy = given(&fields, "preview_policy").map_or("aggregate", |v| v.as_str().unwrap());
    assert_eq!(config.preview_policy.as_str(), policy);
    let environment = given(&fields, "preview_environment")
        .map_or(DEFAULT_PREVIEW_ENVIRONMENT, |v| v.as_str().unwrap());
    assert_eq!(config.preview_environment.as_str(), environment);
    assert!(is_label(environment), "{environment:?}");

    // The configuration works: outcomes are stable per route, and the
    // default pattern attributes the contract's names.
    let mut recorder = Recorder::new(config);
    for route in ROUTES {
        let first = recorder.outcome(Some(route));
        assert_eq!(recorder.outcome(Some(route)), first);
    }
    if given(&fields, "route_pattern").is_none() {
        let mut fresh = Recorder::new(config);
        assert!(
            matches!(fresh.outcome(Some(ROUTES[0])), Outcome::Attributed(_)),
            "default pattern must attribute {:?}",
            String::from_utf8_lossy(ROUTES[0])
        );
    }
}

fn rejected(data: &[u8], error: &starform_envoy_filter::ConfigError) {
    let message = error.to_string();
    assert_one_line(&message);
    if let Some(field) = error.field() {
        assert!(FIELDS.contains(&field), "{field}");
        assert!(message.contains(field), "{message}");
        return;
    }
    // No field named: the bytes are not UTF-8, not JSON, not an object, or
    // the object has an unknown or repeated field (serde's message names it).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Not JSON as serde_json reads it (a number beyond f64 is "out of
    // range", a value cut off): the field whose value it is must be named
    // (finding F2), unless serde stopped earlier at a bad key.
    if serde_json::from_str::<Value>(text).is_err() {
        if let Some(field) = value_not_json(text) {
            panic!("{text:?}: the value of {field} is not JSON, and {message:?} names no field");
        }
        return;
    }
    let Ok(Keys(keys)) = serde_json::from_str::<Keys>(text) else {
        return;
    };
    // serde stops at the first bad key it meets, unknown or repeated.
    let bad: Vec<&String> = keys
        .iter()
        .enumerate()
        .filter(|(i, k)| !FIELDS.contains(&k.as_str()) || keys[..*i].contains(k))
        .map(|(_, k)| k)
        .collect();
    assert!(
        !bad.is_empty(),
        "{text:?} rejected without naming a field: {message}"
    );
    assert!(
        bad.iter().any(|k| message.contains(&shown(k))),
        "{message} names none of {bad:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    match Config::parse(data) {
        Ok(config) => accepted(data, &config),
        Err(error) => rejected(data, &error),
    }
});
