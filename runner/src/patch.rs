//! What a unified diff touches, read from its headers without applying it:
//! the files it changes, the lines it adds and removes, and which of those
//! files are under a datapoint's protected paths.

use racebench_model::PatchReport;

/// Reads the headers of a unified diff (git-style or plain). Hunk bodies are
/// measured by their `@@ -a,b +c,d @@` counts, so a removed line that starts
/// with `--` is never mistaken for a file header.
pub fn inspect(patch: &str, protected: &[String]) -> PatchReport {
    let mut files: Vec<String> = Vec::new();
    let mut added = 0u64;
    let mut removed = 0u64;
    // Lines of the current hunk still expected on the old and new side.
    let (mut old_left, mut new_left) = (0u64, 0u64);
    let push = |files: &mut Vec<String>, path: Option<String>| {
        if let Some(p) = path {
            if !files.contains(&p) {
                files.push(p);
            }
        }
    };
    for line in patch.lines() {
        if old_left > 0 || new_left > 0 {
            match line.as_bytes().first() {
                Some(b'+') => {
                    added += 1;
                    new_left = new_left.saturating_sub(1);
                }
                Some(b'-') => {
                    removed += 1;
                    old_left = old_left.saturating_sub(1);
                }
                Some(b'\\') => {}
                _ => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            // `a/x b/x`: both sides count (renames touch two paths).
            if let Some((a, b)) = split_git_paths(rest) {
                push(&mut files, strip_prefix_component(&a));
                push(&mut files, strip_prefix_component(&b));
            }
        } else if let Some(rest) = line
            .strip_prefix("--- ")
            .or_else(|| line.strip_prefix("+++ "))
        {
            push(&mut files, header_path(rest));
        } else if let Some(rest) = line.strip_prefix("@@ ") {
            (old_left, new_left) = hunk_lengths(rest);
        }
    }
    let protected_hits = files
        .iter()
        .filter(|f| protected.iter().any(|p| is_under(f, p)))
        .cloned()
        .collect();
    PatchReport {
        method: None,
        files,
        protected: protected_hits,
        added_lines: added,
        removed_lines: removed,
    }
}

/// `-12,3 +12,4 @@ ...` -> (3, 4); a missing count means 1.
fn hunk_lengths(rest: &str) -> (u64, u64) {
    let mut old = 0;
    let mut new = 0;
    for part in rest.split_whitespace().take(2) {
        let count = |range: &str| {
            range
                .split_once(',')
                .map(|(_, n)| n.parse().unwrap_or(0))
                .unwrap_or(1)
        };
        if let Some(range) = part.strip_prefix('-') {
            old = count(range);
        } else if let Some(range) = part.strip_prefix('+') {
            new = count(range);
        }
    }
    (old, new)
}

fn split_git_paths(rest: &str) -> Option<(String, String)> {
    // Paths may be quoted; the common unquoted case splits at " b/".
    if let Some(idx) = rest.find(" b/") {
        let a = rest[..idx].trim_matches('"').to_string();
        let b = rest[idx + 1..].trim_matches('"').to_string();
        return Some((a, b));
    }
    let mut parts = rest.split_whitespace();
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

fn header_path(raw: &str) -> Option<String> {
    let path = raw.split('\t').next()?.trim().trim_matches('"');
    if path == "/dev/null" {
        return None;
    }
    strip_prefix_component(path)
}

/// `a/src/x.go` -> `src/x.go` (the -p1 convention).
fn strip_prefix_component(path: &str) -> Option<String> {
    let path = path.trim_matches('"');
    if path == "/dev/null" {
        return None;
    }
    let stripped = path.split_once('/').map(|(_, rest)| rest).unwrap_or(path);
    (!stripped.is_empty()).then(|| stripped.to_string())
}

fn is_under(file: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_start_matches("./").trim_end_matches('/');
    file == prefix || file.starts_with(&format!("{prefix}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "\
diff --git a/main.go b/main.go
index 1111111..2222222 100644
--- a/main.go
+++ b/main.go
@@ -1,2 +1,3 @@
 package main
--- not a header, a removed line
+import \"sync\"
+var mu sync.Mutex
diff --git a/go.mod b/go.mod
new file mode 100644
--- /dev/null
+++ b/go.mod
@@ -0,0 +1 @@
+module x
";

    #[test]
    fn lists_files_and_counts_lines() {
        let report = inspect(PATCH, &[]);
        assert_eq!(report.files, ["main.go", "go.mod"]);
        assert_eq!(report.added_lines, 3);
        assert_eq!(report.removed_lines, 1);
        assert!(report.protected.is_empty());
    }

    #[test]
    fn flags_protected_prefixes_only_on_boundaries() {
        let report = inspect(PATCH, &["go.mod".into(), "mai".into()]);
        assert_eq!(report.protected, ["go.mod"]);
        let plain = "--- a/tests/t.py\n+++ b/tests/t.py\n@@ -1 +1 @@\n-x\n+y\n";
        assert_eq!(inspect(plain, &["tests/".into()]).protected, ["tests/t.py"]);
    }

    #[test]
    fn plain_diffs_with_several_files_are_all_listed() {
        let plain = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x\n+y\n--- a/y.py\n+++ b/y.py\n@@ -1,0 +2 @@\n+z\n";
        let report = inspect(plain, &[]);
        assert_eq!(report.files, ["x.py", "y.py"]);
        assert_eq!((report.added_lines, report.removed_lines), (2, 1));
    }

    #[test]
    fn garbage_touches_nothing() {
        let report = inspect("this is not a patch\n", &[]);
        assert!(report.files.is_empty());
        assert_eq!(report.added_lines + report.removed_lines, 0);
    }
}
