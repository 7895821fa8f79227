//! What the subcommand tests share: the binary under test and configuration
//! files to hand it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use starform_host_tests::TempDir;

/// The `starform-wasm` binary cargo built for these tests, running `subcommand`.
pub fn starform(subcommand: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starform-wasm"));
    command.arg(subcommand);
    command
}

/// A configuration file holding `json`, in a directory of its own removed
/// on drop.
pub struct ConfigFile {
    dir: TempDir,
}

impl ConfigFile {
    pub fn new(json: &str) -> Self {
        let dir = TempDir::new("cli-config").unwrap();
        std::fs::write(dir.path().join(FILE), json).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join(FILE)
    }

    /// `--config <path>`, as every subcommand takes it.
    pub fn args(&self) -> [OsString; 2] {
        ["--config".into(), self.path().into()]
    }
}

const FILE: &str = "config.json";
