//! The keys the fast scan has met, with what it worked out for each.
//!
//! A collector writes the same few dozen keys in every record (`log`,
//! `kubernetes`, `namespace_name`, the pod's label keys…). Reading a key
//! costs the scan a string scan, a fingerprint and a comparison with each
//! name it looks for: a third of its work per member. A key held here is
//! recognised by comparing the input with its bytes as the record had them
//! (`"key":`, quotes and colon included), a word at a time, and its facts
//! are taken as they were worked out.
//!
//! A key is held in the set its first four bytes and the key read before
//! it (in document order) choose: keys sharing a prefix (`starform.io/…`,
//! `app.kubernetes.io/…`) follow different keys, so they spread over the
//! sets, and a record shaped like the ones before finds each key in the
//! first place it looks. A key that follows several others is held once
//! for each.
//!
//! Only the input's bytes decide a hit: an entry holds the bytes of a key
//! the scan accepted unescaped, with its quotes and colon, and the same
//! bytes are the same key, which the scan would accept again, unescaped,
//! ending at the same quote. The facts may also depend on the
//! configuration (label numbers), so the memo is emptied when it serves
//! another one.

/// Sets, chosen by a key's first four bytes (its opening quote and, for a
/// key of one or more bytes, bytes up to its colon: the same in every
/// record) and the key before it.
const SETS: usize = 128;
/// Keys per set.
const WAYS: usize = 4;
/// Longest key held, quotes and colon included, in words.
const MAX_WORDS: usize = 5;
/// Shortest key held (`"a":`): an empty key's first four input bytes
/// include its value's first byte.
const MIN_LEN: usize = 4;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<T> {
    /// Words compared.
    count: usize,
    /// The bytes of the first word that belong to the key (an empty
    /// entry's is 0 and its first word is not: no input matches).
    first_mask: u64,
    /// The key's bytes, then zeros; little-endian.
    words: [u64; MAX_WORDS],
    /// The bytes of the last word that belong to the key.
    last_mask: u64,
    /// The key's length in bytes, quotes and colon included.
    pub(crate) len: usize,
    pub(crate) facts: T,
}

type Sets<T> = Box<[[Entry<T>; WAYS]; SETS]>;

#[derive(Debug)]
pub(crate) struct KeyMemo<T> {
    /// Allocated when the first key is learnt; in each set the most
    /// recently learnt key first.
    sets: Option<Sets<T>>,
    /// The configuration whose facts the entries hold.
    owner: u64,
    /// Whether keys are learnt at all (not for a scratch used once).
    learns: bool,
}

impl<T: Copy + Default> KeyMemo<T> {
    pub(crate) fn new(learns: bool) -> Self {
        Self {
            sets: None,
            owner: 0,
            learns,
        }
    }

    /// Forgets every key unless the facts were worked out for `owner`.
    pub(crate) fn serve(&mut self, owner: u64) {
        if self.owner != owner {
            self.sets = None;
            self.owner = owner;
        }
    }

    /// The entry of the key whose opening quote is at `at`, if it is one
    /// held here, read after the key `before` stands for.
    #[inline(always)]
    pub(crate) fn find(&self, b: &[u8], at: usize, before: u64) -> Option<&Entry<T>> {
        let first = word_at(b, at)?;
        let set = self.sets.as_ref()?.get(set_of(first, before))?;
        set.iter()
            .find(|entry| first & entry.first_mask == entry.words[0] && entry.rest_matches(b, at))
    }

    /// Holds the key `b[at..end]` (from its opening quote to past its colon;
    /// unescaped, accepted by the scan) read after the key `before` stands
    /// for, with its facts, in place of the set's least recently learnt key.
    pub(crate) fn learn(&mut self, b: &[u8], at: usize, end: usize, before: u64, facts: T) {
        let len = end.saturating_sub(at);
        if !self.learns || !(MIN_LEN..=8 * MAX_WORDS).contains(&len) {
            return;
        }
        let (Some(first), Some(key)) = (word_at(b, at), b.get(at..end)) else {
            return;
        };
        let mut bytes = [0u8; 8 * MAX_WORDS];
        if let Some(into) = bytes.get_mut(..len) {
            into.copy_from_slice(key);
        }
        let mut words = [0u64; MAX_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *word = u64::from_le_bytes(w);
        }
        let count = len.div_ceil(8);
        let tail = len - 8 * (count - 1);
        let last_mask = if tail == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * tail)) - 1
        };
        let entry = Entry {
            count,
            first_mask: if count == 1 { last_mask } else { u64::MAX },
            words,
            last_mask,
            len,
            facts,
        };
        let sets = self.sets.get_or_insert_with(|| {
            let empty = Entry {
                count: 0,
                first_mask: 0,
                words: [1; MAX_WORDS],
                last_mask: 0,
                len: 0,
                facts: T::default(),
            };
            let sets = vec![[empty; WAYS]; SETS].into_boxed_slice();
            match sets.try_into() {
                Ok(sets) => sets,
                // Not reached: the vector has `SETS` sets.
                Err(_) => Box::new([[empty; WAYS]; SETS]),
            }
        });
        if let Some(set) = sets.get_mut(set_of(first, before)) {
            set.rotate_right(1);
            if let Some(slot) = set.first_mut() {
                *slot = entry;
            }
        }
    }
}

