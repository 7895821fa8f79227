//! Seeded generator of log records aimed at the rulebook's edges: both input
//! shapes, records with both label maps (agreeing, disagreeing, keys only
//! one of them has, in either order), every candidate key of the configuration, values that are valid
//! only after trimming or ASCII lowercasing, Unicode that case-folds or
//! looks like whitespace, non-string values, spoofed reserved fields, and
//! records whose size is within a few bytes of `max_record_bytes`.

use serde_json::{json, Map, Value as Json};
use starform_host_tests::rng::Rng;
use starform_vector_transform::config::CompiledConfig;
use starform_vector_transform::{measured_len, TransformConfig, RESERVED_FIELDS};

/// Each identity field's values, indexed as an identity is.
const POOLS: [&[&str]; 4] = [
    &["acme", "a", "x1-y2", "globex-corp", "9lives", "k8s"],
    &[
        "prod",
        "production",
        "staging",
        "dev",
        "preview-42",
        "live",
        "stg",
    ],
    &["web", "api", "w-1", "worker", "db0"],
    &[
        "b-1", "Build_42", "1234abcd", "ci/run#7", "ß-build", "\u{212A}",
    ],
];
const PROJECT: usize = 0;
const ENVIRONMENT: usize = 1;
const SERVICE: usize = 2;
const BUILD_ID: usize = 3;

/// Strings that are never DNS-1123 labels, whatever the trimming and ASCII
/// lowercasing — several of them become one under Unicode case folding.
const INVALID_LABELS: &[&str] = &[
    "my_svc",
    "-a",
    "a-",
    "",
    "   ",
    "a.b",
    "a b",
    "café",
    "\u{212A}ey",      // KELVIN SIGN: (?i) and downcase fold it to ASCII k
    "\u{212B}ngstrom", // ANGSTROM SIGN
    "\u{17F}vc",       // LATIN SMALL LETTER LONG S, case-folds to s
    "\u{130}d",        // I WITH DOT ABOVE: lowercases to i + U+0307
    "\u{FF21}cme",     // FULLWIDTH A
    "\u{FB00}",        // LATIN SMALL LIGATURE FF
    "a\u{200B}b",      // ZERO WIDTH SPACE (not White_Space)
    "\u{FEFF}acme",    // BOM (not White_Space)
    "\u{180E}acme",    // MONGOLIAN VOWEL SEPARATOR (White_Space no longer)
    "acme\0",
    "ACME_PROD",
];

/// Unicode White_Space and look-alikes for padding.
const PADDING: &[&str] = &[
    " ", "\t", "\n", "\r\n", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2000}",
    "\u{200A}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}", "\u{3000}", "\u{1C}", "\u{200B}",
    "\u{FEFF}", "\u{180E}",
];

const LINES: &[&str] = &[
    "GET /healthz 200",
    "{\"level\":\"info\",\"msg\":\"started\"}",
    "naïve café — 東京 😀",
    "tab\tnew\nline\r",
    "quote \" backslash \\ slash /",
    "\u{1}\u{1f}\u{7f}",
    "\u{2028}\u{2029}",
    "{{ .project }} %{x} ${y}",
    "",
];

/// Labels beside the candidates, some a case or a space away from one.
const NOISE_LABELS: &[&str] = &[
    "app",
    "pod-template-hash",
    "Starform.io/project",
    "starform.io/project ",
    "starform.io/Environment",
    "starform.io/build_id",
    "team",
];

/// Top-level fields of the customer's own (Merge_Log).
const CUSTOMER_KEYS: &[&str] = &[
    "level",
    "msg",
    "user",
    "latency_ms",
    "ratio",
    "tags",
    "nested",
    "time",
    "a.b",
    "ü",
];

const SPOOFS: &[&str] = &["acme", "victim-corp", "production", "build", "runtime", ""];

/// Characters used to pad a record to a given byte size, with their JSON
/// encoded width: multi-byte UTF-8 tells bytes from characters, escapes
/// tell the encoded size from the string length.
const SIZE_PADS: &[(&str, u64)] = &[
    ("x", 1),
    ("é", 2),
    ("€", 3),
    ("😀", 4),
    ("\n", 2),
    ("\u{1}", 6),
    ("\"", 2),
];

