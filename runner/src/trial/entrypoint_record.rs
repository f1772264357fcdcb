//! A trial record from what the trial entrypoint wrote on its standard output:
//! the framed files decoded (anything cut short or altered is an
//! infrastructure error), each step's record read in the local steps' order
//! and judged by the local steps' own rules, the logs, report and outputs
//! written to the trial's log folder as a local trial writes them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use racebench_model::{RunLayout, TrialRecord, Verdict};

use super::apply::{applied_with, apply_timed_out, check_patch, APPLY_TIMEOUT};
use super::build::{build_timed_out, built};
use super::collect::{finish, observe_outputs};
use super::contain::{contain_timed_out, contained, CONTAIN_TIMEOUT, SURVIVORS};
use super::entrypoint::{framed, Step};
use super::exec::{exit_text, write_log_file, Stop};
use super::plan::TrialPlan;
use super::steps::{begin_record, ms};
use super::verify::{prepare_failed, Tested};
use crate::cluster::decode;

/// One step as the entrypoint recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StepRun {
    exit_code: i64,
    millis: u64,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl StepRun {
    /// Both streams in one log, as `write_log` does locally.
    fn log(&self) -> Vec<u8> {
        let mut text = self.stdout.clone();
        text.extend_from_slice(&self.stderr);
        text
    }
}

/// The trial record of a trial whose main container ran the entrypoint and
/// wrote `stdout`. `started_at`, `pod_ms` and the other timings of what
/// happened outside the container are the caller's to set.
pub fn record_from_entrypoint(plan: &TrialPlan, stdout: &[u8]) -> TrialRecord {
    let begin = Instant::now();
    let mut record = begin_record(plan);
    let spec = &plan.datapoint.spec;
    let logs_rel = RunLayout::logs_rel(&spec.id, &plan.candidate.id, plan.trial);
    let logs_dir = plan.layout.path(&logs_rel);
    match replay(plan, stdout, &logs_dir, &logs_rel, &mut record) {
        Ok(()) => record.verdict = Verdict::Tested,
        Err(stop) => {
            record.verdict = stop.verdict;
            record.error = Some(stop.error);
        }
    }
    record.earlier_attempts = plan.earlier_attempts.clone();
    record.timings.total_ms = ms(begin.elapsed())
        + record.timings.patch_ms
        + record.timings.build_ms
        + record.timings.test_ms;
    record.finished_at = jiff::Timestamp::now().to_string();
    record
}

/// The steps a trial's entrypoint recorded, by name.
fn step_runs(files: &BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<&'static str, StepRun>, Stop> {
    let bad = |why: String| {
        Stop::infra(format!(
            "failed to read the trial entrypoint's step records: {why}"
        ))
    };
    let text = files
        .get(framed::STEPS)
        .ok_or_else(|| bad("none were handed back".into()))?;
    let mut runs = BTreeMap::new();
    for line in String::from_utf8_lossy(text).lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [name, exit, millis, late] = fields.as_slice() else {
            return Err(bad(format!("a bad line {line:?}")));
        };
        let step = Step::from_name(name).ok_or_else(|| bad(format!("an unknown step {name:?}")))?;
        let stream = |kind: &str| {
            files
                .get(&framed::log(step.name(), kind))
                .cloned()
                .ok_or_else(|| bad(format!("no {kind} of step {name}")))
        };
        let run = StepRun {
            exit_code: exit
                .parse()
                .map_err(|_| bad(format!("a bad exit code in {line:?}")))?,
            millis: millis
                .parse()
                .map_err(|_| bad(format!("a bad duration in {line:?}")))?,
            timed_out: match *late {
                "0" => false,
                "1" => true,
                _ => return Err(bad(format!("a bad time-out flag in {line:?}"))),
            },
            stdout: stream("stdout")?,
            stderr: stream("stderr")?,
        };
        if runs.insert(step.name(), run).is_some() {
            return Err(bad(format!("step {name} recorded twice")));
        }
    }
    Ok(runs)
}

