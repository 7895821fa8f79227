//! The page's entry points. Errors come back as the message string the CLI
//! prints after `--config FILE: `.

use wasm_bindgen::prelude::wasm_bindgen;

/// `starform-wasm route --config <config> <names…>`: its stdout.
#[wasm_bindgen]
pub fn routes(config: &str, names: &str) -> Result<String, String> {
    crate::route::run(config.as_bytes(), names).map_err(|e| e.to_string())
}

/// `starform-wasm route --config <config> <name>`: its one line, without
/// the newline (an empty name included, unlike in [`routes`]).
#[wasm_bindgen]
pub fn route(config: &str, name: &str) -> Result<String, String> {
    let mut routes = crate::route::Routes::new(config.as_bytes()).map_err(|e| e.to_string())?;
    Ok(routes.line(name.as_bytes()))
}

/// `starform-wasm logs --config <config>` with `records` on stdin.
#[wasm_bindgen(getter_with_clone)]
pub struct Logs {
    /// stdout: the output records.
    pub output: String,
    /// stderr: the summary line.
    pub summary: String,
}

#[wasm_bindgen]
pub fn logs(config: &str, records: &str) -> Result<Logs, String> {
    let run = crate::logs::run(config.as_bytes(), records.as_bytes()).map_err(|e| e.to_string())?;
    // The transform writes JSON from a UTF-8 input: valid UTF-8 throughout.
    Ok(Logs {
        output: String::from_utf8_lossy(&run.output).into_owned(),
        summary: run.summary,
    })
}

/// `starform-wasm vrl --config <config>`: its stdout.
#[wasm_bindgen]
pub fn vrl(config: &str) -> Result<String, String> {
    crate::vrl::program(config.as_bytes()).map_err(|e| e.to_string())
}

/// `starform-wasm vrl --dropped`: its stdout.
#[wasm_bindgen]
pub fn vrl_dropped() -> String {
    crate::vrl::dropped_program()
}