pub struct Records {
    rng: Rng,
    compiled: CompiledConfig,
    config: TransformConfig,
}

/// One label value: the identity's value, or a deliberate deviation.
enum Intent {
    Same,
    Other,
    Invalid,
    NonString,
}

/// What a drawn key does to a key the map already holds.
#[derive(PartialEq)]
enum Existing {
    Kept,
    Replaced,
}

impl Records {
    pub fn new(config: &TransformConfig, seed: u64) -> Self {
        let compiled = CompiledConfig::compile(config).expect("valid test configuration");
        Self {
            rng: Rng::new(seed),
            compiled,
            config: config.clone(),
        }
    }

    pub fn next_record(&mut self) -> Map<String, Json> {
        let project = self.rng.pick(POOLS[PROJECT]).to_owned();
        let environment = self.environment();
        let service = self.rng.pick(POOLS[SERVICE]).to_owned();
        let build_id = self
            .rng
            .percent(35)
            .then(|| self.rng.pick(POOLS[BUILD_ID]).to_owned());
        let identity = [
            Some(project.clone()),
            Some(environment.clone()),
            Some(service.clone()),
            build_id,
        ];

        let labels = self.label_set(&identity);

        let final_environment = self
            .config
            .environment_aliases
            .get(&environment)
            .cloned()
            .unwrap_or_else(|| environment.clone());
        let namespace = self.namespace(&project, &final_environment, &service);

        let mut record = Map::new();
        let fluent_bit = self.rng.percent(55);
        let line_key = if fluent_bit { "log" } else { "message" };
        if self.rng.percent(90) {
            record.insert(line_key.into(), Json::String(self.line()));
        }
        if self.rng.percent(50) {
            record.insert("stream".into(), json!("stdout"));
        }
        let kubernetes = self.kubernetes(fluent_bit, labels, namespace, &identity);
        record.insert("kubernetes".into(), kubernetes);
        self.customer_fields(&mut record);
        if self.rng.percent(30) {
            self.spoof(&mut record);
        }
        self.shuffle(&mut record);
        self.maybe_resize(&mut record, line_key);
        record
    }

    /// A label map for `identity` (project, environment, service, build
    /// id): each candidate key of the configuration present or not, each
    /// value the identity's or a deliberate deviation, plus noise.
    fn label_set(&mut self, identity: &[Option<String>; 4]) -> Map<String, Json> {
        let mut labels = Map::new();
        for (index, value) in identity.iter().enumerate() {
            let candidates = self.compiled.candidates(index).to_vec();
            for (n, key) in candidates.iter().enumerate() {
                let present = match (index, value) {
                    (3, None) => self.rng.percent(4),
                    _ if n == 0 => self.rng.percent(88),
                    _ => self.rng.percent(45),
                };
                if present {
                    let v = self.label_value(index, value.as_deref().unwrap_or("b-9"));
                    labels.insert(key.clone(), v);
                }
            }
        }
        self.noise_labels(&mut labels);
        labels
    }

    /// A second label map for a record that has `labels` too: equal, drawn
    /// afresh for the same identity (agreeing after normalisation or not),
    /// a part of it (keys only one map has), or it with one canonical value
    /// replaced by another identity's.
    fn second_source(
        &mut self,
        labels: &Map<String, Json>,
        identity: &[Option<String>; 4],
    ) -> Map<String, Json> {
        match self.rng.below(4) {
            0 => labels.clone(),
            1 => self.label_set(identity),
            2 => labels
                .iter()
                .filter(|_| self.rng.percent(50))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => {
                let mut other = labels.clone();
                let index = self.rng.below(POOLS.len());
                let value = self.rng.pick(POOLS[index]);
                let value = self.disguise(value);
                if let Some(key) = self.compiled.candidates(index).first() {
                    other.insert(key.clone(), Json::String(value));
                }
                other
            }
        }
    }

    fn environment(&mut self) -> String {
        let aliases: Vec<String> = self.config.environment_aliases.keys().cloned().collect();
        if !aliases.is_empty() && self.rng.percent(40) {
            return self.rng.pick(&aliases);
        }
        self.rng.pick(POOLS[ENVIRONMENT]).to_owned()
    }

