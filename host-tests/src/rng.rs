//! SplitMix64: small, seedable, good enough to spread choices. The seeded
//! generators of test input (the benchmark corpus, the VRL differential's
//! records) both draw from it.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; 0, drawing nothing, when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One of `items`; the default value when there are none.
    pub fn pick<T: Clone + Default>(&mut self, items: &[T]) -> T {
        items
            .get(self.below(items.len()))
            .cloned()
            .unwrap_or_default()
    }

    /// `len` characters drawn from the ASCII `alphabet`.
    pub fn chars_from(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .filter_map(|_| alphabet.get(self.below(alphabet.len())).copied())
            .map(char::from)
            .collect()
    }
}
