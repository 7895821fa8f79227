//! `starform-wasm export-modules DIR`: writes the embedded modules to DIR, so
//! the `.wasm` Envoy and Fluent Bit load is byte-for-byte the one the tests ran.

use std::path::PathBuf;

use super::Failure;
use starform_wasm::modules::{
    ENVOY_FILTER, ENVOY_FILTER_FILE, VECTOR_TRANSFORM, VECTOR_TRANSFORM_FILE,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write starform_envoy_filter.wasm and starform_vector_transform.wasm into.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(args: Args) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::usage(format!("export-modules: {}: {e}", args.dir.display())))?;
    for (file, bytes) in [
        (ENVOY_FILTER_FILE, ENVOY_FILTER),
        (VECTOR_TRANSFORM_FILE, VECTOR_TRANSFORM),
    ] {
        let path = args.dir.join(file);
        std::fs::write(&path, bytes)
            .map_err(|e| Failure::runtime(format!("export-modules: {}: {e}", path.display())))?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
