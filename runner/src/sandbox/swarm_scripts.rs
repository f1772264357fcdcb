//! The programs of a sandbox on a swarm, where no exec or archive call reaches
//! its container: a trusted **prepare** task makes the sandbox's folders on
//! the node and copies the work tree into one; the **sandbox entrypoint** (the
//! main task) unpacks the prompt and tools, makes the work tree a repository
//! (the local `INIT_SCRIPT`), runs the agent's setup and command under
//! `timeout`, and leaves their streams and exit records in a folder; once the
//! main task has ended, a trusted **collector** task from the base image
//! mounts those folders read-only and hands back the work tree (a tar, links
//! kept as links), the agent's outputs, the events file and the logs as framed
//! output, with caps; a **clean** task removes the folders. The entrypoint
//! shares the trial entrypoint's shell helpers (`trial::shell_helpers`).

use super::finish::{EVENTS_LIMIT, OUTPUTS_LIMIT};
use super::spec::{AGENT_OUT, OUT_DIR};
use super::start::{INIT_SCRIPT, TREE_LIMIT};
use crate::cluster::FRAMES_SH;
use crate::trial::{quote, shell_helpers, words, EOF_MARK, UNPACK_SCRIPT};

/// The node folder (must exist on every node; it does on any Linux) under
/// which the sandboxes' folders are made.
pub const NODE_PARENT: &str = "/var/tmp";
/// The sandboxes' folders on a node: one per pod, root's only (0700), so no
/// user of the node can reach what an agent left there.
pub const NODE_ROOT: &str = "/var/tmp/racebench-sandboxes";

/// The folders of one sandbox, under `NODE_ROOT/<pod>/`, and where the main
/// task mounts each.
pub const WORK: &str = "work";
pub const OUT: &str = "out";
pub const AGENT_OUT_DIR: &str = "agent-out";
pub const RUN: &str = "run";

/// Where the sandbox entrypoint keeps its step records and the agent's
/// streams (bind-mounted from the node: the collector reads them).
pub const RUN_DIR: &str = "/racebench/run";
/// The sandbox entrypoint, a config.
pub const SANDBOX_ENTRYPOINT: &str = "/racebench/in/sandbox.sh";
/// The sandbox's plan, a config.
pub const SANDBOX_PLAN: &str = "/racebench/in/sandbox-plan.sh";
/// The prompt, tools and agent files as one tar (in parts when large),
/// configs, unpacked at `/`.
pub const FILES_INPUT: &str = "/racebench/in/files.tar";
/// The agent's environment (`env`, `pass_env`: API keys), a secret.
pub const AGENT_ENV_SECRET: &str = "agent-env";

/// Where the prepare and clean tasks see [`NODE_PARENT`].
const HOST_MOUNT: &str = "/racebench-host";
/// Where the collector sees the sandbox's folder, read-only.
pub const COLLECT_MOUNT: &str = "/racebench-collect";

/// How long unpacking the files and making the repository may take, each.
pub const INIT_LIMIT_SECS: u64 = 60;

/// The steps the sandbox entrypoint records, in order.
pub mod step {
    /// The prompt, tools and agent files unpacked at `/`.
    pub const FILES: &str = "files";
    /// The local `INIT_SCRIPT` in the work tree.
    pub const INIT: &str = "init";
    pub const SETUP: &str = "setup";
    pub const AGENT: &str = "agent";
    pub const ALL: [&str; 4] = [FILES, INIT, SETUP, AGENT];
}

/// Names of the collector's framed files (version 1).
pub mod framed {
    /// The entrypoint's step records (written in the agent's container: the
    /// agent's own account).
    pub const STEPS: &str = "steps";
    /// The work tree, `work/...`.
    pub const TREE: &str = "tree.tar";
    /// The agent's outputs folder, `agent-out/...`.
    pub const OUTPUTS: &str = "agent-out.tar";
    /// The events file, one entry (its file name).
    pub const EVENTS: &str = "events.tar";
    /// The collector's own lines: `cut NAME`, `unreadable NAME WHY`.
    pub const NOTES: &str = "notes";
}

