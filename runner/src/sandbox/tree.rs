//! A work tree as racebench reads it: the regular files and links of a tar
//! archive the engine copied out of a container, in memory, with what is
//! never part of a fix left out (`.git`, caches, and whatever the pristine
//! tree's `.gitignore` files ignore). Nothing in the tree is ever run.

use std::collections::BTreeMap;
use std::io::Read as _;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// One entry of a work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File {
        data: Vec<u8>,
        executable: bool,
    },
    /// A symbolic link and its target.
    Link {
        target: String,
    },
}

impl Entry {
    /// The git mode of the entry.
    pub fn mode(&self) -> &'static str {
        match self {
            Entry::File {
                executable: true, ..
            } => "100755",
            Entry::File { .. } => "100644",
            Entry::Link { .. } => "120000",
        }
    }

    /// What git diffs: a file's bytes, a link's target.
    pub fn content(&self) -> &[u8] {
        match self {
            Entry::File { data, .. } => data,
            Entry::Link { target } => target.as_bytes(),
        }
    }
}

/// Relative path (with `/`) to entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
}

/// Names left out wherever they are: version control and interpreter caches.
const ALWAYS_OUT: &[&str] = &[".git", "__pycache__", ".pytest_cache", ".mypy_cache"];

impl Tree {
    /// Reads the engine's archive of a folder (`src/...` for `/work/src`:
    /// the first component is dropped). Devices, fifos and paths with `..`
    /// are skipped; so is anything under [`ALWAYS_OUT`].
    pub fn from_tar(tar_bytes: &[u8]) -> std::io::Result<Tree> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut tree = Tree::default();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let mut parts: Vec<String> = Vec::new();
            let mut bad = false;
            for c in path.components().skip(1) {
                match c {
                    std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into()),
                    std::path::Component::CurDir => {}
                    _ => bad = true,
                }
            }
            if bad || parts.is_empty() || parts.iter().any(|p| ALWAYS_OUT.contains(&p.as_str())) {
                continue;
            }
            let rel = parts.join("/");
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let executable = entry.header().mode()? & 0o111 != 0;
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data)?;
                    tree.entries.insert(rel, Entry::File { data, executable });
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()?
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    tree.entries.insert(rel, Entry::Link { target });
                }
                _ => {}
            }
        }
        Ok(tree)
    }

    /// The ignore rules of this (pristine) tree: every `.gitignore` in it,
    /// each for its own folder, plus compiled-Python files.
    pub fn ignore_rules(&self) -> IgnoreRules {
        let mut matchers = Vec::new();
        let mut base = GitignoreBuilder::new("/");
        let _ = base.add_line(None, "*.pyc");
        let _ = base.add_line(None, "*.pyo");
        if let Ok(m) = base.build() {
            matchers.push(m);
        }
        for (path, entry) in &self.entries {
            let Entry::File { data, .. } = entry else {
                continue;
            };
            let dir = match path.strip_suffix(".gitignore") {
                Some(dir) if dir.is_empty() || dir.ends_with('/') => dir,
                _ => continue,
            };
            let mut builder = GitignoreBuilder::new(format!("/{dir}"));
            for line in String::from_utf8_lossy(data).lines() {
                let _ = builder.add_line(None, line);
            }
            if let Ok(m) = builder.build() {
                matchers.push(m);
            }
        }
        IgnoreRules { matchers }
    }
}

/// Which new files are build outputs or otherwise ignored.
pub struct IgnoreRules {
    matchers: Vec<Gitignore>,
}

impl IgnoreRules {
    /// Whether `path` (relative, `/`-separated) is ignored by some rule.
    pub fn ignores(&self, path: &str) -> bool {
        let abs = format!("/{path}");
        self.matchers.iter().any(|m| {
            let root = m.path().to_string_lossy();
            let under_root =
                root == "/" || abs.starts_with(&format!("{}/", root.trim_end_matches('/')));
            under_root && m.matched_path_or_any_parents(&abs, false).is_ignore()
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tar archive as the engine makes it for `/work/src`.
    pub(crate) fn tar_of(entries: &[(&str, &str, u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, mode) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, format!("src/{path}"), data.as_bytes())
                .unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn version_control_and_caches_are_never_part_of_the_tree() {
        let tree = Tree::from_tar(&tar_of(&[
            ("a.py", "x\n", 0o644),
            (".git/config", "[core]\n\tfsmonitor = evil\n", 0o644),
            ("pkg/__pycache__/a.cpython.pyc", "\0", 0o644),
            ("run.sh", "#!/bin/sh\n", 0o755),
        ]))
        .unwrap();
        let paths: Vec<_> = tree.entries.keys().cloned().collect();
        assert_eq!(paths, ["a.py", "run.sh"]);
        assert_eq!(tree.entries["run.sh"].mode(), "100755");
    }

    #[test]
    fn pristine_gitignore_files_rule_their_own_folders() {
        let tree = Tree::from_tar(&tar_of(&[
            (".gitignore", "/bin/\n*.log\n", 0o644),
            ("web/.gitignore", "dist\n", 0o644),
        ]))
        .unwrap();
        let rules = tree.ignore_rules();
        assert!(rules.ignores("bin/app"));
        assert!(rules.ignores("x/y.log"));
        assert!(rules.ignores("web/dist/app.js"));
        assert!(!rules.ignores("dist/app.js"), "web's rule is web's only");
        assert!(rules.ignores("m.pyc"));
        assert!(!rules.ignores("main.go"));
    }
}
