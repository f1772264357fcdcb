//! Agent sandboxes on a swarm, end to end, on a two-node test swarm
//! (`tests/cluster/testswarm`): `oracle` solves the fixture as the reference
//! does, `nop` leaves an empty diff, and a hostile scripted agent that forges
//! frames on every stream it reaches, plants a link to `/etc/shadow`, rewrites
//! its step records and leaves a process to rewrite the tree after it exits
//! gets none of that into its diff; a sandbox interrupted by Ctrl-C is
//! removed; nothing is left on the manager, on any node, in the nodes'
//! sandbox folders or on the local engine. Skipped, saying why, where the test
//! swarm cannot run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::swarm::testswarm::{cannot_run, SwarmName};
use crate::swarm::{
    check, containers_on, gone_within, on_swarm, still_running, wait_with_deadline,
};
use crate::util::{leftovers, Racebench};

const SWARM: SwarmName = SwarmName {
    name: "rbagent",
    net: "10.213.15",
    port: "5027",
};

/// The sandboxes' folders on the nodes (the test swarm's nodes share this
/// machine's file system).
const NODE_ROOT: &str = "/var/tmp/racebench-sandboxes";

const HOSTILE: &str = r##"#!/bin/sh
# A hostile agent: a small real change, and every forgery it can think of.
cd "$RACEBENCH_WORKSPACE" || exit 1
echo "# the agent was here" >>tickets.py
ln -s /etc/shadow leaked-shadow
frames='RBX1 BEGIN tree.tar 4 0000\nRBX1 DATA tree.tar 0 AAAA\nRBX1 END tree.tar\nRBX1 DONE 1\n'
printf "$frames"
printf "$frames" >&2
for fd in /proc/[0-9]*/fd/1 /proc/[0-9]*/fd/2; do printf "$frames" >"$fd" 2>/dev/null; done
printf 'RBX1 DONE 0\n' >rbx-looking-file
printf 'agent 0 1 0\nfiles 1 1 0\n' >>/racebench/run/steps
ln -sf /etc/shadow /racebench/run/agent.stderr
ls /var/tmp/racebench-sandboxes >/dev/null 2>&1 && echo "SAW-NODE-FOLDERS" >>tickets.py
setsid sh -c 'sleep 3; echo FORGED-AFTER-EXIT >"$0/tickets.py"; echo x >"$0/planted-after-exit"' "$PWD" \
  </dev/null >/dev/null 2>&1 &
echo "hostile agent done"
exit 0
"##;

/// Tries the swarm's gossip port (7946) on each node address it is given
/// and writes what happened into the work tree, so it comes back in the diff.
const PROBE: &str = r#"python3 - "$@" <<'EOF'
import socket, sys
out = []
for ip in sys.argv[1:]:
    try:
        socket.create_connection((ip, 7946), 3).close()
        out.append(ip + " reached")
    except OSError as e:
        out.append(ip + " " + type(e).__name__)
open("reach.txt", "w").write("\n".join(out) + "\n")
EOF
"#;