/// The largest steps file the collector hands back.
pub const STEPS_LIMIT: u64 = 64 * 1024;

/// The prepare task's command (the datapoint image, as root, before anything
/// of the agent's exists): the sandbox's folders under [`NODE_ROOT`], the
/// image's work tree copied into `work/`. A folder that exists already is an
/// error: every attempt has a fresh pod name.
pub fn prepare_command(pod: &str, workspace: &str) -> Vec<String> {
    let script = format!(
        r#"set -eu
umask 077
root={mount}/racebench-sandboxes
# A clean task may remove the (empty) root between mkdir -p and mkdir: again.
for i in 1 2 3; do
  if mkdir -p "$root" && mkdir "$root/$1"; then break; fi
done
chmod 0700 "$root"
cd "$root/$1"
mkdir {WORK} {OUT} {AGENT_OUT_DIR} {RUN}
chmod 0755 {WORK} {OUT} {AGENT_OUT_DIR} {RUN}
cp -a "$2/." {WORK}/
echo "racebench: sandbox folders ready"
"#,
        mount = HOST_MOUNT,
    );
    vec![
        "sh".into(),
        "-c".into(),
        script,
        "racebench-prepare".into(),
        pod.into(),
        workspace.into(),
    ]
}

/// The prepare and clean tasks' mount: the node's [`NODE_PARENT`] and where
/// they see it.
pub fn host_mount() -> (&'static str, &'static str) {
    (NODE_PARENT, HOST_MOUNT)
}

/// The clean task's command: the sandbox's folder removed (`rm` follows no
/// link), and [`NODE_ROOT`] itself when no other sandbox has a folder there
/// (`rmdir` of a folder that is not empty fails and changes nothing). `pod`
/// must be a pod name (checked: it becomes a path).
pub fn clean_command(pod: &str) -> Option<Vec<String>> {
    if !pod_name_ok(pod) {
        return None;
    }
    Some(vec![
        "sh".into(),
        "-c".into(),
        format!(
            "rm -rf -- \"{HOST_MOUNT}/racebench-sandboxes/$1\" || exit 1\n\
             rmdir {HOST_MOUNT}/racebench-sandboxes 2>/dev/null\n\
             echo \"racebench: removed $1\""
        ),
        "racebench-clean".into(),
        pod.into(),
    ])
}

/// `rb-` and lowercase letters, digits or dashes: what `pod_name` makes.
pub fn pod_name_ok(pod: &str) -> bool {
    pod.starts_with("rb-")
        && (4..=40).contains(&pod.len())
        && pod
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The main task's bind mounts: node folder (under `NODE_ROOT/<pod>`) and
/// where it goes in the container.
pub fn main_mounts(pod: &str, workspace: &str) -> Vec<(String, String)> {
    let node = |dir: &str| format!("{NODE_ROOT}/{pod}/{dir}");
    vec![
        (node(WORK), workspace.to_string()),
        (node(OUT), OUT_DIR.to_string()),
        (node(AGENT_OUT_DIR), AGENT_OUT.to_string()),
        (node(RUN), RUN_DIR.to_string()),
    ]
}

/// The sandbox's folder on the node, which the collector mounts read-only.
pub fn pod_folder(pod: &str) -> String {
    format!("{NODE_ROOT}/{pod}")
}

/// What the agent runs, as the plan tells the entrypoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPlan {
    pub workspace: String,
    /// Where the parts of the files' tar are mounted, in order.
    pub files_parts: Vec<String>,
    pub setup: Option<String>,
    /// `None`: no command (the `nop` agent).
    pub command: Option<String>,
    /// The wall-clock limit of the setup and of the command, each.
    pub limit_secs: u64,
}

