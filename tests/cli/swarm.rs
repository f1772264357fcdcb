//! `--cluster swarm` end to end, on a three-node test swarm made on this
//! machine by `tests/cluster/testswarm` (a dockerd per network namespace and a
//! registry): `cluster check` sees the three nodes, a run pushes the fixture's
//! image once and runs its trials across the nodes, a node killed under a
//! running trial makes that trial an infrastructure error which is run again on
//! another node, every trial is graded, Ctrl-C twice stops a run, and nothing
//! is left on the manager or on any node. Skipped, saying why, where the test
//! swarm cannot run (not root, no network namespaces, no dockerd).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{copy_fixtures, trials, Racebench};

#[path = "../../runner/tests/support/testswarm.rs"]
pub mod testswarm;
use testswarm::{cannot_run, Swarm, SwarmName};

const SWARM: SwarmName = SwarmName {
    name: "rbrun",
    net: "10.213.11",
    port: "5023",
};

/// A fix whose tests take a while (each reservation sleeps 8 s), so a trial
/// is still running when its node is killed.
fn slow_patch(dir: &std::path::Path) -> std::path::PathBuf {
    let patch = dir.join("slow.diff");
    std::fs::write(
        &patch,
        "--- a/tickets.py\n+++ b/tickets.py\n@@ -5,3 +5,3 @@ import threading\n import time\n \n-PROCESSING_DELAY = 0.1\n+PROCESSING_DELAY = 8\n",
    )
    .unwrap();
    patch
}

pub(crate) fn on_swarm(swarm: &Swarm, racebench: Racebench) -> Racebench {
    racebench
        .env("RACEBENCH_SWARM_MANAGER", swarm.get("RBSWARM_MANAGER"))
        .env("RACEBENCH_REGISTRY", swarm.get("RBSWARM_REGISTRY"))
}

