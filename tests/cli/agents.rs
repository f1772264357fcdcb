//! Agent runs: sandboxes, the built-in agents, a scripted agent working the
//! debug loop, what a sandbox holds (and does not), `racebench sandbox`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;

use crate::util::{fixtures, leftovers, Racebench};

fn summary(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap()
}

/// The strict score of a candidate of `counter-race` in a graded run.
fn strict(run_dir: &Path, candidate: &str) -> f64 {
    let s = summary(run_dir);
    let dp = s["datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "counter-race")
        .unwrap();
    let c = dp["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == candidate)
        .unwrap_or_else(|| panic!("no {candidate} in {dp}"));
    c["score"]["strict"].as_f64().unwrap()
}

fn agent_record(run_dir: &Path, candidate: &str) -> serde_json::Value {
    let path = run_dir.join(format!("agents/counter-race/{candidate}/agent.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn oracle_solves_nop_does_not_and_the_leaderboard_ranks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args([
            "run",
            "-d",
            "counter-race",
            "--agent",
            "oracle",
            "--agent",
            "nop",
            "--trials",
            "2",
        ])
        .output()
        .expect_code(0);
    let dir = run.run_dir();
    assert_eq!(strict(&dir, "oracle-s1"), 1.0);
    assert_eq!(strict(&dir, "nop-s1"), 0.0);
    let nop = agent_record(&dir, "nop-s1");
    assert_eq!(nop["empty_diff"], true, "{nop}");
    assert_eq!(
        std::fs::read_to_string(dir.join("agents/counter-race/nop-s1/fix.diff")).unwrap(),
        ""
    );
    let board: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("leaderboard.json")).unwrap())
            .unwrap();
    assert_eq!(board["agents"][0]["agent"], "oracle");
    assert_eq!(board["agents"][1]["agent"], "nop");
    let run_id = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(leftovers(&run_id).is_empty(), "{:?}", leftovers(&run_id));
}

/// The scripted agent reproduces the race with the datapoint's tool, reads
/// the timeline, searches the sandbox for hidden tests, solutions and
/// weights, and leaves the decoy's fix: it must find nothing and score what
/// the decoy scores as a `--patch`.
#[test]
fn a_scripted_agent_scores_what_its_decoy_scores_and_finds_no_hidden_files() {
    let tmp = tempfile::tempdir().unwrap();
    let script = fixtures().join("agents/decoy-agent.sh");
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--agent", "command"])
        .args(["--agent-command", "sh /racebench/agent/decoy-agent.sh"])
        .args(["--agent-file"])
        .arg_path(&script)
        .args(["--trials", "2"])
        .output()
        .expect_code(0);
    let dir = run.run_dir();
    let sample = dir.join("agents/counter-race/command-s1");
    let leaks = std::fs::read_to_string(sample.join("out/leaks.txt")).unwrap();
    assert_eq!(leaks, "", "the sandbox holds hidden files:\n{leaks}");
    let trajectory = std::fs::read_to_string(sample.join("out/trajectory.txt")).unwrap();
    assert!(
        trajectory.contains(": FAILED: insufficient stock for KEYBOARD-03"),
        "{trajectory}"
    );
    assert!(
        trajectory.contains("<- check passed"),
        "the timeline tool ran: {trajectory}"
    );
    let record = agent_record(&dir, "command-s1");
    assert_eq!(
        record["files"],
        serde_json::json!(["tickets.py"]),
        "no __pycache__: {record}"
    );
    assert_eq!(record["usage"]["output_tokens"], 340);
    let diff = std::fs::read_to_string(sample.join("fix.diff")).unwrap();
    assert!(diff.contains("+PROCESSING_DELAY = 0.005"), "{diff}");
    // The events the agent's `reproduce` made are kept, and the report shows them.
    assert_eq!(record["events"], "sandbox/events.jsonl", "{record}");
    let events = std::fs::read_to_string(sample.join("sandbox/events.jsonl")).unwrap();
    assert!(events.contains("KEYBOARD-03"), "{events}");
    let site = tmp.path().join("site");
    Racebench::fixture(tmp.path())
        .args(["report"])
        .arg_path(&dir)
        .args(["--out"])
        .arg_path(&site)
        .output()
        .expect_code(0);
    let page = std::fs::read_to_string(site.join("agents/counter-race/command-s1.html")).unwrap();
    for part in [
        "Timeline of the sandbox",
        "<svg",
        "done: shortened the processing delay",
        "340",
    ] {
        assert!(page.contains(part), "no {part} in the agent page");
    }

    let decoy = fixtures().join("datapoints/counter-race/solutions/decoys/shorter-delay.patch");
    let as_patch = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--trials", "2", "--patch"])
        .arg_path(&decoy)
        .output()
        .expect_code(0);
    assert_eq!(
        strict(&dir, "command-s1"),
        strict(&as_patch.run_dir(), "patch-shorter-delay")
    );
}

/// `racebench sandbox` opens the environment for a person; `sandbox exec`
/// runs commands in it from outside; closing it writes the diff.
#[test]
fn a_sandbox_opened_by_hand_runs_commands_and_keeps_their_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let diff = tmp.path().join("by-hand.diff");
    let mut child = Racebench::fixture(tmp.path())
        .args(["sandbox", "counter-race", "--no-shell", "--diff"])
        .arg_path(&diff)
        .spawn();
    let stderr = child.stderr.take().unwrap();
    let _guard = Interrupt(child.id());
    let mut lines = BufReader::new(stderr).lines();
    let name = loop {
        let line = lines.next().expect("the sandbox opens").unwrap();
        if let Some(rest) = line.strip_prefix("sandbox ") {
            if let Some((name, _)) = rest.split_once(" is open") {
                break name.to_string();
            }
        }
    };
    let exec = |cmd: &[&str]| {
        Racebench::fixture(tmp.path())
            .args(["sandbox", "exec", &name, "--"])
            .args(cmd)
            .output()
    };
    let ls = exec(&[
        "sh",
        "-c",
        "ls /racebench /racebench/tools; echo \"tests=$RACEBENCH_TESTS\"",
    ]);
    assert_eq!(ls.code(), 0, "{}", ls.stderr());
    let listing = ls.stdout();
    for present in ["prompt.md", "agent-out", "reproduce", "tests=\n"] {
        assert!(listing.contains(present), "{present}: {listing}");
    }
    assert!(!listing.contains("\ntests\n"), "no hidden tests: {listing}");
    let edit = exec(&["sh", "-c", "echo 'NOTE = 1' > notes.py && rm tickets.py"]);
    assert_eq!(edit.code(), 0, "{}", edit.stderr());
    assert_eq!(
        exec(&["false"]).code(),
        1,
        "the command's exit status is racebench's"
    );
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Keep reading so the child never blocks on a full pipe.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest:?}");
    let text = std::fs::read_to_string(&diff).unwrap();
    assert!(
        text.contains("new file mode 100644\n--- /dev/null\n+++ b/notes.py"),
        "{text}"
    );
    assert!(
        text.contains("deleted file mode 100644\n--- a/tickets.py"),
        "{text}"
    );
}

/// Regression: a failing sandbox test left `racebench sandbox` waiting for
/// Ctrl-C forever (holding its sandbox): whatever happens, it is interrupted.
struct Interrupt(u32);

impl Drop for Interrupt {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.0.to_string()])
            .status();
    }
}