impl SandboxPlan {
    /// The text of [`SANDBOX_PLAN`]: assignments the entrypoint sources.
    pub fn to_shell(&self) -> String {
        let opt = |v: &Option<String>| v.as_deref().map(quote).unwrap_or_else(|| "''".into());
        format!(
            "# racebench sandbox plan (generated by the runner)\n\
             RB_WORKSPACE={}\nRB_FILES_PARTS={}\nRB_SETUP={}\nRB_COMMAND={}\nRB_LIMIT={}\n",
            quote(&self.workspace),
            words(&self.files_parts),
            opt(&self.setup),
            opt(&self.command),
            self.limit_secs,
        )
    }
}

/// The agent's environment as the secret the entrypoint sources: `export
/// NAME='value'` lines. A name that is not a shell variable's is refused.
pub fn agent_env_file(env: &[(String, String)]) -> Result<String, String> {
    let mut text = String::new();
    for (key, value) in env {
        let ok = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(format!(
                "the agent's environment variable {key:?} is not a shell variable name; a sandbox on a swarm cannot set it"
            ));
        }
        text += &format!("export {key}={}\n", quote(value));
    }
    Ok(text)
}

/// The sandbox entrypoint: the same for every sandbox (what differs is in the
/// plan). It exits 0 whenever it got to the end; the container's end then
/// ends every process the agent left.
pub fn sandbox_entrypoint_script() -> String {
    let embedded =
        |var: &str, text: &str| format!("{var}=$(cat <<'{EOF_MARK}'\n{text}\n{EOF_MARK}\n)\n");
    let mut s = String::new();
    s += "#!/bin/sh\n";
    s += "# racebench sandbox entrypoint, version 1 (generated by the runner): runs an\n";
    s += "# agent's setup and command in its sandbox on a swarm node; what it leaves is\n";
    s += "# read by a collector task once this container has ended.\n";
    s += "set -u\numask 022\n";
    s += &format!(". {SANDBOX_PLAN}\n");
    s += &format!("RB_RUN={RUN_DIR}\n");
    s += ": >\"$RB_RUN/steps\" && : >\"$RB_RUN/notes\" || exit 93\n";
    s += &embedded("RB_INIT", INIT_SCRIPT.trim());
    s += &embedded("RB_UNPACK", UNPACK_SCRIPT);
    s += &shell_helpers();
    s += &format!(
        r#"
rb_sandbox() {{
  eval "set -- $RB_FILES_PARTS"
  rb_step {files} {init_limit} / sh -c "$RB_UNPACK" racebench-unpack "$@" || return
  rb_step {init} {init_limit} "$RB_WORKSPACE" sh -c "$RB_INIT" || return
  if [ -f /run/secrets/{env} ]; then . /run/secrets/{env}; fi
  PATH=/racebench/bin:/racebench/tools:$PATH
  export PATH
  if [ -n "$RB_SETUP" ]; then
    rb_step {setup} "$RB_LIMIT" "$RB_WORKSPACE" sh -c "$RB_SETUP" || return
  fi
  if [ -n "$RB_COMMAND" ]; then
    rb_step {agent} "$RB_LIMIT" "$RB_WORKSPACE" sh -c "$RB_COMMAND"
  fi
}}

rb_sandbox
exit 0
"#,
        files = step::FILES,
        init = step::INIT,
        setup = step::SETUP,
        agent = step::AGENT,
        init_limit = INIT_LIMIT_SECS,
        env = AGENT_ENV_SECRET,
    );
    s
}

/// The collector's command (the base image, root with only
/// `DAC_READ_SEARCH`, the sandbox's folder read-only at [`COLLECT_MOUNT`]):
/// the step records and the agent's streams (regular files only, never a
/// link), the work tree and the outputs folder as tars (`tar` stores links as
/// links and follows none), the events file (`events`, its path under
/// `/racebench/out`, if the datapoint has one), each cut at its cap, then the
/// trailer. Nothing it reads is run.
pub fn collector_command(events: Option<&str>) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        collector_script(),
        "racebench-collect".into(),
        events.unwrap_or_default().into(),
    ]
}

