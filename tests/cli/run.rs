//! Runs that complete: verdicts, stored results, image reuse, cleanup.

use crate::util::{leftovers, trials, Racebench};

#[test]
fn reference_passes_and_a_second_run_builds_no_image() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Racebench::fixture(tmp.path())
        .args([
            "run",
            "-d",
            "counter-race",
            "--reference",
            "--trials",
            "2",
            "--jobs",
            "2",
        ])
        .output()
        .expect_code(0);
    for trial in trials(&first.run_dir(), "counter-race", "reference") {
        assert_eq!(trial["verdict"], "tested");
        assert_eq!(trial["patch"]["method"], "git-apply");
        for test in trial["tests"].as_array().unwrap() {
            assert_eq!(test["outcome"], "passed", "{test}");
        }
    }
    let second = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--reference"])
        .output()
        .expect_code(0);
    let stderr = second.stderr();
    assert!(stderr.contains("(reused)"), "{stderr}");
    assert!(!stderr.contains("built in"), "{stderr}");
    let run_id = second
        .run_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
}

#[test]
fn unpatched_bug_and_decoy_are_caught_by_the_race_test() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--no-patch", "--decoys"])
        .output()
        .expect_code(0);
    for candidate in ["unpatched", "decoy-shorter-delay"] {
        let trial = &trials(&run.run_dir(), "counter-race", candidate)[0];
        assert_eq!(trial["verdict"], "tested");
        let race = trial["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "test_check_and_reserve_agree")
            .unwrap();
        assert_eq!(race["outcome"], "failed", "{candidate}: {race}");
    }
}

#[test]
fn a_garbage_patch_is_a_verdict_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let patch = tmp.path().join("garbage.diff");
    std::fs::write(&patch, "this is not a patch\n").unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--patch"])
        .arg_path(&patch)
        .output()
        .expect_code(0);
    let trial = &trials(&run.run_dir(), "counter-race", "patch-garbage")[0];
    assert_eq!(trial["verdict"], "patch_failed");
    let apply_log =
        std::fs::read_to_string(run.run_dir().join(trial["logs"]["apply"].as_str().unwrap()))
            .unwrap();
    assert!(apply_log.contains("Only garbage was found"), "{apply_log}");
}

#[test]
fn a_patch_touching_protected_paths_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let patch = tmp.path().join("sneaky.diff");
    std::fs::write(
        &patch,
        "diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/conftest.py\n@@ -0,0 +1 @@\n+import pytest\n",
    )
    .unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--patch"])
        .arg_path(&patch)
        .output()
        .expect_code(0);
    let trial = &trials(&run.run_dir(), "counter-race", "patch-sneaky")[0];
    assert_eq!(trial["patch"]["protected"][0], "conftest.py");
}

#[test]
fn predictions_rows_become_samples_of_an_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = std::fs::read_to_string(
        crate::util::fixtures().join("datapoints/counter-race/solutions/reference.patch"),
    )
    .unwrap();
    let rows = [
        serde_json::json!({"instance_id": "counter-race", "model_name_or_path": "acme/coder", "model_patch": reference}),
        serde_json::json!({"instance_id": "counter-race", "model_name_or_path": "acme/coder", "model_patch": ""}),
    ];
    let predictions = tmp.path().join("preds.jsonl");
    std::fs::write(
        &predictions,
        rows.iter()
            .map(|r| r.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "--predictions"])
        .arg_path(&predictions)
        .output()
        .expect_code(0);
    let first = &trials(&run.run_dir(), "counter-race", "acme-coder-s1")[0];
    assert_eq!(first["verdict"], "tested");
    let second = &trials(&run.run_dir(), "counter-race", "acme-coder-s2")[0];
    assert_eq!(second["verdict"], "patch_failed");
    assert_eq!(second["error"], "the patch is empty");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.run_dir().join("run.json")).unwrap())
            .unwrap();
    let agents: Vec<_> = manifest["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["agent"].clone())
        .collect();
    assert_eq!(
        agents,
        [
            serde_json::json!("acme/coder"),
            serde_json::json!("acme/coder")
        ]
    );
}

