//! Errors of the embedded host. Each names the wasm function or import
//! involved; none is ever a host panic.

use super::abi::LogLevel;
use super::state::LogLine;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HostError {
    #[error("creating the wasmtime engine: {0}")]
    Engine(String),
    #[error("compiling the wasm module: {0}")]
    Compile(String),
    #[error("the module imports `{module}::{name}`, which this host does not provide")]
    UnknownImport { module: String, name: String },
    #[error("linking the wasm module: {0}")]
    Link(String),
    #[error("the module exports no proxy-wasm ABI version marker (`proxy_abi_version_0_2_1` or `proxy_abi_version_0_2_0`)")]
    UnsupportedAbi,
    #[error("instantiating the wasm module: {0}")]
    Instantiate(String),
    #[error("the module's export `{function}` does not have the proxy-wasm signature: {detail}")]
    BadExport { function: String, detail: String },
    #[error("wasm trap in `{function}`: {detail}")]
    Trap { function: String, detail: String },
    #[error("the module exited in `{function}` with status {code}")]
    Exit { function: String, code: i32 },
    #[error("the VM failed earlier (in `{function}`) and takes no more calls")]
    VmFailed { function: String },
    #[error(
        "proxy_on_vm_start returned false (VM start rejected){}",
        last_line(logs)
    )]
    VmStartRejected { logs: Vec<LogLine> },
    #[error(
        "proxy_on_configure returned false (configuration rejected){}",
        last_line(logs)
    )]
    ConfigurationRejected { logs: Vec<LogLine> },
}

impl HostError {
    /// The module's log lines when it rejected its VM or plugin
    /// configuration, `None` for every other error.
    pub fn rejection_logs(&self) -> Option<&[LogLine]> {
        match self {
            Self::VmStartRejected { logs } | Self::ConfigurationRejected { logs } => Some(logs),
            _ => None,
        }
    }
}

/// The line that most likely says why: the latest warning or worse, else the
/// latest line.
fn last_line(logs: &[LogLine]) -> String {
    logs.iter()
        .rev()
        .find(|line| line.level >= LogLevel::Warn)
        .or(logs.last())
        .map(|line| format!(": {}", line.message))
        .unwrap_or_default()
}
