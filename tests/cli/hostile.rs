//! The hostile-patch suite (tests/hostile/): patches that attack racebench
//! rather than fix the bug, each run as a real trial against the `ledger`
//! fixture. Each must score no better than the unpatched service and end
//! with the verdict it is expected to get, the run must finish in bounded
//! time, leave nothing behind and not reach the host.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::swarm;
use crate::util::{leftovers, root, trials, Racebench};

/// Each hostile patch and the verdicts it may end with.
const EXPECTED: &[(&str, &[&str])] = &[
    ("fork-bomb", &["timed_out", "tested"]),
    ("memory-hog", &["tested"]),
    ("hang", &["timed_out", "tested"]),
    ("egress", &["tested"]),
    ("hidden-tests-path", &["patch_failed"]),
    ("plant-loaders", &["tested"]),
    ("background-forger", &["tested"]),
    ("forged-report", &["tested"]),
    ("credentials", &["tested"]),
    ("output-bomb", &["tested"]),
    ("protected-path", &["tested"]),
];

/// The machine's own addresses a container might try to reach it on.
fn host_addresses() -> Vec<String> {
    let mut hosts = vec!["172.17.0.1".to_string()];
    if let Ok(socket) = UdpSocket::bind("0.0.0.0:0") {
        // No packet is sent: connecting a UDP socket only picks a route.
        if socket.connect("192.0.2.1:9").is_ok() {
            if let Ok(local) = socket.local_addr() {
                hosts.push(local.ip().to_string());
            }
        }
    }
    hosts
}

fn score(summary: &serde_json::Value, candidate: &str) -> (f64, f64) {
    let c = summary["datapoints"][0]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == candidate)
        .unwrap_or_else(|| panic!("no candidate {candidate} in the summary"));
    let s = &c["score"];
    (
        s["strict"].as_f64().unwrap_or(0.0),
        s["lenient"].as_f64().unwrap_or(0.0),
    )
}