/// The collector's program (see [`collector_command`]).
pub fn collector_script() -> String {
    let mut s = String::new();
    s += "# racebench sandbox collector, version 1\n";
    s += "set -u\numask 077\n";
    s += &format!("C={COLLECT_MOUNT}\n");
    s += "RB_RUN=/tmp/racebench-collect\n";
    s += "rm -rf \"$RB_RUN\" && mkdir -p \"$RB_RUN\" || exit 93\n";
    s += ": >\"$RB_RUN/notes\"\n";
    s += FRAMES_SH;
    s += &shell_helpers();
    s += &format!(
        r#"
# rb_plain PATH: a regular file, not a link.
rb_plain() {{ [ -f "$1" ] && [ ! -L "$1" ]; }}

# rb_tar_capped NAME LIMIT DIR ENTRY WHOLE: a tar of ENTRY in DIR framed as
# NAME, cut at LIMIT bytes (noted `cut NAME`; with WHOLE=1 nothing is framed
# then); a tar that failed is noted `unreadable NAME WHY` and not framed.
rb_tar_capped() {{
  {{ tar --numeric-owner -cf - -C "$3" "$4" 2>"$RB_RUN/tar.err"; echo $? >"$RB_RUN/tar.rc"; }} \
    | head -c $(($2 + 1)) >"$RB_RUN/part.tar"
  rb_size=$(wc -c <"$RB_RUN/part.tar")
  if [ "$rb_size" -gt "$2" ]; then
    rb_note "cut $1"
    if [ "$5" = 0 ]; then
      head -c "$2" "$RB_RUN/part.tar" >"$RB_RUN/cut.tar"
      rbx_emit "$1" "$RB_RUN/cut.tar"
    fi
  elif [ "$(cat "$RB_RUN/tar.rc")" -ge 2 ]; then
    rb_note "unreadable $1 $(head -c 500 "$RB_RUN/tar.err" | tr '\n' ' ')"
  else
    rbx_emit "$1" "$RB_RUN/part.tar"
  fi
  rm -f "$RB_RUN/part.tar" "$RB_RUN/cut.tar"
}}

# rb_events REL: the events file at REL under the out folder, when it is
# there and its folder is inside the out folder.
rb_events() {{
  [ -n "$1" ] || return 0
  rb_dir=$(cd "$C/{out}/$(dirname "$1")" 2>/dev/null && pwd -P) || return 0
  case "$rb_dir" in "$C/{out}"|"$C/{out}/"*) ;; *) return 0 ;; esac
  rb_base=$(basename "$1")
  [ -e "$rb_dir/$rb_base" ] || [ -L "$rb_dir/$rb_base" ] || return 0
  rb_tar_capped {events_name} {events_limit} "$rb_dir" "$rb_base" 0
}}

if rb_plain "$C/{run}/steps" && [ "$(wc -c <"$C/{run}/steps")" -le {steps_limit} ]; then
  rbx_emit {steps_name} "$C/{run}/steps"
fi
for rb_s in {steps}; do
  for rb_stream in stdout stderr; do
    if rb_plain "$C/{run}/$rb_s.$rb_stream"; then
      rb_emit_capped "log/$rb_s.$rb_stream" "$C/{run}/$rb_s.$rb_stream"
    fi
  done
