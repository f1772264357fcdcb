//! A datapoint: a buggy service with a race, its prompt, hidden tests,
//! reference fix and decoys, described by `datapoint.toml` in its folder.
//! See `docs/datapoint-format.md` for the file format.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{parse_toml_collecting_unknown, Warning};

/// The only `format` value of `datapoint.toml` this version understands.
pub const DATAPOINT_FORMAT: u32 = 1;

/// The file name of a datapoint's description inside its folder.
pub const DATAPOINT_FILE: &str = "datapoint.toml";

/// A live service a datapoint's tests talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Postgres,
    Kafka,
    Redis,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 3] = [
        ServiceKind::Postgres,
        ServiceKind::Kafka,
        ServiceKind::Redis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Postgres => "postgres",
            ServiceKind::Kafka => "kafka",
            ServiceKind::Redis => "redis",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment (`{:<9}` in tables).
        f.pad(self.as_str())
    }
}

/// How the test step reports per-test results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// JUnit XML, as pytest `--junitxml`, go-junit-report or node's junit reporter write it.
    Junit,
    /// The JSON event stream of `go test -json`.
    GoTestJson,
}

/// A command run inside the trial container, with its own wall-clock limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    /// The argv to execute (no shell unless you name one).
    pub command: Vec<String>,
    /// Wall-clock limit in seconds; the step is killed when it is reached.
    #[serde(default = "default_step_timeout")]
    pub timeout_secs: u64,
}

fn default_step_timeout() -> u64 {
    300
}

/// The test step: a command plus where it leaves its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSpec {
    pub command: Vec<String>,
    #[serde(default = "default_test_timeout")]
    pub timeout_secs: u64,
    /// Format of the report file.
    pub format: ReportFormat,
    /// Path of the report inside the container, under `/racebench/report`:
    /// a folder only the verifier (the test step, as root) can write.
    #[serde(default = "default_report")]
    pub report: String,
    /// Folder of the datapoint holding the hidden tests; copied to `/racebench/tests`
    /// only after the patch is applied and the build has run.
    #[serde(default = "default_hidden")]
    pub hidden: PathBuf,
}

fn default_test_timeout() -> u64 {
    600
}

/// The folder of the test report inside the container: created by the runner,
/// owned by root and closed to everyone else, so that the candidate's code
/// (which runs as an unprivileged user) cannot write or replace the report.
pub const REPORT_DIR: &str = "/racebench/report";
const REPORT_DIR_SLASH: &str = "/racebench/report/";

/// Why a `workspace.writable` entry cannot be handed to the candidate.
fn writable_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("is not an absolute path");
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|part| part == "..") {
        return Some("would give the candidate the whole file system");
    }
    const SYSTEM: [&str; 14] = [
        "/racebench",
        "/usr",
        "/etc",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
        "/lib32",
        "/proc",
        "/sys",
        "/dev",
        "/root",
        "/boot",
        "/var/lib",
    ];
    SYSTEM
        .iter()
        .any(|dir| trimmed == *dir || trimmed.starts_with(&format!("{dir}/")))
        .then_some("is a system or racebench folder, which the candidate must not write")
}

fn default_report() -> String {
    "/racebench/report/report.xml".to_string()
}

fn default_hidden() -> PathBuf {
    PathBuf::from("tests")
}

/// Resource limits of a trial container.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    #[serde(default = "default_pids")]
    pub pids: i64,
}

fn default_memory() -> u64 {
    2048
}
fn default_cpus() -> f64 {
    2.0
}
fn default_pids() -> i64 {
    1024
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: default_memory(),
            cpus: default_cpus(),
            pids: default_pids(),
        }
    }
}

/// A Kafka topic the runner creates for each trial, under the trial's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    #[serde(default = "default_partitions")]
    pub partitions: i32,
}

fn default_partitions() -> i32 {
    1
}

