//! Bad input and missing infrastructure: a clear message, a documented exit
//! code, nothing lost.

use crate::util::{copy_fixtures, Racebench};

#[test]
fn an_unreachable_engine_says_how_to_get_one() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["run", "-d", "counter-race", "--reference"])
        .output()
        .expect_code(4);
    let stderr = run.stderr();
    assert!(
        stderr.contains("failed to reach a Docker engine at unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert!(stderr.contains("apt-get install -y docker.io"), "{stderr}");
}

#[test]
fn a_malformed_datapoint_names_the_file_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (datapoints, weights) = copy_fixtures(tmp.path());
    let file = datapoints.join("counter-race/datapoint.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("reference = ", "# reference = ").replace(
            "format = \"junit\"",
            "format = \"junit\"\nreport = \"/tmp/x.xml\"",
        ),
    )
    .unwrap();
    let run = Racebench::fixture(tmp.path())
        .env("RACEBENCH_DATAPOINTS", &datapoints)
        .env("RACEBENCH_WEIGHTS", &weights)
        .args(["list"])
        .output()
        .expect_code(3);
    let stderr = run.stderr();
    assert!(stderr.contains("counter-race/datapoint.toml"), "{stderr}");
    assert!(stderr.contains("key `test.report`"), "{stderr}");
    assert!(stderr.contains("/racebench/report/"), "{stderr}");
}

#[test]
fn an_unknown_datapoint_lists_the_known_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "nope", "--reference"])
        .output()
        .expect_code(3);
    assert!(
        run.stderr().contains("no datapoint `nope`"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("known: counter-race"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_predictions_file_with_a_bad_row_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let predictions = tmp.path().join("p.jsonl");
    std::fs::write(&predictions, "{\"instance_id\": \"counter-race\", \"model_name_or_path\": \"a\", \"model_patch\": \"\"}\n{\"instance_id\": \"counter-race\"}\n").unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "--predictions"])
        .arg_path(&predictions)
        .output()
        .expect_code(3);
    assert!(
        run.stderr()
            .contains("p.jsonl:2: `model_name_or_path` is missing"),
        "{}",
        run.stderr()
    );
}

#[test]
fn run_without_candidates_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race"])
        .output()
        .expect_code(2);
    assert!(run.stderr().contains("say what to run"), "{}", run.stderr());
}

#[test]
fn a_swarm_run_without_its_manager_or_registry_says_what_to_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .env_remove("RACEBENCH_SWARM_MANAGER")
        .env_remove("RACEBENCH_REGISTRY")
        .args(["validate", "counter-race", "--cluster", "swarm"])
        .output()
        .expect_code(2);
    assert!(
        run.stderr().contains("pass --manager unix://PATH"),
        "{}",
        run.stderr()
    );
    let run = Racebench::fixture(tmp.path())
        .env_remove("RACEBENCH_REGISTRY")
        .args([
            "validate",
            "counter-race",
            "--cluster",
            "swarm",
            "--manager",
            "unix:///nonexistent.sock",
        ])
        .output()
        .expect_code(2);
    assert!(
        run.stderr().contains("needs --registry HOST:PORT"),
        "{}",
        run.stderr()
    );
    let run = Racebench::fixture(tmp.path())
        .args([
            "cluster",
            "check",
            "--manager",
            "unix:///nonexistent/manager.sock",
        ])
        .output()
        .expect_code(4);
    assert!(
        run.stderr()
            .contains("failed to reach a swarm manager at unix:///nonexistent/manager.sock"),
        "{}",
        run.stderr()
    );
    // Agent sandboxes run on a swarm too: an agent run names its swarm the
    // same way, and is told so before any image is built.
    let run = Racebench::fixture(tmp.path())
        .env_remove("RACEBENCH_SWARM_MANAGER")
        .env_remove("RACEBENCH_REGISTRY")
        .args([
            "run",
            "-d",
            "counter-race",
            "--agent",
            "nop",
            "--cluster",
            "swarm",
        ])
        .output()
        .expect_code(2);
    assert!(
        run.stderr().contains("pass --manager unix://PATH"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("image"),
        "nothing was built: {}",
        run.stderr()
    );
}
