//! Tar archives to and from containers: build contexts, single files, and
//! safe extraction of what comes back out of a container.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

/// Files held in memory, by relative path, to send as a tar archive.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    files: BTreeMap<String, (Vec<u8>, u32)>,
}

impl FileSet {
    pub fn new() -> FileSet {
        FileSet::default()
    }

    /// Reads a folder recursively, skipping top-level entries named in
    /// `exclude` and every `.git` folder. Symbolic links are refused.
    pub fn from_dir(dir: &Path, exclude: &[&str]) -> io::Result<FileSet> {
        let mut set = FileSet::new();
        set.add_dir(dir, dir, exclude)?;
        Ok(set)
    }

    fn add_dir(&mut self, root: &Path, dir: &Path, exclude: &[&str]) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            let name = entry.file_name();
            if name == ".git" || (dir == root && exclude.iter().any(|e| name == *e)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symbolic link; copy the file instead",
                        path.display()
                    ),
                ));
            }
            if meta.is_dir() {
                self.add_dir(root, &path, exclude)?;
            } else {
                let mode = file_mode(&meta);
                self.add(&rel, std::fs::read(&path)?, mode);
            }
        }
        Ok(())
    }

    /// Adds (or replaces) one file.
    pub fn add(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.files
            .insert(path.trim_start_matches('/').to_string(), (data, mode));
    }

    /// Every file as (path, content, mode), in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8], u32)> {
        self.files
            .iter()
            .map(|(path, (data, mode))| (path.as_str(), data.as_slice(), *mode))
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Hex SHA-256 over every path, mode and content, in path order.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (path, (data, mode)) in &self.files {
            hasher.update((path.len() as u64).to_le_bytes());
            hasher.update(path.as_bytes());
            hasher.update(mode.to_le_bytes());
            hasher.update((data.len() as u64).to_le_bytes());
            hasher.update(data);
        }
        hex::encode(hasher.finalize())
    }

    /// A tar archive of the files (owned by root, fixed mtime for reproducibility).
    pub fn to_tar(&self) -> io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, (data, mode)) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, data.as_slice())?;
        }
        builder.into_inner()
    }
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o644
}

/// What [`extract`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Relative paths written.
    pub written: Vec<String>,
    /// Files not written because they would have passed `max_bytes`.
    pub skipped: Vec<String>,
    /// Whether the archive ended early (it was cut at a size limit).
    pub cut: bool,
}

/// Extracts a tar archive into `dest`, refusing absolute paths, `..` and
/// links, and skipping files that would take the total past `max_bytes`. An
/// archive cut short yields the entries before the cut. The engine's archive
/// of a folder `/x/out` holds `out/...`: `strip_first` drops that first
/// component.
pub fn extract(
    tar_bytes: &[u8],
    dest: &Path,
    max_bytes: u64,
    strip_first: bool,
) -> io::Result<Extracted> {
    std::fs::create_dir_all(dest)?;
    let mut archive = tar::Archive::new(tar_bytes);
    let mut done = Extracted::default();
    let mut total = 0u64;
    for entry in archive.entries()? {
        let Ok(mut entry) = entry else {
            done.cut = true;
            break;
        };
        let Ok(path) = entry.path().map(|p| p.into_owned()) else {
            continue;
        };
        let mut path = path;
        if strip_first {
            let mut components = path.components();
            components.next();
            path = components.as_path().to_path_buf();
            if path.as_os_str().is_empty() {
                continue;
            }
        }
        if path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        }) {
            continue;
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(dest.join(&path))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size()?;
                let name = path.to_string_lossy().into_owned();
                if total + size > max_bytes {
                    done.skipped.push(name);
                    continue;
                }
                let mut data = Vec::with_capacity(size as usize);
                if entry.read_to_end(&mut data).is_err() || (data.len() as u64) < size {
                    done.cut = true;
                    break;
                }
                total += size;
                let target = dest.join(&path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, data)?;
                done.written.push(name);
            }
            _ => {}
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_changes_with_content_and_mode() {
        let mut a = FileSet::new();
        a.add("x.txt", b"1".to_vec(), 0o644);
        let h1 = a.content_hash();
        a.add("x.txt", b"2".to_vec(), 0o644);
        let h2 = a.content_hash();
        a.add("x.txt", b"2".to_vec(), 0o755);
        let h3 = a.content_hash();
        assert!(h1 != h2 && h2 != h3 && h1 != h3);
    }

    #[test]
    fn from_dir_skips_excluded_top_level_and_git() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("tests")).unwrap();
        std::fs::create_dir_all(tmp.path().join("src/.git")).unwrap();
        std::fs::create_dir_all(tmp.path().join("src/tests")).unwrap();
        std::fs::write(tmp.path().join("tests/hidden.py"), "x").unwrap();
        std::fs::write(tmp.path().join("src/.git/HEAD"), "x").unwrap();
        std::fs::write(tmp.path().join("src/tests/visible.py"), "x").unwrap();
        std::fs::write(tmp.path().join("Dockerfile"), "FROM x").unwrap();
        let set = FileSet::from_dir(tmp.path(), &["tests"]).unwrap();
        let paths: Vec<_> = set.files.keys().cloned().collect();
        assert_eq!(paths, ["Dockerfile", "src/tests/visible.py"]);
    }

    #[test]
    fn tar_round_trips_through_extract() {
        let mut set = FileSet::new();
        set.add("a/b.txt", b"hello".to_vec(), 0o644);
        let tar = set.to_tar().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let written = extract(&tar, tmp.path(), 1024, false).unwrap();
        assert_eq!(written.written, ["a/b.txt"]);
        let stripped = extract(&tar, &tmp.path().join("s"), 1024, true).unwrap();
        assert_eq!(stripped.written, ["b.txt"]);
        assert_eq!(std::fs::read(tmp.path().join("a/b.txt")).unwrap(), b"hello");
    }

    #[test]
    fn extract_refuses_escaping_paths_and_skips_what_passes_the_cap() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`, so write the raw name.
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../evil\0\0");
        header.set_cksum();
        builder.append(&header, &b"bad"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("inner");
        assert_eq!(
            extract(&tar, &inner, 1024, false).unwrap(),
            Extracted::default()
        );
        assert!(!tmp.path().join("evil").exists());

        // An output bomb is skipped; what fits is kept, before and after it.
        let mut set = FileSet::new();
        set.add("a-report.xml", b"<ok/>".to_vec(), 0o644);
        set.add("big", vec![0; 2048], 0o644);
        set.add("events.jsonl", b"{}".to_vec(), 0o644);
        let done = extract(&set.to_tar().unwrap(), &inner, 1024, false).unwrap();
        assert_eq!(done.written, ["a-report.xml", "events.jsonl"]);
        assert_eq!(done.skipped, ["big"]);
        assert!(!done.cut);
    }

    #[test]
    fn an_archive_cut_at_a_limit_yields_the_entries_before_the_cut() {
        let mut set = FileSet::new();
        set.add("a", vec![1; 600], 0o644);
        set.add("b", vec![2; 4096], 0o644);
        let tar = set.to_tar().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let done = extract(&tar[..2048], tmp.path(), 1 << 20, false).unwrap();
        assert_eq!(done.written, ["a"]);
        assert!(done.cut);
    }
}
