//! How a name from a configuration appears in a one-line log message:
//! control characters escaped (`\n`, `\u{1b}`), everything else as written.

pub fn shown(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
