//! Keeping the candidate's code away from the verifier inside the main
//! container. The patch, the build and every process of the service run as
//! an unprivileged user (`racebench-candidate`, uid 1500) with no
//! capabilities and `no_new_privs`, through `/racebench/bin/as-candidate`;
//! the hidden tests run as root from a folder only root can read, and write
//! their report where only root can write. Between the build and the tests,
//! and again before the outputs are collected, every process of the
//! candidate is killed, so nothing the build started runs beside the tests
//! or rewrites what they leave.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::exec::{Bounded, Stop};
use super::steps::Trial;
use crate::archive::FileSet;

/// The candidate's user and group id inside the main container.
pub const CANDIDATE_UID: u32 = 1500;
/// The wrapper that runs a command as the candidate; the tests get its path
/// in `RACEBENCH_AS_CANDIDATE` and start the service through it.
pub const AS_CANDIDATE: &str = "/racebench/bin/as-candidate";
/// The candidate's home folder (git's and the toolchains' per-user files).
pub const CANDIDATE_HOME: &str = "/racebench/home";

/// How long making the container ready for the candidate may take.
pub(super) const CONTAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long stopping the candidate's processes may take.
pub(super) const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit code of the stop script when processes of the candidate survived.
pub(super) const SURVIVORS: i64 = 91;

/// The wrapper: as root, drops to the candidate (no capabilities, no way
/// back up through setuid programs); as anyone else, runs the command as is.
pub(super) fn as_candidate_script() -> String {
    format!(
        r#"#!/bin/sh
# racebench: run a command as the trial's unprivileged candidate user.
if [ "$(id -u)" != 0 ]; then exec "$@"; fi
exec setpriv --reuid={uid} --regid={uid} --clear-groups --inh-caps=-all \
  --no-new-privs -- env HOME={home} USER=racebench-candidate LOGNAME=racebench-candidate "$@"
"#,
        uid = CANDIDATE_UID,
        home = CANDIDATE_HOME,
    )
}

/// Run as root: the candidate's user, `/racebench` (root's, so the candidate
/// can make nothing in it), `bin` and the candidate's home, and the work tree
/// and writable paths (its arguments) given to the candidate. The folders of
/// the test step (out, report, tests) are made by the verify step, fresh,
/// after the candidate's processes are gone.
pub(super) fn contain_script() -> String {
    format!(
        r#"set -eu
command -v setpriv >/dev/null || {{ echo "racebench: the image has no setpriv (util-linux)" >&2; exit 92; }}
grep -q '^racebench-candidate:' /etc/group || echo 'racebench-candidate:x:{uid}:' >> /etc/group
grep -q '^racebench-candidate:' /etc/passwd || \
  echo 'racebench-candidate:x:{uid}:{uid}:racebench candidate:{home}:/bin/sh' >> /etc/passwd
mkdir -p {home} /racebench/bin
chown 0:0 /racebench /racebench/bin
chmod 0755 /racebench /racebench/bin
chown {uid}:{uid} {home}
for path in "$@"; do
  mkdir -p -- "$path"
  chown -R -H {uid}:{uid} -- "$path"
done
"#,
        uid = CANDIDATE_UID,
        home = CANDIDATE_HOME,
    )
}

/// Run as root: kills every process of the candidate until none is left
/// (zombies aside, which the container's init reaps).
pub(super) fn stop_script() -> String {
    format!(
        r#"alive() {{
  for s in /proc/[0-9]*/status; do
    awk '/^State:/ {{ st = $2 }} /^Uid:/ {{ u = $2 }} END {{ if (u == {uid} && st != "Z") print FILENAME }}' "$s" 2>/dev/null
  done | wc -l
}}
i=0
while [ $i -lt 50 ]; do
  setpriv --reuid={uid} --regid={uid} --clear-groups -- sh -c 'kill -9 -1' 2>/dev/null
  left=$(alive)
  [ "$left" -eq 0 ] && exit 0
  i=$((i + 1))
  sleep 0.1
done
echo "racebench: $left processes of the candidate survived 50 rounds of SIGKILL" >&2
exit {code}
"#,
        uid = CANDIDATE_UID,
        code = SURVIVORS,
    )
}