/// racebench's containers on node `i` (candidate label of each).
pub(crate) fn containers_on(swarm: &SwarmName, i: usize, filter: &str) -> Vec<String> {
    let out = swarm.harness(&[
        "docker",
        &i.to_string(),
        "ps",
        "-a",
        "--filter",
        filter,
        "--format",
        "{{.Label \"org.racebench.candidate\"}}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// racebench's containers on node `i` once the node's engine removed what
/// the manager took away (it does so on its own, a moment later), or what
/// is still there after `limit`.
pub fn gone_within(swarm: &SwarmName, i: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = containers_on(swarm, i, "label=org.racebench");
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub(crate) fn check(swarm: &Swarm, results: &std::path::Path) -> String {
    let run = on_swarm(swarm, Racebench::fixture(results))
        .args(["cluster", "check"])
        .output();
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    run.stdout()
}

/// Panics with what racebench printed if it has ended.
pub(crate) fn still_running(child: &mut std::process::Child) {
    if let Some(status) = child.try_wait().unwrap() {
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        panic!("racebench ended early ({status}):\n{stderr}");
    }
}

pub(crate) fn wait_with_deadline(
    child: &mut std::process::Child,
    limit: Duration,
) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("racebench did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_run_on_a_three_node_swarm_survives_a_lost_node_and_leaves_nothing() {
    if let Some(reason) = cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    let swarm = SWARM.up(3);
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let slow = slow_patch(tmp.path());

    let checked = check(&swarm, &results);
    assert!(checked.contains("3 of 3 node(s) take trials"), "{checked}");
    assert!(checked.contains("registry"), "{checked}");

    // The manager takes no trials (killing it would end the swarm), so every
    // trial runs on the two workers, and the one running a slow trial is killed.
    let manager_id = SWARM.harness_ok(&["docker", "1", "info", "-f", "{{.Swarm.NodeID}}"]);
    SWARM.harness_ok(&[
        "docker",
        "1",
        "node",
        "update",
        "--availability",
        "drain",
        manager_id.trim(),
    ]);
    let mut child = on_swarm(&swarm, Racebench::fixture(&results))
        .args([
            "run",
            "-d",
            "counter-race",
            "--reference",
            "--no-patch",
            "--patch",
        ])
        .arg_path(&slow)
        .args(["--trials", "3", "--jobs", "3", "--cluster", "swarm"])
        .spawn();
    let started = Instant::now();
    let killed = loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no slow trial ever ran on a worker"
        );
        still_running(&mut child);
        let on = |i| {
            containers_on(&SWARM, i, "label=org.racebench.role=trial")
                .iter()
                .any(|c| c == "patch-slow")
        };
        if let Some(i) = [2usize, 3].into_iter().find(|&i| on(i)) {
            // Let it get into its tests, then take the machine away.
            std::thread::sleep(Duration::from_secs(2));
            SWARM.harness_ok(&["kill", &i.to_string()]);
            eprintln!("killed node {i} after {:?}", started.elapsed());
            break i;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let (code, stderr) = wait_with_deadline(&mut child, Duration::from_secs(600));
    eprintln!("{stderr}");
    let run_dir = stderr
        .lines()
        .find_map(|l| l.strip_prefix("results: "))
        .map(std::path::PathBuf::from)
        .expect("results folder");
    assert!(
        stderr.contains("was lost during the run"),
        "the lost node is reported: {stderr}"
    );
    let mut retried = 0;
    for (candidate, must_pass) in [
        ("reference", Some(true)),
        ("unpatched", Some(false)),
        ("patch-slow", None),
    ] {
        let records = trials(&run_dir, "counter-race", candidate);
        let finals: Vec<_> = records
            .iter()
            .filter(|r| r["verdict"] != "infra_error")
            .collect();
        assert_eq!(
            finals.len(),
            3,
            "{candidate}: every trial graded: {records:#?}"
        );
        for r in &finals {
            assert_eq!(r["verdict"], "tested", "{candidate}: {r:#}");
            let tests = r["tests"].as_array().unwrap();
            assert!(!tests.is_empty(), "{candidate}: {r:#}");
            let all_passed = tests.iter().all(|t| t["outcome"] == "passed");
            if let Some(must_pass) = must_pass {
                assert_eq!(all_passed, must_pass, "{candidate}: {r:#}");
            }
            let earlier = r["earlier_attempts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !earlier.is_empty() {
                retried += 1;
                assert!(
                    earlier
                        .iter()
                        .any(|e| e.as_str().unwrap_or("").contains("node")),
                    "{r:#}"
                );
            }
        }
    }
    assert!(retried >= 1, "the killed node's trial was run again");
    assert!(matches!(code, 0 | 1), "exit code {code}: {stderr}");

    // Nothing left on the manager, nor on the nodes still up.
    let checked = check(&swarm, &results);
    assert!(
        checked.contains("nothing of racebench's is left"),
        "{checked}"
    );
    assert!(checked.contains("1 of 3 node(s) take trials"), "{checked}");
    let alive: Vec<usize> = (1..=3).filter(|&i| i != killed).collect();
    for &i in &alive {
        let left = gone_within(&SWARM, i, Duration::from_secs(30));
        assert!(left.is_empty(), "node {i} still has {left:?}");
    }

    // Ctrl-C twice while slow trials run: stopped, and nothing left.
    let mut child = on_swarm(&swarm, Racebench::fixture(&results))
        .args(["run", "-d", "counter-race", "--patch"])
        .arg_path(&slow)
        .args([
            "--trials",
            "2",
            "--jobs",
            "2",
            "--cluster",
            "swarm",
            "--grace",
            "1",
        ])
        .spawn();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no trial started"
        );
        still_running(&mut child);
        if alive
            .iter()
            .any(|&i| !containers_on(&SWARM, i, "label=org.racebench.role=trial").is_empty())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for _ in 0..2 {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(500));
    }
    let (code, stderr) = wait_with_deadline(&mut child, Duration::from_secs(120));
    assert_eq!(code, 130, "interrupted: {stderr}");
    let checked = check(&swarm, &results);
    assert!(
        checked.contains("nothing of racebench's is left"),
        "{checked}\n{stderr}"
    );
    for &i in &alive {
        let left = gone_within(&SWARM, i, Duration::from_secs(30));
        assert!(left.is_empty(), "node {i} still has {left:?} after Ctrl-C");
    }

    // A trial kept for debugging stays on the swarm; `clean --cluster` takes it away.
    let kept = on_swarm(&swarm, Racebench::fixture(&results))
        .args([
            "run",
            "-d",
            "counter-race",
            "--reference",
            "--keep",
            "--cluster",
            "swarm",
        ])
        .output();
    assert!(matches!(kept.code(), 0 | 1), "{}", kept.stderr());
    let checked = check(&swarm, &results);
    assert!(
        checked
            .contains("left by earlier runs: 1 service(s), 1 network(s), 1 secret(s), 3 config(s)"),
        "{checked}"
    );
    let cleaned = on_swarm(&swarm, Racebench::fixture(&results))
        .args(["clean", "--cluster"])
        .output();
    assert_eq!(cleaned.code(), 0, "{}", cleaned.stderr());
    assert!(
        cleaned.stdout().contains(
            "removed from the swarm: 1 service(s), 1 network(s), 1 secret(s), 3 config(s)"
        ),
        "{}",
        cleaned.stdout()
    );
    let checked = check(&swarm, &results);
    assert!(
        checked.contains("nothing of racebench's is left"),
        "{checked}"
    );

    // Hidden tests larger than one swarm secret holds (500 KB) arrive whole:
    // the fixture with 1.2 MB of random bytes beside its tests, and a test
    // that checks their hash, passes with the reference.
    let (datapoints, weights) = copy_fixtures(&tmp.path().join("big"));
    let tests_dir = datapoints.join("counter-race/tests");
    let blob: Vec<u8> = (0..1_200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(tests_dir.join("blob.bin"), &blob).unwrap();
    let summed = Command::new("sha256sum")
        .arg(tests_dir.join("blob.bin"))
        .output()
        .unwrap();
    let digest = String::from_utf8_lossy(&summed.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        tests_dir.join("test_blob.py"),
        format!(
            "import hashlib, os\n\ndef test_the_blob_arrived_whole():\n    path = os.path.join(os.path.dirname(__file__), 'blob.bin')\n    assert hashlib.sha256(open(path, 'rb').read()).hexdigest() == '{digest}'\n"
        ),
    )
    .unwrap();
    let run = on_swarm(&swarm, Racebench::fixture(&results))
        .env("RACEBENCH_DATAPOINTS", &datapoints)
        .env("RACEBENCH_WEIGHTS", &weights)
        .args([
            "run",
            "-d",
            "counter-race",
            "--reference",
            "--cluster",
            "swarm",
        ])
        .output();
    assert!(matches!(run.code(), 0 | 1), "{}", run.stderr());
    let records = trials(&run.run_dir(), "counter-race", "reference");
    let blob_test = records[0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "test_the_blob_arrived_whole")
        .cloned()
        .unwrap_or_else(|| panic!("the blob test ran: {:#}", records[0]));
    assert_eq!(blob_test["outcome"], "passed", "{:#}", records[0]);
    drop(swarm);
}