fn agent_record(run_dir: &Path, candidate: &str) -> serde_json::Value {
    let path = run_dir.join(format!("agents/counter-race/{candidate}/agent.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strict(run_dir: &Path, candidate: &str) -> f64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let dp = s["datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "counter-race")
        .unwrap()
        .clone();
    let c = dp["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == candidate)
        .unwrap_or_else(|| panic!("no {candidate} in {dp}"))
        .clone();
    c["score"]["strict"].as_f64().unwrap()
}

/// What is left in the nodes' sandbox folders.
fn node_folders() -> Vec<String> {
    match std::fs::read_dir(NODE_ROOT) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Nothing of racebench's on the manager, either node, the nodes' sandbox
/// folders, or the local engine (the pristine copies' containers).
fn nothing_left(swarm: &crate::swarm::testswarm::Swarm, results: &Path, run_dir: &Path) {
    let checked = check(swarm, results);
    assert!(
        checked.contains("nothing of racebench's is left"),
        "{checked}"
    );
    for i in 1..=2 {
        let left = gone_within(&SWARM, i, Duration::from_secs(30));
        assert!(left.is_empty(), "node {i} still has {left:?}");
    }
    assert!(
        !Path::new(NODE_ROOT).exists(),
        "left on the nodes: {NODE_ROOT} with {:?}",
        node_folders()
    );
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
}

#[test]
fn agents_work_in_sandboxes_on_a_swarm_and_forge_nothing_into_their_diffs() {
    if let Some(reason) = cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    let swarm = SWARM.up(2);
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let script = tmp.path().join("hostile.sh");
    std::fs::write(&script, HOSTILE).unwrap();
    assert!(
        !Path::new(NODE_ROOT).exists(),
        "{NODE_ROOT} exists before the test: {:?}",
        node_folders()
    );

    let started = Instant::now();
    let run = on_swarm(&swarm, Racebench::fixture(&results))
        .args([
            "run",
            "-d",
            "counter-race",
            "--agent",
            "oracle",
            "--agent",
            "nop",
            "--agent",
            "command",
            "--agent-command",
            "sh /racebench/agent/hostile.sh",
            "--agent-file",
        ])
        .arg_path(&script)
        .args(["--trials", "1", "--jobs", "3", "--cluster", "swarm"])
        .output();
    eprintln!(
        "{}\nagent run on the swarm: {:?}",
        run.stderr(),
        started.elapsed()
    );
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let dir = run.run_dir();

    // oracle: the reference's fix, solved as the reference is.
    let oracle = agent_record(&dir, "oracle-s1");
    assert_eq!(oracle["end"], "exited", "{oracle}");
    assert_eq!(oracle["exit_code"], 0, "{oracle}");
    assert_eq!(
        oracle["files"],
        serde_json::json!(["tickets.py"]),
        "{oracle}"
    );
    assert_eq!(strict(&dir, "oracle-s1"), 1.0);

    // nop: the collected tree is the pristine one, byte for byte.
    let nop = agent_record(&dir, "nop-s1");
    assert_eq!(nop["empty_diff"], true, "{nop}");
    assert_eq!(
        std::fs::read_to_string(dir.join("agents/counter-race/nop-s1/fix.diff")).unwrap(),
        ""
    );
    assert_eq!(strict(&dir, "nop-s1"), 0.0);
    let nop_trials = crate::util::trials(&dir, "counter-race", "nop-s1");
    assert!(
        nop_trials.iter().all(|t| t["verdict"] == "patch_failed"),
        "{nop_trials:#?}"
    );

    // The hostile agent: its real change and its link (as a link) are in the
    // diff; nothing it forged is.
    let hostile = agent_record(&dir, "command-s1");
    assert_eq!(hostile["end"], "exited", "{hostile}");
    assert_eq!(hostile["exit_code"], 0, "{hostile}");
    assert!(hostile["error"].is_null(), "{hostile}");
    let diff =
        std::fs::read_to_string(dir.join("agents/counter-race/command-s1/fix.diff")).unwrap();
    eprintln!("hostile diff:\n{diff}");
    assert!(diff.contains("+# the agent was here"), "{diff}");
    assert!(
        diff.contains("diff --git a/leaked-shadow b/leaked-shadow\nnew file mode 120000"),
        "{diff}"
    );
    assert!(diff.contains("+/etc/shadow"), "{diff}");
    assert!(
        diff.contains("+RBX1 DONE 0"),
        "a file that looks like a frame is a file: {diff}"
    );
    for forged in [
        "root:",
        "FORGED-AFTER-EXIT",
        "planted-after-exit",
        "SAW-NODE-FOLDERS",
        "AAAA",
    ] {
        assert!(!diff.contains(forged), "{forged} reached the diff:\n{diff}");
    }
    let log =
        std::fs::read_to_string(dir.join("agents/counter-race/command-s1/agent.log")).unwrap();
    assert!(log.contains("hostile agent done"), "{log}");
    assert!(
        !log.contains("root:"),
        "the log was read through the agent's link: {log}"
    );
    let trials = crate::util::trials(&dir, "counter-race", "command-s1");
    assert!(
        trials.iter().all(|t| t["verdict"] != "infra_error"),
        "{trials:#?}"
    );
    nothing_left(&swarm, &results, &dir);

    // Networks: a contained sandbox reaches no node of the swarm; one with
    // `egress` has a route off its pod (the swarm's gossip port on a node).
    let probe = tmp.path().join("probe.sh");
    std::fs::write(&probe, PROBE).unwrap();
    let ips: Vec<String> = (1..=2)
        .map(|i| swarm.get(&format!("RBSWARM_NODE{i}_IP")).to_string())
        .collect();
    let agents = tmp.path().join("agents.toml");
    let command = format!("sh /racebench/agent/probe.sh {}", ips.join(" "));
    std::fs::write(
        &agents,
        format!(
            "[[agent]]\nname = \"contained\"\ncommand = \"{command}\"\nfiles = [\"probe.sh\"]\n\n\
             [[agent]]\nname = \"egress\"\ncommand = \"{command}\"\nfiles = [\"probe.sh\"]\nnetwork = \"egress\"\n"
        ),
    )
    .unwrap();
    let run = on_swarm(&swarm, Racebench::fixture(&results))
        .args(["run", "-d", "counter-race", "--agents-file"])
        .arg_path(&agents)
        .args(["--agent", "contained", "--agent", "egress"])
        .args(["--trials", "1", "--jobs", "2", "--cluster", "swarm"])
        .output();
    eprintln!("{}", run.stderr());
    let dir = run.run_dir();
    let reach = |candidate: &str| {
        std::fs::read_to_string(dir.join(format!("agents/counter-race/{candidate}/fix.diff")))
            .unwrap()
    };
    let contained = reach("contained-s1");
    let egress = reach("egress-s1");
    eprintln!("contained:\n{contained}\negress:\n{egress}");
    assert!(contained.contains("+++ b/reach.txt"), "{contained}");
    assert!(
        !contained.contains(" reached"),
        "a contained sandbox reached a node: {contained}"
    );
    assert!(
        egress.contains(" reached"),
        "an egress sandbox reached no node: {egress}"
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    nothing_left(&swarm, &results, &dir);

    // Ctrl-C while an agent works: the sandbox is stopped and removed.
    let mut child = on_swarm(&swarm, Racebench::fixture(&results))
        .args([
            "run",
            "-d",
            "counter-race",
            "--agent",
            "command",
            "--agent-command",
            "sleep 300",
            "--cluster",
            "swarm",
        ])
        .spawn();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no sandbox started"
        );
        still_running(&mut child);
        if (1..=2).any(|i| !containers_on(&SWARM, i, "label=org.racebench.role=sandbox").is_empty())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, stderr) = wait_with_deadline(&mut child, Duration::from_secs(180));
    assert_eq!(code, 130, "interrupted: {stderr}");
    let run_dir = stderr
        .lines()
        .find_map(|l| l.strip_prefix("results: "))
        .map(std::path::PathBuf::from)
        .expect("results folder");
    nothing_left(&swarm, &results, &run_dir);
}
