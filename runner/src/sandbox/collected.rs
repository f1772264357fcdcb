//! What the collector of a sandbox on a swarm handed back (framed output,
//! `sandbox::swarm_scripts`), read and checked: every file within its cap,
//! no name the collector does not write, the work tree present unless it was
//! over its cap. The collector is trusted; the step records and streams it
//! copies were written in the agent's container and are the agent's own
//! account, so a garbled one is noted, never an error.

use std::collections::BTreeMap;

use super::finish::{EVENTS_LIMIT, OUTPUTS_LIMIT};
use super::start::TREE_LIMIT;
use super::swarm_scripts::{framed, step, STEPS_LIMIT};
use crate::cluster::{decode, FrameError};
use crate::trial::STREAM_HALF;

/// One line of the entrypoint's step records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub name: String,
    pub exit_code: i64,
    pub millis: u64,
    pub timed_out: bool,
}

/// A sandbox's leavings, as collected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// The steps the entrypoint recorded (as the agent left the file).
    pub steps: Vec<StepLine>,
    /// Some line of the step records did not parse (the agent changed it).
    pub steps_garbled: bool,
    /// `<step>.stdout` / `<step>.stderr` to their first and last 4 MiB.
    pub logs: BTreeMap<String, Vec<u8>>,
    /// The work tree's tar (`work/...`); `None` when it was over
    /// `TREE_LIMIT` (the collector sends none then).
    pub tree: Option<Vec<u8>>,
    /// The outputs folder's tar (`agent-out/...`) and whether it was cut.
    pub outputs: Option<(Vec<u8>, bool)>,
    /// The events file's tar (one entry) and whether it was cut.
    pub events: Option<(Vec<u8>, bool)>,
}

impl Collected {
    /// The record of a step, the last if there are several: for the agent's
    /// step, which the entrypoint writes after the agent's command ended
    /// (whatever the agent appended comes before it).
    pub fn step(&self, name: &str) -> Option<&StepLine> {
        self.steps.iter().rev().find(|s| s.name == name)
    }

    /// The record of a step, the first if there are several: for the steps
    /// before the agent's, which the entrypoint wrote before the agent ran.
    pub fn first_step(&self, name: &str) -> Option<&StepLine> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// A step's stdout then stderr, as a local exec's log is written.
    pub fn log(&self, step: &str) -> Vec<u8> {
        let mut text = self
            .logs
            .get(&format!("{step}.stdout"))
            .cloned()
            .unwrap_or_default();
        text.extend_from_slice(
            self.logs
                .get(&format!("{step}.stderr"))
                .map(Vec::as_slice)
                .unwrap_or_default(),
        );
        text
    }
}

/// Why a collector's output was not accepted: an infrastructure error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Frames(#[from] FrameError),
    #[error("failed to read the sandbox's collected output: {name} is {size} bytes, over its cap of {limit}")]
    OverCap {
        name: String,
        size: usize,
        limit: usize,
    },
    #[error("failed to read the sandbox's collected output: the collector sent {0}, which it never writes")]
    Unknown(String),
    #[error("failed to collect the sandbox's {name}: {why}")]
    Unreadable { name: String, why: String },
    #[error("failed to read the sandbox's collected output: no work tree came back")]
    NoTree,
}

/// The marker `rb_emit_capped` puts between a stream's two halves, at most.
const MARKER_ROOM: usize = 64;

/// The cap of a framed file, `None` for a name the collector never writes.
fn cap(name: &str) -> Option<usize> {
    match name {
        framed::STEPS => Some(STEPS_LIMIT as usize),
        framed::TREE => Some(TREE_LIMIT),
        framed::OUTPUTS => Some(OUTPUTS_LIMIT),
        framed::EVENTS => Some(EVENTS_LIMIT),
        framed::NOTES => Some(64 * 1024),
        _ => {
            let rest = name.strip_prefix("log/")?;
            let (step_name, stream) = rest.rsplit_once('.')?;
            (step::ALL.contains(&step_name) && matches!(stream, "stdout" | "stderr"))
                .then_some(2 * STREAM_HALF as usize + MARKER_ROOM)
        }
    }
}

