//! The trial entrypoint: the shell program a trial's main container runs when
//! no one can exec into it (a swarm task on another node). It performs the
//! steps the local runner drives by exec (contain, apply, build, stop, hidden
//! tests in, prepare, test, stop) with the same scripts, users, folders and
//! time limits, all generated from the local steps' own code, and hands back
//! step records, step output, the report and `/racebench/out` as framed output
//! (`cluster::FRAMES_SH`) on its standard output. Its inputs are files at
//! fixed paths: the plan ([`PLAN_PATH`], made by [`entrypoint_inputs`]), the
//! patch ([`PATCH_INPUT`]) and the hidden tests' archive (paths the plan
//! names: root-only secrets on a swarm, in parts when large).

use std::sync::Arc;
use std::time::Duration;

use super::apply::{APPLY_SCRIPT, APPLY_TIMEOUT};
use super::collect::{in_out_dir, COLLECT_LIMIT, FILE_LIMIT};
use super::contain::{
    as_candidate_script, contain_script, stop_script, AS_CANDIDATE, CONTAIN_TIMEOUT, STOP_TIMEOUT,
};
use super::plan::TrialPlan;
use super::setup::base_env;
use super::steps::{OUT_DIR, PATCH_PATH, TESTS_DIR};
use super::verify::{prepare_script, verifier_command, verifier_env, PREPARE_TIMEOUT};
use crate::archive::FileSet;
use crate::cluster::FRAMES_SH;
use racebench_model::REPORT_DIR;

/// Where the entrypoint is installed in the main container.
pub const ENTRYPOINT_PATH: &str = "/racebench/bin/trial";
/// The trial's plan: a shell file of assignments the entrypoint sources.
pub const PLAN_PATH: &str = "/racebench/in/plan.sh";
/// The candidate's patch; absent for the unpatched candidate.
pub const PATCH_INPUT: &str = "/racebench/in/patch.diff";
/// Where the hidden tests' archive is mounted on a swarm (a secret, 0400 root),
/// or, split, the first of its parts (`tests.tar.000`, `tests.tar.001`, ...).
pub const SWARM_TESTS_INPUT: &str = "/run/secrets/tests.tar";

/// Where each part of a trial's inputs is in its container. An input larger
/// than one swarm secret or config can hold comes in numbered parts, which
/// the entrypoint joins in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPaths {
    /// The hidden tests' archive.
    pub tests: Vec<String>,
    /// The patch (ignored for the unpatched candidate).
    pub patch: Vec<String>,
}

impl InputPaths {
    /// One file each: the tests' archive at `tests`, the patch at [`PATCH_INPUT`].
    pub fn single(tests: &str) -> InputPaths {
        InputPaths {
            tests: vec![tests.to_string()],
            patch: vec![PATCH_INPUT.to_string()],
        }
    }

    /// Parts for inputs of these sizes, each at most `part` bytes: the
    /// tests' archive under `/run/secrets/`, the patch beside [`PATCH_INPUT`];
    /// a single part keeps the plain name.
    pub fn parts(tests_bytes: usize, patch_bytes: usize, part: usize) -> InputPaths {
        let numbered = |base: &str, bytes: usize| -> Vec<String> {
            let n = bytes.div_ceil(part.max(1)).max(1);
            if n == 1 {
                vec![base.to_string()]
            } else {
                (0..n).map(|i| format!("{base}.{i:03}")).collect()
            }
        };
        InputPaths {
            tests: numbered(SWARM_TESTS_INPUT, tests_bytes),
            patch: numbered(PATCH_INPUT, patch_bytes),
        }
    }
}

/// `data` cut into `n` parts of equal size but the last (at least one, empty
/// for empty data): how an input is spread over the paths [`InputPaths`] names.
pub fn split_input(data: &[u8], n: usize) -> Vec<&[u8]> {
    let n = n.max(1);
    let size = data.len().div_ceil(n).max(1);
    let mut parts: Vec<&[u8]> = data.chunks(size).collect();
    parts.resize(n, &[]);
    parts
}
/// The entrypoint's own folder for step output, root's only.
const RUN_DIR: &str = "/racebench/run";

