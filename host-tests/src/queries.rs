//! The dashboard's queries, read from `docs/queries.md` so that the tests
//! run exactly what the page documents.

/// The fenced block whose info string is `<language> <id>`, without its
/// fences. An error names what is missing.
pub fn doc_query(language: &str, id: &str) -> Result<String, String> {
    let path = crate::repo_root().join("docs/queries.md");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    find(&text, language, id).ok_or_else(|| {
        format!("docs/queries.md has no ```{language} {id} block (or it is not closed)")
    })
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