/// The step, which the entrypoint must have got to when it got this far.
fn required<'a>(
    runs: &'a BTreeMap<&'static str, StepRun>,
    step: Step,
) -> Result<&'a StepRun, Stop> {
    runs.get(step.name()).ok_or_else(|| {
        Stop::infra(format!(
            "the trial entrypoint stopped before its {} step without a reason",
            step.name()
        ))
    })
}

/// Stopping the candidate's processes: the entrypoint cannot restart its
/// own container as the local runner does, so processes that survive are
/// the candidate's doing (a fork bomb), recorded as a timed-out trial.
fn stopped(run: &StepRun, when: &str) -> Result<(), Stop> {
    if run.exit_code == 0 && !run.timed_out {
        return Ok(());
    }
    let why = if run.timed_out {
        "stopping them took too long".to_string()
    } else if run.exit_code == SURVIVORS {
        "processes survived repeated SIGKILL".to_string()
    } else {
        format!(
            "the stop script exited with {} ({})",
            exit_text(Some(run.exit_code)),
            String::from_utf8_lossy(&run.stderr).trim()
        )
    };
    Err(Stop::new(
        Verdict::TimedOut,
        format!("{when}, the candidate's processes could not be stopped: {why}"),
    ))
}

fn replay(
    plan: &TrialPlan,
    stdout: &[u8],
    logs_dir: &Path,
    logs_rel: &str,
    record: &mut TrialRecord,
) -> Result<(), Stop> {
    let spec = &plan.datapoint.spec;
    std::fs::create_dir_all(logs_dir).map_err(|e| {
        Stop::infra(format!(
            "failed to create the log folder {}: {e}",
            logs_dir.display()
        ))
    })?;
    let frames = decode(stdout).map_err(Stop::infra)?;
    let runs = step_runs(&frames.files)?;
    let write = |record: &mut TrialRecord, name: &str, file: &str, data: &[u8]| {
        write_log_file(logs_dir, logs_rel, record, name, file, data)
    };

    let contain = required(&runs, Step::Contain)?;
    if contain.timed_out {
        return Err(contain_timed_out(CONTAIN_TIMEOUT));
    }
    contained(Some(contain.exit_code), &contain.stderr)?;

    if let Some(patch) = &plan.patch {
        check_patch(patch)?;
        let apply = required(&runs, Step::Apply)?;
        record.timings.patch_ms = apply.millis;
        if apply.timed_out {
            return Err(apply_timed_out(APPLY_TIMEOUT));
        }
        write(record, "apply", "apply.log", &apply.log())?;
        applied_with(
            record,
            Some(apply.exit_code),
            &apply.stdout,
            &spec.workspace.path,
        )?;
    }

    if let Some(build) = &spec.build {
        let run = required(&runs, Step::Build)?;
        record.timings.build_ms = run.millis;
        if run.timed_out {
            return Err(build_timed_out(Duration::from_secs(build.timeout_secs)));
        }
        write(record, "build", "build.log", &run.log())?;
        built(Some(run.exit_code))?;
    }
    stopped(required(&runs, Step::StopBuild)?, "after the build")?;

    let unpack = required(&runs, Step::Unpack)?;
    if unpack.exit_code != 0 || unpack.timed_out {
        return Err(Stop::infra(format!(
            "failed to unpack the hidden tests in the container (exit {}): {}",
            unpack.exit_code,
            String::from_utf8_lossy(&unpack.stderr).trim()
        )));
    }
    let prepare = required(&runs, Step::Prepare)?;
    if prepare.exit_code != 0 || prepare.timed_out {
        return Err(prepare_failed());
    }
    let test = required(&runs, Step::Test)?;
    record.timings.test_ms = unpack.millis + prepare.millis + test.millis;
    let tested = if test.timed_out {
        Tested::TimedOut(Duration::from_secs(spec.test.timeout_secs))
    } else {
        record.exit_code = Some(test.exit_code);
        write(record, "test_stdout", "test.stdout.log", &test.stdout)?;
        write(record, "test_stderr", "test.stderr.log", &test.stderr)?;
        Tested::Exited
    };
    stopped(required(&runs, Step::StopTest)?, "after the tests")?;

    // The outputs, where a local trial's collect step puts them.
    let t = Instant::now();
    for (name, data) in &frames.files {
        if name.starts_with(framed::REPORT_PREFIX) || name.starts_with(framed::OUT_PREFIX) {
            let path = logs_dir.join(name);
            let written = path
                .parent()
                .map(std::fs::create_dir_all)
                .unwrap_or(Ok(()))
                .and_then(|()| std::fs::write(&path, data));
            written.map_err(|e| {
                Stop::infra(format!(
                    "failed to write the test outputs to {}: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let mut notes: Vec<String> = frames
        .files
        .get(framed::NOTES)
        .map(|text| {
            String::from_utf8_lossy(text)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    observe_outputs(spec, logs_dir, logs_rel, record, &mut notes);
    record.timings.collect_ms = ms(t.elapsed());
    finish(record, tested, notes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::Engine as _;
    use racebench_model::{ApplyMethod, Candidate, CandidateKind, Datapoint, Outcome};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::trial::plan::PodTemplate;

    /// A plan for `counter-race` with the reference patch, results under `root`.
    fn plan(root: &Path) -> TrialPlan {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/datapoints/counter-race");
        let (datapoint, _) = Datapoint::load(&dir).unwrap();
        TrialPlan {
            run_id: "r".into(),
            image: "unused".into(),
            candidate: Candidate {
                id: "reference".into(),
                kind: CandidateKind::Reference,
                datapoint: datapoint.spec.id.clone(),
                agent: None,
                sample: None,
                patch: None,
                must_fail: Vec::new(),
            },
            patch: Some(Arc::new("--- a/x\n+++ b/x\n".into())),
            hidden_tests: Arc::new(Vec::new()),
            datapoint: Arc::new(datapoint),
            weights: None,
            trial: 1,
            layout: RunLayout::new(root),
            pod: Arc::new(PodTemplate::default()),
            keep: false,
            earlier_attempts: Vec::new(),
        }
    }

    /// Framed output as `frames.sh` writes it.
    fn frames(files: &[(&str, &[u8])]) -> String {
        let mut out = String::from("noise from the entrypoint\n");
        for (name, data) in files {
            out += &format!(
                "RBX1 BEGIN {name} {} {}\n",
                data.len(),
                hex::encode(Sha256::digest(data))
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            for (seq, piece) in encoded.as_bytes().chunks(3072).enumerate() {
                out += &format!(
                    "RBX1 DATA {name} {seq} {}\n",
                    std::str::from_utf8(piece).unwrap()
                );
            }
            out += &format!("RBX1 END {name}\n");
        }
        out + &format!("RBX1 DONE {}\n", files.len())
    }

    const REPORT: &[u8] = br#"<testsuites><testsuite name="pytest" tests="1"><testcase classname="test_tickets" name="test_check_and_reserve_agree" time="0.1"/></testsuite></testsuites>"#;

    /// The output of a whole trial, with `steps` as the step records.
    fn trial_output(steps: &str) -> String {
        let mut files: Vec<(String, Vec<u8>)> = vec![("steps".into(), steps.as_bytes().to_vec())];
        for line in steps.lines() {
            let name = line.split(' ').next().unwrap();
            let stdout: &[u8] = if name == "apply" {
                b"racebench: git apply\nracebench-applied-with: git-apply\n"
            } else {
                b"out\n"
            };
            files.push((format!("log/{name}.stdout"), stdout.to_vec()));
            files.push((format!("log/{name}.stderr"), b"err\n".to_vec()));
        }
        if steps.contains("\ntest ") {
            files.push(("report/report.xml".into(), REPORT.to_vec()));
            files.push(("out/events.jsonl".into(), b"{}\n".to_vec()));
        }
        files.push(("notes".into(), Vec::new()));
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        frames(&refs)
    }

    const ALL_STEPS: &str = "contain 0 20 0\napply 0 30 0\nbuild 0 40 0\nstop-build 0 5 0\n\
        unpack 0 3 0\nprepare 0 2 0\ntest 0 500 0\nstop-test 0 5 0\n";

    #[test]
    fn a_whole_run_is_recorded_as_locally() {
        let root = tempfile::tempdir().unwrap();
        let plan = plan(root.path());
        let record = record_from_entrypoint(&plan, trial_output(ALL_STEPS).as_bytes());
        assert_eq!(record.verdict, Verdict::Tested, "{:?}", record.error);
        assert_eq!(record.exit_code, Some(0));
        assert_eq!(record.patch.method, Some(ApplyMethod::GitApply));
        assert_eq!(record.tests.len(), 1);
        assert_eq!(record.tests[0].outcome, Outcome::Passed);
        assert_eq!(record.timings.test_ms, 505);
        let logs: Vec<&str> = record.logs.keys().map(String::as_str).collect();
        assert_eq!(
            logs,
            ["apply", "build", "report", "test_stderr", "test_stdout"]
        );
        for rel in record.logs.values().chain(record.events.iter()) {
            assert!(root.path().join(rel).is_file(), "{rel}");
        }
        let build = std::fs::read_to_string(root.path().join(&record.logs["build"])).unwrap();
        assert_eq!(build, "out\nerr\n");
    }

    #[test]
    fn output_cut_short_or_a_step_missing_is_an_infrastructure_error() {
        let root = tempfile::tempdir().unwrap();
        let plan = plan(root.path());
        let out = trial_output(ALL_STEPS);
        let cut = &out[..out.len() - "RBX1 DONE 99\n".len()];
        let record = record_from_entrypoint(&plan, cut.as_bytes());
        assert_eq!(record.verdict, Verdict::InfraError);
        assert!(record.error.unwrap().contains("DONE"));
        // The entrypoint died after contain, with nothing said.
        let record = record_from_entrypoint(&plan, trial_output("contain 0 20 0\n").as_bytes());
        assert_eq!(record.verdict, Verdict::InfraError);
        assert!(record.error.unwrap().contains("before its apply step"));
        let record = record_from_entrypoint(&plan, trial_output("contain 0 x 0\n").as_bytes());
        assert_eq!(record.verdict, Verdict::InfraError);
    }

    #[test]
    fn step_failures_get_the_local_verdicts() {
        let root = tempfile::tempdir().unwrap();
        let plan = plan(root.path());
        let cases = [
            ("contain 1 20 0\n", Verdict::InfraError),
            ("contain 0 20 0\napply 1 30 0\n", Verdict::PatchFailed),
            ("contain 0 20 0\napply 137 120000 1\n", Verdict::PatchFailed),
            (
                "contain 0 20 0\napply 0 30 0\nbuild 2 40 0\n",
                Verdict::BuildFailed,
            ),
            (
                "contain 0 20 0\napply 0 30 0\nbuild 0 40 0\nstop-build 91 900 0\n",
                Verdict::TimedOut,
            ),
            (
                "contain 0 20 0\napply 0 30 0\nbuild 0 40 0\nstop-build 0 5 0\nunpack 2 3 0\n",
                Verdict::InfraError,
            ),
            (
                "contain 0 20 0\napply 0 30 0\nbuild 0 40 0\nstop-build 0 5 0\nunpack 0 3 0\n\
                 prepare 0 2 0\ntest 137 120000 1\nstop-test 0 5 0\n",
                Verdict::TimedOut,
            ),
        ];
        for (steps, verdict) in cases {
            let record = record_from_entrypoint(&plan, trial_output(steps).as_bytes());
            assert_eq!(record.verdict, verdict, "{steps}: {:?}", record.error);
        }
    }
}
