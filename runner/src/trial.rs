//! One trial: a fresh, contained container from the datapoint image on a
//! network of its own, the candidate patch applied, the build, the hidden
//! tests copied in and run, the results collected, and everything removed.
//! Whatever happens, the outcome is a [`TrialRecord`], never a panic or an
//! early return that leaks a container.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use racebench_model::{
    ApplyMethod, Candidate, Datapoint, DatapointSpec, PatchReport, ReportFormat, RunLayout,
    TrialRecord, Verdict, Weights,
};
use tokio_util::sync::CancellationToken;

use crate::archive::{self, FileSet};
use crate::crosscheck::{reconcile, ReportRead};
use crate::engine::{ContainerLimits, ContainerSpec, Engine, ExecOutput, NetworkIsolation};
use crate::guard::{ContainerGuard, NetworkGuard};
use crate::labels;
use crate::patch;
use crate::report;

/// Where trial files live inside the container.
const PATCH_PATH: &str = "/racebench/patch.diff";
const TESTS_DIR: &str = "/racebench/tests";
const OUT_DIR: &str = "/racebench/out";
/// Cap on what is copied out of `/racebench/out` per trial.
const COLLECT_LIMIT: u64 = 256 * 1024 * 1024;
/// How long applying a patch may take.
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

pub use crate::services::TrialKey;

/// A boxed future, so service providers can sit behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors from a service provider, already phrased for the user.
pub type ProvisionError = Box<dyn std::error::Error + Send + Sync>;

/// Gives a trial its databases, topics and the like (see `services`).
pub trait Provision: Send + Sync {
    /// Prepares per-trial resources reachable from `network_id`; returns the
    /// environment variables the trial container gets.
    fn provision<'a>(
        &'a self,
        key: &'a TrialKey,
        spec: &'a DatapointSpec,
        network_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, ProvisionError>>;

    /// Whether trials can reach the services from a contained network (false
    /// for external services, which need a route off the host).
    fn contained(&self) -> bool {
        true
    }
}

/// Per-trial service resources, released after the trial.
pub trait Lease: Send {
    fn env(&self) -> Vec<(String, String)>;
    fn release(self: Box<Self>) -> BoxFuture<'static, Result<(), ProvisionError>>;
}

/// Everything one trial needs, prepared by the run.
#[derive(Clone)]
pub struct TrialPlan {
    pub run_id: String,
    pub datapoint: Arc<Datapoint>,
    pub weights: Option<Arc<Weights>>,
    /// Image tag to start the container from.
    pub image: String,
    pub candidate: Candidate,
    /// Patch text; `None` for the unpatched candidate.
    pub patch: Option<Arc<String>>,
    /// Tar archive of the hidden tests, rooted at `racebench/tests/`.
    pub hidden_tests: Arc<Vec<u8>>,
    pub trial: u32,
    pub layout: RunLayout,
    /// Leave the container and network for debugging.
    pub keep: bool,
}

impl TrialPlan {
    pub fn key(&self) -> TrialKey {
        TrialKey {
            run_id: self.run_id.clone(),
            datapoint: self.datapoint.spec.id.clone(),
            candidate: self.candidate.id.clone(),
            trial: self.trial,
        }
    }
}

/// Packs a datapoint's hidden tests once, for every trial of it.
pub fn pack_hidden_tests(datapoint: &Datapoint) -> std::io::Result<Vec<u8>> {
    let files = FileSet::from_dir(&datapoint.hidden_tests_dir(), &[])?;
    let mut rooted = FileSet::new();
    for (path, data, mode) in files.iter() {
        rooted.add(&format!("racebench/tests/{path}"), data.to_vec(), mode);
    }
    rooted.to_tar()
}

/// Why the steps stopped early: the verdict and what to tell the user.
struct Stop {
    verdict: Verdict,
    error: String,
}

