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

use crate::key_memo::KeyMemo;
use crate::label_keys::LabelKeys;
use crate::transform::RESERVED_FIELDS;
use crate::view::{LabelMap, FLUENT_BIT_NAMESPACE, VECTOR_NAMESPACE};

/// Deeper input goes to the general path, whose parser has the nesting limit
/// (serde_json's 128) that decides whether it is JSON at all.
const MAX_DEPTH: usize = 64;

/// Keys of the objects open at once that the repeated-key check holds; a
/// record with more takes the general path.
const MAX_OPEN_KEYS: usize = 512;

/// A JSON string's contents (between the quotes) in the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    start: u32,
    end: u32,
    /// Holds a backslash escape: decode before comparing.
    escaped: bool,
}

/// A candidate label key as found in one label map: `None` when absent,
/// `Some(None)` when its value is not a string.
type Slot = Option<Option<Span>>;

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
#[derive(Debug)]
pub struct Scratch {
    /// The [`fingerprint`]s of the keys of the objects being read, in its
    /// first `MAX_OPEN_KEYS` words (sized once, then written in place).
    prints: Vec<u64>,
    frames: Vec<Frame>,
    /// One slot per candidate label key (numbered as in [`LabelKeys`]) for
    /// `kubernetes.labels`, then as many for `kubernetes.pod_labels`.
    slots: Vec<Slot>,
    /// The keys met so far, with their facts.
    memo: KeyMemo<KeyFacts>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Scratch {
    /// `remembers`: whether keys met in one record are held for the next.
    fn new(remembers: bool) -> Self {
        Self {
            prints: Vec::new(),
            frames: Vec::new(),
            slots: Vec::new(),
            memo: KeyMemo::new(remembers),
        }
    }

    /// Buffers for a single record: nothing is held for a next one.
    pub(crate) fn once() -> Self {
        Self::new(false)
    }
}

/// Which of the names the scan looks for a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Named {
    Other,
    /// One of [`RESERVED_FIELDS`] (only at the top level does it matter).
    Reserved,
    Kubernetes,
    Labels,
    PodLabels,
    NamespaceName,
    PodNamespace,
}

/// What the walk needs to know of a key: worked out once for each key met
/// (the key memo keeps it), whatever object the key is in.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyFacts {
    print: u64,
    /// In one word, as the walk copies these for every member: the index
    /// of `bloom_bit(print)` (bits 0–5), the [`Named`] (bits 8–15), and the
    /// key's number among the configuration's candidate label keys plus
    /// one (bits 32–63; 0: none).
    tag: u64,
}

impl KeyFacts {
    fn new(print: u64, name: Named, label: Option<usize>) -> Self {
        let label = label.and_then(|id| u32::try_from(id + 1).ok()).unwrap_or(0);
        Self {
            print,
            tag: bloom_index(print) | u64::from(name as u8) << 8 | u64::from(label) << 32,
        }
    }

    #[inline(always)]
    fn bit(self) -> u64 {
        1 << (self.tag & 63)
    }

    #[inline(always)]
    fn is(self, name: Named) -> bool {
        (self.tag >> 8) as u8 == name as u8
    }

    #[inline(always)]
    fn label(self) -> Option<usize> {
        ((self.tag >> 32) as usize).checked_sub(1)
    }