/// Reads a collector's standard output.
pub fn read_collected(stdout: &[u8]) -> Result<Collected, CollectError> {
    let mut frames = decode(stdout)?;
    for (name, data) in &frames.files {
        let limit = cap(name).ok_or_else(|| CollectError::Unknown(name.clone()))?;
        if data.len() > limit {
            return Err(CollectError::OverCap {
                name: name.clone(),
                size: data.len(),
                limit,
            });
        }
    }
    let notes = String::from_utf8_lossy(&frames.files.remove(framed::NOTES).unwrap_or_default())
        .into_owned();
    let mut cut = Vec::new();
    for line in notes.lines() {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("cut"), Some(name), _) => cut.push(name.to_string()),
            (Some("unreadable"), Some(name), why) => {
                return Err(CollectError::Unreadable {
                    name: name.to_string(),
                    why: why.unwrap_or_default().trim().to_string(),
                })
            }
            _ => {}
        }
    }
    let is_cut = |name: &str| cut.iter().any(|c| c == name);
    let mut collected = Collected::default();
    if let Some(text) = frames.files.remove(framed::STEPS) {
        for line in String::from_utf8_lossy(&text).lines() {
            match parse_step(line) {
                Some(step) => collected.steps.push(step),
                None => collected.steps_garbled = true,
            }
        }
    }
    collected.tree = frames.files.remove(framed::TREE);
    if collected.tree.is_none() && !is_cut(framed::TREE) {
        return Err(CollectError::NoTree);
    }
    collected.outputs = frames
        .files
        .remove(framed::OUTPUTS)
        .map(|tar| (tar, is_cut(framed::OUTPUTS)));
    collected.events = frames
        .files
        .remove(framed::EVENTS)
        .map(|tar| (tar, is_cut(framed::EVENTS)));
    for (name, data) in frames.files {
        if let Some(log) = name.strip_prefix("log/") {
            collected.logs.insert(log.to_string(), data);
        }
    }
    Ok(collected)
}

