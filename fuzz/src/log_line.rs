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

/// A rejection message fit for one log line: not empty, and no newline or
/// other control character (DEL included) left unescaped, whatever the
/// configuration quoted.
pub fn assert_one_line(message: &str) {
    assert!(!message.trim().is_empty(), "empty message");
    assert!(
        !message.contains(char::is_control),
        "one log line: {message:?}"
    );
}
