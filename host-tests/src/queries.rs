//! The dashboard's queries, read from `docs/queries.md`, and the commands
//! the deploy READMEs give, so that the tests run exactly what the pages
//! document.

/// The fenced block of `docs/queries.md` whose info string is
/// `<language> <id>`, without its fences. An error names what is missing.
pub fn doc_query(language: &str, id: &str) -> Result<String, String> {
    doc_block("docs/queries.md", language, id)
}

/// The fenced block of `file` (relative to the repository root) whose info
/// string is `<language> <id>`, without its fences.
pub fn doc_block(file: &str, language: &str, id: &str) -> Result<String, String> {
    let path = crate::repo_root().join(file);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    find(&text, language, id)
        .ok_or_else(|| format!("{file} has no ```{language} {id} block (or it is not closed)"))
}

/// A shell command block as `(program, [(flag name, value)])`: lines joined
/// at their trailing `\`, every argument `-name=value` (the form the deploy
/// READMEs use). An error names the argument that is not.
pub fn command_flags(block: &str) -> Result<(String, Vec<(String, String)>), String> {
    let joined = block.replace("\\\n", " ");
    let mut words = joined.split_whitespace();
    let program = words
        .next()
        .ok_or_else(|| "an empty command".to_owned())?
        .to_owned();
    let flags = words
        .map(|word| {
            word.strip_prefix('-')
                .and_then(|flag| flag.split_once('='))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .ok_or_else(|| format!("{program}: `{word}` is not -name=value"))
        })
        .collect::<Result<_, _>>()?;
    Ok((program, flags))
}

/// Every id of a `<language>` block, in page order.
pub fn doc_query_ids(language: &str) -> Result<Vec<String>, String> {
    let path = crate::repo_root().join("docs/queries.md");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("```"))
        .filter_map(|info| {
            let mut words = info.split_whitespace();
            (words.next() == Some(language))
                .then(|| words.next().map(str::to_owned))
                .flatten()
        })
        .collect())
}

fn find(text: &str, language: &str, id: &str) -> Option<String> {
    let opening = format!("```{language} {id}");
    let mut lines = text.lines();
    lines.find(|l| l.trim_end() == opening)?;
    let mut body = Vec::new();
    for line in lines {
        if line.trim_end() == "```" {
            return Some(body.join("\n"));
        }
        body.push(line);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_command_block_as_flags() {
        let (program, flags) =
            command_flags("vmagent -a=1 \\\n  -b.c=http://x:1/y \\\n  -a=2\n").unwrap();
        assert_eq!(program, "vmagent");
        assert_eq!(
            flags,
            [("a", "1"), ("b.c", "http://x:1/y"), ("a", "2")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(command_flags("x -a").unwrap_err().contains("`-a`"));
        assert!(command_flags("x b=1").is_err());
        assert!(command_flags("  ").is_err());
    }

    #[test]
    fn finds_a_block_by_language_and_id() {
        let text =
            "# t\n```promql a\nx\ny\n```\n```promql ab\nz\n```\n```sql a\ns\n```\n```promql open\n";
        assert_eq!(find(text, "promql", "a").as_deref(), Some("x\ny"));
        assert_eq!(find(text, "promql", "ab").as_deref(), Some("z"));
        assert_eq!(find(text, "sql", "a").as_deref(), Some("s"));
        assert_eq!(find(text, "promql", "b"), None);
        assert_eq!(find(text, "promql", "open"), None);
    }
}
