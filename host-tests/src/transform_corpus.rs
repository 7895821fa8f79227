//! The transform benchmark's corpus: seeded, realistic Fluent Bit records
//! (the `kubernetes` filter's output, Event_Format json) with the
//! benchmark's mix of outcomes, as NDJSON lines of 200 B to 4 KiB.
//!
//! The mix as stated ("90 % valid, 5 % normalised, 5 % each quarantine
//! reason") adds up to more than 100 %. It is taken as: 90 % accepted, of which
//! 5 % of all records need normalisation, and the other 10 % quarantined,
//! split evenly over the six reasons a configured module can give (every
//! reason of `Reason::ALL` except `config_invalid`, which only an unusable
//! configuration file causes, for every record alike). Each block of
//! [`BLOCK`] records holds exactly [`MIX`], in a seeded order.
//!
//! `malformed` records are the node's own `malformed` output seen again by
//! the aggregator (`starform_raw` + the quarantine object), not raw text:
//! only a JSON object can reach the VRL twin in Vector, and the benchmark
//! gives all three engines the same input.
//!
//! Used by benches/transform.rs and examples/transform_corpus.rs (the
//! 1,000,000-line file for `starform-wasm logs`). Besides the standard
//! library it uses only the transform's [`Reason`], the outcomes' names.

use starform_vector_transform::Reason;

use crate::rng::Rng;

/// The configuration the corpus is written for: an alias (so `conflict` can
/// happen), a namespace template (`namespace_mismatch`) and a record size
/// limit below the largest lines (`too_large`).
pub const CONFIG: &str = r#"{"key_aliases":{"app.kubernetes.io/name":"starform.io/service"},"namespace_template":"{project}-{environment}","max_record_bytes":3584}"#;

/// `max_record_bytes` in [`CONFIG`].
pub const MAX_RECORD_BYTES: usize = 3584;
/// Shortest and longest line, in bytes (without the newline).
pub const MIN_LINE_BYTES: usize = 200;
pub const MAX_LINE_BYTES: usize = 4096;
/// Longest target for a line that is not `too_large`: under the limit with
/// room to spare for metadata that overshoots a short target.
const MAX_FITTING_BYTES: usize = 3400;

/// What a record is written to make the rules decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Canonical labels, already normalised.
    Valid,
    /// Accepted only after trimming or ASCII lowercasing.
    Normalised,
    /// A record the rules quarantine for this reason.
    Quarantined(Reason),
}

impl Kind {
    /// `accepted`, or the quarantine reason code the record must get.
    pub fn outcome(self) -> &'static str {
        match self {
            Kind::Valid | Kind::Normalised => "accepted",
            Kind::Quarantined(reason) => reason.code(),
        }
    }
}

/// Records per block; every block holds exactly [`MIX`].
pub const BLOCK: usize = 60;

/// Records of each kind per block of [`BLOCK`]: 51 + 3 = 54 accepted (90 %,
/// 3 of them = 5 % normalised), one per quarantine reason (6 × 1/60 = 10 %).
pub const MIX: [(Kind, usize); 8] = [
    (Kind::Valid, 51),
    (Kind::Normalised, 3),
    (Kind::Quarantined(Reason::MissingLabel), 1),
    (Kind::Quarantined(Reason::InvalidValue), 1),
    (Kind::Quarantined(Reason::Conflict), 1),
    (Kind::Quarantined(Reason::NamespaceMismatch), 1),
    (Kind::Quarantined(Reason::Malformed), 1),
    (Kind::Quarantined(Reason::TooLarge), 1),
];

/// One corpus line and what it was written to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub line: String,
}

const PROJECTS: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark-industries",
    "wayne-enterprises",
    "cyberdyne",
];
const ENVIRONMENTS: &[&str] = &["prod", "staging", "dev"];
const SERVICES: &[&str] = &[
    "api",
    "web",
    "checkout",
    "worker",
    "payments",
    "search-indexer",
    "notifications",
];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const PATHS: &[&str] = &[
    "/v1/orders",
    "/v1/orders/{id}",
    "/v2/carts/{id}/items",
    "/healthz",
    "/v1/users/{id}/preferences",
    "/graphql",
];
const WORDS: &[&str] = &[
    "request",
    "completed",
    "user",
    "cache",
    "miss",
    "retrying",
    "upstream",
    "timeout",
    "session",
    "token",
    "refreshed",
    "order",
    "created",
    "payment",
    "authorised",
    "queue",
    "depth",
    "batch",
    "flushed",
    "rows",
    "connection",
    "pool",
    "acquired",
    "released",
];

