//! A small builder for invoking the `racebench` binary in tests, with the
//! fixture datapoints and a results folder of the test's own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// One invocation of racebench.
pub struct Racebench {
    cmd: Command,
}

impl Racebench {
    /// racebench with the fixture datapoints and weights, results in `results`.
    pub fn fixture(results: &Path) -> Racebench {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_racebench"));
        cmd.current_dir(root())
            .env("RACEBENCH_DATAPOINTS", fixtures().join("datapoints"))
            .env("RACEBENCH_WEIGHTS", fixtures().join("weights"))
            .env("RACEBENCH_RESULTS", results)
            .env_remove("RUST_LOG");
        Racebench { cmd }
    }

    pub fn args<I, S>(mut self, args: I) -> Racebench
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg_path(mut self, path: &Path) -> Racebench {
        self.cmd.arg(path);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Racebench {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Racebench {
        self.cmd.env_remove(key);
        self
    }

    pub fn output(mut self) -> Run {
        let output = self.cmd.output().expect("racebench runs");
        Run { output }
    }

    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("racebench starts")
    }
}

/// What an invocation printed and returned.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The results folder the run printed (`results: DIR`).
    pub fn run_dir(&self) -> PathBuf {
        self.stderr()
            .lines()
            .find_map(|l| l.strip_prefix("results: "))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no results folder in:\n{}", self.stderr()))
    }
}

/// The trial records of a run folder, parsed.
pub fn trials(run_dir: &Path, datapoint: &str, candidate: &str) -> Vec<serde_json::Value> {
    let dir = run_dir.join("trials").join(datapoint).join(candidate);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Names of the containers and networks still labelled with this run id.
pub fn leftovers(run_id: &str) -> Vec<String> {
    let filter = format!("label=org.racebench.run={run_id}");
    let mut names = Vec::new();
    for args in [
        vec!["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
        vec![
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ],
    ] {
        let out = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker CLI");
        names.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    names
}

/// Copies the fixture datapoints and weights into `dir`, so a test can edit them.
pub fn copy_fixtures(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("cp")
        .args(["-r"])
        .arg(fixtures().join("datapoints"))
        .arg(fixtures().join("weights"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    (dir.join("datapoints"), dir.join("weights"))
}
