//! Writes indented VRL source, two spaces per block.

use super::literal;

pub struct Emitter {
    out: String,
    depth: usize,
}

impl Emitter {
    pub fn new() -> Self {
        Self {
            out: String::new(),
            depth: 0,
        }
    }

    fn indent(&self) -> String {
        "  ".repeat(self.depth)
    }

    pub fn line(&mut self, code: &str) {
        let indent = self.indent();
        self.out.push_str(&indent);
        self.out.push_str(code);
        self.out.push('\n');
    }

    pub fn blank(&mut self) {
        self.out.push('\n');
    }

    pub fn comment(&mut self, text: &str) {
        let indent = self.indent();
        literal::comment(&mut self.out, &indent, text);
    }

    /// `head {` and one level deeper.
    pub fn open(&mut self, head: &str) {
        self.line(&format!("{head} {{"));
        self.depth += 1;
    }

    /// `}`, one level up.
    pub fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }

    /// `} head {` at the same level, for `else` branches.
    pub fn close_open(&mut self, head: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.line(&format!("}} {head} {{"));
        self.depth += 1;
    }

    pub fn finish(self) -> String {
        self.out
    }
}