/// An endless, deterministic stream of corpus records.
pub struct Corpus {
    rng: Rng,
    block: Vec<Kind>,
}

impl Corpus {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            block: Vec::new(),
        }
    }

    /// The first `n` records of the stream for `seed`.
    pub fn generate(seed: u64, n: usize) -> Vec<Record> {
        Self::new(seed).take(n).collect()
    }

    fn next_kind(&mut self) -> Kind {
        if self.block.is_empty() {
            for (kind, count) in MIX {
                self.block.extend(std::iter::repeat_n(kind, count));
            }
            // Fisher–Yates, popped from the end.
            for i in (1..self.block.len()).rev() {
                let j = self.rng.below(i + 1);
                self.block.swap(i, j);
            }
        }
        self.block.pop().unwrap_or(Kind::Valid)
    }

    fn record(&mut self, kind: Kind) -> Record {
        let target = match kind {
            Kind::Quarantined(Reason::TooLarge) => {
                MAX_RECORD_BYTES + 1 + self.rng.below(MAX_LINE_BYTES - MAX_RECORD_BYTES)
            }
            // Log-uniform: most lines short, a long tail (mean about 1.1 KiB).
            _ => {
                let span = (MAX_FITTING_BYTES as f64 / MIN_LINE_BYTES as f64).ln();
                (MIN_LINE_BYTES as f64 * (self.rng.unit() * span).exp()) as usize
            }
        };
        let line = if kind == Kind::Quarantined(Reason::Malformed) {
            self.malformed(target)
        } else {
            self.fluent_bit(kind, target)
        };
        Record { kind, line }
    }

    /// A `kubernetes`-filtered record of about `target` bytes (exactly, once
    /// the metadata fits): fewer metadata fields for short lines, the log
    /// message fills the rest.
    fn fluent_bit(&mut self, kind: Kind, target: usize) -> String {
        let project = self.rng.pick(PROJECTS);
        let environment = self.rng.pick(ENVIRONMENTS);
        let service = self.rng.pick(SERVICES);
        let namespace = match kind {
            Kind::Quarantined(Reason::NamespaceMismatch) => {
                let other = ENVIRONMENTS
                    .iter()
                    .find(|e| **e != environment)
                    .copied()
                    .unwrap_or("qa");
                match self.rng.below(3) {
                    0 => "default".to_owned(),
                    1 => format!("{project}-{other}"),
                    _ => format!("{project}-{environment}-canary"),
                }
            }
            _ => format!("{project}-{environment}"),
        };
        let labels = self.labels(kind, project, environment, service);
        let hash = self.hex(9);
        let pod = format!("{service}-{hash}-{}", self.alnum(5));
        let time = self.timestamp();

        let mut meta = String::new();
        let tier = if target < 400 {
            0
        } else if target < 1000 {
            1
        } else {
            2
        };
        if tier >= 1 {
            meta.push_str(&format!(r#""pod_name":"{pod}","#));
        }
        meta.push_str(&format!(r#""namespace_name":"{namespace}""#));
        if tier >= 2 {
            meta.push_str(&format!(r#","pod_id":"{}""#, self.uuid()));
        }
        if let Some(labels) = labels {
            meta.push_str(&format!(r#","labels":{{{labels}}}"#));
        }
        if tier >= 2 {
            let node = self.rng.below(40);
            let docker = self.hex(64);
            let digest = self.hex(64);
            let (minor, patch) = (self.rng.below(30), self.rng.below(10));
            meta.push_str(&format!(
                r#","annotations":{{"kubectl.kubernetes.io/restartedAt":"2026-11-2{}T0{}:00:00Z","prometheus.io/scrape":"true"}},"host":"node-pool-a-{node:02}","container_name":"{service}","docker_id":"{docker}","container_hash":"registry.example.com/{project}/{service}@sha256:{digest}","container_image":"registry.example.com/{project}/{service}:1.{minor}.{patch}""#,
                self.rng.below(6),
                self.rng.below(10),
            ));
        } else if tier == 1 {
            meta.push_str(&format!(r#","container_name":"{service}""#));
        }
        let head = r#"{"log":""#;
        let tail = if tier == 0 {
            format!(r#"","kubernetes":{{{meta}}}}}"#)
        } else {
            format!(r#"","stream":"stdout","time":"{time}","kubernetes":{{{meta}}}}}"#)
        };
        let room = target.saturating_sub(head.len() + tail.len()).max(24);
        let message = self.log_message(service, room);
        format!("{head}{message}{tail}")
    }

    /// The label map's members, or `None` for a pod without labels.
    fn labels(
        &mut self,
        kind: Kind,
        project: &str,
        environment: &str,
        service: &str,
    ) -> Option<String> {
        let hash = self.hex(10);
        let mut members = vec![format!(r#""pod-template-hash":"{hash}""#)];
        let (mut p, mut e, mut s) = (
            Some(project.to_owned()),
            Some(environment.to_owned()),
            Some(service.to_owned()),
        );
        // Half the pods also carry the Helm-style name, which the
        // configuration makes a candidate for the service.
        let mut app_name = (self.rng.below(2) == 0).then(|| service.to_owned());
        match kind {
            Kind::Valid
            | Kind::Quarantined(
                Reason::TooLarge
                | Reason::NamespaceMismatch
                | Reason::Malformed
                | Reason::ConfigInvalid,
            ) => {}
            Kind::Normalised => match self.rng.below(4) {
                0 => p = Some(project.to_ascii_uppercase()),
                1 => e = Some(format!(" {environment} ")),
                2 => s = Some(capitalised(service)),
                _ => {
                    p = Some(format!("{}\t", capitalised(project)));
                    e = Some(environment.to_ascii_uppercase());
                    app_name = Some(format!(" {service}"));
                }
            },
            Kind::Quarantined(Reason::MissingLabel) => match self.rng.below(3) {
                0 => return None,
                1 => (p, e, s) = (None, None, None),
                _ => (s, app_name) = (None, None),
            },
            Kind::Quarantined(Reason::InvalidValue) => match self.rng.below(3) {
                0 => s = Some(format!("{}_v2", service.replace('-', "_"))),
                1 => p = Some(format!("{project}.corp")),
                _ => e = Some(format!("{environment}!")),
            },
            Kind::Quarantined(Reason::Conflict) => {
                app_name = Some(format!("{service}-legacy"));
            }
        }
        if let Some(name) = app_name {
            members.push(format!(r#""app.kubernetes.io/name":"{name}""#));
        }
        for (key, value) in [
            ("starform.io/project", p),
            ("starform.io/environment", e),
            ("starform.io/service", s),
        ] {
            if let Some(value) = value {
                members.push(format!(r#""{key}":"{}""#, escape(&value)));
            }
        }
        Some(members.join(","))
    }

    /// The aggregator's view of a line the node could not parse: the
    /// node's `malformed` output, `starform_raw` holding a cut-off record.
    fn malformed(&mut self, target: usize) -> String {
        let head = r#"{"starform_raw":""#;
        let tail = r#"","starform_quarantine":{"reason":"malformed","key":null}}"#;
        let room = target.saturating_sub(head.len() + tail.len()).max(24);
        let service = self.rng.pick(SERVICES);
        let time = self.timestamp();
        let mut raw = format!(r#"{{"log":"{time} ERROR "#);
        raw.push_str(&self.log_message(service, room));
        // Cut off mid-record, as a truncated write leaves it.
        let mut out = String::new();
        push_escaped_within(&mut out, &raw, room);
        format!("{head}{out}{tail}")
    }

    /// The `log` string's JSON-escaped content, exactly `room` bytes long,
    /// ending in an escaped newline as container runtimes write it: a plain
    /// text line, an escaped JSON application log, or a stack trace.
    fn log_message(&mut self, service: &str, room: usize) -> String {
        let mut raw = String::new();
        let time = self.timestamp();
        let level = self.rng.pick(LEVELS);
        let path = self
            .rng
            .pick(PATHS)
            .replace("{id}", &self.rng.below(99_999).to_string());
        let status = self
            .rng
            .pick(&["200", "200", "200", "201", "204", "404", "500"]);
        let trace = self.hex(32);
        match self.rng.below(3) {
            0 => raw.push_str(&format!(
                "{time} {level} [{service}] GET {path} {status} {}ms trace_id={trace}",
                self.rng.below(900)
            )),
            1 => raw.push_str(&format!(
                r#"{{"level":"{}","ts":"{time}","logger":"{service}.http","msg":"request completed","method":"POST","path":"{path}","status":{status},"duration_ms":{},"trace_id":"{trace}""#,
                level.to_ascii_lowercase(),
                self.rng.below(900)
            )),
            _ => raw.push_str(&format!(
                "{time} ERROR [{service}] unhandled exception on {path}\n\tat com.example.{service}.Handler.handle(Handler.java:{})\n\tat io.netty.channel.DefaultChannelPipeline.fireChannelRead(DefaultChannelPipeline.java:365)",
                self.rng.below(400)
            )),
        }
        // Filler words until the line is long enough.
        let mut len = escaped_len(&raw);
        while len < room {
            let start = raw.len();
            raw.push(' ');
            raw.push_str(self.rng.pick(WORDS));
            if self.rng.below(8) == 0 {
                raw.push_str(&format!(
                    " \"k{}\"=\"{}\"",
                    self.rng.below(10),
                    self.alnum(6)
                ));
            }
            len += escaped_len(raw.get(start..).unwrap_or_default());
        }
        let mut out = String::new();
        push_escaped_within(&mut out, &raw, room.saturating_sub(2));
        while out.len() < room.saturating_sub(2) {
            out.push('.');
        }
        out.push_str("\\n");
        out
    }

    fn hex(&mut self, len: usize) -> String {
        self.rng.chars_from(b"0123456789abcdef", len)
    }

    fn alnum(&mut self, len: usize) -> String {
        self.rng.chars_from(b"bcdfghjklmnpqrstvwxz2456789", len)
    }

    fn timestamp(&mut self) -> String {
        format!(
            "2026-11-26T{:02}:{:02}:{:02}.{:09}Z",
            self.rng.below(24),
            self.rng.below(60),
            self.rng.below(60),
            self.rng.below(1_000_000_000)
        )
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        )
    }
}

impl Iterator for Corpus {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let kind = self.next_kind();
        Some(self.record(kind))
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// JSON string escaping as serde_json writes it, for the ASCII text used
/// here: quote, backslash, newline, tab.
fn escape(s: &str) -> String {
    let mut out = String::new();
    push_escaped_within(&mut out, s, usize::MAX);
    out
}

fn escaped_char(c: char) -> Option<&'static str> {
    match c {
        '"' => Some("\\\""),
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        '\t' => Some("\\t"),
        _ => None,
    }
}

fn escaped_len(s: &str) -> usize {
    s.chars()
        .map(|c| escaped_char(c).map_or(c.len_utf8(), str::len))
        .sum()
}

/// Appends `s` escaped, stopping before the character that would take
/// `out` past `limit` bytes.
fn push_escaped_within(out: &mut String, s: &str, limit: usize) {
    for c in s.chars() {
        let piece_len = escaped_char(c).map_or(c.len_utf8(), str::len);
        if out.len() + piece_len > limit {
            break;
        }
        match escaped_char(c) {
            Some(piece) => out.push_str(piece),
            None => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_lines() {
        assert_eq!(Corpus::generate(7, 200), Corpus::generate(7, 200));
        assert_ne!(Corpus::generate(7, 200), Corpus::generate(8, 200));
    }

    #[test]
    fn every_block_holds_the_mix_and_lines_are_in_range() {
        let records = Corpus::generate(1, BLOCK * 50);
        for block in records.chunks(BLOCK) {
            for (kind, count) in MIX {
                assert_eq!(block.iter().filter(|r| r.kind == kind).count(), count);
            }
        }
        for r in &records {
            let len = r.line.len();
            assert!(
                (MIN_LINE_BYTES..=MAX_LINE_BYTES).contains(&len),
                "{len}: {}",
                r.line
            );
            assert_eq!(
                len > MAX_RECORD_BYTES,
                r.kind == Kind::Quarantined(Reason::TooLarge),
                "{:?} {len}",
                r.kind
            );
            assert!(!r.line.contains('\n'), "{}", r.line);
        }
        let mean = records.iter().map(|r| r.line.len()).sum::<usize>() / records.len();
        assert!((800..1600).contains(&mean), "mean {mean}");
    }

    #[test]
    fn mix_adds_up_to_a_block() {
        assert_eq!(MIX.iter().map(|(_, n)| n).sum::<usize>(), BLOCK);
    }
}
