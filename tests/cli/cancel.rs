//! Ctrl-C: the first stops starting trials and lets running ones finish
//! within the grace period; the second kills them. Nothing is left behind,
//! and `--resume` finishes the run.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::util::{leftovers, trials, Racebench};

fn interrupt(child: &std::process::Child) {
    signal(child, "-INT")
}

fn signal(child: &std::process::Child, which: &str) {
    let status = std::process::Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn stderr_of(child: &mut std::process::Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

fn slow_patch(dir: &std::path::Path) -> std::path::PathBuf {
    // The service sleeps for a minute: the test step outlives any grace period.
    let patch = dir.join("slow.diff");
    std::fs::write(
        &patch,
        "--- a/tickets.py\n+++ b/tickets.py\n@@ -5,3 +5,3 @@ import threading\n import time\n \n-PROCESSING_DELAY = 0.1\n+PROCESSING_DELAY = 60\n",
    )
    .unwrap();
    patch
}

#[test]
fn first_ctrl_c_finishes_running_trials_and_resume_completes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let mut child = Racebench::fixture(&results)
        .args([
            "run",
            "-d",
            "counter-race",
            "--reference",
            "--trials",
            "4",
            "--jobs",
            "1",
            "--grace",
            "120",
        ])
        .spawn();
    let run_dir = wait_for_run_dir(&results);
    wait_for_trial_start(&run_dir);
    interrupt(&child);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("racebench run --resume"), "{stderr}");
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
    let done = trials(&run_dir, "counter-race", "reference");
    assert_eq!(
        done.len(),
        1,
        "the running trial finished, no other started"
    );
    assert_eq!(done[0]["verdict"], "tested");
    let manifest = std::fs::read_to_string(run_dir.join("run.json")).unwrap();
    assert!(manifest.contains("\"status\": \"cancelled\""), "{manifest}");

    Racebench::fixture(&results)
        .args(["run", "--resume"])
        .arg_path(&run_dir)
        .output()
        .expect_code(0);
    assert_eq!(trials(&run_dir, "counter-race", "reference").len(), 4);
    let manifest = std::fs::read_to_string(run_dir.join("run.json")).unwrap();
    assert!(manifest.contains("\"status\": \"completed\""), "{manifest}");
}

#[test]
fn second_ctrl_c_kills_running_trials_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let patch = slow_patch(tmp.path());
    let mut child = Racebench::fixture(&results)
        .args([
            "run",
            "-d",
            "counter-race",
            "--trials",
            "2",
            "--jobs",
            "2",
            "--grace",
            "300",
            "--patch",
        ])
        .arg_path(&patch)
        .spawn();
    let run_dir = wait_for_run_dir(&results);
    wait_for_test_step(&run_dir);
    let started = Instant::now();
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "killed promptly, not after the grace period"
    );
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
    for trial in trials(&run_dir, "counter-race", "patch-slow") {
        assert_eq!(trial["verdict"], "cancelled");
    }
}

/// Regression: a run killed with SIGKILL left its trial container, and the
/// resumed run's trial of the same number failed with "409 Conflict: the
/// container name is already in use" as an infra error.
#[test]
fn a_run_killed_mid_trial_resumes_with_every_trial_graded_and_nothing_left() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let mut child = Racebench::fixture(&results)
        .args([
            "run",
            "-d",
            "services-probe",
            "--reference",
            "--trials",
            "2",
            "--jobs",
            "1",
        ])
        .spawn();
    let run_dir = wait_for_run_dir(&results);
    wait_for(&run_dir, "services-probe", "apply.log");
    signal(&child, "-KILL");
    child.wait().unwrap();
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        !leftovers(&run_id).is_empty(),
        "a killed process cannot clean up: the test must show the resume does"
    );

    Racebench::fixture(&results)
        .args(["run", "--resume"])
        .arg_path(&run_dir)
        .output()
        .expect_code(0);
    let done = trials(&run_dir, "services-probe", "reference");
    assert_eq!(done.len(), 2);
    assert_every_probe_passed(&done);
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
}