    /// The facts of `key`, in an object at `place`. An escaped key's
    /// fingerprint is of its encoding, not of the name it decodes to: it is
    /// none of the scan's names (none holds a character serde_json escapes)
    /// and is looked up among the label keys by name, where labels are read.
    fn of(b: &[u8], key: Span, keys: &LabelKeys, place: Place) -> Self {
        let print = fingerprint(b, key);
        let bit = bloom_bit(print);
        if key.escaped {
            let label = match place {
                Place::Labels | Place::PodLabels => keys.find_decoded(&decode(b, key)),
                _ => None,
            };
            return Self::new(print, Named::Other, label);
        }
        let is = |name| is(b, key, print, name);
        let name = if RESERVED_BLOOM & bit != 0 && RESERVED.iter().any(|name| is(*name)) {
            Named::Reserved
        } else if is(KUBERNETES) {
            Named::Kubernetes
        } else if is(LABELS) {
            Named::Labels
        } else if is(POD_LABELS) {
            Named::PodLabels
        } else if is(NAMESPACE_NAME) {
            Named::NamespaceName
        } else if is(POD_NAMESPACE) {
            Named::PodNamespace
        } else {
            Named::Other
        };
        let mut label = None;
        if keys.bloom() & bit != 0 {
            let mut from = 0;
            while let Some(id) = keys.find_print(print, from) {
                if same_as_print(b, key, keys.key(id).as_bytes()) {
                    label = Some(id);
                    break;
                }
                from = id + 1;
            }
        }
        Self::new(print, name, label)
    }
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

/// A label map found by the scan: the candidate keys it holds, by number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScannedMap<'a> {
    text: &'a [u8],
    slots: &'a [Slot],
}

impl LabelMap for ScannedMap<'_> {
    #[inline(always)]
    fn lookup(&self, id: usize, _keys: &LabelKeys) -> Option<Option<Cow<'_, str>>> {
        let found = (*self.slots.get(id)?)?;
        Some(found.map(|v| decode(self.text, v)))
    }
}

/// Unescapes a string span the scan accepted (UTF-8, only the escapes
/// [`string_end`] accepts).
fn decode(text: &[u8], span: Span) -> Cow<'_, str> {
    let bytes = text
        .get(span.start as usize..span.end as usize)
        .unwrap_or_default();
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: a `Span` is made only by `walk` (its fields are private to
    // this module; tests aside), over a string `string_end` accepted in this same
    // input, and `string_end` accepts only well-formed UTF-8: every byte of
    // 0x80 or above starts a sequence `utf8_end` checks against the Unicode
    // standard's table, every other byte is ASCII. The fast and general
    // paths (whose parser validates with `from_utf8`) are compared by unit
    // tests, the golden corpus and a fuzz target. Checking again here was
    // a twentieth of the module's instructions per record.
    let raw = unsafe { std::str::from_utf8_unchecked(bytes) };
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
/// no reserved top-level field. Labels are matched against `keys`.
pub(crate) fn scan<'a>(
    input: &'a [u8],
    scratch: &'a mut Scratch,
    keys: &LabelKeys,
) -> Option<Scanned<'a>> {
    let mut found = Found::default();
    walk(input, scratch, keys, &mut found)?;
    let (labels, pod_labels) = scratch.slots.split_at(keys.len().min(scratch.slots.len()));
    let map = |present: bool, slots| present.then_some(ScannedMap { text: input, slots });
    Some(Scanned {
        text: input,
        labels: map(found.labels, labels),
        pod_labels: map(found.pod_labels, pod_labels),
        namespace_name: found.namespace_name,
        pod_namespace: found.pod_namespace,
    })
}

/// Rule 1's output for a record that was not an object, in output form:
/// `starform_raw` (or `starform_raw_base64`) holding a string serde_json
/// would write the same way, then the `malformed` quarantine. The
/// aggregator sees every such record a node wrote; the general path would
/// parse it into a tree only to write it out unchanged.
pub(crate) fn is_malformed_output_form(input: &[u8]) -> bool {
    const HEADS: [&[u8]; 2] = [b"{\"starform_raw\":\"", b"{\"starform_raw_base64\":\""];
    const TAIL: &[u8] = b"\",\"starform_quarantine\":{\"reason\":\"malformed\",\"key\":null}}";
    // Its last eight bytes first: nearly every other record differs there,
    // and comparing the whole tail is a call into `memcmp`.
    let last_word = input.len().checked_sub(8).and_then(|at| input.get(at..));
    if last_word != TAIL.get(TAIL.len() - 8..) {
        return false;
    }
    let Some(body) = input.strip_suffix(TAIL) else {
        return false;
    };
    // The string must end exactly where the tail begins (its first byte is
    // the string's closing quote).
    HEADS.iter().any(|head| {
        body.starts_with(head)
            && string_end(input, head.len()).is_some_and(|(end, _)| end == body.len())
    })
}