impl Stop {
    fn infra(error: impl std::fmt::Display) -> Stop {
        Stop {
            verdict: Verdict::InfraError,
            error: error.to_string(),
        }
    }
}

/// What a bounded exec came to.
enum Bounded {
    Done(ExecOutput),
    TimedOut(Duration),
}

/// What a trial creates and must remove, whatever happens.
#[derive(Default)]
struct Resources {
    network: Option<NetworkGuard>,
    lease: Option<Box<dyn Lease>>,
    container: Option<ContainerGuard>,
}

/// Runs one trial to a record. `kill` ends it at once (second Ctrl-C, or the
/// grace period after the first one ran out); cleanup still happens.
pub async fn run_trial(
    engine: &Engine,
    services: Option<&dyn Provision>,
    plan: &TrialPlan,
    kill: &CancellationToken,
) -> TrialRecord {
    let started_at = jiff::Timestamp::now().to_string();
    let begin = Instant::now();
    let spec = &plan.datapoint.spec;
    let patch_report = plan
        .patch
        .as_deref()
        .map(|p| patch::inspect(p, &spec.workspace.protected))
        .unwrap_or_else(PatchReport::none);
    let mut record = TrialRecord::begin(
        &plan.run_id,
        &spec.id,
        &plan.candidate.id,
        plan.trial,
        patch_report,
        started_at,
    );
    let logs_rel = RunLayout::logs_rel(&spec.id, &plan.candidate.id, plan.trial);
    let logs_dir = plan.layout.path(&logs_rel);
    let mut resources = Resources::default();
    let steps = Steps {
        engine,
        plan,
        logs_rel: &logs_rel,
        logs_dir: &logs_dir,
    };
    let outcome = match std::fs::create_dir_all(&logs_dir) {
        Ok(()) => {
            steps
                .execute(services, &mut record, &mut resources, kill)
                .await
        }
        Err(e) => Err(Stop::infra(format!(
            "failed to create the log folder {}: {e}",
            logs_dir.display()
        ))),
    };
    match outcome {
        Ok(()) => record.verdict = Verdict::Tested,
        Err(stop) => {
            record.verdict = stop.verdict;
            record.error = Some(stop.error);
        }
    }
    let cleanup_start = Instant::now();
    if let Err(e) = cleanup(resources, plan.keep).await {
        tracing::warn!(trial = ?plan.key(), "cleanup failed: {e}");
        let note = format!("cleanup failed: {e}");
        record.error = Some(match record.error.take() {
            Some(prev) => format!("{prev}; {note}"),
            None => note,
        });
    }
    record.timings.collect_ms += ms(cleanup_start.elapsed());
    record.timings.total_ms = ms(begin.elapsed());
    record.finished_at = jiff::Timestamp::now().to_string();
    record
}

