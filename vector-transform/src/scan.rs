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
use crate::view::LabelMap;

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
    let text = input;
    let mut found = Found::default();
    {
        let mut scanner = Scanner {
            bytes: input,
            pos: 0,
            scratch: &mut *scratch,
            found: &mut found,
        };
        scanner.document()?;
    }
    let Scratch {
        labels, pod_labels, ..
    } = &*scratch;
    Some(Scanned {
        text,
        labels: found.labels.then_some(ScannedMap {
            text,
            members: labels,
        }),
        pod_labels: found.pod_labels.then_some(ScannedMap {
            text,
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

struct Scanner<'s> {
    bytes: &'s [u8],
    pos: usize,
    scratch: &'s mut Scratch,
    found: &'s mut Found,
}

/// A value just read, as the enclosing object records it.
enum Value {
    String(Span),
    Other,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// The whole input: one object, nothing after it.
    fn document(&mut self) -> Option<()> {
        self.scratch.keys.clear();
        self.scratch.frames.clear();
        self.scratch.labels.clear();
        self.scratch.pod_labels.clear();
        self.eat(b'{')?;
        self.open(Some(Place::Top))?;
        if self.empty(b'}')? {
            return self.close()?.then_some(());
        }
        loop {
            let frame = *self.scratch.frames.last()?;
            // The key whose value comes next (objects only).
            let key = match frame.place {
                Some(place) => Some((place, self.member_key(frame)?)),
                None => None,
            };
            let value = match self.next()? {
                b'"' => Value::String(self.string()?),
                opener @ (b'{' | b'[') => {
                    let (place, closer) = if opener == b'{' {
                        let place = key.map_or(Place::Elsewhere, |(place, key)| child(place, key, self));
                        (Some(place), b'}')
                    } else {
                        (None, b']')
                    };
                    if let Some((parent, key)) = key {
                        self.record(parent, key, &Value::Other);
                    }
                    self.open(place)?;
                    if !self.empty(closer)? {
                        continue;
                    }
                    self.close()?;
                    if self.after_value()? {
                        return Some(());
                    }
                    continue;
                }
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'n' => self.literal(b"ull")?,
                first => self.number(first)?,
            };
            if let Some((place, key)) = key {
                self.record(place, key, &value);
            }
            if self.after_value()? {
                return Some(());
            }
        }
    }

    /// Consumes `closer` if the container just opened ends at once.
    fn empty(&mut self, closer: u8) -> Option<bool> {
        let empty = self.peek()? == closer;
        if empty {
            self.pos += 1;
        }
        Some(empty)
    }

    /// Pushes a frame for the container just opened.
    fn open(&mut self, place: Option<Place>) -> Option<()> {
        if self.scratch.frames.len() >= MAX_DEPTH {
            return None;
        }
        self.scratch.frames.push(Frame {
            place,
            keys_from: self.scratch.keys.len(),
        });
        Some(())
    }

    /// Pops the current frame; true when that was the top-level object and
    /// the input ends there.
    fn close(&mut self) -> Option<bool> {
        let frame = self.scratch.frames.pop()?;
        self.scratch.keys.truncate(frame.keys_from);
        if self.scratch.frames.is_empty() {
            return (self.pos == self.bytes.len()).then_some(true);
        }
        Some(false)
    }

    /// After a value: `,` continues the container; `}`/`]` closes it (and
    /// any containers that close right after). True at the end of input.
    fn after_value(&mut self) -> Option<bool> {
        loop {
            let frame = *self.scratch.frames.last()?;
            match (self.next()?, frame.place) {
                (b',', _) => return Some(false),
                (b'}', Some(_)) | (b']', None) => {
                    if self.close()? {
                        return Some(true);
                    }
                }
                _ => return None,
            }
        }
    }

    /// The next member's key, checked, and its colon.
    fn member_key(&mut self, frame: Frame) -> Option<Span> {
        self.eat(b'"')?;
        let key = self.string()?;
        let text = self.bytes;
        let print = fingerprint(text, key);
        let repeated = self
            .scratch
            .keys
            .get(frame.keys_from..)?
            .iter()
            .any(|(p, k)| *p == print && same_raw(text, *k, key));
        if repeated {
            return None;
        }
        if frame.place == Some(Place::Top) && RESERVED_FIELDS.iter().any(|f| raw_is(text, key, f)) {
            return None;
        }
        self.scratch.keys.push((print, key));
        self.eat(b':')?;
        Some(key)
    }

    /// A string's contents after its opening quote, up to and past the
    /// closing one; `None` unless it is UTF-8 and every escape is one
    /// serde_json writes.
    fn string(&mut self) -> Option<Span> {
        let start = self.pos;
        let (end, escaped) = string_end(self.bytes, start)?;
        self.pos = end + 1;
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
            escaped,
        })
    }

    fn literal(&mut self, rest: &[u8]) -> Option<Value> {
        let end = self.pos + rest.len();
        (self.bytes.get(self.pos..end)? == rest).then_some(())?;
        self.pos = end;
        Some(Value::Other)
    }

    /// A number as serde_json writes it again: an integer within `u64`
    /// (or `i64` when negative, never `-0`), or a float in ryu's shortest
    /// form.
    fn number(&mut self, first: u8) -> Option<Value> {
        let start = self.pos - 1;
        let negative = first == b'-';
        let lead = if negative { self.next()? } else { first };
        if !lead.is_ascii_digit() {
            return None;
        }
        let mut value = u64::from(lead - b'0');
        let mut fits = true;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if lead == b'0' {
                return None;
            }
            self.pos += 1;
            match value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(v) => value = v,
                None => fits = false,
            }
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return self.float(start);
        }
        let canonical = fits && (!negative || (1..=1u64 << 63).contains(&value));
        canonical.then_some(Value::Other)
    }

    fn float(&mut self, start: usize) -> Option<Value> {
        while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = self.peek() {
            self.pos += 1;
        }
        let raw = std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?;
        let parsed: f64 = raw.parse().ok()?;
        // serde_json's own writer decides the form (a finite f64 is at most
        // 24 bytes).
        let mut buffer = [0u8; 32];
        let mut cursor = std::io::Cursor::new(&mut buffer[..]);
        serde_json::to_writer(&mut cursor, &parsed).ok()?;
        let written = usize::try_from(cursor.position()).ok()?;
        (buffer.get(..written)? == raw.as_bytes()).then_some(Value::Other)
    }

    /// Notes a member the rules read.
    fn record(&mut self, place: Place, key: Span, value: &Value) {
        let value = match value {
            Value::String(span) => Some(*span),
            Value::Other => None,
        };
        match place {
            Place::Labels => self.scratch.labels.push((key, value)),
            Place::PodLabels => self.scratch.pod_labels.push((key, value)),
            Place::Kubernetes if raw_is(self.bytes, key, "namespace_name") => {
                self.found.namespace_name = value;
            }
            Place::Kubernetes if raw_is(self.bytes, key, "pod_namespace") => {
                self.found.pod_namespace = value;
            }
            _ => {}
        }
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
fn child(parent: Place, key: Span, scanner: &mut Scanner<'_>) -> Place {
    let bytes = scanner.bytes;
    match parent {
        Place::Top if raw_is(bytes, key, "kubernetes") => Place::Kubernetes,
        Place::Kubernetes if raw_is(bytes, key, "labels") => {
            scanner.found.labels = true;
            Place::Labels
        }
        Place::Kubernetes if raw_is(bytes, key, "pod_labels") => {
            scanner.found.pod_labels = true;
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
    let tail = bytes.get(end.saturating_sub(8).max(start)..end).unwrap_or_default();
    let mut last = [0u8; 8];
    if let Some(dst) = last.get_mut(..tail.len()) {
        dst.copy_from_slice(tail);
    }
    u64::from_le_bytes(last) ^ ((end - start) as u64).rotate_right(8)
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