/// What an attack that records its attempts reached (`true` = it got through).
fn escapes(run_dir: &Path, candidate: &str, file: &str) -> BTreeMap<String, bool> {
    let path = run_dir
        .join("logs/ledger")
        .join(candidate)
        .join("001/out")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn hostile_patches_score_no_better_than_the_bug_and_harm_nothing() {
    hostile_suite(&[], Vec::new(), &[]);
}

/// The same suite with every trial on a two-node test swarm: the verdicts of
/// a local run, nothing reached on the host or on the swarm's own addresses
/// (the nodes, the registry), and nothing left on the nodes.
#[test]
fn hostile_patches_on_a_swarm_get_the_local_verdicts_and_reach_nothing() {
    if let Some(reason) = swarm::testswarm::cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    let swarm = HOSTILE_SWARM.up(2);
    let env = [
        ("RACEBENCH_CLUSTER", "swarm".to_string()),
        (
            "RACEBENCH_SWARM_MANAGER",
            swarm.get("RBSWARM_MANAGER").to_string(),
        ),
        (
            "RACEBENCH_REGISTRY",
            swarm.get("RBSWARM_REGISTRY").to_string(),
        ),
    ];
    let registry_host = swarm
        .get("RBSWARM_REGISTRY")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let extra_hosts = vec![
        registry_host,
        swarm.get("RBSWARM_NODE1_IP").to_string(),
        swarm.get("RBSWARM_NODE2_IP").to_string(),
    ];
    hostile_suite(&env, extra_hosts, &[1, 2]);
    drop(swarm);
}

const HOSTILE_SWARM: swarm::testswarm::SwarmName = swarm::testswarm::SwarmName {
    name: "rbhost",
    net: "10.213.13",
    port: "5025",
};

/// Runs every hostile patch, the unpatched service and the reference, with
/// `env` (a swarm run, or none), trying `extra_hosts` beside the host's own
/// addresses; `swarm_nodes` are the test swarm's nodes to find empty after.
fn hostile_suite(env: &[(&str, String)], extra_hosts: Vec<String>, swarm_nodes: &[usize]) {
    let tmp = tempfile::tempdir().unwrap();
    let suite = root().join("tests/hostile");

    // A listener on the host: nothing from a trial may reach it.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (connections, stop) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok((mut s, _)) = listener.accept() {
                    connections.fetch_add(1, Ordering::Relaxed);
                    let _ = s.read(&mut [0; 16]);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // A file on the host that no trial may change.
    let canary = tmp.path().join("canary");
    std::fs::write(&canary, "untouched").unwrap();

    let mut hosts = host_addresses();
    hosts.extend(extra_hosts);
    let hosts = format!("{hosts:?}");
    let mut args: Vec<String> = [
        "run",
        "-d",
        "ledger",
        "--no-patch",
        "--reference",
        "--jobs",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, _) in EXPECTED {
        let text = std::fs::read_to_string(suite.join("patches").join(format!("{name}.patch")))
            .unwrap()
            .replace("@PORT@", &port.to_string())
            .replace("@HOSTS@", &hosts);
        let path = tmp.path().join(format!("{name}.patch"));
        std::fs::write(&path, text).unwrap();
        args.push("--patch".into());
        args.push(path.display().to_string());
    }
    let started = Instant::now();
    let mut racebench = Racebench::fixture(&tmp.path().join("results"))
        .env("RACEBENCH_DATAPOINTS", suite.join("datapoints"))
        .env("RACEBENCH_WEIGHTS", suite.join("weights"));
    for (key, value) in env {
        racebench = racebench.env(key, value);
    }
    let run = racebench.args(&args).output();
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let run = run.expect_code(0);
    let run_dir = run.run_dir();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();

    let (bug_strict, bug_lenient) = score(&summary, "unpatched");
    assert_eq!(
        score(&summary, "reference").0,
        1.0,
        "the fixture's fix passes"
    );
    assert!(bug_strict < 1.0, "the fixture's bug is caught");
    let mut table = Vec::new();
    for (name, verdicts) in EXPECTED {
        let candidate = format!("patch-{name}");
        let records = trials(&run_dir, "ledger", &candidate);
        let verdict = records[0]["verdict"].as_str().unwrap().to_string();
        let (strict, lenient) = score(&summary, &candidate);
        let ms = records[0]["timings"]["total_ms"].as_u64().unwrap_or(0);
        table.push(format!("{name}: {verdict} strict {strict:.2} in {ms} ms"));
        assert!(
            verdicts.contains(&verdict.as_str()),
            "{name}: verdict {verdict}, expected one of {verdicts:?}: {}",
            records[0]
        );
        assert!(
            strict <= bug_strict && lenient <= bug_lenient,
            "{name} scored {strict}/{lenient}, better than the unpatched {bug_strict}/{bug_lenient}"
        );
        assert!(ms < 120_000, "{name} took {ms} ms");
    }
    eprintln!("{}", table.join("\n"));

    // What the attacks that record their attempts got.
    let egress = escapes(&run_dir, "patch-egress", "escape-egress.json");
    assert!(egress.len() >= 6, "{egress:?}");
    assert!(egress.values().all(|reached| !reached), "{egress:?}");
    let logins = escapes(&run_dir, "patch-credentials", "escape-logins.json");
    assert!(
        !logins.is_empty() && logins.values().all(|ok| !ok),
        "{logins:?}"
    );
    let plant =
        std::fs::read_to_string(run_dir.join("logs/ledger/patch-plant-loaders/001/build.log"))
            .unwrap();
    for path in [
        "/racebench/tests/conftest.py",
        "/usr/lib/python3/dist-packages/sitecustomize.py",
        "/usr/lib/python3/dist-packages/zz-racebench.pth",
        "/racebench/report/report.xml",
        "/usr/bin/python3",
    ] {
        assert!(
            plant.contains(&format!("denied {path}")),
            "{path}:\n{plant}"
        );
    }
    let protected = trials(&run_dir, "ledger", "patch-protected-path");
    assert_eq!(protected[0]["patch"]["protected"][0], "schema.sql");

    assert_eq!(
        connections.load(Ordering::Relaxed),
        0,
        "a trial reached the host"
    );
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
    for &node in swarm_nodes {
        let left = swarm::gone_within(&HOSTILE_SWARM, node, Duration::from_secs(30));
        assert!(left.is_empty(), "node {node} still has {left:?}");
    }
    assert!(wall < Duration::from_secs(600), "the suite took {wall:?}");
}