async fn cleanup(resources: Resources, keep: bool) -> Result<(), String> {
    let mut errors = Vec::new();
    if let Some(mut container) = resources.container {
        container.keep(keep);
        if let Err(e) = container.remove().await {
            errors.push(e.to_string());
        }
    }
    if let Some(lease) = resources.lease {
        if let Err(e) = lease.release().await {
            errors.push(e.to_string());
        }
    }
    if let Some(mut network) = resources.network {
        network.keep(keep);
        if let Err(e) = network.remove().await {
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

struct Steps<'a> {
    engine: &'a Engine,
    plan: &'a TrialPlan,
    logs_rel: &'a str,
    logs_dir: &'a PathBuf,
}

impl Steps<'_> {
    async fn execute(
        &self,
        services: Option<&dyn Provision>,
        record: &mut TrialRecord,
        resources: &mut Resources,
        kill: &CancellationToken,
    ) -> Result<(), Stop> {
        let plan = self.plan;
        let spec = &plan.datapoint.spec;
        let key = plan.key();
        let cancelled = || Stop {
            verdict: Verdict::Cancelled,
            error: "the run was interrupted".to_string(),
        };
        if kill.is_cancelled() {
            return Err(cancelled());
        }

        // Provision: a network of its own, then the services on it.
        let t = Instant::now();
        let name = object_name(&key);
        let network_labels = labels::for_trial(
            &key.run_id,
            &key.datapoint,
            &key.candidate,
            key.trial,
            "trial-network",
        );
        // Contained unless external services need a route off the host.
        let isolation = match services {
            Some(s) if !spec.services.is_empty() && !s.contained() => NetworkIsolation::Open,
            _ => NetworkIsolation::Contained,
        };
        let network = NetworkGuard::create(self.engine, &name, isolation, network_labels)
            .await
            .map_err(Stop::infra)?;
        let network_name = network.name().to_string();
        let network_id = network.id().to_string();
        resources.network = Some(network);
        let mut env = base_env(plan);
        if !spec.services.is_empty() {
            let Some(services) = services else {
                return Err(Stop::infra(format!(
                    "datapoint {} needs services ({}) but none were started",
                    spec.id,
                    spec.services
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let lease = tokio::select! {
                lease = services.provision(&key, spec, &network_id) => lease.map_err(Stop::infra)?,
                _ = kill.cancelled() => return Err(cancelled()),
            };
            env.extend(lease.env());
            resources.lease = Some(lease);
        }
        record.timings.provision_ms = ms(t.elapsed());

        // A fresh container, contained.
        let t = Instant::now();
        let container_spec = ContainerSpec {
            name: Some(name.clone()),
            image: plan.image.clone(),
            cmd: vec!["sleep".into(), "infinity".into()],
            entrypoint: Some(Vec::new()),
            env: env.clone(),
            labels: labels::for_trial(
                &key.run_id,
                &key.datapoint,
                &key.candidate,
                key.trial,
                "trial",
            ),
            limits: ContainerLimits {
                memory_bytes: Some((spec.limits.memory_mb * 1024 * 1024) as i64),
                nano_cpus: Some((spec.limits.cpus * 1e9) as i64),
                pids: Some(spec.limits.pids),
            },
            network: Some(network_name),
            aliases: Vec::new(),
            publish_loopback: Vec::new(),
            hardened: true,
            hostname: Some("trial".into()),
        };
        let container = ContainerGuard::create(self.engine, &container_spec)
            .await
            .map_err(Stop::infra)?;
        let id = container.id().to_string();
        resources.container = Some(container);
        self.engine
            .start_container(&id)
            .await
            .map_err(Stop::infra)?;
        record.timings.container_ms = ms(t.elapsed());

        // The patch, before the hidden tests exist in the container.
        let t = Instant::now();
        if let Some(patch) = &plan.patch {
            if patch.trim().is_empty() {
                record.timings.patch_ms = ms(t.elapsed());
                return Err(Stop {
                    verdict: Verdict::PatchFailed,
                    error: "the patch is empty".into(),
                });
            }
            let mut files = FileSet::new();
            files.add(PATCH_PATH, patch.as_bytes().to_vec(), 0o644);
            let tar = files.to_tar().map_err(Stop::infra)?;
            self.engine
                .put_archive(&id, "/", tar)
                .await
                .map_err(Stop::infra)?;
            let cmd = vec!["sh".to_string(), "-c".to_string(), APPLY_SCRIPT.to_string()];
            let applied = self
                .bounded(
                    &id,
                    &cmd,
                    &env,
                    Some(&spec.workspace.path),
                    APPLY_TIMEOUT,
                    kill,
                )
                .await?;
            let out = match applied {
                Bounded::Done(out) => out,
                Bounded::TimedOut(limit) => {
                    return Err(Stop {
                        verdict: Verdict::PatchFailed,
                        error: format!("applying the patch took longer than {}s", limit.as_secs()),
                    })
                }
            };
            self.write_log(record, "apply", "apply.log", &out)?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            record.patch.method = apply_method(&stdout);
            match out.exit_code {
                Some(0) if record.patch.method.is_some() => {}
                Some(code) if code == GIT_INIT_FAILED => {
                    return Err(Stop::infra(format!(
                        "the work tree {} is not a git repository and could not be made one (see apply.log); \
                         the image needs git",
                        spec.workspace.path
                    )))
                }
                _ => {
                    record.timings.patch_ms = ms(t.elapsed());
                    return Err(Stop {
                        verdict: Verdict::PatchFailed,
                        error: "the patch does not apply with git apply, git apply --3way or patch --fuzz=3 (see apply.log)"
                            .into(),
                    });
                }
            }
        }
        record.timings.patch_ms = ms(t.elapsed());

        // The build, with the candidate's code and no network beyond the services.
        let t = Instant::now();
        if let Some(build) = &spec.build {
            let limit = Duration::from_secs(build.timeout_secs);
            let result = self
                .bounded(
                    &id,
                    &build.command,
                    &env,
                    Some(&spec.workspace.path),
                    limit,
                    kill,
                )
                .await?;
            record.timings.build_ms = ms(t.elapsed());
            match result {
                Bounded::Done(out) => {
                    self.write_log(record, "build", "build.log", &out)?;
                    if out.exit_code != Some(0) {
                        return Err(Stop {
                            verdict: Verdict::BuildFailed,
                            error: format!(
                                "the build step exited with {} (see build.log)",
                                exit_text(out.exit_code)
                            ),
                        });
                    }
                }
                Bounded::TimedOut(limit) => {
                    return Err(Stop {
                        verdict: Verdict::BuildFailed,
                        error: format!("the build step ran past its {}s limit", limit.as_secs()),
                    })
                }
            }
        }

        // Hidden tests, only now; then the test step.
        let t = Instant::now();
        self.engine
            .put_archive(&id, "/", plan.hidden_tests.to_vec())
            .await
            .map_err(Stop::infra)?;
        let prepare = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("rm -rf {OUT_DIR} && mkdir -p {OUT_DIR} {TESTS_DIR}"),
        ];
        match self
            .bounded(&id, &prepare, &[], None, Duration::from_secs(60), kill)
            .await?
        {
            Bounded::Done(out) if out.exit_code == Some(0) => {}
            _ => {
                return Err(Stop::infra(format!(
                    "failed to prepare {OUT_DIR} in the container"
                )))
            }
        }
        let limit = Duration::from_secs(spec.test.timeout_secs);
        let tested = self
            .bounded(&id, &spec.test.command, &env, Some(TESTS_DIR), limit, kill)
            .await?;
        record.timings.test_ms = ms(t.elapsed());
        let timed_out = match &tested {
            Bounded::Done(out) => {
                record.exit_code = Some(out.exit_code.unwrap_or(-1));
                self.write_split_log(record, out)?;
                None
            }
            Bounded::TimedOut(limit) => Some(*limit),
        };

        // Collect whatever the tests left, then judge the report.
        let t = Instant::now();
        let out_dir = self.logs_dir.join("out");
        let collected = self
            .engine
            .get_archive(&id, OUT_DIR)
            .await
            .map_err(Stop::infra)?;
        if let Some(tar) = collected {
            let written = archive::extract(&tar, &out_dir, COLLECT_LIMIT, true)
                .map_err(|e| Stop::infra(format!("failed to copy the test outputs out: {e}")))?;
            tracing::debug!(files = written.len(), "collected test outputs");
        }
        record.timings.collect_ms = ms(t.elapsed());
        let report_path = out_dir.join(in_out_dir(&spec.test.report));
        let read = match std::fs::read_to_string(&report_path) {
            Err(_) => ReportRead::Absent,
            Ok(text) => {
                let parsed = match spec.test.format {
                    ReportFormat::Junit => report::parse_junit(&text),
                    ReportFormat::GoTestJson => report::parse_go_test_json(&text),
                };
                match parsed {
                    Ok(records) => ReportRead::Parsed(records),
                    Err(e) => ReportRead::Unreadable(e.to_string()),
                }
            }
        };
        if report_path.is_file() {
            record.logs.insert(
                "report".into(),
                format!("{}/out/{}", self.logs_rel, in_out_dir(&spec.test.report)),
            );
        }
        if let Some(events) = &spec.events {
            if out_dir.join(in_out_dir(events)).is_file() {
                record.events = Some(format!("{}/out/{}", self.logs_rel, in_out_dir(events)));
            }
        }
        let exit = if timed_out.is_some() {
            None
        } else {
            record.exit_code
        };
        let (tests, notes) = reconcile(read, plan.weights.as_deref(), exit);
        record.tests = tests;
        if let Some(limit) = timed_out {
            return Err(Stop {
                verdict: Verdict::TimedOut,
                error: format!("the test step ran past its {}s limit", limit.as_secs()),
            });
        }
        record.inconsistencies = notes;
        Ok(())
    }

    /// Runs a command with a wall-clock limit; `kill` ends the trial.
    async fn bounded(
        &self,
        id: &str,
        cmd: &[String],
        env: &[(String, String)],
        workdir: Option<&str>,
        limit: Duration,
        kill: &CancellationToken,
    ) -> Result<Bounded, Stop> {
        tokio::select! {
            out = self.engine.exec(id, cmd, env, workdir) => out.map(Bounded::Done).map_err(Stop::infra),
            _ = tokio::time::sleep(limit) => Ok(Bounded::TimedOut(limit)),
            _ = kill.cancelled() => Err(Stop { verdict: Verdict::Cancelled, error: "the run was interrupted".into() }),
        }
    }

    fn write_log(
        &self,
        record: &mut TrialRecord,
        name: &str,
        file: &str,
        out: &ExecOutput,
    ) -> Result<(), Stop> {
        let mut text = out.stdout.clone();
        text.extend_from_slice(&out.stderr);
        if out.truncated > 0 {
            text.extend_from_slice(
                format!("\n[racebench: {} more bytes not kept]\n", out.truncated).as_bytes(),
            );
        }
        std::fs::write(self.logs_dir.join(file), text)
            .map_err(|e| Stop::infra(format!("failed to write {file}: {e}")))?;
        record
            .logs
            .insert(name.into(), format!("{}/{file}", self.logs_rel));
        Ok(())
    }

    fn write_split_log(&self, record: &mut TrialRecord, out: &ExecOutput) -> Result<(), Stop> {
        for (name, file, data) in [
            ("test_stdout", "test.stdout.log", &out.stdout),
            ("test_stderr", "test.stderr.log", &out.stderr),
        ] {
            std::fs::write(self.logs_dir.join(file), data)
                .map_err(|e| Stop::infra(format!("failed to write {file}: {e}")))?;
            record
                .logs
                .insert(name.into(), format!("{}/{file}", self.logs_rel));
        }
        Ok(())
    }
}

/// `/racebench/out/report.xml` -> `report.xml`.
fn in_out_dir(path: &str) -> &str {
    path.strip_prefix(OUT_DIR)
        .unwrap_or(path)
        .trim_start_matches('/')
}

fn exit_text(code: Option<i64>) -> String {
    code.map(|c| c.to_string())
        .unwrap_or_else(|| "an unknown status".into())
}

/// The environment every step of a trial gets (services add theirs).
fn base_env(plan: &TrialPlan) -> Vec<(String, String)> {
    let spec = &plan.datapoint.spec;
    vec![
        ("RACEBENCH_RUN_ID".into(), plan.run_id.clone()),
        ("RACEBENCH_DATAPOINT".into(), spec.id.clone()),
        ("RACEBENCH_CANDIDATE".into(), plan.candidate.id.clone()),
        ("RACEBENCH_TRIAL".into(), plan.trial.to_string()),
        ("RACEBENCH_OUT".into(), OUT_DIR.into()),
        ("RACEBENCH_WORKSPACE".into(), spec.workspace.path.clone()),
        ("RACEBENCH_TESTS".into(), TESTS_DIR.into()),
    ]
}

/// A container/network name that says what it is: `rb-<run>-<datapoint>-<candidate>-<n>`.
fn object_name(key: &TrialKey) -> String {
    let mut name = format!(
        "rb-{}-{}-{}-{}",
        key.run_id, key.datapoint, key.candidate, key.trial
    );
    name.retain(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.len() > 120 {
        let tail = format!("-{}", key.trial);
        name.truncate(120 - tail.len());
        name.push_str(&tail);
    }
    name
}

/// Exit code of the apply script when the work tree could not be made a git repository.
const GIT_INIT_FAILED: i64 = 90;

/// Applies `/racebench/patch.diff` in the work tree: `git apply`, then a
/// three-way merge, then `patch` with fuzz; prints which one worked.
const APPLY_SCRIPT: &str = r#"
set -u
export GIT_AUTHOR_NAME=racebench GIT_AUTHOR_EMAIL=racebench@localhost
export GIT_COMMITTER_NAME=racebench GIT_COMMITTER_EMAIL=racebench@localhost
git config --global --add safe.directory '*' 2>/dev/null
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "racebench: making the work tree a git repository"
  git init -q . && git add -A && git commit -q --no-verify -m "racebench base" || exit 90
fi
echo "racebench: git apply"
if git apply --verbose --whitespace=nowarn /racebench/patch.diff; then
  echo "racebench-applied-with: git-apply"; exit 0
fi
echo "racebench: git apply --3way"
if git apply --verbose --3way --whitespace=nowarn /racebench/patch.diff; then
  if ! git diff --name-only --diff-filter=U | grep -q .; then
    echo "racebench-applied-with: git-apply-3way"; exit 0
  fi
  echo "racebench: the three-way merge left conflicts"
fi
git reset -q --hard && git clean -fdq
echo "racebench: patch -p1 --fuzz=3"
if patch -p1 --fuzz=3 --batch --forward --no-backup-if-mismatch < /racebench/patch.diff; then
  echo "racebench-applied-with: patch-fuzz"; exit 0
fi
git reset -q --hard && git clean -fdq
exit 1
"#;

fn apply_method(stdout: &str) -> Option<ApplyMethod> {
    stdout.lines().rev().find_map(|line| {
        match line.trim().strip_prefix("racebench-applied-with: ")? {
            "git-apply" => Some(ApplyMethod::GitApply),
            "git-apply-3way" => Some(ApplyMethod::GitApply3way),
            "patch-fuzz" => Some(ApplyMethod::PatchFuzz),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_method_is_read_from_the_script_output() {
        assert_eq!(
            apply_method(
                "racebench: git apply\nChecking patch x\nracebench-applied-with: git-apply\n"
            ),
            Some(ApplyMethod::GitApply)
        );
        assert_eq!(
            apply_method("racebench: git apply\nerror: corrupt patch\n"),
            None
        );
    }

    #[test]
    fn object_names_are_docker_safe_and_bounded() {
        let key = TrialKey {
            run_id: "20261123-1200-ab12".into(),
            datapoint: "kafka-inventory-consumer".into(),
            candidate: "openai/gpt:5".repeat(20),
            trial: 7,
        };
        let name = object_name(&key);
        assert!(name.len() <= 120);
        assert!(name.ends_with("-7"));
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    }

    #[test]
    fn report_paths_are_relative_to_the_out_dir() {
        assert_eq!(in_out_dir("/racebench/out/report.xml"), "report.xml");
        assert_eq!(in_out_dir("/racebench/out/sub/r.json"), "sub/r.json");
    }
}