/// A known-wrong fix, and the weight categories it must fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecoySpec {
    pub name: String,
    pub patch: PathBuf,
    /// Categories (as named in the weights file) in which at least one test must fail.
    pub must_fail: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// Where the source lives in the image and which paths a patch must not touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSpec {
    /// Absolute path of the git work tree inside the image; patches apply here.
    #[serde(default = "default_workspace")]
    pub path: String,
    /// Path prefixes (relative to the work tree) a patch must not touch; a
    /// trial whose patch touches one scores 0 (the grader decides).
    #[serde(default)]
    pub protected: Vec<String>,
    /// Absolute paths besides the work tree that the candidate's build may
    /// write (build outputs, build caches); made the candidate's before the
    /// build. Everything else in the image is read-only to the candidate.
    #[serde(default)]
    pub writable: Vec<String>,
}

fn default_workspace() -> String {
    "/work/src".to_string()
}

impl Default for WorkspaceSpec {
    fn default() -> Self {
        WorkspaceSpec {
            path: default_workspace(),
            protected: Vec::new(),
            writable: Vec::new(),
        }
    }
}

/// How the datapoint image is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// Dockerfile, relative to the datapoint folder (the build context). The hidden
    /// tests folder and `solutions/` are never part of the context.
    #[serde(default = "default_dockerfile")]
    pub dockerfile: PathBuf,
}

fn default_dockerfile() -> PathBuf {
    PathBuf::from("Dockerfile")
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            dockerfile: default_dockerfile(),
        }
    }
}

/// Per-trial Kafka resources.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KafkaSpec {
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
}

/// The parsed `datapoint.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatapointSpec {
    pub format: u32,
    pub id: String,
    pub title: String,
    /// Language of the service (go, typescript, python, ...), for listings.
    pub language: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub services: Vec<ServiceKind>,
    #[serde(default = "default_prompt")]
    pub prompt: PathBuf,
    #[serde(default)]
    pub image: ImageSpec,
    #[serde(default)]
    pub workspace: WorkspaceSpec,
    pub build: Option<StepSpec>,
    pub test: TestSpec,
    /// Path inside the container of a JSON-lines file of timeline events, if the
    /// service records them (see `Event`).
    pub events: Option<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub kafka: KafkaSpec,
    #[serde(default = "default_reference")]
    pub reference: PathBuf,
    #[serde(default)]
    pub decoys: Vec<DecoySpec>,
}

fn default_prompt() -> PathBuf {
    PathBuf::from("prompt.md")
}

fn default_reference() -> PathBuf {
    PathBuf::from("solutions/reference.patch")
}

/// A datapoint loaded from disk: its folder and its validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub dir: PathBuf,
    pub spec: DatapointSpec,
}