done
rb_tar_capped {tree_name} {tree_limit} "$C" {work} 1
rb_tar_capped {outputs_name} {outputs_limit} "$C" {agent_out} 0
rb_events "${{1:-}}"
rbx_emit {notes_name} "$RB_RUN/notes"
rbx_done
"#,
        out = OUT,
        run = RUN,
        work = WORK,
        agent_out = AGENT_OUT_DIR,
        steps = step::ALL.join(" "),
        steps_limit = STEPS_LIMIT,
        steps_name = framed::STEPS,
        tree_name = framed::TREE,
        tree_limit = TREE_LIMIT,
        outputs_name = framed::OUTPUTS,
        outputs_limit = OUTPUTS_LIMIT,
        events_name = framed::EVENTS,
        events_limit = EVENTS_LIMIT,
        notes_name = framed::NOTES,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn parses(script: &str) {
        let out = Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_programs_are_valid_shell() {
        parses(&sandbox_entrypoint_script());
        parses(&collector_script());
        parses(&prepare_command("rb-0123456789abcdef", "/work/src")[2]);
        parses(&clean_command("rb-0123456789abcdef").unwrap()[2]);
    }

    #[test]
    fn the_entrypoint_shares_the_trial_helpers_and_the_local_init() {
        let script = sandbox_entrypoint_script();
        assert!(script.contains(&shell_helpers()));
        assert!(script.contains(INIT_SCRIPT.trim()));
        assert!(!INIT_SCRIPT.lines().any(|l| l.trim() == EOF_MARK));
        assert!(
            script.contains("rb_step agent \"$RB_LIMIT\" \"$RB_WORKSPACE\" sh -c \"$RB_COMMAND\"")
        );
        let collector = collector_script();
        assert!(collector.contains(&shell_helpers()));
        assert!(collector.contains(FRAMES_SH));
        assert!(!collector.contains("tar -h") && !collector.contains("--dereference"));
    }

    /// The prepare and clean tasks' programs on the host, with a temporary
    /// folder as the node's `/var/tmp`.
    #[test]
    fn prepare_makes_the_folders_and_clean_removes_them_without_following_links() {
        let host = tempfile::tempdir().unwrap();
        let image_tree = host.path().join("image/work/src");
        std::fs::create_dir_all(image_tree.join("pkg")).unwrap();
        std::fs::write(image_tree.join("pkg/a.py"), "x = 1\n").unwrap();
        let outside = host.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "keep").unwrap();
        let run = |mut args: Vec<String>| {
            args[2] = args[2].replace(HOST_MOUNT, &host.path().display().to_string());
            let out = Command::new(&args[0]).args(&args[1..]).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let pods = ["rb-00000000000000aa", "rb-00000000000000bb"];
        for pod in pods {
            run(prepare_command(pod, &image_tree.display().to_string()));
        }
        let root = host.path().join("racebench-sandboxes");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        let pod = root.join(pods[0]);
        assert_eq!(
            std::fs::read_to_string(pod.join("work/pkg/a.py")).unwrap(),
            "x = 1\n"
        );
        for dir in [OUT, AGENT_OUT_DIR, RUN] {
            assert!(pod.join(dir).is_dir(), "{dir}");
        }
        // What an agent could leave: links out of its tree.
        std::os::unix::fs::symlink(&outside, pod.join("work/out-dir")).unwrap();
        std::os::unix::fs::symlink(outside.join("keep.txt"), pod.join("work/out-file")).unwrap();
        run(clean_command(pods[0]).unwrap());
        assert!(!pod.exists());
        assert!(
            root.join(pods[1]).exists(),
            "another sandbox's folder stays"
        );
        assert_eq!(
            std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
            "keep"
        );
        run(clean_command(pods[1]).unwrap());
        assert!(!root.exists(), "the last sandbox's clean removes the root");
    }

    #[test]
    fn only_pod_names_become_paths_to_remove() {
        assert!(clean_command("rb-0123456789abcdef").is_some());
        for bad in [
            "",
            "rb-",
            "../x",
            "rb-a/../..",
            "rb-A",
            "x",
            "rb-a b",
            "rb-$(id)",
        ] {
            assert!(clean_command(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_agent_environment_is_quoted_and_names_are_checked() {
        let env = vec![
            ("API_KEY".to_string(), "se'cr\"et $x".to_string()),
            ("MODEL".to_string(), String::new()),
        ];
        let file = agent_env_file(&env).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{file}printf '%s|%s' \"$API_KEY\" \"$MODEL\""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "se'cr\"et $x|");
        for bad in ["A-B", "1A", "", "A;rm"] {
            assert!(
                agent_env_file(&[(bad.into(), "x".into())]).is_err(),
                "{bad}"
            );
        }
    }

    /// The entrypoint and its plan run on the host: `RB_RUN`, the plan and
    /// the work tree in a temporary folder, the files' tar unpacked there
    /// instead of at `/`.
    fn run_entrypoint(root: &Path, plan: &SandboxPlan) -> std::process::Output {
        let run = root.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let plan_path = root.join("plan.sh");
        std::fs::write(&plan_path, plan.to_shell()).unwrap();
        let script = sandbox_entrypoint_script()
            .replace(
                &format!(". {SANDBOX_PLAN}"),
                &format!(". {}", plan_path.display()),
            )
            .replace(
                &format!("RB_RUN={RUN_DIR}"),
                &format!("RB_RUN={}", run.display()),
            )
            .replace(" -C /\n", &format!(" -C {}\n", root.join("fs").display()))
            .replace(
                &format!(
                    "rb_step {} {INIT_LIMIT_SECS} \"$RB_WORKSPACE\" sh -c \"$RB_INIT\" || return",
                    step::INIT
                ),
                "",
            );
        std::fs::create_dir_all(root.join("fs")).unwrap();
        Command::new("sh").arg("-c").arg(script).output().unwrap()
    }

    fn steps(root: &Path) -> Vec<Vec<String>> {
        std::fs::read_to_string(root.join("run/steps"))
            .unwrap()
            .lines()
            .map(|l| l.split(' ').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn the_entrypoint_runs_setup_and_command_in_the_work_tree_and_records_them() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let mut files = crate::archive::FileSet::new();
        files.add("racebench/prompt.md", b"fix it".to_vec(), 0o644);
        let tar = files.to_tar().unwrap();
        let part = root.path().join("files.tar");
        std::fs::write(&part, tar).unwrap();
        let plan = SandboxPlan {
            workspace: work.display().to_string(),
            files_parts: vec![part.display().to_string()],
            setup: Some("echo set > setup.txt".into()),
            command: Some("pwd; echo 'it''s' >&2; exit 3".into()),
            limit_secs: 30,
        };
        let out = run_entrypoint(root.path(), &plan);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = steps(root.path());
        let names: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
        assert_eq!(names, ["files", "setup", "agent"]);
        assert_eq!((lines[2][1].as_str(), lines[2][3].as_str()), ("3", "0"));
        assert_eq!(
            std::fs::read_to_string(work.join("setup.txt")).unwrap(),
            "set\n"
        );
        let read = |f: &str| std::fs::read_to_string(root.path().join("run").join(f)).unwrap();
        assert_eq!(read("agent.stdout"), format!("{}\n", work.display()));
        assert_eq!(read("agent.stderr"), "its\n");
        assert_eq!(
            std::fs::read_to_string(root.path().join("fs/racebench/prompt.md")).unwrap(),
            "fix it"
        );
    }

    #[test]
    fn a_failed_setup_stops_before_the_agent_and_a_slow_agent_is_killed_at_its_limit() {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let part = root.path().join("files.tar");
        std::fs::write(&part, crate::archive::FileSet::new().to_tar().unwrap()).unwrap();
        let mut plan = SandboxPlan {
            workspace: work.display().to_string(),
            files_parts: vec![part.display().to_string()],
            setup: Some("exit 7".into()),
            command: Some("touch ran".into()),
            limit_secs: 1,
        };
        run_entrypoint(root.path(), &plan);
        let lines = steps(root.path());
        assert_eq!(
            lines.last().unwrap()[..2],
            ["setup".to_string(), "7".to_string()]
        );
        assert!(
            !work.join("ran").exists(),
            "the agent ran after a failed setup"
        );

        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(&work).unwrap();
        plan.setup = None;
        plan.command = Some("sleep 30".into());
        let started = std::time::Instant::now();
        run_entrypoint(root.path(), &plan);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let lines = steps(root.path());
        let agent = lines.last().unwrap();
        assert_eq!(
            (agent[0].as_str(), agent[3].as_str()),
            ("agent", "1"),
            "{lines:?}"
        );
    }
}
