//! The Kafka-protocol broker binary, Nisshi, built once per machine with
//! `cargo install` into the racebench cache (about 15 minutes on 2 cores) and
//! reused while it answers `--version` with the pinned version. A lock file
//! keeps concurrent racebench processes from building it twice.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::error::ServiceError;
use crate::cache_dir::cache_dir;

/// The pinned broker version.
pub const NISSHI_VERSION: &str = "0.8.1";

/// Points racebench at a prebuilt binary instead (it must be this version).
pub const NISSHI_BIN_ENV: &str = "RACEBENCH_NISSHI_BIN";

/// `cache_dir()/nisshi-<version>`, the `cargo install --root`.
pub fn nisshi_root() -> PathBuf {
    cache_dir().join(format!("nisshi-{NISSHI_VERSION}"))
}

/// Where the binary is (or will be).
pub fn nisshi_binary() -> PathBuf {
    std::env::var_os(NISSHI_BIN_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| nisshi_root().join("bin").join("nisshi"))
}

/// Whether `binary` runs and reports the pinned version.
pub async fn is_usable(binary: &Path) -> bool {
    let Ok(output) = tokio::process::Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
    else {
        return false;
    };
    output.status.success()
        && String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .any(|w| w == NISSHI_VERSION)
}

/// The binary, built first if needed.
pub async fn ensure_nisshi(on_line: &mut dyn FnMut(&str)) -> Result<PathBuf, ServiceError> {
    let binary = nisshi_binary();
    if is_usable(&binary).await {
        return Ok(binary);
    }
    if std::env::var_os(NISSHI_BIN_ENV).is_some_and(|p| !p.is_empty()) {
        return Err(build_error(
            format!(
                "{NISSHI_BIN_ENV}={} is not a working nisshi {NISSHI_VERSION}",
                binary.display()
            ),
            String::new(),
        ));
    }
    let root = nisshi_root();
    std::fs::create_dir_all(cache_dir()).map_err(|e| {
        build_error(
            format!("cannot create {}: {e}", cache_dir().display()),
            String::new(),
        )
    })?;
    let lock = cache_dir().join(format!("nisshi-{NISSHI_VERSION}.lock"));
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(mut file) => {
                use std::io::Write;
                let _ = writeln!(file, "{}", std::process::id());
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&lock)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                let alive = holder.is_some_and(|pid| {
                    !super::naming::Owner {
                        host: super::naming::host_tag(),
                        pid,
                    }
                    .is_dead()
                });
                if !alive {
                    let _ = std::fs::remove_file(&lock);
                    continue;
                }
                on_line(&format!(
                    "waiting for another racebench process (pid {}) building nisshi",
                    holder.unwrap_or(0)
                ));
                tokio::time::sleep(Duration::from_secs(5)).await;
                if is_usable(&binary).await {
                    return Ok(binary);
                }
            }
            Err(e) => {
                return Err(build_error(
                    format!("cannot create the lock {}: {e}", lock.display()),
                    String::new(),
                ))
            }
        }
    }
    let result = cargo_install(&root, on_line).await;
    let _ = std::fs::remove_file(&lock);
    result?;
    if !is_usable(&binary).await {
        return Err(build_error(
            format!(
                "cargo install finished but {} does not answer --version with {NISSHI_VERSION}",
                binary.display()
            ),
            String::new(),
        ));
    }
    Ok(binary)
}

async fn cargo_install(root: &Path, on_line: &mut dyn FnMut(&str)) -> Result<(), ServiceError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = cache_dir().join(format!("nisshi-{NISSHI_VERSION}-build"));
    on_line(&format!(
        "building the broker nisshi {NISSHI_VERSION} with cargo install into {} (once per machine; about 15 minutes on 2 cores)",
        root.display()
    ));
    let started = std::time::Instant::now();
    let mut child = tokio::process::Command::new(&cargo)
        .args(["install", "nisshi", "--version", NISSHI_VERSION, "--locked", "--ignore-rust-version"])
        .args(["--no-default-features", "--features", "dynostore", "--force", "--root"])
        .arg(root)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            build_error(
                format!(
                    "cannot run cargo ({e}); install Rust (https://rustup.rs) or set {NISSHI_BIN_ENV} to a nisshi {NISSHI_VERSION} binary"
                ),
                String::new(),
            )
        })?;
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut tail = std::collections::VecDeque::new();
    while let Ok(Some(line)) = lines.next_line().await {
        on_line(line.trim());
        tail.push_back(line);
        if tail.len() > 30 {
            tail.pop_front();
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| build_error(format!("cargo install: {e}"), String::new()))?;
    if !status.success() {
        return Err(build_error(
            format!("cargo install exited with {status}"),
            tail.into_iter().collect::<Vec<_>>().join("\n"),
        ));
    }
    let _ = std::fs::remove_dir_all(&target_dir);
    on_line(&format!(
        "built nisshi {NISSHI_VERSION} in {} s",
        started.elapsed().as_secs()
    ));
    Ok(())
}

fn build_error(message: String, log_tail: String) -> ServiceError {
    ServiceError::BrokerBuild {
        version: NISSHI_VERSION.to_string(),
        message,
        log_tail,
    }
}