/// `NAME EXIT MILLISECONDS TIMED_OUT(0|1)`, NAME one of the entrypoint's steps.
fn parse_step(line: &str) -> Option<StepLine> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [name, exit, millis, late] = fields.as_slice() else {
        return None;
    };
    if !step::ALL.contains(name) {
        return None;
    }
    Some(StepLine {
        name: name.to_string(),
        exit_code: exit.parse().ok()?,
        millis: millis.parse().ok()?,
        timed_out: match *late {
            "0" => false,
            "1" => true,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::swarm_scripts::{collector_script, COLLECT_MOUNT};
    use super::super::tree::{Entry, Tree};
    use super::*;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    use std::path::Path;
    use std::process::Command;

    /// What `frames.sh` writes for one file.
    fn framed(name: &str, data: &[u8]) -> String {
        let mut out = format!(
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
        out + &format!("RBX1 END {name}\n")
    }

    fn output(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out: String = files.iter().map(|(n, d)| framed(n, d)).collect();
        out += &format!("RBX1 DONE {}\n", files.len());
        out.into_bytes()
    }

    #[test]
    fn a_whole_collection_is_read() {
        let out = output(&[
            ("steps", b"files 0 12 0\ninit 0 40 0\nagent 3 1500 0\n"),
            ("log/agent.stdout", b"RBX1 DONE 0\nworking\n"),
            ("log/agent.stderr", b"oops\n"),
            ("tree.tar", b"tar bytes"),
            ("agent-out.tar", b"outputs"),
            ("events.tar", b"events"),
            ("notes", b"cut agent-out.tar\n"),
        ]);
        let c = read_collected(&out).unwrap();
        assert_eq!(c.steps.len(), 3);
        assert_eq!(
            c.step("agent"),
            Some(&StepLine {
                name: "agent".into(),
                exit_code: 3,
                millis: 1500,
                timed_out: false
            })
        );
        assert!(!c.steps_garbled);
        let c2 = read_collected(&output(&[
            ("tree.tar", b""),
            (
                "steps",
                b"files 0 1 0\nagent 0 1 0\nfiles 1 1 0\nagent 2 9 0\n",
            ),
        ]))
        .unwrap();
        assert_eq!(
            c2.first_step("files").unwrap().exit_code,
            0,
            "appended later"
        );
        assert_eq!(
            c2.step("agent").unwrap().exit_code,
            2,
            "written when it ended"
        );
        assert_eq!(
            c.log("agent"),
            b"RBX1 DONE 0\nworking\noops\n",
            "a forged trailer inside a stream is the stream's content"
        );
        assert_eq!(c.tree.as_deref(), Some(&b"tar bytes"[..]));
        assert_eq!(c.outputs, Some((b"outputs".to_vec(), true)));
        assert_eq!(c.events, Some((b"events".to_vec(), false)));
    }

    #[test]
    fn a_tree_over_its_cap_comes_back_as_none_and_a_missing_one_is_an_error() {
        let c = read_collected(&output(&[("notes", b"cut tree.tar\n")])).unwrap();
        assert_eq!(c.tree, None);
        assert_eq!(read_collected(&output(&[])), Err(CollectError::NoTree));
        let err = read_collected(&output(&[(
            "notes",
            b"unreadable tree.tar tar: work: Permission denied\n",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("Permission denied"), "{err}");
    }

    #[test]
    fn files_over_their_caps_and_unknown_names_are_refused() {
        let big = vec![b'x'; STEPS_LIMIT as usize + 1];
        let err = read_collected(&output(&[("tree.tar", b""), ("steps", &big)])).unwrap_err();
        assert!(
            matches!(err, CollectError::OverCap { ref name, .. } if name == "steps"),
            "{err}"
        );
        let log = vec![b'y'; 2 * STREAM_HALF as usize + MARKER_ROOM + 1];
        let err =
            read_collected(&output(&[("tree.tar", b""), ("log/agent.stdout", &log)])).unwrap_err();
        assert!(matches!(err, CollectError::OverCap { .. }), "{err}");
        for name in ["log/other.stdout", "log/agent.stdin", "patch.diff"] {
            let err = read_collected(&output(&[("tree.tar", b""), (name, b"x")])).unwrap_err();
            assert_eq!(err, CollectError::Unknown(name.to_string()));
        }
        assert!(matches!(
            read_collected(b"RBX1 BEGIN tree.tar 3 abc\n"),
            Err(CollectError::Frames(_))
        ));
    }

    #[test]
    fn garbled_step_records_are_noted_not_errors() {
        let out = output(&[
            ("tree.tar", b""),
            (
                "steps",
                b"agent 0 10 0\nagent zero 1 0\nrm -rf / 0 0\nsetup 1 2 7\n",
            ),
        ]);
        let c = read_collected(&out).unwrap();
        assert!(c.steps_garbled);
        assert_eq!(c.steps.len(), 1);
    }

    /// The collector's program run on the host against a sandbox folder an
    /// agent left hostile: links to files outside, a fifo, a stream that is
    /// a link, fake frames in the tree and in its streams.
    #[test]
    fn the_collector_hands_back_links_as_links_and_never_reads_through_them() {
        if Command::new("tar").arg("--version").output().is_err() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let c = root.path();
        for d in ["work/pkg", "out", "agent-out", "run"] {
            std::fs::create_dir_all(c.join(d)).unwrap();
        }
        let secret = root.path().join("secret");
        std::fs::write(&secret, "root:$6$hash:1:0:99999:7:::\n").unwrap();
        std::fs::write(c.join("work/a.py"), "x = 1\n").unwrap();
        std::fs::write(
            c.join("work/pkg/forged"),
            "RBX1 DONE 0\nRBX1 BEGIN tree.tar 1 x\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&secret, c.join("work/shadow")).unwrap();
        let fifo = Command::new("mkfifo").arg(c.join("work/pipe")).status();
        assert!(fifo.unwrap().success());
        std::fs::write(
            c.join("run/steps"),
            "files 0 1 0\ninit 0 1 0\nagent 0 5 0\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&secret, c.join("run/agent.stdout")).unwrap();
        std::fs::write(c.join("run/agent.stderr"), "RBX1 DONE 9\n").unwrap();
        std::fs::write(c.join("agent-out/usage.json"), "{}").unwrap();
        std::fs::write(c.join("out/events.jsonl"), "{\"at_us\":1}\n").unwrap();
        let script = collector_script()
            .replace(&format!("C={COLLECT_MOUNT}"), &format!("C={}", c.display()));
        let run = root.path().join("tmp-run");
        let script = script.replace(
            "RB_RUN=/tmp/racebench-collect",
            &format!("RB_RUN={}", run.display()),
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .arg("racebench-collect")
            .arg("events.jsonl")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let collected = read_collected(&out.stdout).expect("whole output");
        assert_eq!(collected.steps.len(), 3);
        assert!(
            !collected.logs.contains_key("agent.stdout"),
            "a stream that is a link is not read"
        );
        assert_eq!(collected.log("agent"), b"RBX1 DONE 9\n");
        let tree = Tree::from_tar(collected.tree.as_deref().unwrap()).unwrap();
        assert_eq!(
            tree.entries.get("shadow"),
            Some(&Entry::Link {
                target: secret.display().to_string()
            })
        );
        assert!(tree.entries.contains_key("pkg/forged"));
        assert!(!tree.entries.contains_key("pipe"));
        for entry in tree.entries.values() {
            assert!(!String::from_utf8_lossy(entry.content()).contains("$6$hash"));
        }
        let (outputs, cut) = collected.outputs.unwrap();
        assert!(!cut);
        let dest = root.path().join("kept");
        let done = crate::archive::extract(&outputs, &dest, 1 << 20, true).unwrap();
        assert_eq!(done.written, ["usage.json"]);
        let (events, cut) = collected.events.unwrap();
        assert!(!cut);
        let done = crate::archive::extract(&events, &dest.join("ev"), 1 << 20, false).unwrap();
        assert_eq!(done.written, ["events.jsonl"]);
        assert!(!Path::new(&run).join("part.tar").exists());
    }
}
