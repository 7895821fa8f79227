//! The fast path: one pass over a record that is already in its output form.
//!
//! Nearly every record a collector hands over is compact JSON exactly as
//! serde_json would write it again (no whitespace, the escapes serde_json
//! emits, integers within 64 bits, floats in their shortest round-trip form,
//! no repeated keys). For such a record the re-encoded object equals the
//! input bytes, so the rules need neither a tree nor a serialiser: this scan
//! checks that the input is in that form, and on the way notes the few
//! members rule 3–5 read (`kubernetes.labels`, `kubernetes.pod_labels` and the
//! namespace fields). Anything else — whitespace, another escape, a repeated
//! key, a reserved top-level field, invalid JSON — answers `None` and the
//! record takes the general path, which decides exactly as before. The
//! output is therefore byte for byte what the general path writes; a
//! property test and a fuzz target compare the two.

use std::borrow::Cow;

use crate::transform::RESERVED_FIELDS;
use crate::view::{LabelMap, FLUENT_BIT_NAMESPACE, VECTOR_NAMESPACE};

/// Deeper input goes to the general path, whose parser has the nesting limit
/// (serde_json's 128) that decides whether it is JSON at all.
const MAX_DEPTH: usize = 64;

/// A JSON string's contents (between the quotes) in the input.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    start: u32,
    end: u32,
    /// Holds a backslash escape: decode before comparing.
    escaped: bool,
}

/// One member of a label map: its key, and its value if that is a string.
type Member = (Span, Option<Span>);

/// Where an object sits, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Kubernetes,
    Labels,
    PodLabels,
    Elsewhere,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// `None` for an array.
    place: Option<Place>,
    /// Where this object's keys start in `Scratch::keys`.
    keys_from: usize,
    /// The fingerprint bits of its keys so far.
    bloom: u64,
}

/// Buffers the scan reuses from record to record (the module keeps one for
/// its lifetime, so the per-record work allocates nothing once warm).
#[derive(Debug, Default)]
pub struct Scratch {
    /// The keys of the objects being read, each with its [`fingerprint`].
    keys: Vec<(u64, Span)>,
    frames: Vec<Frame>,
    labels: Vec<Member>,
    pod_labels: Vec<Member>,
}

/// What the rules read from a record in output form.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    pub(crate) text: &'a [u8],
    pub(crate) labels: Option<ScannedMap<'a>>,
    pub(crate) pod_labels: Option<ScannedMap<'a>>,
    pub(crate) namespace_name: Option<Span>,
    pub(crate) pod_namespace: Option<Span>,
}

impl Scanned<'_> {
    /// The decoded contents of a string span.
    pub(crate) fn string(&self, span: Span) -> Cow<'_, str> {
        decode(self.text, span)
    }
}

/// A label map found by the scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScannedMap<'a> {
    text: &'a [u8],
    members: &'a [Member],
}

impl LabelMap for ScannedMap<'_> {
    fn lookup(&self, key: &str) -> Option<Option<Cow<'_, str>>> {
        // Keys are unique (a repeated key sends the record to the general path).
        let (_, value) = self
            .members
            .iter()
            .find(|(k, _)| span_equals(self.text, *k, key))?;
        Some(value.map(|v| decode(self.text, v)))
    }
}

fn span_equals(text: &[u8], span: Span, other: &str) -> bool {
    if span.escaped {
        return decode(text, span) == other;
    }
    text.get(span.start as usize..span.end as usize) == Some(other.as_bytes())
}

/// Unescapes a string span the scan accepted (UTF-8, only the escapes
/// `Scanner::string` accepts).
fn decode(text: &[u8], span: Span) -> Cow<'_, str> {
    let raw = text
        .get(span.start as usize..span.end as usize)
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .unwrap_or("");
    if !span.escaped {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next() {
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}')
            }
            Some(other) => other,
            None => break,
        };
        out.push(decoded);
    }
    Cow::Owned(out)
}

/// Scans `input`; `Some` only when it is a JSON object in output form with
/// no reserved top-level field.
pub(crate) fn scan<'a>(input: &'a [u8], scratch: &'a mut Scratch) -> Option<Scanned<'a>> {
    let mut found = Found::default();
    walk(input, scratch, &mut found)?;
    let Scratch {
        labels, pod_labels, ..
    } = &*scratch;
    Some(Scanned {
        text: input,
        labels: found.labels.then_some(ScannedMap {
            text: input,
            members: labels,
        }),
        pod_labels: found.pod_labels.then_some(ScannedMap {
            text: input,
            members: pod_labels,
        }),
        namespace_name: found.namespace_name,
        pod_namespace: found.pod_namespace,
    })
}