/// How long unpacking the hidden tests may take.
pub(super) const UNPACK_TIMEOUT: Duration = Duration::from_secs(60);
/// Of each step's stdout and stderr, the first and last this many bytes are
/// handed back (as `Engine::exec` keeps them).
pub(crate) const STREAM_HALF: u64 = 4 * 1024 * 1024;

/// Unpacks the hidden tests' archive from its parts (arguments, in order),
/// refusing to start on a part that is missing (the hidden tests; a sandbox's files on a swarm).
pub(crate) const UNPACK_SCRIPT: &str = r#"for p; do [ -f "$p" ] || { echo "racebench: input part $p is missing" >&2; exit 1; }; done
cat "$@" | tar -xf - -C /"#;

/// The heredoc delimiter of the embedded scripts; no embedded line may be it.
pub(crate) const EOF_MARK: &str = "RACEBENCH_EOF";

/// The steps the entrypoint runs, in order, as named in its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Contain,
    Apply,
    Build,
    StopBuild,
    Unpack,
    Prepare,
    Test,
    StopTest,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Contain,
        Step::Apply,
        Step::Build,
        Step::StopBuild,
        Step::Unpack,
        Step::Prepare,
        Step::Test,
        Step::StopTest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Contain => "contain",
            Step::Apply => "apply",
            Step::Build => "build",
            Step::StopBuild => "stop-build",
            Step::Unpack => "unpack",
            Step::Prepare => "prepare",
            Step::Test => "test",
            Step::StopTest => "stop-test",
        }
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Names of the framed files (version 1 of the entrypoint's output).
pub(super) mod framed {
    /// One line per step run: `NAME EXIT MILLISECONDS TIMED_OUT(0|1)`.
    pub const STEPS: &str = "steps";
    /// Lines the runner adds to the record's inconsistencies.
    pub const NOTES: &str = "notes";
    /// `log/<step>.stdout`, `log/<step>.stderr`.
    pub fn log(step: &str, stream: &str) -> String {
        format!("log/{step}.{stream}")
    }
    /// `report/<path in the report folder>`, `out/<path in the out folder>`.
    pub const REPORT_PREFIX: &str = "report/";
    pub const OUT_PREFIX: &str = "out/";
}

/// Quotes a word for the shell.
pub(crate) fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Words as one shell variable value that `eval "set -- $VAR"` splits back.
pub(crate) fn words(words: &[String]) -> String {
    quote(&words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
}

/// The shell functions the trial entrypoint and the sandbox's programs
/// (`sandbox::swarm_scripts`) share: `rb_ms`, `rb_note` (a line in
/// `$RB_RUN/notes`), `rb_step` (a command with a wall-clock limit, its
/// streams in `$RB_RUN`, its record in `$RB_RUN/steps`), `rb_emit_capped`
/// (a stream's first and last 4 MiB, framed) and `rb_name_ok` (a name the
/// framing takes). They need `RB_RUN` set and `frames.sh` sourced.
pub(crate) fn shell_helpers() -> String {
    format!(
        r#"rb_ms() {{ echo $(( $(date +%s%N) / 1000000 )); }}
rb_note() {{ echo "$*" >>"$RB_RUN/notes"; }}

# rb_step NAME LIMIT DIR CMD...: CMD in DIR with a wall-clock limit (SIGKILL
# to its process group), its output in $RB_RUN/NAME.stdout and .stderr, a
# record line in $RB_RUN/steps; succeeds when CMD exited 0.
rb_step() {{
  rb_name=$1 rb_limit=$2 rb_dir=$3
  shift 3
  rb_start=$(rb_ms)
  ( cd "$rb_dir" && exec timeout -s KILL "$rb_limit" "$@" ) \
    >"$RB_RUN/$rb_name.stdout" 2>"$RB_RUN/$rb_name.stderr" </dev/null
  rb_rc=$?
  rb_took=$(( $(rb_ms) - rb_start ))
  rb_late=0
  if [ "$rb_took" -ge $((rb_limit * 1000)) ] && {{ [ "$rb_rc" -eq 137 ] || [ "$rb_rc" -eq 124 ]; }}; then
    rb_late=1
  fi
  echo "$rb_name $rb_rc $rb_took $rb_late" >>"$RB_RUN/steps"
  [ "$rb_rc" -eq 0 ] && [ "$rb_late" -eq 0 ]
}}

# rb_emit_capped NAME PATH: the first and last {half} bytes of a step's
# stream, with what was dropped between them marked.
rb_emit_capped() {{
  rb_size=$(wc -c <"$2")
  if [ "$rb_size" -le $(({half} * 2)) ]; then rbx_emit "$1" "$2"; return; fi
  {{ head -c {half} "$2"
    printf '\n[racebench: %s bytes dropped here]\n' $((rb_size - {half} * 2))
    tail -c {half} "$2"; }} >"$RB_RUN/capped"
  rbx_emit "$1" "$RB_RUN/capped"
}}

# rb_name_ok NAME: a name the framing takes (plain path components).
rb_name_ok() {{
  case "$1" in ''|*[!A-Za-z0-9._/-]*|/*|*/|*//*) return 1 ;; esac
  case "/$1/" in */./*|*/../*) return 1 ;; esac
}}
"#,
        half = STREAM_HALF,
    )
}

/// The entrypoint: the same for every trial (what differs is in the plan).
pub fn entrypoint_script() -> String {
    let embedded =
        |var: &str, text: &str| format!("{var}=$(cat <<'{EOF_MARK}'\n{text}\n{EOF_MARK}\n)\n");
    let mut s = String::new();
    s += "#!/bin/sh\n";
    s += "# racebench trial entrypoint, version 1 (generated by the runner from the\n";
    s += "# local steps' own scripts): runs a trial's steps inside its main container\n";
    s += "# and writes its records as framed output on stdout.\n";
    s += "set -u\numask 022\n";
    s += &format!(". {PLAN_PATH}\n");
    s += &format!("RB_RUN={RUN_DIR}\n");
    s += "rm -rf \"$RB_RUN\" && mkdir -p \"$RB_RUN\" && chmod 0700 \"$RB_RUN\" || exit 93\n";
    s += ": >\"$RB_RUN/steps\"; : >\"$RB_RUN/notes\"\n";
    s += FRAMES_SH;
    s += &embedded("RB_CONTAIN", &contain_script());
    s += &embedded("RB_APPLY", APPLY_SCRIPT);
    s += &embedded("RB_STOP", &stop_script());
    s += &embedded("RB_PREPARE", &prepare_script());
    s += &embedded("RB_UNPACK", UNPACK_SCRIPT);
    s += &format!(
        r#"
{helpers}
rb_trial() {{
  mkdir -p /racebench/bin || return
  cat >{as_candidate} <<'{EOF_MARK}' || return
{wrapper}{EOF_MARK}
  chmod 0755 {as_candidate} || return
  eval "set -- $RB_WRITABLE"
  rb_step {contain} {contain_limit} / sh -c "$RB_CONTAIN" racebench-contain "$RB_WORKTREE" "$@" || return
  if [ -n "$RB_PATCH_PARTS" ]; then
    eval "set -- $RB_PATCH_PARTS"
    cat "$@" >{patch_path} && chmod 0644 {patch_path} || return
    rb_step {apply} {apply_limit} "$RB_WORKTREE" {as_candidate} sh -c "$RB_APPLY" || return
  fi
  if [ -n "$RB_BUILD" ]; then
    eval "set -- $RB_BUILD"
    rb_step {build} "$RB_BUILD_LIMIT" "$RB_WORKTREE" {as_candidate} "$@" || return
  fi
  rb_reap
  rb_step {stop_build} {stop_limit} / sh -c "$RB_STOP" || return
  eval "set -- $RB_TESTS_PARTS"
  rb_step {unpack} {unpack_limit} / sh -c "$RB_UNPACK" racebench-unpack "$@" || return
  rb_step {prepare} {prepare_limit} / sh -c "$RB_PREPARE" || return
  eval "set -- $RB_TEST"
  rb_step {test} "$RB_TEST_LIMIT" {tests_dir} "$@"
  rb_reap
  rb_step {stop_test} {stop_limit} / sh -c "$RB_STOP"
}}

# rb_reap: SIGKILL to every process in the container but this shell and init,
# with builtins only: a fork bomb that filled the pids limit leaves no room for
# the stop script (or anything else) to start, and the local runner stops
# the candidate from outside, which the entrypoint cannot.
# Never outside a container (where -1 would be every process of the machine),
# and only when this shell is the container's own process, the init's child:
# driven by an exec beside another main process (a local harness), -1 would
# kill that process and with it the container; the stop script's kill as the
# candidate then does the work, as in a local trial.
rb_reap() {{
  [ -e /.dockerenv ] || return 0
  [ "$PPID" = 1 ] || return 0
  rb_i=0
  while [ "$rb_i" -lt 20 ]; do kill -KILL -1 2>/dev/null; rb_i=$((rb_i + 1)); done
}}

rb_emit_outputs() {{
  if [ -n "$RB_REPORT" ] && [ -f "$RB_REPORT" ] && [ ! -L "$RB_REPORT" ]; then
    rb_rel=${{RB_REPORT#{report_dir}/}}
    if ! rb_name_ok "$rb_rel"; then
      rb_note "the report's name ($rb_rel) cannot be handed back; not copied"
    elif [ "$(wc -c <"$RB_REPORT")" -gt {file_limit} ]; then
      head -c {file_limit} "$RB_REPORT" >"$RB_RUN/capped"
      rbx_emit "report/$rb_rel" "$RB_RUN/capped"
      rb_note "the report passed the {file_mib} MiB that are read"
    else
      rbx_emit "report/$rb_rel" "$RB_REPORT"
    fi
  fi
  rb_total=0
  rb_skipped=
  {{ if [ -n "$RB_EVENTS" ] && [ -f "$RB_EVENTS" ]; then echo "$RB_EVENTS"; fi
    find {out_dir} -type f -print | sort | grep -vxF "${{RB_EVENTS:-/}}"; }} >"$RB_RUN/files"
  while IFS= read -r rb_file; do
    rb_rel=${{rb_file#{out_dir}/}}
    [ -f "$rb_file" ] && [ ! -L "$rb_file" ] || continue
    rb_size=$(wc -c <"$rb_file")
    if ! rb_name_ok "$rb_rel"; then
      rb_skipped="$rb_skipped $rb_rel"
    elif [ "$rb_file" = "$RB_EVENTS" ] && [ "$rb_size" -gt {file_limit} ]; then
      rb_skipped="$rb_skipped $rb_rel"
    elif [ $((rb_total + rb_size)) -gt {collect_limit} ]; then
      rb_skipped="$rb_skipped $rb_rel"
    else
      rb_total=$((rb_total + rb_size))
      rbx_emit "out/$rb_rel" "$rb_file"
    fi
  done <"$RB_RUN/files"
  if [ -n "$rb_skipped" ]; then
    rb_note "the test outputs passed what is copied out ({collect_mib} MiB in all, {file_mib} MiB for the events) or have names that cannot be handed back; not copied:$rb_skipped"
  fi
}}

rb_trial
rbx_emit steps "$RB_RUN/steps"
while read -r rb_step_name rb_rest; do
  rb_emit_capped "log/$rb_step_name.stdout" "$RB_RUN/$rb_step_name.stdout"
  rb_emit_capped "log/$rb_step_name.stderr" "$RB_RUN/$rb_step_name.stderr"
done <"$RB_RUN/steps"
if grep -q '^{test} ' "$RB_RUN/steps"; then rb_emit_outputs; fi
rbx_emit notes "$RB_RUN/notes"
rbx_done
"#,
        as_candidate = AS_CANDIDATE,
        wrapper = as_candidate_script(),
        contain = Step::Contain.name(),
        contain_limit = CONTAIN_TIMEOUT.as_secs(),
        patch_path = PATCH_PATH,
        apply = Step::Apply.name(),
        apply_limit = APPLY_TIMEOUT.as_secs(),
        build = Step::Build.name(),
        stop_build = Step::StopBuild.name(),
        stop_limit = STOP_TIMEOUT.as_secs(),
        unpack = Step::Unpack.name(),
        unpack_limit = UNPACK_TIMEOUT.as_secs(),
        prepare = Step::Prepare.name(),
        prepare_limit = PREPARE_TIMEOUT.as_secs(),
        test = Step::Test.name(),
        tests_dir = TESTS_DIR,
        stop_test = Step::StopTest.name(),
        helpers = shell_helpers(),
        report_dir = REPORT_DIR,
        out_dir = OUT_DIR,
        file_limit = FILE_LIMIT,
        file_mib = FILE_LIMIT / (1024 * 1024),
        collect_limit = COLLECT_LIMIT,
        collect_mib = COLLECT_LIMIT / (1024 * 1024),
    );
    s
}

/// What one trial's entrypoint reads: the plan, the patch, the hidden tests.
#[derive(Clone)]
pub struct EntrypointInputs {
    /// The text of [`PLAN_PATH`].
    pub plan: String,
    /// The text of [`PATCH_INPUT`]; `None` for the unpatched candidate.
    pub patch: Option<Arc<String>>,
    /// The hidden tests' archive (rooted at `racebench/tests/`).
    pub tests: Arc<Vec<u8>>,
    /// Where the plan says the parts of the archive and the patch are.
    pub paths: InputPaths,
}

/// The inputs of a trial's entrypoint: `service_env` is what the pod's
/// services give the main container, `paths` where the hidden tests' archive
/// and the patch are mounted (in parts, on a swarm: [`InputPaths::parts`]).
pub fn entrypoint_inputs(
    plan: &TrialPlan,
    service_env: &[(String, String)],
    paths: &InputPaths,
) -> EntrypointInputs {
    let spec = &plan.datapoint.spec;
    let mut text = String::from("# racebench trial plan (generated by the runner)\n");
    // As locally: the services' variables, then the trial's.
    for (key, value) in service_env.iter().cloned().chain(base_env(plan)) {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        text += &format!("export {key}={}\n", quote(&value));
    }
    let mut test = vec!["env".to_string()];
    test.extend(verifier_env().into_iter().map(|(k, v)| format!("{k}={v}")));
    test.extend(verifier_command(&spec.test.command));
    let assignments = [
        ("RB_WORKTREE", quote(&spec.workspace.path)),
        ("RB_WRITABLE", words(&spec.workspace.writable)),
        (
            "RB_BUILD",
            spec.build
                .as_ref()
                .map(|b| words(&b.command))
                .unwrap_or_else(|| "''".into()),
        ),
        (
            "RB_BUILD_LIMIT",
            spec.build
                .as_ref()
                .map(|b| b.timeout_secs)
                .unwrap_or(0)
                .to_string(),
        ),
        ("RB_TEST", words(&test)),
        ("RB_TEST_LIMIT", spec.test.timeout_secs.to_string()),
        ("RB_TESTS_PARTS", words(&paths.tests)),
        (
            "RB_PATCH_PARTS",
            if plan.patch.is_some() {
                words(&paths.patch)
            } else {
                "''".into()
            },
        ),
        ("RB_REPORT", quote(&spec.test.report)),
        (
            "RB_EVENTS",
            quote(
                &spec
                    .events
                    .as_deref()
                    .map(|e| format!("{OUT_DIR}/{}", in_out_dir(e)))
                    .unwrap_or_default(),
            ),
        ),
    ];
    for (key, value) in assignments {
        text += &format!("{key}={value}\n");
    }
    EntrypointInputs {
        plan: text,
        patch: plan.patch.clone(),
        tests: plan.hidden_tests.clone(),
        paths: paths.clone(),
    }
}

impl EntrypointInputs {
    /// The entrypoint and its inputs as one archive to extract at `/` of a
    /// container on a local engine (tests, or an engine with no swarm): the
    /// hidden tests at their path, root's only, as a swarm secret is.
    pub fn to_tar(&self) -> std::io::Result<Vec<u8>> {
        let mut files = FileSet::new();
        files.add(ENTRYPOINT_PATH, entrypoint_script().into_bytes(), 0o755);
        files.add(PLAN_PATH, self.plan.clone().into_bytes(), 0o444);
        if let Some(patch) = &self.patch {
            let parts = split_input(patch.as_bytes(), self.paths.patch.len());
            for (path, part) in self.paths.patch.iter().zip(parts) {
                files.add(path, part.to_vec(), 0o444);
            }
        }
        let parts = split_input(&self.tests, self.paths.tests.len());
        for (path, part) in self.paths.tests.iter().zip(parts) {
            files.add(path, part.to_vec(), 0o400);
        }
        files.to_tar()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn inputs_over_one_part_are_numbered_and_split_evenly() {
        let one = InputPaths::parts(10, 10, 100);
        assert_eq!(one.tests, vec![SWARM_TESTS_INPUT.to_string()]);
        assert_eq!(one.patch, vec![PATCH_INPUT.to_string()]);
        let many = InputPaths::parts(1_200_000, 0, 500 * 1024);
        assert_eq!(
            many.tests,
            (0..3)
                .map(|i| format!("{SWARM_TESTS_INPUT}.{i:03}"))
                .collect::<Vec<_>>()
        );
        let data: Vec<u8> = (0..1_200_000u32).map(|i| i as u8).collect();
        let parts = split_input(&data, 3);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= 500 * 1024));
        assert_eq!(parts.concat(), data);
        assert_eq!(split_input(b"", 1), vec![&b""[..]]);
        assert_eq!(split_input(b"ab", 3).concat(), b"ab");
    }

    #[test]
    fn the_unpack_script_joins_the_parts_in_order_and_refuses_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = FileSet::new();
        let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        files.add("racebench/tests/blob.bin", blob.clone(), 0o644);
        let tar = files.to_tar().unwrap();
        let mut paths = Vec::new();
        for (i, part) in split_input(&tar, 3).into_iter().enumerate() {
            let path = dir.path().join(format!("tests.tar.{i:03}"));
            std::fs::write(&path, part).unwrap();
            paths.push(path.display().to_string());
        }
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let script = UNPACK_SCRIPT.replace(" -C /", &format!(" -C {}", root.display()));
        let run = |paths: &[String]| {
            Command::new("sh")
                .arg("-c")
                .arg(&script)
                .arg("racebench-unpack")
                .args(paths)
                .output()
                .unwrap()
        };
        let out = run(&paths);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(root.join("racebench/tests/blob.bin")).unwrap(),
            blob
        );
        let mut missing = paths.clone();
        missing[1] = dir.path().join("gone").display().to_string();
        let out = run(&missing);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("is missing"));
    }

    fn sh(script: &str) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh")
    }

    #[test]
    fn the_entrypoint_runs_the_local_steps_own_scripts() {
        let script = entrypoint_script();
        for part in [
            contain_script(),
            stop_script(),
            APPLY_SCRIPT.to_string(),
            prepare_script(),
            as_candidate_script(),
            FRAMES_SH.to_string(),
        ] {
            assert!(
                script.contains(part.trim()),
                "missing from the entrypoint:\n{part}"
            );
            assert!(
                !part.lines().any(|l| l.trim() == EOF_MARK),
                "an embedded script ends the heredoc early"
            );
        }
        for limit in [
            "rb_step contain 60 / ",
            "rb_step apply 120 ",
            "rb_step stop-build 30 / ",
            "rb_step stop-test 30 / ",
        ] {
            assert!(script.contains(limit), "{limit}");
        }
        assert!(script.contains(&format!("{AS_CANDIDATE} \"$@\"")));
    }

    #[test]
    fn the_entrypoint_is_valid_shell() {
        let out = Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(entrypoint_script())
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn embedded_scripts_come_back_byte_for_byte() {
        // The variables as the entrypoint defines them, printed back.
        let script = entrypoint_script();
        let start = script.find("RB_CONTAIN=$(").unwrap();
        let end = script.find("\nrb_ms()").unwrap();
        let out = sh(&format!(
            "{}\nprintf '%s' \"$RB_STOP\"",
            &script[start..end]
        ));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            stop_script().trim_end()
        );
    }

    #[test]
    fn commands_survive_the_plan_word_for_word() {
        let tricky = vec![
            "python3".to_string(),
            "-c".to_string(),
            "print('it''s \"$HOME\" `id`')".to_string(),
            "a b".to_string(),
            String::new(),
        ];
        let plan = format!("RB_TEST={}\n", words(&tricky));
        let out = sh(&format!(
            "{plan}eval \"set -- $RB_TEST\"; printf '<%s>\\n' \"$@\""
        ));
        let expected: String = tricky.iter().map(|w| format!("<{w}>\n")).collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
        let out = sh(&format!("V={}; printf '%s' \"$V\"", quote("x'y\"$z")));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x'y\"$z");
    }

    #[test]
    fn output_names_the_framing_refuses_are_skipped() {
        let script = entrypoint_script();
        let start = script.find("rb_name_ok() {").unwrap();
        let end = start + script[start..].find("\n}\n").unwrap() + 3;
        let func = &script[start..end];
        for (name, ok) in [
            ("report.xml", true),
            ("sub/events.jsonl", true),
            ("a b", false),
            ("../x", false),
            ("a/./b", false),
            ("a//b", false),
            ("", false),
            ("x$(id)", false),
        ] {
            let out = sh(&format!("{func}rb_name_ok {}", quote(name)));
            assert_eq!(out.status.success(), ok, "{name:?}");
        }
    }
    /// The entrypoint's helpers (framing, `rb_step`, `rb_emit_capped`) run
    /// on the host with `RB_RUN` in a temporary folder.
    fn helpers(run: &std::path::Path) -> String {
        assert!(entrypoint_script().contains(&shell_helpers()));
        format!(
            "RB_RUN={}\n: >\"$RB_RUN/steps\"\n{FRAMES_SH}{}",
            run.display(),
            shell_helpers()
        )
    }

    #[test]
    fn a_step_past_its_limit_is_killed_and_recorded_as_timed_out() {
        let run = tempfile::tempdir().unwrap();
        let out = sh(&format!(
            "{}rb_step slow 1 / sh -c 'echo started; sleep 30'; echo \"rc=$?\"\n\
             rb_step quick 5 /tmp sh -c 'pwd; echo oops >&2; exit 3'; echo \"rc=$?\"",
            helpers(run.path())
        ));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("rc=1\nrc=1"), "{text}");
        let steps = std::fs::read_to_string(run.path().join("steps")).unwrap();
        let lines: Vec<Vec<&str>> = steps.lines().map(|l| l.split(' ').collect()).collect();
        assert_eq!(lines.len(), 2, "{steps}");
        assert_eq!(
            (lines[0][0], lines[0][1], lines[0][3]),
            ("slow", "137", "1")
        );
        let took: u64 = lines[0][2].parse().unwrap();
        assert!((1000..10_000).contains(&took), "{steps}");
        assert_eq!((lines[1][0], lines[1][1], lines[1][3]), ("quick", "3", "0"));
        let read = |f: &str| std::fs::read_to_string(run.path().join(f)).unwrap();
        assert_eq!(read("slow.stdout"), "started\n");
        assert_eq!(read("quick.stdout"), "/tmp\n");
        assert_eq!(read("quick.stderr"), "oops\n");
    }

    #[test]
    fn a_long_stream_comes_back_as_its_first_and_last_four_mib() {
        let run = tempfile::tempdir().unwrap();
        let big = run.path().join("big");
        let mut data = vec![b'a'; STREAM_HALF as usize];
        data.extend(vec![b'b'; 1000]);
        data.extend(vec![b'c'; STREAM_HALF as usize]);
        std::fs::write(&big, &data).unwrap();
        std::fs::write(run.path().join("small"), b"hi\n").unwrap();
        let out = sh(&format!(
            "{}rb_emit_capped log/x.stdout {}; rb_emit_capped log/y.stdout {}/small; rbx_done",
            helpers(run.path()),
            big.display(),
            run.path().display()
        ));
        let frames = crate::cluster::decode(&out.stdout).expect("whole frames");
        let x = &frames.files["log/x.stdout"];
        let marker = b"\n[racebench: 1000 bytes dropped here]\n";
        assert_eq!(x.len(), 2 * STREAM_HALF as usize + marker.len());
        assert!(x[..STREAM_HALF as usize].iter().all(|&b| b == b'a'));
        assert_eq!(&x[STREAM_HALF as usize..][..marker.len()], marker);
        assert!(x[x.len() - STREAM_HALF as usize..]
            .iter()
            .all(|&b| b == b'c'));
        assert_eq!(frames.files["log/y.stdout"], b"hi\n");
    }
}