#[derive(Debug, Default)]
struct Found {
    labels: bool,
    pod_labels: bool,
    namespace_name: Option<Span>,
    pod_namespace: Option<Span>,
}

/// A key as the walk holds it: the object it is in, its facts.
type Key = (Place, KeyFacts);

/// The whole input: one object, nothing after it. One loop with its state
/// in locals (the scan is most of what the module executes per record, and
/// an interpreter pays for every load, store and call): `place` and
/// `keys_from` describe the innermost open container, `frames` the
/// ones around it.
fn walk(b: &[u8], scratch: &mut Scratch, keys: &LabelKeys, found: &mut Found) -> Option<()> {
    let Scratch {
        prints,
        frames,
        slots,
        memo,
    } = scratch;
    memo.serve(keys.id());
    if prints.len() != MAX_OPEN_KEYS {
        prints.resize(MAX_OPEN_KEYS, 0);
    }
    let prints = prints.as_mut_slice();
    // Keys held in `prints`.
    let mut held = 0;
    frames.clear();
    slots.clear();
    slots.resize(2 * keys.len(), None);
    if *b.first()? != b'{' || u32::try_from(b.len()).is_err() {
        return None;
    }
    let mut pos = 1;
    // `None`: an array.
    let mut place = Some(Place::Top);
    let mut keys_from = 0;
    let mut bloom = 0u64;
    // The fingerprint of the key read last, in document order: where the
    // key memo looks for the next key.
    let mut before = 0u64;
    if *b.get(pos)? == b'}' {
        return (pos + 1 == b.len()).then_some(());
    }
    loop {
        // A member's key (objects) or nothing (arrays), then the value.
        let key: Option<Key> = match place {
            Some(current) => {
                let facts = if let Some(known) = memo.find(b, pos, before) {
                    pos += known.len;
                    known.facts
                } else {
                    if *b.get(pos)? != b'"' {
                        return None;
                    }
                    let (end, escaped) = string_end(b, pos + 1)?;
                    if *b.get(end + 1)? != b':' {
                        return None;
                    }
                    let key = span(pos + 1, end, escaped);
                    let facts = KeyFacts::of(b, key, keys, current);
                    if !escaped {
                        memo.learn(b, pos, end + 2, before, facts);
                    }
                    pos = end + 2;
                    facts
                };
                let print = facts.print;
                before = print;
                // One bit per fingerprint in a word per container: the
                // object's fingerprints are compared only when the bit was
                // already set. Two keys with one fingerprint are taken for
                // a repeated key without comparing them: the general path
                // decides such a record (different keys almost never share
                // their last eight bytes and their length).
                let bit = facts.bit();
                let repeated = bloom & bit != 0 && prints.get(keys_from..held)?.contains(&print);
                bloom |= bit;
                if repeated || (current == Place::Top && facts.is(Named::Reserved)) {
                    return None;
                }
                *prints.get_mut(held)? = print;
                held += 1;
                Some((current, facts))
            }
            None => None,
        };
        let c = *b.get(pos)?;
        let value = match c {
            b'"' => {
                let (end, escaped) = string_end(b, pos + 1)?;
                let value = span(pos + 1, end, escaped);
                pos = end + 1;
                Some(value)
            }
            b'{' | b'[' => {
                if let Some(key @ (Place::Kubernetes | Place::Labels | Place::PodLabels, _)) = key {
                    note(slots, keys, found, key, None);
                }
                let (inner, closer) = if c == b'{' {
                    (
                        Some(key.map_or(Place::Elsewhere, |key| child(key, found))),
                        b'}',
                    )
                } else {
                    (None, b']')
                };
                pos += 1;
                if *b.get(pos)? != closer {
                    if frames.len() >= MAX_DEPTH {
                        return None;
                    }
                    frames.push(Frame {
                        place,
                        keys_from,
                        bloom,
                    });
                    place = inner;
                    keys_from = held;
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
        if let Some(key @ (Place::Kubernetes | Place::Labels | Place::PodLabels, _)) = key {
            if c != b'{' && c != b'[' {
                note(slots, keys, found, key, value);
            }
        }
        // After a value: `,` continues the container (tested first, alone:
        // it follows most values); `}`/`]` closes it and maybe the
        // containers around it.
        if *b.get(pos)? == b',' {
            pos += 1;
            continue;
        }
        loop {
            let c = *b.get(pos)?;
            pos += 1;
            match (c, place) {
                (b',', _) => break,
                (b'}', Some(_)) | (b']', None) => {
                    held = keys_from;
                    let Some(outer) = frames.pop() else {
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

/// `walk` takes no input longer than `u32::MAX` bytes, so positions fit.
fn span(start: usize, end: usize, escaped: bool) -> Span {
    Span {
        start: start as u32,
        end: end as u32,
        escaped,
    }
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

/// Notes a member the rules read: a candidate label (its value if a string)
/// or a namespace field. Inlined: it runs for every member of the maps the
/// rules read, and most of those members are none of these.
#[inline(always)]
fn note(
    slots: &mut [Slot],
    keys: &LabelKeys,
    found: &mut Found,
    (place, facts): Key,
    value: Option<Span>,
) {
    let map = match place {
        Place::Labels => 0,
        Place::PodLabels => keys.len(),
        Place::Kubernetes => {
            if facts.is(Named::NamespaceName) {
                found.namespace_name = value;
            } else if facts.is(Named::PodNamespace) {
                found.pod_namespace = value;
            }
            return;
        }
        Place::Top | Place::Elsewhere => return,
    };
    if let Some(slot) = facts.label().and_then(|id| slots.get_mut(map + id)) {
        *slot = Some(value);
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
/// Most of what the module executes per record is this loop, so it is
/// written for an interpreter: plain bytes are passed eight at a time (four
/// words a step while 32 bytes remain), and a short escape (`\"`, `\n`, …)
/// with both its bytes in one word is passed inside that word (log
/// messages hold dozens). The first word holding anything else (the
/// closing quote, a control character, a non-ASCII byte, a `\u` escape, an
/// escape split across words) is looked at from that byte on, byte by
/// byte, as are the last few bytes of the input.
/// Inlined: a call and its two results through memory cost more than a
/// short value.
#[inline(always)]
fn string_end(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut pos = start;
    let mut escaped = false;
    loop {
        if let Some((at, w, m)) = flagged_word(b, &mut pos, &mut escaped) {
            // The flagged byte's lowest bit: `m` holds its highest.
            let shift = m.trailing_zeros().wrapping_sub(7);
            if (w >> shift) as u8 == b'"' {
                return Some((at + (shift / 8) as usize, escaped));
            }
            pos = at + (shift / 8) as usize;
        }
        match *b.get(pos)? {
            b'"' => return Some((pos, escaped)),
            b'\\' => {
                escaped = true;
                match *b.get(pos + 1)? {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                    b'u' => {
                        control_escape(b.get(pos + 2..pos + 6)?)?;
                        pos += 6;
                    }
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            0x80.. => pos = utf8_end(b, pos)?,
            // A plain byte among the last few of the input.
            _ => pos += 1,
        }
    }
}

/// The escapes serde_json writes with one character after the backslash:
/// `"` and, as bits of the characters 0x40–0x7f, `\ b f n r t`.
const SHORT_ESCAPES: u64 = 1 << (b'\\' - 0x40)
    | 1 << (b'b' - 0x40)
    | 1 << (b'f' - 0x40)
    | 1 << (b'n' - 0x40)
    | 1 << (b'r' - 0x40)
    | 1 << (b't' - 0x40);

/// `c` follows a backslash in an escape serde_json writes other than `\u`.
#[inline(always)]
fn short_escape(c: u8) -> bool {
    c == b'"' || (c >> 6 == 1 && (SHORT_ESCAPES >> (c & 0x3f)) & 1 != 0)
}

/// What of `w`'s [`special`] mask `m` is left once the short escapes at its
/// start are passed: 0 if nothing else is in the word, else a mask whose
/// lowest flag is the byte to look at. Exact: every byte before the word's
/// first non-ASCII one is ASCII, so no carry reached the bytes it reads.
#[inline(always)]
fn past_escapes(w: u64, mut m: u64, escaped: &mut bool) -> u64 {
    while m != 0 {
        let shift = m.trailing_zeros().wrapping_sub(7);
        // The flagged byte and the one after it (0 past the word's end).
        let here = w >> shift;
        if here as u8 != b'\\' || !short_escape((here >> 8) as u8) {
            return m;
        }
        *escaped = true;
        // Both bytes' flags off (the second has one if it is `"` or `\`).
        m &= !(0x8080 << shift);
    }
    0
}

/// The first word from `pos` on that holds a byte which may not stand in a
/// string as it is, its short escapes aside: where it starts, the word, the
/// mask [`past_escapes`] leaves. `None` once fewer than eight bytes remain,
/// `pos` then where they start. Sets `escaped` when it passes an escape.
#[inline(always)]
fn flagged_word(b: &[u8], pos: &mut usize, escaped: &mut bool) -> Option<(usize, u64, u64)> {
    while let Some(chunk) = b.get(*pos..*pos + 32) {
        // Word by word, leaving at the first that holds one: most strings
        // (keys, short values) end within their first eight bytes.
        for at in [0, 8, 16, 24] {
            let w = word(chunk, at);
            let m = past_escapes(w, special(w), escaped);
            if m != 0 {
                return Some((*pos + at, w, m));
            }
        }
        *pos += 32;
    }
    while let Some(chunk) = b.get(*pos..*pos + 8) {
        let w = word(chunk, 0);
        let m = past_escapes(w, special(w), escaped);
        if m != 0 {
            return Some((*pos, w, m));
        }
        *pos += 8;
    }
    None
}

/// Whether `bytes` are ASCII with nothing a JSON string must escape (no
/// `"`, `\\` or control character), eight bytes at a time.
pub(crate) fn plain_ascii(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        if special(u64::from_le_bytes(*head)) != 0 {
            return false;
        }
        rest = tail;
    }
    // The last few bytes, padded with a plain one.
    let mut padded = [b'a'; 8];
    if let Some(start) = padded.get_mut(..rest.len()) {
        start.copy_from_slice(rest);
    }
    special(u64::from_le_bytes(padded)) == 0
}

/// Past the UTF-8 sequence whose first byte (0x80 or above) is at `pos`,
/// if it is one (the Unicode standard's table of well-formed sequences).
fn utf8_end(b: &[u8], pos: usize) -> Option<usize> {
    let within =
        |i: usize, low: u8, high: u8| b.get(pos + i).is_some_and(|c| (low..=high).contains(c));
    let (len, second) = match *b.get(pos)? {
        0xC2..=0xDF => (2, (0x80, 0xBF)),
        0xE0 => (3, (0xA0, 0xBF)),
        0xE1..=0xEC | 0xEE..=0xEF => (3, (0x80, 0xBF)),
        0xED => (3, (0x80, 0x9F)),
        0xF0 => (4, (0x90, 0xBF)),
        0xF1..=0xF3 => (4, (0x80, 0xBF)),
        0xF4 => (4, (0x80, 0x8F)),
        _ => return None,
    };
    let rest_ok = (2..len).all(|i| within(i, 0x80, 0xBF));
    (within(1, second.0, second.1) && rest_ok).then_some(pos + len)
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Eight bytes at `at` of a chunk the caller has checked is long enough.
#[inline(always)]
fn word(chunk: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(bytes) = chunk.get(at..at + 8) {
        word.copy_from_slice(bytes);
    }
    u64::from_le_bytes(word)
}

/// The high bit of each byte of `word` that may not stand in a string as it
/// is: `"`, `\\`, below 0x20, or 0x80 and above. Exact up to and including
/// the first such byte (a byte of 0x80 or above may carry into the ones
/// after it), which is all the scan reads.
#[inline(always)]
fn special(word: u64) -> u64 {
    // `"` is 0x22: flipping bit 1 maps it to 0x20 and the control
    // characters onto themselves, so one "below 0x21" test finds all of
    // them.
    let not_quote_or_control = (word ^ (ONES * 0x02)).wrapping_add(ONES * (0x80 - 0x21));
    let not_backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_add(ONES * 0x7f);
    (!(not_quote_or_control & not_backslash) | word) & HIGH_BITS
}

/// Where an object opened as the value of `key` sits.
fn child((parent, facts): Key, found: &mut Found) -> Place {
    match parent {
        Place::Top if facts.is(Named::Kubernetes) => Place::Kubernetes,
        Place::Kubernetes if facts.is(Named::Labels) => {
            found.labels = true;
            Place::Labels
        }
        Place::Kubernetes if facts.is(Named::PodLabels) => {
            found.pod_labels = true;
            Place::PodLabels
        }
        _ => Place::Elsewhere,
    }
}

/// A name the scan looks for, with its fingerprint.
type Name = (&'static str, u64);

const fn name(text: &'static str) -> Name {
    (text, fingerprint_of(text.as_bytes()))
}

const KUBERNETES: Name = name("kubernetes");
const LABELS: Name = name("labels");
const POD_LABELS: Name = name("pod_labels");
const NAMESPACE_NAME: Name = name(FLUENT_BIT_NAMESPACE.0);
const POD_NAMESPACE: Name = name(VECTOR_NAMESPACE.0);

/// The reserved top-level fields with their fingerprints.
const RESERVED: [Name; 6] = {
    let [a, b, c, d, e, f] = RESERVED_FIELDS;
    [name(a), name(b), name(c), name(d), name(e), name(f)]
};

/// The bloom bits of the reserved top-level fields: a top-level key whose
/// bit is not among them is none of them.
const RESERVED_BLOOM: u64 = {
    let [a, b, c, d, e, f] = RESERVED;
    bloom_bit(a.1)
        | bloom_bit(b.1)
        | bloom_bit(c.1)
        | bloom_bit(d.1)
        | bloom_bit(e.1)
        | bloom_bit(f.1)
};

/// `key` is `name`: fingerprints first, the bytes only when they agree.
#[inline(always)]
fn is(b: &[u8], key: Span, print: u64, (text, name_print): Name) -> bool {
    print == name_print && same_as_print(b, key, text.as_bytes())
}

/// Whether a key is `name`, once their fingerprints agree: an escaped key
/// is not (none of the names the scan looks for holds an escaped
/// character); otherwise the lengths must agree, and then the fingerprints
/// already hold the whole of a key of up to eight bytes and the last eight
/// of a longer one, so only the bytes before those are compared.
#[inline(always)]
fn same_as_print(bytes: &[u8], key: Span, name: &[u8]) -> bool {
    let Some(raw) = bytes.get(key.start as usize..key.end as usize) else {
        return false;
    };
    if key.escaped || raw.len() != name.len() {
        return false;
    }
    let head = raw.len().saturating_sub(8);
    match (raw.get(..head), name.get(..head)) {
        (Some(a), Some(b)) => same_words(a, b),
        _ => false,
    }
}

/// Byte slices compared eight bytes at a time (the last word overlapping),
/// without a call into libc's bytewise `memcmp`.
pub(crate) fn same_words(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        // Both padded to a word alike: one comparison, no byte loop.
        let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
        if let (Some(x), Some(y)) = (x.get_mut(..n), y.get_mut(..n)) {
            x.copy_from_slice(a);
            y.copy_from_slice(b);
        }
        return x == y;
    }
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// One bit of a 64-bit bloom word per fingerprint.
pub(crate) const fn bloom_bit(print: u64) -> u64 {
    1u64 << bloom_index(print)
}

/// The index of [`bloom_bit`].
const fn bloom_index(print: u64) -> u64 {
    print.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58
}

/// A key's last eight bytes and its length in one word: keys that differ
/// almost always differ here (label keys share prefixes such as
/// `starform.io/`, not endings), so the repeated-key check compares words.
/// Equal to [`fingerprint_of`] the key's bytes.
#[inline(always)]
fn fingerprint(bytes: &[u8], key: Span) -> u64 {
    let (start, end) = (key.start as usize, key.end as usize);
    let len = end - start;
    if len == 0 {
        return 0;
    }
    // The eight bytes ending where the key ends, with those before the key
    // shifted out: the key's last (up to) eight bytes as a little-endian
    // number, whatever precedes it.
    let Some(tail) = end.checked_sub(8).and_then(|from| bytes.get(from..end)) else {
        // Near the start of the input: the same number, from the key alone.
        return fingerprint_of(bytes.get(start..end).unwrap_or_default());
    };
    let last = word(tail, 0);
    let kept = if len >= 8 {
        last
    } else {
        last >> (8 * (8 - len))
    };
    kept ^ (len as u64).rotate_right(8)
}

/// The fingerprint of a key whose encoding is `name` (the scan's
/// [`fingerprint`], for names known ahead: the configuration's candidate
/// keys and the fields the scan looks for).
pub(crate) const fn fingerprint_of(name: &[u8]) -> u64 {
    let len = name.len();
    // The last (up to) eight bytes, the last one highest.
    let mut kept = 0u64;
    let mut taken = 0;
    let mut rest = name;
    while let [init @ .., last] = rest {
        if taken == 8 {
            break;
        }
        kept = (kept << 8) | *last as u64;
        rest = init;
        taken += 1;
    }
    if len == 0 {
        return 0;
    }
    kept ^ (len as u64).rotate_right(8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompiledConfig;
    use crate::transform::{transform_general_into, transform_with_scratch};

    const TEMPLATE: &str = r#"{"key_aliases":{"te\nam":"starform.io/project","team":"starform.io/project"},"namespace_template":"{project}-{environment}","max_record_bytes":400}"#;

    fn takes_fast_path(input: &str) -> bool {
        let keys = CompiledConfig::default();
        scan(input.as_bytes(), &mut Scratch::default(), keys.label_keys()).is_some()
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

    const MALFORMED_OUTPUT: &[&str] = &[
        r#"{"starform_raw":"{\"log\":\"cut off \u0001é","starform_quarantine":{"reason":"malformed","key":null}}"#,
        r#"{"starform_raw_base64":"/w==","starform_quarantine":{"reason":"malformed","key":null}}"#,
        r#"{"starform_raw":"","starform_quarantine":{"reason":"malformed","key":null}}"#,
    ];

    /// Rule 1's output and near misses: the copy is only for the exact form.
    #[test]
    fn malformed_output_is_copied_only_in_output_form() {
        for input in MALFORMED_OUTPUT {
            assert!(is_malformed_output_form(input.as_bytes()), "{input}");
        }
        assert_same(MALFORMED_OUTPUT);
        let near = [
            r#"{"starform_raw":"a"b","starform_quarantine":{"reason":"malformed","key":null}}"#,
            r#"{"starform_raw":"a\/","starform_quarantine":{"reason":"malformed","key":null}}"#,
            r#"{"starform_raw":"a","starform_quarantine":{"reason":"malformed","key":"x"}}"#,
            r#"{"starform_raw":"a","b":1,"starform_quarantine":{"reason":"malformed","key":null}}"#,
            r#"{"starform_quarantine":{"reason":"malformed","key":null},"starform_raw":"a"}"#,
            r#"{"starform_raw":1,"starform_quarantine":{"reason":"malformed","key":null}}"#,
        ];
        for input in near {
            assert!(!is_malformed_output_form(input.as_bytes()), "{input}");
        }
        assert_same(&near);
    }

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

    /// Keys met before are taken from the key memo: each record below
    /// follows one that taught the memo its keys in another place, shape
    /// or configuration, and both paths still agree, record by record.
    #[test]
    fn keys_met_before_decide_as_keys_met_first() {
        let pad = "\"pad\":\"................\"";
        let records = [
            // A reserved name inside an object, then at the top level.
            format!(r#"{{"x":{{"project":"acme","service":1}},{pad}}}"#),
            format!(r#"{{"project":"acme",{pad}}}"#),
            // Label keys read elsewhere, then where the rules read them.
            format!(r#"{{"labels":{{"starform.io/project":"a","team":"b"}},{pad}}}"#),
            format!(
                r#"{{"kubernetes":{{"labels":{{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web","team":"x"}},"namespace_name":"acme-prod"}},{pad}}}"#
            ),
            // A learnt key repeated, and learnt keys as prefixes of others.
            format!(r#"{{"kubernetes":1,"kubernetes":2,{pad}}}"#),
            format!(r#"{{"kubernetesx":1,"kubernete":2,"starform.io/projectx":3,{pad}}}"#),
            format!(
                r#"{{"kubernetes":{{"labels"":{{"starform.io/project":"acme"}},"labels":{{}}}},{pad}}}"#
            ),
            // Keys at the end of the input.
            r#"{"kubernetes":{"labels":{"starform.io/project":"acme"}}}"#.to_owned(),
        ];
        let records: Vec<&str> = records.iter().map(String::as_str).collect();
        assert_same(&records);
        // Twice, so every record meets keys the memo already holds.
        let twice: Vec<&str> = records.iter().chain(&records).copied().collect();
        assert_same(&twice);
        assert!(!takes_fast_path(records[1]));
        assert!(!takes_fast_path(records[4]));
    }

    /// One scratch serving two configurations in turn numbers labels by the
    /// configuration it serves.
    #[test]
    fn a_scratch_serving_another_configuration_forgets_its_keys() {
        let record = r#"{"kubernetes":{"labels":{"team":"acme","starform.io/environment":"prod","starform.io/service":"web","starform.io/project":"other"},"namespace_name":"acme-prod"},"log":"........"}"#;
        let plain = CompiledConfig::default();
        let aliased =
            CompiledConfig::from_json(br#"{"key_aliases":{"team":"starform.io/project"}}"#)
                .unwrap();
        let mut scratch = Scratch::default();
        for config in [&plain, &aliased, &plain, &aliased] {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            transform_with_scratch(config, record.as_bytes(), &mut fast, &mut scratch);
            transform_general_into(config, record.as_bytes(), &mut general);
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&general)
            );
        }
    }

    /// The scan's fingerprint of a key in a record and the one computed
    /// ahead for a name agree, for keys of every length and position.
    #[test]
    fn fingerprints_of_keys_and_names_agree() {
        for len in 0..20 {
            let key: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            for input in [
                format!("{{\"{key}\":1}}"),
                format!("{{\"padding-key\":1,\"{key}\":1}}"),
            ] {
                let b = input.as_bytes();
                let end = input.rfind("\":").unwrap();
                let span = Span {
                    start: (end - len) as u32,
                    end: end as u32,
                    escaped: false,
                };
                assert_eq!(
                    fingerprint(b, span),
                    fingerprint_of(key.as_bytes()),
                    "{input}"
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_takes_the_general_path() {
        let keys = CompiledConfig::default();
        assert!(scan(
            b"{\"a\":\"\xff\"}",
            &mut Scratch::default(),
            keys.label_keys()
        )
        .is_none());
    }
}
