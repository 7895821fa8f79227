//! NDJSON records through the log transform's core, as `starform-wasm logs`
//! runs them through the module: the output records (stdout) and the
//! summary line (stderr).

use starform_vector_transform::{ndjson, CompiledConfig, ConfigError, Counts};

/// What `starform-wasm logs` prints for some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRun {
    /// One output record per input record, each ending in a newline.
    pub output: Vec<u8>,
    /// `accepted N, quarantined M (reason: n, …)`, without a newline.
    pub summary: String,
}

/// Transforms `records` under the configuration `config` (JSON; the CLI's
/// default is `{}`). The error names the field.
pub fn run(config: &[u8], records: &[u8]) -> Result<LogsRun, ConfigError> {
    let config = CompiledConfig::from_json(config)?;
    let mut output = Vec::with_capacity(records.len() + records.len() / 2);
    let mut counts = Counts::default();
    ndjson::transform_batch(&config, records, &mut output, &mut counts);
    Ok(LogsRun {
        output,
        summary: counts.summary(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_record() {
        let run = run(b"{}", b"{}\nnot json\n").unwrap();
        assert_eq!(run.output.iter().filter(|b| **b == b'\n').count(), 2);
        assert!(
            run.summary.starts_with("accepted 0, quarantined 2"),
            "{run:?}"
        );
    }

    #[test]
    fn a_bad_configuration_names_the_field() {
        let err = run(br#"{"nope":1}"#, b"").unwrap_err();
        assert_eq!(err.field(), Some("nope"));
    }
}