#[derive(Debug, Default)]
struct Found {
    labels: bool,
    pod_labels: bool,
    namespace_name: Option<Span>,
    pod_namespace: Option<Span>,
}

/// The whole input: one object, nothing after it. One loop with its state
/// in locals (the scan is most of what the module executes per record, and
/// an interpreter pays for every load and store): `place` and `keys_from`
/// describe the innermost open container, `scratch.frames` the ones around
/// it.
fn walk(b: &[u8], scratch: &mut Scratch, found: &mut Found) -> Option<()> {
    scratch.keys.clear();
    scratch.frames.clear();
    scratch.labels.clear();
    scratch.pod_labels.clear();
    if *b.first()? != b'{' {
        return None;
    }
    let mut pos = 1;
    // `None`: an array.
    let mut place = Some(Place::Top);
    let mut keys_from = 0;
    let mut bloom = 0u64;
    if *b.get(pos)? == b'}' {
        return (pos + 1 == b.len()).then_some(());
    }
    loop {
        // A member's key (objects) or nothing (arrays), then the value.
        let key = match place {
            Some(current) => {
                if *b.get(pos)? != b'"' {
                    return None;
                }
                let (end, escaped) = string_end(b, pos + 1)?;
                let key = span(pos + 1, end, escaped)?;
                pos = end + 1;
                let print = fingerprint(b, key);
                // One bit per fingerprint in a word per container: the keys
                // are compared only when the bit was already set.
                let bit = 1u64 << (print.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58);
                let repeated = bloom & bit != 0
                    && scratch
                        .keys
                        .get(keys_from..)?
                        .iter()
                        .any(|(p, k)| *p == print && same_raw(b, *k, key));
                bloom |= bit;
                if repeated
                    || (current == Place::Top && RESERVED_FIELDS.iter().any(|f| raw_is(b, key, f)))
                {
                    return None;
                }
                scratch.keys.push((print, key));
                if *b.get(pos)? != b':' {
                    return None;
                }
                pos += 1;
                Some((current, key))
            }
            None => None,
        };
        let c = *b.get(pos)?;
        let value = match c {
            b'"' => {
                let (end, escaped) = string_end(b, pos + 1)?;
                let value = span(pos + 1, end, escaped)?;
                pos = end + 1;
                Some(value)
            }
            b'{' | b'[' => {
                if let Some((
                    parent @ (Place::Kubernetes | Place::Labels | Place::PodLabels),
                    key,
                )) = key
                {
                    note(b, scratch, found, parent, key, None);
                }
                let (inner, closer) = if c == b'{' {
                    (
                        Some(key.map_or(Place::Elsewhere, |(p, k)| child(b, p, k, found))),
                        b'}',
                    )
                } else {
                    (None, b']')
                };
                pos += 1;
                if *b.get(pos)? != closer {
                    if scratch.frames.len() >= MAX_DEPTH {
                        return None;
                    }
                    scratch.frames.push(Frame {
                        place,
                        keys_from,
                        bloom,
                    });
                    place = inner;
                    keys_from = scratch.keys.len();
                    bloom = 0;
                    continue;
                }
                // An empty container is a value like any other.
                pos += 1;
                None
            }
            b't' => {
                pos = literal(b, pos, b"true")?;
                None
            }
            b'f' => {
                pos = literal(b, pos, b"false")?;
                None
            }
            b'n' => {
                pos = literal(b, pos, b"null")?;
                None
            }
            _ => {
                pos = number(b, pos)?;
                None
            }
        };
        if let Some((parent @ (Place::Kubernetes | Place::Labels | Place::PodLabels), key)) = key {
            if c != b'{' && c != b'[' {
                note(b, scratch, found, parent, key, value);
            }
        }
        // After a value: `,` continues the container; `}`/`]` closes it and
        // maybe the containers around it.
        loop {
            let c = *b.get(pos)?;
            pos += 1;
            match (c, place) {
                (b',', _) => break,
                (b'}', Some(_)) | (b']', None) => {
                    scratch.keys.truncate(keys_from);
                    let Some(outer) = scratch.frames.pop() else {
                        // The top-level object closed: the input must end here.
                        return (pos == b.len()).then_some(());
                    };
                    place = outer.place;
                    keys_from = outer.keys_from;
                    bloom = outer.bloom;
                }
                _ => return None,
            }
        }
    }
}