    fn label_value(&mut self, index: usize, value: &str) -> Json {
        let intent = match self.rng.below(100) {
            0..=71 => Intent::Same,
            72..=81 => Intent::Other,
            82..=93 => Intent::Invalid,
            _ => Intent::NonString,
        };
        let text = match intent {
            Intent::Same => self.disguise(value),
            Intent::Other => {
                let other = self.rng.pick(POOLS[index]);
                self.disguise(other)
            }
            Intent::Invalid => {
                let base = self.rng.pick(INVALID_LABELS).to_owned();
                match self.rng.below(4) {
                    0 => "x".repeat(64),
                    1 => "y".repeat(63),
                    2 => self.disguise(&base),
                    _ => base,
                }
            }
            Intent::NonString => return self.scalar_or_container(2),
        };
        Json::String(text)
    }

    /// `value` with ASCII letters uppercased and/or surrounding padding.
    fn disguise(&mut self, value: &str) -> String {
        let mut s = value.to_owned();
        if self.rng.percent(30) {
            s = s
                .chars()
                .map(|c| {
                    if self.rng.percent(50) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
        }
        if self.rng.percent(25) {
            let before = self.rng.pick(PADDING);
            let after = self.rng.pick(PADDING);
            s = format!("{before}{s}{after}");
        }
        s
    }

    fn noise_labels(&mut self, labels: &mut Map<String, Json>) {
        self.insert_drawn(labels, NOISE_LABELS, 3, Existing::Kept, |r| {
            r.label_value(0, "noise")
        });
        // Occasionally drop the whole map's contents, or make it huge-keyed.
        if self.rng.percent(2) {
            labels.clear();
        }
    }

    /// Draws fewer than `bound` keys from `keys` into `map`, each with a
    /// value from `value`.
    fn insert_drawn(
        &mut self,
        map: &mut Map<String, Json>,
        keys: &[&str],
        bound: usize,
        existing: Existing,
        mut value: impl FnMut(&mut Self) -> Json,
    ) {
        for _ in 0..self.rng.below(bound) {
            let key = self.rng.pick(keys);
            if existing == Existing::Replaced || !map.contains_key(key) {
                let v = value(self);
                map.insert(key.into(), v);
            }
        }
    }

    fn namespace(&mut self, project: &str, environment: &str, service: &str) -> Json {
        let matching = self
            .compiled
            .namespace_template()
            .map(|t| t.render(project, environment, service))
            .unwrap_or_else(|| format!("{project}-{environment}"));
        match self.rng.below(100) {
            0..=69 => Json::String(matching),
            70..=77 => Json::String(matching.to_ascii_uppercase()),
            78..=83 => Json::String(format!("{matching}-x")),
            84..=87 => Json::String(format!(" {matching}")),
            88..=91 => json!(7),
            92..=95 => Json::Null,
            _ => Json::String("default".into()),
        }
    }

    fn kubernetes(
        &mut self,
        fluent_bit: bool,
        labels: Map<String, Json>,
        namespace: Json,
        identity: &[Option<String>; 4],
    ) -> Json {
        let mut k = Map::new();
        let (labels_key, namespace_key, other_labels_key) = if fluent_bit {
            ("labels", "namespace_name", "pod_labels")
        } else {
            ("pod_labels", "pod_namespace", "labels")
        };
        k.insert("pod_name".into(), json!("web-7d9f-abcde"));
        k.insert("container_name".into(), json!("app"));
        if self.rng.percent(95) {
            k.insert(namespace_key.into(), namespace);
        }
        match self.rng.below(100) {
            0..=80 => {
                k.insert(labels_key.into(), Json::Object(labels));
            }
            81..=90 => {
                // Both maps, in either order in the record: both are
                // sources, `labels` first, and the namespace beside
                // `labels` is the one checked.
                let second = self.second_source(&labels, identity);
                let mut maps = [
                    (labels_key, Json::Object(labels)),
                    (other_labels_key, Json::Object(second)),
                ];
                if self.rng.percent(50) {
                    maps.swap(0, 1);
                }
                k.extend(maps.map(|(key, map)| (key.to_owned(), map)));
                if self.rng.percent(60) {
                    let other_namespace = if fluent_bit {
                        "pod_namespace"
                    } else {
                        "namespace_name"
                    };
                    let value = match k.get(namespace_key) {
                        Some(same) if self.rng.percent(50) => same.clone(),
                        _ => json!("default"),
                    };
                    k.insert(other_namespace.into(), value);
                }
            }
            91..=93 => {
                // Fluent Bit's map is not an object: the Vector map decides.
                k.insert("labels".into(), self.scalar_or_container(0));
                k.insert("pod_labels".into(), Json::Object(labels));
                k.insert("pod_namespace".into(), json!("ns"));
            }
            94..=95 => return self.scalar_or_container(1),
            96..=97 => return Json::Object(Map::new()),
            _ => {
                k.insert(labels_key.into(), json!(["starform.io/project", "acme"]));
            }
        }
        Json::Object(k)
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        for _ in 0..=self.rng.below(3) {
            let line = self.rng.pick(LINES);
            s.push_str(line);
        }
        s
    }

    fn customer_fields(&mut self, record: &mut Map<String, Json>) {
        self.insert_drawn(record, CUSTOMER_KEYS, 4, Existing::Replaced, |r| {
            r.scalar_or_container(3)
        });
    }

    /// Reserved top-level fields set by the record itself (Merge_Log).
    fn spoof(&mut self, record: &mut Map<String, Json>) {
        for _ in 0..=self.rng.below(3) {
            let field = self.rng.pick(&RESERVED_FIELDS);
            let value = match self.rng.below(4) {
                0 => json!({"reason": "missing_label", "key": null}),
                1 => self.scalar_or_container(2),
                _ => Json::String(self.rng.pick(SPOOFS).to_owned()),
            };
            record.insert(field.into(), value);
        }
    }

    fn scalar_or_container(&mut self, depth: usize) -> Json {
        let choice = if depth == 0 {
            self.rng.below(8)
        } else {
            self.rng.below(10)
        };
        match choice {
            0 => Json::Null,
            1 => Json::Bool(self.rng.percent(50)),
            2 => json!(self
                .rng
                .pick(&[0_i64, -1, 42, i64::MAX, i64::MIN, 1_700_000_000_123])),
            3 => {
                json!(self
                    .rng
                    .pick(&[0.5_f64, -0.0, 1e300, 5e-324, 3.0, 123_456_789.125, -2.5e-7]))
            }
            4 | 5 => Json::String(self.line()),
            6 => {
                let project = self.rng.pick(POOLS[PROJECT]);
                Json::String(self.disguise(project))
            }
            7 => Json::String(self.rng.pick(INVALID_LABELS).to_owned()),
            8 => Json::Array(
                (0..self.rng.below(3))
                    .map(|_| self.scalar_or_container(depth - 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for key in ["x", "project", "starform.io/project", "k"] {
                    if self.rng.percent(40) {
                        let v = self.scalar_or_container(depth - 1);
                        m.insert(key.into(), v);
                    }
                }
                Json::Object(m)
            }
        }
    }

    /// Record key order varies; the rules must not depend on it.
    fn shuffle(&mut self, record: &mut Map<String, Json>) {
        let mut entries: Vec<(String, Json)> = std::mem::take(record).into_iter().collect();
        for i in (1..entries.len()).rev() {
            let j = self.rng.below(i + 1);
            entries.swap(i, j);
        }
        record.extend(entries);
    }

    /// Sometimes pads the line so the record's size as rule 3 measures it is
    /// within two bytes of `max_record_bytes`.
    fn maybe_resize(&mut self, record: &mut Map<String, Json>, line_key: &str) {
        let limit = self.compiled.max_record_bytes();
        let percent = if limit <= 4096 { 12 } else { 1 };
        if !self.rng.percent(percent) || (limit > 4096 && self.rng.percent(80)) {
            return;
        }
        record.insert(line_key.into(), Json::String(String::new()));
        let base = measured_len(record);
        let delta = self.rng.below(5) as i64 - 2;
        let Some(needed) = (limit as i64 + delta)
            .checked_sub(base as i64)
            .filter(|n| *n >= 0)
        else {
            return;
        };
        let (pad, width) = self.rng.pick(SIZE_PADS);
        let count = needed as u64 / width;
        let rest = needed as u64 % width;
        let mut s = pad.repeat(count as usize);
        s.push_str(&"x".repeat(rest as usize));
        record.insert(line_key.into(), Json::String(s));
        debug_assert_eq!(measured_len(record) as i64, limit as i64 + delta);
    }
}
