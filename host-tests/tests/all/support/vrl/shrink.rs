//! Greedy shrinking of a JSON record that shows a difference: keep taking
//! the first simpler record that still shows one, until none does.

use serde_json::{Map, Value as Json};

/// Tries at most this many candidates: a record padded to a size limit
/// shrinks one character at a time once halving stops reproducing.
const BUDGET: usize = 5_000;

/// The smallest record reachable from `record` by the simplifications below
/// for which `fails` still holds (`fails(record)` must hold).
pub fn shrink(
    record: &Map<String, Json>,
    mut fails: impl FnMut(&Map<String, Json>) -> bool,
) -> Map<String, Json> {
    let mut current = record.clone();
    let mut tries = 0;
    'outer: loop {
        for candidate in simpler_objects(&current) {
            tries += 1;
            if tries > BUDGET {
                return current;
            }
            if fails(&candidate) {
                current = candidate;
                continue 'outer;
            }
        }
        return current;
    }
}

fn simpler_objects(object: &Map<String, Json>) -> Vec<Map<String, Json>> {
    let mut out = Vec::new();
    for key in object.keys() {
        let mut without = object.clone();
        without.shift_remove(key);
        out.push(without);
    }
    for (key, value) in object {
        for simpler in simpler(value) {
            let mut changed = object.clone();
            changed.insert(key.clone(), simpler);
            out.push(changed);
        }
    }
    out
}

fn simpler(value: &Json) -> Vec<Json> {
    match value {
        Json::Null => Vec::new(),
        Json::Bool(_) | Json::Number(_) => vec![Json::Null],
        Json::String(s) => simpler_strings(s).into_iter().map(Json::String).collect(),
        Json::Array(items) => {
            let mut out = vec![Json::Null];
            for i in 0..items.len() {
                let mut without = items.clone();
                without.remove(i);
                out.push(Json::Array(without));
            }
            for (i, item) in items.iter().enumerate() {
                for s in simpler(item) {
                    let mut changed = items.clone();
                    changed[i] = s;
                    out.push(Json::Array(changed));
                }
            }
            out
        }
        Json::Object(map) => {
            let mut out = vec![Json::Null];
            out.extend(simpler_objects(map).into_iter().map(Json::Object));
            out
        }
    }
}

fn simpler_strings(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = s.chars().collect();
    let half = chars.len() / 2;
    let mut out = vec![String::new()];
    if half > 0 {
        out.push(chars[..half].iter().collect());
        out.push(chars[half..].iter().collect());
    }
    out.push(chars[1..].iter().collect());
    out.push(chars[..chars.len() - 1].iter().collect());
    // Keep the characters, drop their case: tells case folding from the rest.
    let lower = s.to_ascii_lowercase();
    if lower != s {
        out.push(lower);
    }
    out.retain(|c| c != s);
    out
}