fn span(start: usize, end: usize, escaped: bool) -> Option<Span> {
    Some(Span {
        start: u32::try_from(start).ok()?,
        end: u32::try_from(end).ok()?,
        escaped,
    })
}

/// Past `word` at `pos`, if it is there.
fn literal(b: &[u8], pos: usize, word: &[u8]) -> Option<usize> {
    let end = pos + word.len();
    (b.get(pos..end)? == word).then_some(end)
}

/// Past the number at `pos`, if serde_json writes it again the same way: an
/// integer within `u64` (or `i64` when negative, never `-0`), or a float in
/// serde_json's own shortest form.
fn number(b: &[u8], start: usize) -> Option<usize> {
    let negative = *b.get(start)? == b'-';
    let digits_from = start + usize::from(negative);
    let mut pos = digits_from;
    while let Some(b'0'..=b'9') = b.get(pos) {
        pos += 1;
    }
    let digits = b.get(digits_from..pos)?;
    match digits {
        [] => return None,
        [b'0', _, ..] => return None,
        _ => {}
    }
    if matches!(b.get(pos), Some(b'.' | b'e' | b'E')) {
        return float(b, start, pos);
    }
    // Within range by length, or by comparing with the limit's digits
    // (same length, so byte order is numeric order): no multiplication,
    // which costs a 128-bit helper call on wasm32.
    let (limit, zero_ok): (&[u8], bool) = if negative {
        (b"9223372036854775808", false)
    } else {
        (b"18446744073709551615", true)
    };
    let fits = digits.len() < limit.len() || (digits.len() == limit.len() && digits <= limit);
    let canonical = fits && (zero_ok || digits != b"0");
    canonical.then_some(pos)
}

fn float(b: &[u8], start: usize, mut pos: usize) -> Option<usize> {
    while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = b.get(pos) {
        pos += 1;
    }
    let raw = std::str::from_utf8(b.get(start..pos)?).ok()?;
    let parsed: f64 = raw.parse().ok()?;
    if !parsed.is_finite() {
        return None;
    }
    // serde_json's own writer decides the form (a finite f64 is at most
    // 24 bytes).
    let mut buffer = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    serde_json::to_writer(&mut cursor, &parsed).ok()?;
    let written = usize::try_from(cursor.position()).ok()?;
    (buffer.get(..written)? == raw.as_bytes()).then_some(pos)
}

/// Notes a member the rules read: a label (its value if a string) or a
/// namespace field.
fn note(
    b: &[u8],
    scratch: &mut Scratch,
    found: &mut Found,
    place: Place,
    key: Span,
    value: Option<Span>,
) {
    match place {
        Place::Labels => scratch.labels.push((key, value)),
        Place::PodLabels => scratch.pod_labels.push((key, value)),
        Place::Kubernetes if raw_is(b, key, FLUENT_BIT_NAMESPACE.0) => found.namespace_name = value,
        Place::Kubernetes if raw_is(b, key, VECTOR_NAMESPACE.0) => found.pod_namespace = value,
        _ => {}
    }
}

/// The four hex digits of a `\\u` escape, as serde_json writes them: a
/// control character without a short escape, lowercase hex.
fn control_escape(digits: &[u8]) -> Option<()> {
    let [b'0', b'0', high @ (b'0' | b'1'), low] = *digits else {
        return None;
    };
    let low = match low {
        b'0'..=b'9' => low - b'0',
        b'a'..=b'f' => low - b'a' + 10,
        _ => return None,
    };
    let value = (high - b'0') * 16 + low;
    (!matches!(value, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)).then_some(())
}