#[test]
fn keep_leaves_the_trial_for_debugging_and_clean_removes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--reference", "--keep"])
        .output()
        .expect_code(0);
    let run_id = run
        .run_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        leftovers(&run_id).len(),
        2,
        "the container and its network stay"
    );
    // `--run`: a plain `clean` would also remove the trials of tests running beside this one.
    Racebench::fixture(tmp.path())
        .args(["clean", "--run", &run_id])
        .output()
        .expect_code(0);
    assert!(leftovers(&run_id).is_empty());
}

#[test]
fn go_test_json_reports_are_read_from_real_go_test_output() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args([
            "run",
            "-d",
            "go-counter",
            "--reference",
            "--no-patch",
            "--jobs",
            "2",
        ])
        .output()
        .expect_code(0);
    let outcome = |candidate: &str, test: &str| {
        let trial = &trials(&run.run_dir(), "go-counter", candidate)[0];
        let record = trial["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == test)
            .cloned()
            .unwrap_or_else(|| panic!("{test} missing from {trial:#}"));
        let outcome = record["outcome"].as_str().unwrap().to_string();
        let message = record["message"].as_str().unwrap_or("").to_string();
        let stderr = trial["logs"]["test_stderr"]
            .as_str()
            .and_then(|rel| std::fs::read_to_string(run.run_dir().join(rel)).ok())
            .unwrap_or_default();
        (
            outcome,
            format!("{message}\n--- trial record\n{trial:#}\n--- test stderr\n{stderr}"),
        )
    };
    for test in ["TestConcurrentIncrements", "TestSingleIncrement"] {
        let (result, detail) = outcome("reference", test);
        assert_eq!(result, "passed", "{detail}");
    }
    let (race, message) = outcome("unpatched", "TestConcurrentIncrements");
    assert_eq!(race, "failed");
    assert!(
        message.contains("race detected") || message.contains("lost increments"),
        "{message}"
    );
    assert_eq!(outcome("unpatched", "TestSingleIncrement").0, "passed");
}

/// Regression: a sparse 300 MiB file the candidate's code left in
/// `/racebench/out` made the trial an infra error (not graded), and racebench
/// read all of it into memory. Now the report is still read, the bomb is not
/// copied, and the trial is graded.
#[test]
fn an_output_bomb_in_the_out_folder_is_graded_not_an_infra_error() {
    let tmp = tempfile::tempdir().unwrap();
    let patch = tmp.path().join("bomb.diff");
    std::fs::write(
        &patch,
        "--- a/tickets.py\n+++ b/tickets.py\n@@ -8,3 +8,7 @@ import time\n \n PROCESSING_DELAY = 0.1\n+if os.environ.get(\"RACEBENCH_OUT\"):\n+    with open(os.path.join(os.environ[\"RACEBENCH_OUT\"], \"bomb.bin\"), \"wb\") as bomb:\n+        bomb.truncate(300 << 20)\n+\n _clock_lock = threading.Lock()\n",
    )
    .unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--patch"])
        .arg_path(&patch)
        .output()
        .expect_code(0);
    let trial = &trials(&run.run_dir(), "counter-race", "patch-bomb")[0];
    assert_eq!(trial["verdict"], "tested", "{trial}");
    assert!(
        trial["tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["outcome"] == "failed"),
        "graded as the unfixed service it is: {trial}"
    );
    let notes = trial["inconsistencies"].to_string();
    assert!(notes.contains("MiB that are copied out"), "{notes}");
    let out = run
        .run_dir()
        .join(trial["logs"]["report"].as_str().unwrap());
    assert!(out.is_file(), "the report was copied");
    assert!(!out.with_file_name("bomb.bin").exists(), "the bomb was not");
}
