//! Where racebench keeps what it builds once per machine (the broker binary,
//! base image scratch space): `$RACEBENCH_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/racebench`, else `~/.cache/racebench`.

use std::path::PathBuf;

pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RACEBENCH_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("racebench");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("racebench")
}