/// Where the string whose contents start at `start` ends (the index of its
/// closing quote) and whether it holds an escape; `None` unless it is UTF-8
/// and every escape is one serde_json writes.
///
/// Sixteen ASCII bytes at a time until one needs a look: this loop is most
/// of what the module executes per record, so it is written for the
/// interpreter (few wasm instructions per byte).
fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut pos = start;
    let mut escaped = false;
    let mut ascii = true;
    loop {
        while let Some(chunk) = bytes.get(pos..pos + 16) {
            let (a, b) = chunk.split_at(8);
            let (a, b) = (word(a), word(b));
            if (a | b) & HIGH_BITS != 0 {
                break;
            }
            let plain = plain_bytes(a) & plain_bytes(b);
            if plain != HIGH_BITS {
                // The first byte that is not plain, in whichever half.
                let first = !plain_bytes(a) & HIGH_BITS;
                pos += if first != 0 {
                    (first.trailing_zeros() / 8) as usize
                } else {
                    8 + ((!plain_bytes(b) & HIGH_BITS).trailing_zeros() / 8) as usize
                };
                break;
            }
            pos += 16;
        }
        let b = *bytes.get(pos)?;
        match b {
            b'"' => break,
            b'\\' => {
                escaped = true;
                match *bytes.get(pos + 1)? {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                    b'u' => {
                        control_escape(bytes.get(pos + 2..pos + 6)?)?;
                        pos += 6;
                    }
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            0x80.. => {
                ascii = false;
                pos += 1;
            }
            _ => pos += 1,
        }
    }
    if !ascii {
        std::str::from_utf8(bytes.get(start..pos)?).ok()?;
    }
    Some((pos, escaped))
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

fn word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// For eight ASCII bytes: the high bit of each byte set when that byte may
/// stand in a string as it is (not `"`, not `\\`, not below 0x20). With
/// every byte below 0x80 no addition carries into the next byte.
fn plain_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let printable = word.wrapping_add(ONES * 0x60);
    let not_quote = (word ^ (ONES * u64::from(b'"'))).wrapping_add(ONES * 0x7f);
    let not_backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_add(ONES * 0x7f);
    printable & not_quote & not_backslash & HIGH_BITS
}

/// Where an object opened as the value of `key` in `parent` sits.
fn child(b: &[u8], parent: Place, key: Span, found: &mut Found) -> Place {
    match parent {
        Place::Top if raw_is(b, key, "kubernetes") => Place::Kubernetes,
        Place::Kubernetes if raw_is(b, key, "labels") => {
            found.labels = true;
            Place::Labels
        }
        Place::Kubernetes if raw_is(b, key, "pod_labels") => {
            found.pod_labels = true;
            Place::PodLabels
        }
        _ => Place::Elsewhere,
    }
}

/// A key compared with a plain name: an escaped key can only equal a name
/// that holds the escaped character, and none of the names the scan looks
/// for do.
fn raw_is(bytes: &[u8], key: Span, name: &str) -> bool {
    !key.escaped && bytes.get(key.start as usize..key.end as usize) == Some(name.as_bytes())
}

/// A key's last eight bytes and its length in one word: keys that differ
/// almost always differ here (label keys share prefixes such as
/// `starform.io/`, not endings), so the repeated-key check compares words.
fn fingerprint(bytes: &[u8], key: Span) -> u64 {
    let (start, end) = (key.start as usize, key.end as usize);
    let len = end - start;
    if len == 0 {
        return 0;
    }
    // The eight bytes ending where the key ends, with those before the key
    // shifted out: the key's last (up to) eight bytes as a little-endian
    // number, whatever precedes it.
    let last = match end.checked_sub(8).and_then(|from| bytes.get(from..end)) {
        Some(tail) => word(tail),
        // Near the start of the input: the same number, built bytewise.
        None => {
            let raw = bytes
                .get(start.max(end.saturating_sub(8))..end)
                .unwrap_or_default();
            let mut padded = [0u8; 8];
            if let Some(dst) = padded.get_mut(8 - raw.len()..) {
                dst.copy_from_slice(raw);
            }
            u64::from_le_bytes(padded)
        }
    };
    let kept = if len >= 8 {
        last
    } else {
        last >> (8 * (8 - len))
    };
    kept ^ (len as u64).rotate_right(8)
}

/// Two canonical encodings are equal exactly when the strings are.
fn same_raw(bytes: &[u8], a: Span, b: Span) -> bool {
    bytes.get(a.start as usize..a.end as usize) == bytes.get(b.start as usize..b.end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompiledConfig;
    use crate::transform::{transform_general_into, transform_with_scratch};

    const TEMPLATE: &str = r#"{"key_aliases":{"te\nam":"starform.io/project","team":"starform.io/project"},"namespace_template":"{project}-{environment}","max_record_bytes":400}"#;

    fn takes_fast_path(input: &str) -> bool {
        scan(input.as_bytes(), &mut Scratch::default()).is_some()
    }

    /// Both paths, both configurations, one scratch reused across records.
    fn assert_same(inputs: &[&str]) {
        let configs = [
            CompiledConfig::default(),
            CompiledConfig::from_json(TEMPLATE.as_bytes()).unwrap(),
        ];
        let mut scratch = Scratch::default();
        for config in &configs {
            for input in inputs {
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                let a = transform_with_scratch(config, input.as_bytes(), &mut fast, &mut scratch);
                let b = transform_general_into(config, input.as_bytes(), &mut general);
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&general),
                    "{input}"
                );
                assert_eq!(a, b, "{input}");
            }
        }
    }

    const OUTPUT_FORM: &[&str] = &[
        r#"{}"#,
        r#"{"log":"x","n":100000}"#,
        r#"{"log":"a\"b\\c\n\t\u0001\u001f","n":[1,-2,0,18446744073709551615,-9223372036854775808,1.5,1e+300,0.1,[],{}],"t":true,"f":false,"z":null}"#,
        r#"{"kubernetes":{"namespace_name":"acme-prod","labels":{"starform.io/project":"Acme","starform.io/environment":"prod","starform.io/service":"web"}},"log":"hello é ✓"}"#,
        r#"{"kubernetes":{"pod_namespace":"acme-prod","pod_labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web","starform.io/build-id":" b1 "}}}"#,
        r#"{"kubernetes":{"labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"},"pod_labels":{"starform.io/project":"globex"}}}"#,
        r#"{"kubernetes":{"pod_labels":{"starform.io/project":"acme"},"labels":{"starform.io/project":"ACME","starform.io/environment":"prod","starform.io/service":"web"},"namespace_name":"acme-prod"}}"#,
        r#"{"kubernetes":{"labels":{"te\nam":"acme","team":"other","starform.io/environment":"prod","starform.io/service":"web"}}}"#,
        r#"{"kubernetes":{"labels":{"starform.io/project":{"a":1},"starform.io/environment":[],"starform.io/service":7}}}"#,
        r#"{"kubernetes":{"labels":{},"namespace_name":{}}}"#,
        r#"{"kubernetes":"flat","labels":{"starform.io/project":"acme"}}"#,
        r#"{"kubernetes":{"labels":"flat","pod_labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"},"pod_namespace":"acme-prod"}}"#,
        r#"{"deep":{"a":{"b":{"c":[[[{"kubernetes":{"labels":{}}}]]]}}}}"#,
    ];

    #[test]
    fn records_in_output_form_take_the_fast_path_and_agree() {
        for input in OUTPUT_FORM {
            assert!(takes_fast_path(input), "{input}");
        }
        assert_same(OUTPUT_FORM);
    }

    const GENERAL: &[&str] = &[
        "",
        " {}",
        "{} ",
        "{\"a\" :1}",
        "[]",
        "\"x\"",
        r#"{"a":1,"a":2}"#,
        r#"{"log":"x","stream":"stdout","log":"y"}"#,
        r#"{"k":{"pod_name":"a","pod_name":"b"}}"#,
        r#"{"k":{"a":1,"a":2}}"#,
        r#"{"project":"acme"}"#,
        r#"{"starform_quarantine":{"reason":"malformed","key":null},"starform_raw":"x"}"#,
        r#"{"a":"\/"}"#,
        r#"{"a":"\u0041"}"#,
        r#"{"a":"\u000a"}"#,
        r#"{"a":"\u001F"}"#,
        r#"{"a":-0}"#,
        r#"{"a":1.50}"#,
        r#"{"a":1E5}"#,
        r#"{"a":1e5}"#,
        r#"{"a":18446744073709551616}"#,
        r#"{"a":-9223372036854775809}"#,
        r#"{"a":01}"#,
        r#"{"a":tru}"#,
        r#"{"a":1,}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":}"#,
        r#"{"a":1}}"#,
        r#"{"a":[}"#,
        "{\"a\":\"\u{1}\"}",
    ];

    #[test]
    fn anything_else_takes_the_general_path_and_agrees() {
        for input in GENERAL {
            assert!(!takes_fast_path(input), "{input}");
        }
        assert_same(GENERAL);
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert!(!takes_fast_path(&deep));
        assert_same(&[deep.as_str()]);
    }

    #[test]
    fn invalid_utf8_takes_the_general_path() {
        assert!(scan(b"{\"a\":\"\xff\"}", &mut Scratch::default()).is_none());
    }
}
