//! The test swarm of `tests/cluster/testswarm`, as the integration tests use
//! it: each test names its own swarm (names, subnet, registry port, state
//! dir), so two tests' swarms never meet each other or a hand-made one, and a
//! swarm is taken down when its guard is dropped, even when the test fails.

#![allow(dead_code)] // each test binary uses its own part of it

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One test's swarm settings.
#[derive(Debug, Clone, Copy)]
pub struct SwarmName {
    /// Prefix of every object the harness makes (netns, links, daemons).
    pub name: &'static str,
    /// The first three octets of the test bridge's /24.
    pub net: &'static str,
    /// The registry's port on the bridge address (not 5000, where Debian's
    /// packaged registry listens on a machine with systemd).
    pub port: &'static str,
}

impl SwarmName {
    pub fn state_dir(&self) -> PathBuf {
        std::env::temp_dir().join(format!("{}-state", self.name))
    }

    /// Runs the harness with these settings.
    pub fn harness(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(script())
            .args(args)
            .env("RBSWARM_NAME", self.name)
            .env("RBSWARM_NET", self.net)
            .env("RBSWARM_STATE", self.state_dir())
            .env("RBSWARM_PORT", self.port)
            .output()
            .expect("run testswarm")
    }

    /// Runs the harness and returns its stdout; panics with its output when
    /// it fails.
    pub fn harness_ok(&self, args: &[&str]) -> String {
        let out = self.harness(args);
        assert!(
            out.status.success(),
            "testswarm {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Brings up `nodes` nodes and a registry. A test killed before its
    /// teardown left the same names behind: those are taken down first.
    pub fn up(self, nodes: usize) -> Swarm {
        self.harness_ok(&["down"]);
        self.harness_ok(&["up", &nodes.to_string()]);
        let env = self
            .harness_ok(&["env"])
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Swarm { name: self, env }
    }
}

/// A running test swarm; taken down when dropped.
pub struct Swarm {
    pub name: SwarmName,
    env: HashMap<String, String>,
}

impl Swarm {
    /// A value of the harness's `env` (manager socket, registry, node IPs).
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("testswarm env has no {key}"))
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let out = self.name.harness(&["down"]);
        if !out.status.success() {
            eprintln!(
                "testswarm down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The harness, from the runner's tests or the top-level crate's.
pub fn script() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let top = here.join("tests/cluster/testswarm");
    if top.exists() {
        top
    } else {
        here.join("../tests/cluster/testswarm")
    }
}

/// Why the harness cannot run here, if it cannot (not root, no network
/// namespaces, no dockerd). Anything else missing is a failure, not a skip.
pub fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: the swarm harness needs ip netns, iptables and dockerd".into());
    }
    let netns = Command::new("unshare").args(["--net", "true"]).status();
    if !matches!(netns, Ok(s) if s.success()) {
        return Some("network namespaces are not available (unshare --net failed)".into());
    }
    if Command::new("ip").args(["netns", "list"]).output().is_err() {
        return Some("no `ip` (iproute2) to make network namespaces".into());
    }
    if Command::new("dockerd").arg("--version").output().is_err() {
        return Some("no dockerd to run as swarm nodes".into());
    }
    None
}