/// Two racebench processes at once, each trial in a pod of its own: stopping
/// one (Ctrl-C, then SIGTERM as `docker stop` and schedulers send it, which
/// counts as a second interrupt) changes nothing for the other, whose trials
/// all pass as they do alone.
#[test]
fn two_runs_at_once_never_touch_each_other_and_stopping_one_spares_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (results_a, results_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let args = |n: &'static str| {
        [
            "run",
            "-d",
            "services-probe",
            "--reference",
            "--trials",
            n,
            "--jobs",
            "1",
            "--grace",
            "120",
        ]
    };
    let mut a = Racebench::fixture(&results_a).args(args("3")).spawn();
    let mut b = Racebench::fixture(&results_b).args(args("3")).spawn();
    let run_b = wait_for_run_dir(&results_b);
    wait_for(&run_b, "services-probe", "apply.log");
    signal(&b, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&b, "-TERM");
    let status_b = b.wait().unwrap();
    let stderr_b = stderr_of(&mut b);
    assert_eq!(status_b.code(), Some(130), "{stderr_b}");
    let status_a = a.wait().unwrap();
    let stderr_a = stderr_of(&mut a);
    assert_eq!(status_a.code(), Some(0), "{stderr_a}");
    let run_a = std::fs::read_dir(&results_a)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let done = trials(&run_a, "services-probe", "reference");
    assert_eq!(done.len(), 3, "{stderr_a}");
    assert_every_probe_passed(&done);
    for run in [&run_a, &run_b] {
        let id = run.file_name().unwrap().to_string_lossy().into_owned();
        assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    }
}

/// Every trial of the services-probe reference was tested and passed both tests.
fn assert_every_probe_passed(done: &[serde_json::Value]) {
    for trial in done {
        assert_eq!(trial["verdict"], "tested", "{trial}");
        let tests = trial["tests"].as_array().unwrap();
        assert!(
            tests.len() == 2 && tests.iter().all(|t| t["outcome"] == "passed"),
            "{trial}"
        );
    }
}

fn wait_for_run_dir(results: &std::path::Path) -> std::path::PathBuf {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < deadline,
            "the run never created its folder"
        );
        if let Some(dir) = std::fs::read_dir(results)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
        {
            if dir.join("run.json").exists() {
                return dir;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_trial_start(run_dir: &std::path::Path) {
    wait_for(run_dir, "counter-race", "apply.log")
}

fn wait_for_test_step(run_dir: &std::path::Path) {
    wait_for(run_dir, "counter-race", "build.log")
}

/// Waits until some trial of the run wrote `file` into its log folder.
fn wait_for(run_dir: &std::path::Path, datapoint: &str, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let logs = run_dir.join("logs").join(datapoint);
    loop {
        assert!(Instant::now() < deadline, "no trial reached {file}");
        let found = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|cand| {
                std::fs::read_dir(cand.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|trial| trial.path().join(file).exists())
            });
        if found {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn clean_spares_the_pods_of_a_run_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let patch = tmp.path().join("slowish.diff");
    std::fs::write(
        &patch,
        "--- a/tickets.py\n+++ b/tickets.py\n@@ -5,3 +5,3 @@ import threading\n import time\n \n-PROCESSING_DELAY = 0.1\n+PROCESSING_DELAY = 5\n",
    )
    .unwrap();
    let mut child = Racebench::fixture(&results)
        .args(["run", "-d", "counter-race", "--patch"])
        .arg_path(&patch)
        .spawn();
    let run_dir = wait_for_run_dir(&results);
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    let started = Instant::now();
    while leftovers(&run_id).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the trial never started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let cleaned = Racebench::fixture(&results).args(["clean"]).output();
    assert_eq!(cleaned.code(), 0, "{}", cleaned.stderr());
    assert!(
        cleaned.stderr().contains("still running here"),
        "{}",
        cleaned.stderr()
    );
    assert!(
        !leftovers(&run_id).is_empty(),
        "clean removed a running run's pod"
    );
    let status = child.wait().unwrap();
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(0), "{stderr}");
    let records = trials(&run_dir, "counter-race", "patch-slowish");
    assert_eq!(records[0]["verdict"], "tested", "{:#}", records[0]);
}
