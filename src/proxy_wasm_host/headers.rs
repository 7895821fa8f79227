//! Header maps and the ABI's pair encoding:
//! `u32 count`, then `count × (u32 key_len, u32 value_len)`, then each key
//! and value followed by a NUL byte; all integers little-endian.

/// An ordered multi-map of header names to values. Names are stored
/// lowercased, as Envoy's `LowerCaseString` does on every write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeaderMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut map = Self::new();
        for (k, v) in pairs {
            map.add(k.as_ref(), v.as_ref());
        }
        map
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        self.entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        self.entries
            .push((name.to_ascii_lowercase(), value.to_vec()));
    }

    /// Sets `name` to exactly one value: the first occurrence keeps its
    /// position, later ones are dropped; appended when absent.
    pub fn replace(&mut self, name: &[u8], value: &[u8]) {
        let name = name.to_ascii_lowercase();
        let mut seen = false;
        self.entries.retain_mut(|(k, v)| {
            if *k != name {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.to_vec();
            true
        });
        if !seen {
            self.entries.push((name, value.to_vec()));
        }
    }

    pub fn remove(&mut self, name: &[u8]) {
        let name = name.to_ascii_lowercase();
        self.entries.retain(|(k, _)| *k != name);
    }

    /// The ABI encoding of all pairs.
    pub fn serialize(&self) -> Vec<u8> {
        serialize_pairs(self.iter())
    }
}

/// Encodes pairs in the ABI layout. Lengths beyond `u32` cannot come from a
/// wasm32 guest; they are clamped rather than trusted.
pub fn serialize_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let count = pairs.clone().count();
    let mut out = Vec::new();
    out.extend_from_slice(&len_u32(count).to_le_bytes());
    for (k, v) in pairs.clone() {
        out.extend_from_slice(&len_u32(k.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(v.len()).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the ABI layout, to check the encoding against; `None` when the
    /// bytes are truncated or inconsistent. An empty input is an empty map.
    fn deserialize_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        if bytes.is_empty() {
            return Some(Vec::new());
        }
        let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
        let mut data = count.checked_mul(8)?.checked_add(4)?;
        let mut pairs = Vec::with_capacity(count.min(1024));
        for n in 0..count {
            let size_at = n.checked_mul(8)?.checked_add(4)?;
            let key_len = usize::try_from(read_u32(bytes, size_at)?).ok()?;
            let value_len = usize::try_from(read_u32(bytes, size_at.checked_add(4)?)?).ok()?;
            let key = bytes.get(data..data.checked_add(key_len)?)?.to_vec();
            data = data.checked_add(key_len)?.checked_add(1)?;
            let value = bytes.get(data..data.checked_add(value_len)?)?.to_vec();
            data = data.checked_add(value_len)?.checked_add(1)?;
            pairs.push((key, value));
        }
        Some(pairs)
    }

    fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(raw))
    }

    #[test]
    fn encoding_matches_the_sdk_layout() {
        let map = HeaderMap::from_pairs([(":method", "GET"), ("X-A", "1")]);
        let bytes = map.serialize();
        let expected: Vec<u8> = [
            &[2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0][..],
            b":method\0GET\0x-a\x001\0",
        ]
        .concat();
        assert_eq!(bytes, expected);
        let back = deserialize_pairs(&bytes).unwrap();
        assert_eq!(
            back,
            vec![
                (b":method".to_vec(), b"GET".to_vec()),
                (b"x-a".to_vec(), b"1".to_vec())
            ]
        );
    }

    #[test]
    fn truncated_encoding_is_rejected() {
        let bytes = HeaderMap::from_pairs([("a", "b")]).serialize();
        for cut in 1..bytes.len() - 1 {
            assert_eq!(deserialize_pairs(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(deserialize_pairs(&[0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn replace_keeps_one_value_and_lowercases() {
        let mut map = HeaderMap::from_pairs([("a", "1"), ("B", "2"), ("a", "3")]);
        map.replace(b"A", b"9");
        assert_eq!(
            map.serialize(),
            HeaderMap::from_pairs([("a", "9"), ("b", "2")]).serialize()
        );
        map.replace(b"c", b"4");
        assert_eq!(map.get(b"C"), Some(&b"4"[..]));
        map.remove(b"a");
        assert_eq!(map.get(b"a"), None);
        assert_eq!(map.len(), 2);
    }
}
