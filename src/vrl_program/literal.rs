//! VRL source text for values that come from the configuration (label keys,
//! template literals, abort messages), which may hold any character.

/// A VRL string literal (`"…"`) whose value is exactly `s`.
///
/// Every `{` and `}` is escaped because `{{ … }}` inside a VRL string is a
/// template, not text. Characters other than the escaped ones are written as
/// they are (a VRL source file is UTF-8), so the output never depends on the
/// `\u{…}` escape, which older VRL releases (the one Vector bundles) lack.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path segment naming the field `key` (`."…"`), for `labels."app.kubernetes.io/name"`.
pub fn field(key: &str) -> String {
    let mut out = String::from(".");
    out.push_str(&string(key));
    out
}

/// A VRL comment holding `text` on one line per line of `text`.
pub fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        out.push_str(indent);
        out.push('#');
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_controls_and_braces() {
        assert_eq!(string("plain"), r#""plain""#);
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("x\ny\r\t\0"), r#""x\ny\r\t\0""#);
        assert_eq!(string("{{ .x }}"), r#""\{\{ .x \}\}""#);
        assert_eq!(string("K\u{212A}\u{a0}"), "\"K\u{212A}\u{a0}\"");
    }

    #[test]
    fn field_is_a_quoted_segment() {
        assert_eq!(field("starform.io/project"), r#"."starform.io/project""#);
    }

    #[test]
    fn comment_prefixes_every_line() {
        let mut out = String::new();
        comment(&mut out, "  ", "one\ntwo");
        assert_eq!(out, "  # one\n  # two\n");
    }
}
