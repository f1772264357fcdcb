//! The Debian base every datapoint and service Dockerfile names
//! (`FROM debian:bookworm-slim`). Where it cannot be pulled, racebench makes it:
//! debootstrap (or mmdebstrap) a minimal bookworm, then import it through the
//! engine under that very name, so the same Dockerfiles work with and without
//! a registry. The engine's image store is the cache.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use crate::engine::Engine;
use crate::image::ImageError;
use crate::labels;

/// The image every Dockerfile starts from.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";
const SUITE: &str = "bookworm";

/// How the base image came to be present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseOrigin {
    Present,
    Pulled,
    /// Made here with the named tool, in the given number of seconds.
    Bootstrapped {
        tool: String,
        seconds: u64,
    },
}

/// The base image, ready.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub id: String,
    pub origin: BaseOrigin,
}

/// Makes sure `debian:bookworm-slim` exists: present, else pulled, else bootstrapped.
pub async fn ensure_base(
    engine: &Engine,
    scratch: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<BaseImage, ImageError> {
    if let Some(found) = engine.image(BASE_IMAGE).await? {
        return Ok(BaseImage {
            id: found.id,
            origin: BaseOrigin::Present,
        });
    }
    if std::env::var_os("RACEBENCH_NO_PULL").is_none() {
        on_line(&format!("pulling {BASE_IMAGE}"));
        match engine.pull(BASE_IMAGE).await {
            Ok(()) => {
                let id = engine
                    .image(BASE_IMAGE)
                    .await?
                    .map(|i| i.id)
                    .unwrap_or_default();
                return Ok(BaseImage {
                    id,
                    origin: BaseOrigin::Pulled,
                });
            }
            Err(e) => on_line(&format!("{e}; creating it locally instead")),
        }
    }
    let started = std::time::Instant::now();
    let tool = bootstrap_and_import(engine, scratch, on_line).await?;
    let id = engine
        .image(BASE_IMAGE)
        .await?
        .map(|i| i.id)
        .ok_or_else(|| base_error("the import finished but the image is not there"))?;
    Ok(BaseImage {
        id,
        origin: BaseOrigin::Bootstrapped {
            tool,
            seconds: started.elapsed().as_secs(),
        },
    })
}

fn base_error(message: impl Into<String>) -> ImageError {
    ImageError::Base {
        image: BASE_IMAGE.to_string(),
        message: message.into(),
    }
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether this process runs as root: the effective uid, from /proc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved filesystem
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

async fn run_logged(
    cmd: &mut tokio::process::Command,
    what: &str,
    on_line: &mut dyn FnMut(&str),
) -> Result<(), ImageError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| base_error(format!("failed to run {what}: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    for line in text
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        on_line(line);
    }
    if !output.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        return Err(base_error(format!(
            "{what} exited with {}:\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(())
}

/// Bootstraps a minimal bookworm root into `scratch` and imports it.
async fn bootstrap_and_import(
    engine: &Engine,
    scratch: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<String, ImageError> {
    let mirror = std::env::var("RACEBENCH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let Some(debootstrap) = find_tool("debootstrap") else {
        return Err(base_error(
            "it cannot be pulled and debootstrap is not installed; install it (`sudo apt-get install -y debootstrap`) \
             or make the image available to the engine (`docker load`, a registry mirror)",
        ));
    };
    if !is_root() {
        return Err(base_error(
            "it cannot be pulled, and debootstrap needs root; run racebench once as root (e.g. `sudo racebench services build`) \
             or make the image available to the engine",
        ));
    }
    std::fs::create_dir_all(scratch)
        .map_err(|e| base_error(format!("failed to create {}: {e}", scratch.display())))?;
    remove_abandoned_roots(scratch);
    let rootfs = scratch.join(format!("rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&rootfs);
    on_line(&format!(
        "debootstrap {SUITE} from {mirror} (about a minute)"
    ));
    let result = async {
        run_logged(
            tokio::process::Command::new(&debootstrap)
                .args(["--variant=minbase", "--include=ca-certificates", SUITE])
                .arg(&rootfs)
                .arg(&mirror),
            "debootstrap",
            on_line,
        )
        .await?;
        customize(&rootfs, &mirror)
            .map_err(|e| base_error(format!("failed to prepare the root file system: {e}")))?;
        run_logged(
            tokio::process::Command::new("chroot")
                .arg(&rootfs)
                .args(["update-ca-certificates", "--fresh"]),
            "update-ca-certificates in the new root",
            on_line,
        )
        .await?;
        on_line(&format!("importing the root file system as {BASE_IMAGE}"));
        import_dir(engine, &rootfs).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&rootfs);
    result.map(|()| "debootstrap".to_string())
}

/// Removes `rootfs-<pid>` folders left by racebench processes that died
/// while bootstrapping (their pid is gone).
fn remove_abandoned_roots(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("rootfs-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Apt sources like the official image's, extra CA certificates this host
/// trusts (for TLS-intercepting proxies), and no leftover package lists.
fn customize(rootfs: &Path, mirror: &str) -> std::io::Result<()> {
    let security = mirror
        .trim_end_matches('/')
        .trim_end_matches("/debian")
        .to_string()
        + "/debian-security";
    std::fs::write(
        rootfs.join("etc/apt/sources.list"),
        format!(
            "deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\ndeb {security} {SUITE}-security main\n"
        ),
    )?;
    let local_ca = Path::new("/usr/local/share/ca-certificates");
    if local_ca.is_dir() {
        let dest = rootfs.join("usr/local/share/ca-certificates");
        std::fs::create_dir_all(&dest)?;
        for entry in std::fs::read_dir(local_ca)? {
            let entry = entry?;
            if entry.path().extension().is_some_and(|e| e == "crt") {
                std::fs::copy(entry.path(), dest.join(entry.file_name()))?;
            }
        }
    }
    for dir in ["var/lib/apt/lists", "var/cache/apt/archives"] {
        let dir = rootfs.join(dir);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    Ok(())
}

/// Streams `tar -c` of the folder into an image import.
async fn import_dir(engine: &Engine, rootfs: &Path) -> Result<(), ImageError> {
    let mut child = tokio::process::Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(rootfs)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| base_error(format!("failed to run tar: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stream = futures_util::stream::unfold(stdout, |mut out| async move {
        let mut buf = vec![0u8; 1 << 20];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), out))
            }
            Err(e) => Some((Err(e), out)),
        }
    })
    .boxed();
    let (repo, tag) = BASE_IMAGE.split_once(':').expect("tagged base image");
    let changes = vec![
        format!("LABEL {}=debootstrap", labels::BASE),
        "CMD [\"bash\"]".to_string(),
    ];
    engine.import_rootfs(stream, repo, tag, changes).await?;
    let status = child
        .wait()
        .await
        .map_err(|e| base_error(format!("failed to wait for tar: {e}")))?;
    if !status.success() {
        return Err(base_error(format!("tar exited with {status}")));
    }
    Ok(())
}
