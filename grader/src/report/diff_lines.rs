//! A diff as the report shows it: one line per row, each with the CSS class
//! of what it is (file header, hunk header, added, removed, context). The
//! text stays text: the templates escape it.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct DiffLine {
    pub class: &'static str,
    pub text: String,
}

fn line_class(line: &str) -> &'static str {
    if line.starts_with("+++")
        || line.starts_with("---")
        || line.starts_with("diff ")
        || line.starts_with("index ")
    {
        "meta"
    } else if line.starts_with("@@") {
        "hunk"
    } else if line.starts_with('+') {
        "add"
    } else if line.starts_with('-') {
        "del"
    } else {
        "ctx"
    }
}

/// The lines of `text`, classed.
pub(crate) fn diff_lines(text: &str) -> Vec<DiffLine> {
    text.lines()
        .map(|l| DiffLine {
            class: line_class(l),
            text: l.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classed_by_their_start() {
        let classes: Vec<&str> =
            diff_lines("diff --git a/x b/x\n--- a/x\n@@ -1 +1 @@\n-old\n+new\n same")
                .iter()
                .map(|l| l.class)
                .collect();
        assert_eq!(classes, ["meta", "meta", "hunk", "del", "add", "ctx"]);
    }
}