impl Trial<'_> {
    /// Makes the main container ready for the candidate's code: its user,
    /// the wrapper, and the folders it may and may not write.
    pub(super) async fn contain(&self, kill: &CancellationToken) -> Result<(), Stop> {
        let spec = &self.plan.datapoint.spec;
        let mut files = FileSet::new();
        files.add(AS_CANDIDATE, as_candidate_script().into_bytes(), 0o755);
        let tar = files.to_tar().map_err(Stop::infra)?;
        self.engine
            .put_archive(self.main_id(), "/", tar)
            .await
            .map_err(Stop::infra)?;
        let mut cmd = vec![
            "sh".to_string(),
            "-c".to_string(),
            contain_script(),
            "racebench-contain".to_string(),
            spec.workspace.path.clone(),
        ];
        cmd.extend(spec.workspace.writable.iter().cloned());
        match self.bounded(&cmd, &[], None, CONTAIN_TIMEOUT, kill).await? {
            Bounded::Done(out) => contained(out.exit_code, &out.stderr),
            Bounded::TimedOut(limit) => Err(contain_timed_out(limit)),
        }
    }

    /// Kills every process of the candidate. When that cannot be done from
    /// inside (a fork bomb leaves no process slot for the killer, processes
    /// survive), the main container is restarted, which kills every process
    /// in it at once; `Ok(Some(note))` says so.
    pub(super) async fn stop_candidate(
        &self,
        kill: &CancellationToken,
    ) -> Result<Option<String>, Stop> {
        let cmd = vec!["sh".to_string(), "-c".to_string(), stop_script()];
        let why = match self.bounded(&cmd, &[], None, STOP_TIMEOUT, kill).await {
            Ok(Bounded::Done(out)) if out.exit_code == Some(0) => return Ok(None),
            Ok(Bounded::Done(out)) if out.exit_code == Some(SURVIVORS) => {
                "processes survived repeated SIGKILL".to_string()
            }
            Ok(Bounded::Done(out)) => format!(
                "the stop script exited with {} ({})",
                super::exec::exit_text(out.exit_code),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Ok(Bounded::TimedOut(limit)) => {
                format!("stopping them took longer than {}s", limit.as_secs())
            }
            Err(stop) if stop.verdict == racebench_model::Verdict::Cancelled => return Err(stop),
            // Most often no process can be started in the container at all.
            Err(stop) => stop.error,
        };
        tracing::debug!("restarting the main container: {why}");
        self.engine
            .restart_container(self.main_id())
            .await
            .map_err(Stop::infra)?;
        Ok(Some(format!(
            "the candidate's processes could not be stopped from inside the container ({why}); \
             it was restarted, which stopped them"
        )))
    }
}

/// What the contain script's exit means (shared with the trial entrypoint).
pub(super) fn contained(exit_code: Option<i64>, stderr: &[u8]) -> Result<(), Stop> {
    if exit_code == Some(0) {
        return Ok(());
    }
    Err(Stop::infra(format!(
        "failed to make the container ready for the candidate's code (exit {}): {}",
        super::exec::exit_text(exit_code),
        String::from_utf8_lossy(stderr).trim()
    )))
}

pub(super) fn contain_timed_out(limit: Duration) -> Stop {
    Stop::infra(format!(
        "making the container ready for the candidate's code took longer than {}s",
        limit.as_secs()
    ))
}

/// `cmd` run through the wrapper, as the candidate.
pub(super) fn as_candidate(cmd: &[String]) -> Vec<String> {
    let mut wrapped = vec![AS_CANDIDATE.to_string()];
    wrapped.extend(cmd.iter().cloned());
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_drops_every_privilege_and_keeps_the_command() {
        let script = as_candidate_script();
        for part in [
            "--reuid=1500",
            "--regid=1500",
            "--clear-groups",
            "--no-new-privs",
            "\"$@\"",
        ] {
            assert!(script.contains(part), "{part} missing from\n{script}");
        }
        assert_eq!(
            as_candidate(&["make".into(), "all".into()]),
            [AS_CANDIDATE, "make", "all"]
        );
    }

    #[test]
    fn racebench_folder_is_roots_and_only_the_home_is_the_candidates() {
        let script = contain_script();
        assert!(script.contains("chown 0:0 /racebench /racebench/bin"));
        assert!(script.contains("chown 1500:1500 /racebench/home\n"));
        for later in ["/racebench/out", "/racebench/report", "/racebench/tests"] {
            assert!(!script.contains(later), "{later} is the verify step's");
        }
    }
}