impl<T> Entry<T> {
    /// The key's words after the first (which the caller compared) are the
    /// input's.
    #[inline(always)]
    fn rest_matches(&self, b: &[u8], at: usize) -> bool {
        // Most keys, with their quotes and colon, are shorter than sixteen
        // bytes.
        if self.count == 2 {
            return word_at(b, at + 8).is_some_and(|got| got & self.last_mask == self.words[1]);
        }
        let mut i = 1;
        while i < self.count {
            let Some(got) = word_at(b, at + 8 * i) else {
                return false;
            };
            let mask = if i + 1 == self.count {
                self.last_mask
            } else {
                u64::MAX
            };
            if self.words.get(i) != Some(&(got & mask)) {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// The eight bytes of `b` from `at`, if there are eight.
#[inline(always)]
fn word_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// The set of a key whose first eight input bytes are `first`, read after
/// the key `before` stands for: chosen by the first four bytes and that.
#[inline(always)]
fn set_of(first: u64, before: u64) -> usize {
    let hash = (u64::from(first as u32) ^ before).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (hash >> (64 - SETS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: u64 = 0x1234;

    /// A memo holding `keys` (as `"key":`), fact `i + 1` for `keys[i]`.
    fn learnt(keys: &[&str]) -> KeyMemo<u32> {
        let mut memo = KeyMemo::new(true);
        memo.serve(1);
        for (i, key) in keys.iter().enumerate() {
            let input = format!("\"{key}\":1234567");
            memo.learn(input.as_bytes(), 0, key.len() + 3, BEFORE, i as u32 + 1);
        }
        memo
    }

    fn find(memo: &KeyMemo<u32>, input: &str) -> Option<(usize, u32)> {
        let input = format!("{input}          ");
        memo.find(input.as_bytes(), 0, BEFORE)
            .map(|e| (e.len, e.facts))
    }

    #[test]
    fn a_learnt_key_is_found_only_with_its_quotes_and_colon() {
        let keys = [
            "log",
            "kubernetes",
            "starform.io/project",
            "starform.io/environment",
            "starform.io/service",
            "kubectl.kubernetes.io/restartedAt",
            "container_name",
            "container_hash",
            "pod_name",
            "a",
        ];
        let memo = learnt(&keys);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                find(&memo, &format!("\"{key}\":\"v\"")),
                Some((key.len() + 3, i as u32 + 1)),
                "{key}"
            );
            // The same bytes going on (a longer key), cut short, or not
            // followed by a colon.
            assert_eq!(find(&memo, &format!("\"{key}x\":1")), None, "{key}x");
            assert_eq!(find(&memo, &format!("\"{key}\\\"\":1")), None, "{key}\\\"");
            assert_eq!(find(&memo, &format!("\"{key}\" :1")), None, "{key} :");
            let short = &key[..key.len() - 1];
            assert_eq!(find(&memo, &format!("\"{short}\":1")), None, "{short}");
        }
        assert_eq!(find(&memo, "\"lag\":1"), None);
    }

    #[test]
    fn keys_too_short_or_too_long_are_not_held() {
        // 40 bytes with quotes and colon are held, 41 are not.
        let long = "a".repeat(8 * MAX_WORDS - 2);
        let just = "a".repeat(8 * MAX_WORDS - 3);
        let memo = learnt(&["", &long, &just]);
        assert_eq!(find(&memo, "\"\":1"), None);
        assert_eq!(find(&memo, &format!("\"{long}\":1")), None);
        assert_eq!(
            find(&memo, &format!("\"{just}\":1")),
            Some((just.len() + 3, 3))
        );
    }

    #[test]
    fn a_key_at_the_end_of_the_input_is_not_found() {
        let memo = learnt(&["kubernetes"]);
        assert!(memo.find(b"\"kubernetes\":1", 0, BEFORE).is_none());
        let found = memo.find(b"\"kubernetes\":12345678", 0, BEFORE);
        assert_eq!(found.map(|e| (e.len, e.facts)), Some((13, 1)));
    }

    #[test]
    fn a_key_is_found_after_the_key_it_was_learnt_after() {
        let mut memo = KeyMemo::new(true);
        memo.serve(1);
        let input = b"\"starform.io/project\":\"acme\"";
        memo.learn(input, 0, 22, 1, 'a');
        memo.learn(input, 0, 22, 2, 'b');
        assert_eq!(memo.find(input, 0, 1).map(|e| e.facts), Some('a'));
        assert_eq!(memo.find(input, 0, 2).map(|e| e.facts), Some('b'));
        assert!(memo.find(input, 0, 3).is_none());
    }

    #[test]
    fn a_full_set_forgets_its_least_recent_key() {
        // Five keys with one first four bytes after one key: one set.
        let keys = ["aaa0", "aaa1", "aaa2", "aaa3", "aaa4"];
        let memo = learnt(&keys);
        assert_eq!(find(&memo, "\"aaa0\":1"), None);
        for (i, key) in keys.iter().enumerate().skip(1) {
            assert_eq!(
                find(&memo, &format!("\"{key}\":1")),
                Some((7, i as u32 + 1))
            );
        }
    }

    #[test]
    fn another_owner_empties_the_memo_and_a_one_off_memo_learns_nothing() {
        let mut memo = learnt(&["kubernetes"]);
        memo.serve(1);
        assert!(find(&memo, "\"kubernetes\":1").is_some());
        memo.serve(2);
        assert_eq!(find(&memo, "\"kubernetes\":1"), None);
        let mut once = KeyMemo::<u32>::new(false);
        once.learn(b"\"kubernetes\":1234567", 0, 13, BEFORE, 7);
        assert_eq!(find(&once, "\"kubernetes\":1"), None);
    }
}
