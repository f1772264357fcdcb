//! Ctrl-C: the first stops starting trials and lets running ones finish
//! within the grace period; the second kills them. Nothing is left behind,
//! and `--resume` finishes the run.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::util::{leftovers, trials, Racebench};

fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
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
    wait_for(run_dir, "apply.log")
}

fn wait_for_test_step(run_dir: &std::path::Path) {
    wait_for(run_dir, "build.log")
}

/// Waits until some trial of the run wrote `file` into its log folder.
fn wait_for(run_dir: &std::path::Path, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let logs = run_dir.join("logs/counter-race");
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
