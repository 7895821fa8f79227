//! Newline-delimited records: the batch form used by `starform-wasm logs`
//! and the module's `starform_transform_batch` export.
//!
//! Lines are split on `\n` only (a `\r` before it stays part of the line; JSON
//! treats it as whitespace). Every line is a record, an empty one included,
//! except that input ending in `\n` has no empty record after it.

use crate::config::CompiledConfig;
use crate::outcome::Counts;
use crate::scan::Scratch;
use crate::transform::transform_with_scratch;

/// The records of an NDJSON buffer, in order.
pub fn records(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    let empty = input.is_empty();
    body.split(|b| *b == b'\n').filter(move |_| !empty)
}

/// Transforms every record of `input`, appending one output line (ending in
/// `\n`) per record to `out`, and counts the outcomes.
pub fn transform_batch(
    config: &CompiledConfig,
    input: &[u8],
    out: &mut Vec<u8>,
    counts: &mut Counts,
) {
    let mut scratch = Scratch::default();
    for_each_line(input, out, |record, out| {
        counts.record(transform_with_scratch(config, record, out, &mut scratch));
    });
}

/// Runs `one` on every record, each output followed by `\n` (the batch
/// framing both the native batch and the module's batch export use).
pub fn for_each_line(input: &[u8], out: &mut Vec<u8>, mut one: impl FnMut(&[u8], &mut Vec<u8>)) {
    for record in records(input) {
        one(record, out);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> Vec<&[u8]> {
        records(input).collect()
    }

    #[test]
    fn splits_on_newline_only() {
        assert!(split(b"").is_empty());
        assert_eq!(split(b"\n"), [b"" as &[u8]]);
        assert_eq!(split(b"a"), [b"a" as &[u8]]);
        assert_eq!(split(b"a\n"), [b"a" as &[u8]]);
        assert_eq!(split(b"a\n\nb\r\n"), [b"a" as &[u8], b"", b"b\r"]);
        assert_eq!(split(b"a\n\n"), [b"a" as &[u8], b""]);
    }

    #[test]
    fn batch_is_the_per_record_transform_joined() {
        let config = CompiledConfig::default();
        let input = b"{}\nnot json\n{\"kubernetes\":{\"labels\":{}}}\n";
        let mut out = Vec::new();
        let mut counts = Counts::default();
        transform_batch(&config, input, &mut out, &mut counts);
        let mut expected = Vec::new();
        for line in records(input) {
            expected.extend(crate::transform(&config, line));
            expected.push(b'\n');
        }
        assert_eq!(out, expected);
        assert_eq!(counts.total_quarantined(), 3);
    }
}
