//! The agent's fix as a git-style unified diff of two in-memory trees: the
//! pristine work tree racebench copied out before the agent ran and the one
//! it copied out after stopping every process of the agent. No git, no
//! hook, filter or diff driver of the agent's is involved: the agent's
//! `.git` is not even read. New, deleted and mode-changed files are
//! included; new files the pristine tree's ignore rules ignore are not.

use similar::{ChangeTag, TextDiff};

use super::tree::{Entry, Tree};

/// Files larger than this are left out of a diff (and noted).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// The diff and what it says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeDiff {
    /// The unified diff; empty when the agent changed nothing.
    pub text: String,
    /// Paths added, changed or deleted, in order.
    pub files: Vec<String>,
    /// Why some changes are not in the diff.
    pub notes: Vec<String>,
}

/// The diff from `before` to `after` (paths relative to the work tree, `a/`
/// and `b/` prefixes, three lines of context).
pub fn diff_trees(before: &Tree, after: &Tree) -> TreeDiff {
    let rules = before.ignore_rules();
    let mut out = TreeDiff::default();
    let mut paths: Vec<&String> = before.entries.keys().chain(after.entries.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let old = before.entries.get(path);
        let new = after.entries.get(path);
        if old == new {
            continue;
        }
        if old.is_none() && rules.ignores(path) {
            continue;
        }
        if let Some(why) = [old, new].into_iter().flatten().find_map(unfit) {
            out.notes
                .push(format!("{path}: left out of the diff ({why})"));
            continue;
        }
        out.text.push_str(&file_diff(path, old, new));
        out.files.push(path.clone());
    }
    out
}

/// Why an entry cannot be in a text diff, if it cannot.
fn unfit(entry: &Entry) -> Option<String> {
    let data = entry.content();
    if data.len() > MAX_FILE_BYTES {
        return Some(format!("larger than {} KiB", MAX_FILE_BYTES / 1024));
    }
    if data[..data.len().min(8000)].contains(&0) || std::str::from_utf8(data).is_err() {
        return Some("binary".into());
    }
    None
}

fn file_diff(path: &str, old: Option<&Entry>, new: Option<&Entry>) -> String {
    let mut s = format!("diff --git a/{path} b/{path}\n");
    let text = |e: Option<&Entry>| {
        e.map(|e| String::from_utf8_lossy(e.content()).into_owned())
            .unwrap_or_default()
    };
    let (old_text, new_text) = (text(old), text(new));
    match (old, new) {
        (None, Some(n)) => s.push_str(&format!("new file mode {}\n", n.mode())),
        (Some(o), None) => s.push_str(&format!("deleted file mode {}\n", o.mode())),
        (Some(o), Some(n)) if o.mode() != n.mode() => {
            s.push_str(&format!("old mode {}\nnew mode {}\n", o.mode(), n.mode()))
        }
        _ => {}
    }
    if old_text == new_text {
        return s;
    }
    let a = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".into()
    };
    let b = if new.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".into()
    };
    s.push_str(&format!("--- {a}\n+++ {b}\n"));
    let diff = TextDiff::from_lines(&old_text, &new_text);
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        s.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_range.start, old_range.len()),
            range(new_range.start, new_range.len())
        ));
        for op in &group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                let value = change.value();
                s.push(sign);
                s.push_str(value);
                if !value.ends_with('\n') {
                    s.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    s
}

/// A hunk range as diff writes it: 1-based start, the line before for an
/// empty range, the length left out when it is 1.
fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        n => format!("{},{n}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::tests::tar_of;
    use super::*;

    fn tree(entries: &[(&str, &str, u32)]) -> Tree {
        Tree::from_tar(&tar_of(entries)).unwrap()
    }

    const BASE: &[(&str, &str, u32)] = &[
        (".gitignore", "/bin/\n", 0o644),
        ("main.py", "a\nb\nc\nd\ne\nf\ng\nh\n", 0o644),
        ("old.py", "gone\n", 0o644),
        ("run.sh", "echo\n", 0o644),
    ];

    fn after() -> Tree {
        tree(&[
            (".gitignore", "/bin/\n", 0o644),
            ("main.py", "a\nb\nC\nd\ne\nf\ng\nh\nnew", 0o644),
            ("run.sh", "echo\n", 0o755),
            ("added.py", "x = 1\n", 0o644),
            ("bin/app", "built\n", 0o755),
            ("blob.dat", "\0\x01", 0o644),
        ])
    }

    #[test]
    fn unchanged_trees_give_an_empty_diff() {
        let d = diff_trees(&tree(BASE), &tree(BASE));
        assert_eq!(d, TreeDiff::default());
    }

    #[test]
    fn new_deleted_changed_and_mode_changed_files_are_in_the_diff() {
        let d = diff_trees(&tree(BASE), &after());
        assert_eq!(d.files, ["added.py", "main.py", "old.py", "run.sh"]);
        assert_eq!(
            d.notes,
            ["blob.dat: left out of the diff (binary)"],
            "ignored build outputs are silently left out, binaries noted"
        );
        insta::assert_snapshot!(d.text);
    }

    /// The diff is what `git apply` takes: checked against the real git when
    /// the machine has one (it runs on racebench's own copies, in a temporary folder).
    #[test]
    fn git_apply_turns_the_base_into_the_result() {
        let Ok(status) = std::process::Command::new("git").arg("--version").output() else {
            return;
        };
        if !status.status.success() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for (path, data, mode) in BASE {
            let p = dir.path().join(path);
            std::fs::write(&p, data).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        let d = diff_trees(&tree(BASE), &after());
        std::fs::write(dir.path().join("fix.diff"), &d.text).unwrap();
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "apply",
                "--verbose",
                "fix.diff",
            ])
            .current_dir(dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("main.py"), "a\nb\nC\nd\ne\nf\ng\nh\nnew");
        assert_eq!(read("added.py"), "x = 1\n");
        assert!(!dir.path().join("old.py").exists());
    }
}