/// Why a datapoint could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid datapoint {}", path.display())]
pub struct DatapointError {
    /// The file (or folder) at fault.
    pub path: PathBuf,
    #[source]
    pub kind: DatapointErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum DatapointErrorKind {
    #[error("failed to read it")]
    Read(#[source] std::io::Error),
    #[error("{0}")]
    Parse(#[source] toml::de::Error),
    #[error("key `{key}`: {problem}; {fix}")]
    Invalid {
        key: String,
        problem: String,
        fix: String,
    },
    #[error("no datapoint with id `{id}` in {} (known: {known})", dir.display())]
    NotFound {
        id: String,
        dir: PathBuf,
        known: String,
    },
}

impl Datapoint {
    /// Loads and validates `dir/datapoint.toml`, returning warnings for unknown keys.
    pub fn load(dir: &Path) -> Result<(Datapoint, Vec<Warning>), DatapointError> {
        let file = dir.join(DATAPOINT_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| DatapointError {
            path: file.clone(),
            kind: DatapointErrorKind::Read(e),
        })?;
        let (spec, warnings): (DatapointSpec, _) = parse_toml_collecting_unknown(&text, &file)
            .map_err(|e| DatapointError {
                path: file.clone(),
                kind: DatapointErrorKind::Parse(e),
            })?;
        let datapoint = Datapoint {
            dir: dir.to_path_buf(),
            spec,
        };
        datapoint.check().map_err(|kind| DatapointError {
            path: file.clone(),
            kind,
        })?;
        Ok((datapoint, warnings))
    }

    /// Loads every datapoint below `root` (one folder each, holding `datapoint.toml`),
    /// sorted by id.
    pub fn load_all(root: &Path) -> Result<(Vec<Datapoint>, Vec<Warning>), DatapointError> {
        let entries = std::fs::read_dir(root).map_err(|e| DatapointError {
            path: root.to_path_buf(),
            kind: DatapointErrorKind::Read(e),
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join(DATAPOINT_FILE).is_file())
            .collect();
        dirs.sort();
        let mut all = Vec::new();
        let mut warnings = Vec::new();
        for dir in dirs {
            let (dp, w) = Datapoint::load(&dir)?;
            all.push(dp);
            warnings.extend(w);
        }
        all.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        Ok((all, warnings))
    }

    /// Finds one datapoint by id below `root`.
    pub fn find(root: &Path, id: &str) -> Result<(Datapoint, Vec<Warning>), DatapointError> {
        let (all, warnings) = Datapoint::load_all(root)?;
        let known = all
            .iter()
            .map(|d| d.spec.id.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        match all.into_iter().find(|d| d.spec.id == id) {
            Some(dp) => Ok((dp, warnings)),
            None => Err(DatapointError {
                path: root.to_path_buf(),
                kind: DatapointErrorKind::NotFound {
                    id: id.to_string(),
                    dir: root.to_path_buf(),
                    known: if known.is_empty() {
                        "none".to_string()
                    } else {
                        known
                    },
                },
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The folder of hidden tests.
    pub fn hidden_tests_dir(&self) -> PathBuf {
        self.dir.join(&self.spec.test.hidden)
    }

    pub fn reference_patch(&self) -> PathBuf {
        self.dir.join(&self.spec.reference)
    }

    pub fn prompt_path(&self) -> PathBuf {
        self.dir.join(&self.spec.prompt)
    }

    pub fn decoy(&self, name: &str) -> Option<&DecoySpec> {
        self.spec.decoys.iter().find(|d| d.name == name)
    }

    /// Checks what serde cannot: ids, paths that must exist, sane limits.
    ///
    /// The report folder is out of the candidate's reach; see [`REPORT_DIR`].
    fn check(&self) -> Result<(), DatapointErrorKind> {
        let spec = &self.spec;
        let invalid = |key: &str, problem: String, fix: &str| DatapointErrorKind::Invalid {
            key: key.to_string(),
            problem,
            fix: fix.to_string(),
        };
        if spec.format != DATAPOINT_FORMAT {
            return Err(invalid(
                "format",
                format!("format {} is not supported", spec.format),
                "set `format = 1` (the only format this racebench understands)",
            ));
        }
        if !is_valid_id(&spec.id) {
            return Err(invalid(
                "id",
                format!("`{}` is not a valid id", spec.id),
                "use lowercase letters, digits and dashes, starting with a letter",
            ));
        }
        if let Some(name) = self.dir.file_name().and_then(|n| n.to_str()) {
            if name != spec.id {
                return Err(invalid(
                    "id",
                    format!("id `{}` differs from the folder name `{name}`", spec.id),
                    "rename the folder or the id so they match",
                ));
            }
        }
        if spec.test.command.is_empty() {
            return Err(invalid(
                "test.command",
                "the command is empty".into(),
                "give the argv of the test step, e.g. [\"sh\", \"-c\", \"pytest ...\"]",
            ));
        }
        if let Some(build) = &spec.build {
            if build.command.is_empty() {
                return Err(invalid(
                    "build.command",
                    "the command is empty".into(),
                    "give the argv of the build step or remove the [build] table",
                ));
            }
        }
        for (key, path) in [
            ("workspace.path", spec.workspace.path.as_str()),
            ("test.report", spec.test.report.as_str()),
        ] {
            if !path.starts_with('/') {
                return Err(invalid(
                    key,
                    format!("`{path}` is not an absolute path"),
                    "give an absolute path inside the container",
                ));
            }
        }
        if !spec.test.report.starts_with(REPORT_DIR_SLASH) {
            return Err(invalid(
                "test.report",
                format!("`{}` is outside {REPORT_DIR}", spec.test.report),
                "write the report under /racebench/report/ (e.g. pytest \
                 --junitxml=/racebench/report/report.xml): only the verifier can write there, \
                 while the candidate's code can write /racebench/out",
            ));
        }
        for path in &spec.workspace.writable {
            if let Some(problem) = writable_problem(path) {
                return Err(invalid(
                    "workspace.writable",
                    format!("`{path}` {problem}"),
                    "list folders of the image that only the build writes, e.g. \"/work/bin\"",
                ));
            }
        }
        if let Some(events) = &spec.events {
            if !events.starts_with("/racebench/out/") {
                return Err(invalid(
                    "events",
                    format!("`{events}` is outside /racebench/out"),
                    "write the events file under /racebench/out/ so the runner collects it",
                ));
            }
        }
        let must_exist: Vec<(&str, PathBuf, bool)> = vec![
            (
                "image.dockerfile",
                self.dir.join(&spec.image.dockerfile),
                false,
            ),
            ("prompt", self.prompt_path(), false),
            ("reference", self.reference_patch(), false),
            ("test.hidden", self.hidden_tests_dir(), true),
        ];
        for (key, path, is_dir) in must_exist {
            let ok = if is_dir {
                path.is_dir()
            } else {
                path.is_file()
            };
            if !ok {
                return Err(invalid(
                    key,
                    format!("{} does not exist", path.display()),
                    "create it or point the key at the right path (relative to the datapoint folder)",
                ));
            }
        }
        if spec.limits.memory_mb < 64 || spec.limits.cpus <= 0.0 || spec.limits.pids < 16 {
            return Err(invalid(
                "limits",
                "limits are too small to run anything".into(),
                "use at least memory_mb = 64, cpus > 0 and pids = 16",
            ));
        }
        let mut seen = BTreeSet::new();
        for topic in &spec.kafka.topics {
            if !spec.services.contains(&ServiceKind::Kafka) {
                return Err(invalid(
                    "kafka.topics",
                    "topics are declared but `kafka` is not in `services`".into(),
                    "add \"kafka\" to `services`",
                ));
            }
            if topic.partitions < 1 || !seen.insert(topic.name.as_str()) {
                return Err(invalid(
                    "kafka.topics",
                    format!("topic `{}` is duplicated or has no partitions", topic.name),
                    "give each topic a unique name and partitions >= 1",
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, decoy) in spec.decoys.iter().enumerate() {
            let key = format!("decoys[{i}]");
            if !is_valid_id(&decoy.name) || !names.insert(decoy.name.as_str()) {
                return Err(invalid(
                    &key,
                    format!("decoy name `{}` is invalid or duplicated", decoy.name),
                    "use unique names of lowercase letters, digits and dashes",
                ));
            }
            if !self.dir.join(&decoy.patch).is_file() {
                return Err(invalid(
                    &format!("{key}.patch"),
                    format!("{} does not exist", self.dir.join(&decoy.patch).display()),
                    "point it at the decoy's patch, relative to the datapoint folder",
                ));
            }
            if decoy.must_fail.is_empty() {
                return Err(invalid(
                    &format!("{key}.must_fail"),
                    "a decoy must name the categories it fails".into(),
                    "list at least one category from the datapoint's weights file",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `id` is a lowercase slug usable in image tags, labels and paths.
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z'))
        && id.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && !id.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_datapoint(dir: &Path, toml: &str) {
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::create_dir_all(dir.join("solutions")).unwrap();
        std::fs::write(dir.join("Dockerfile"), "FROM debian:bookworm-slim\n").unwrap();
        std::fs::write(dir.join("prompt.md"), "fix it\n").unwrap();
        std::fs::write(dir.join("solutions/reference.patch"), "").unwrap();
        std::fs::write(dir.join(DATAPOINT_FILE), toml).unwrap();
    }

    const MINIMAL: &str = r#"
format = 1
id = "demo"
title = "Demo"
language = "python"
[test]
command = ["pytest"]
format = "junit"
"#;

    #[test]
    fn minimal_datapoint_loads_with_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        write_datapoint(&dir, MINIMAL);
        let (dp, warnings) = Datapoint::load(&dir).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(dp.spec.workspace.path, "/work/src");
        assert_eq!(dp.spec.test.report, "/racebench/report/report.xml");
        assert_eq!(dp.spec.limits, Limits::default());
    }

    #[test]
    fn unknown_keys_are_warnings_naming_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        write_datapoint(&dir, &format!("{MINIMAL}\n[limits]\nmemory_mb = 512\n"));
        let (_, warnings) = Datapoint::load(&dir).unwrap();
        assert!(warnings.is_empty());
        write_datapoint(&dir, &MINIMAL.replace("title", "titel = \"x\"\ntitle"));
        let (_, warnings) = Datapoint::load(&dir).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("`titel`"), "{}", warnings[0]);
    }

    #[test]
    fn missing_reference_names_the_key_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        write_datapoint(&dir, MINIMAL);
        std::fs::remove_file(dir.join("solutions/reference.patch")).unwrap();
        let err = Datapoint::load(&dir).unwrap_err();
        let text = format!("{err}: {}", err.kind);
        assert!(text.contains("datapoint.toml"), "{text}");
        assert!(text.contains("key `reference`"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn id_must_match_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("other");
        write_datapoint(&dir, MINIMAL);
        let err = Datapoint::load(&dir).unwrap_err();
        assert!(err.kind.to_string().contains("folder name `other`"));
    }

    #[test]
    fn writable_paths_must_not_open_the_system_to_the_candidate() {
        for bad in [
            "/",
            "/usr/lib/python3",
            "/racebench/report",
            "relative",
            "/work/../etc",
        ] {
            assert!(writable_problem(bad).is_some(), "{bad}");
        }
        for good in ["/work/bin", "/work/cache/go", "/var/cache/app"] {
            assert_eq!(writable_problem(good), None, "{good}");
        }
    }

    #[test]
    fn report_outside_the_report_dir_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        write_datapoint(
            &dir,
            &MINIMAL.replace(
                "format = \"junit\"",
                "format = \"junit\"\nreport = \"/racebench/out/r.xml\"",
            ),
        );
        let err = Datapoint::load(&dir).unwrap_err();
        assert!(err.kind.to_string().contains("test.report"));
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        write_datapoint(&dir, "format = 1\nid = \n");
        let err = Datapoint::load(&dir).unwrap_err();
        assert!(err.kind.to_string().contains("line 2"), "{}", err.kind);
    }

    #[test]
    fn find_lists_known_ids_when_missing() {
        let tmp = tempfile::tempdir().unwrap();
        write_datapoint(&tmp.path().join("demo"), MINIMAL);
        let err = Datapoint::find(tmp.path(), "nope").unwrap_err();
        assert!(err.kind.to_string().contains("known: demo"), "{}", err.kind);
    }

    #[test]
    fn ids_are_slugs() {
        assert!(is_valid_id("kafka-inventory-consumer"));
        assert!(!is_valid_id("Kafka"));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id("-a"));
        assert!(!is_valid_id("a-"));
        assert!(!is_valid_id(""));
    }
}
