//! Applying the candidate's patch in the work tree, before the hidden tests
//! exist anywhere in the pod: `git apply`, then a three-way merge, then
//! `patch` with fuzz.

use std::time::{Duration, Instant};

use racebench_model::{ApplyMethod, TrialRecord, Verdict};
use tokio_util::sync::CancellationToken;

use super::contain::as_candidate;
use super::exec::{Bounded, Stop};
use super::steps::{ms, Trial, PATCH_PATH};
use crate::archive::FileSet;

/// How long applying a patch may take.
pub(super) const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

impl Trial<'_> {
    pub(super) async fn apply(
        &self,
        record: &mut TrialRecord,
        kill: &CancellationToken,
    ) -> Result<(), Stop> {
        let t = Instant::now();
        let result = self.apply_patch(record, kill).await;
        record.timings.patch_ms = ms(t.elapsed());
        result
    }

    async fn apply_patch(
        &self,
        record: &mut TrialRecord,
        kill: &CancellationToken,
    ) -> Result<(), Stop> {
        let spec = &self.plan.datapoint.spec;
        let Some(patch) = &self.plan.patch else {
            return Ok(());
        };
        check_patch(patch)?;
        let mut files = FileSet::new();
        files.add(PATCH_PATH, patch.as_bytes().to_vec(), 0o644);
        let tar = files.to_tar().map_err(Stop::infra)?;
        self.engine
            .put_archive(self.main_id(), "/", tar)
            .await
            .map_err(Stop::infra)?;
        // As the candidate: nothing in the patch can write outside what the
        // candidate may write anyway.
        let cmd = as_candidate(&["sh".to_string(), "-c".to_string(), APPLY_SCRIPT.to_string()]);
        let applied = self
            .bounded(
                &cmd,
                &self.env,
                Some(&spec.workspace.path),
                APPLY_TIMEOUT,
                kill,
            )
            .await?;
        let out = match applied {
            Bounded::Done(out) => out,
            Bounded::TimedOut(limit) => return Err(apply_timed_out(limit)),
        };
        self.write_log(record, "apply", "apply.log", &out)?;
        applied_with(record, out.exit_code, &out.stdout, &spec.workspace.path)
    }
}

/// Checks the patch before it is applied (shared with the trial entrypoint).
pub(super) fn check_patch(patch: &str) -> Result<(), Stop> {
    if patch.trim().is_empty() {
        return Err(Stop::new(Verdict::PatchFailed, "the patch is empty"));
    }
    Ok(())
}

pub(super) fn apply_timed_out(limit: Duration) -> Stop {
    Stop::new(
        Verdict::PatchFailed,
        format!("applying the patch took longer than {}s", limit.as_secs()),
    )
}

/// What the apply script's exit and output mean: the method in the record,
/// and whether the trial goes on.
pub(super) fn applied_with(
    record: &mut TrialRecord,
    exit_code: Option<i64>,
    stdout: &[u8],
    workspace: &str,
) -> Result<(), Stop> {
    record.patch.method = apply_method(&String::from_utf8_lossy(stdout));
    match exit_code {
        Some(0) if record.patch.method.is_some() => Ok(()),
        Some(code) if code == GIT_INIT_FAILED => Err(Stop::infra(format!(
            "the work tree {workspace} is not a git repository and could not be made one (see apply.log); \
             the image needs git"
        ))),
        _ => Err(Stop::new(
            Verdict::PatchFailed,
            "the patch does not apply with git apply, git apply --3way or patch --fuzz=3 (see apply.log)",
        )),
    }
}

/// Exit code of the apply script when the work tree could not be made a git repository.
const GIT_INIT_FAILED: i64 = 90;

/// Applies `/racebench/patch.diff` in the work tree: `git apply`, then a
/// three-way merge, then `patch` with fuzz; prints which one worked.
pub(super) const APPLY_SCRIPT: &str = r#"
set -u
export GIT_AUTHOR_NAME=racebench GIT_AUTHOR_EMAIL=racebench@localhost
export GIT_COMMITTER_NAME=racebench GIT_COMMITTER_EMAIL=racebench@localhost
git config --global --add safe.directory '*' 2>/dev/null
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "racebench: making the work tree a git repository"
  git init -q . && git add -A && git commit -q --no-verify -m "racebench base" || exit 90
fi
echo "racebench: git apply"
if git apply --verbose --whitespace=nowarn /racebench/patch.diff; then
  echo "racebench-applied-with: git-apply"; exit 0
fi
echo "racebench: git apply --3way"
if git apply --verbose --3way --whitespace=nowarn /racebench/patch.diff; then
  if ! git diff --name-only --diff-filter=U | grep -q .; then
    echo "racebench-applied-with: git-apply-3way"; exit 0
  fi
  echo "racebench: the three-way merge left conflicts"
fi
git reset -q --hard && git clean -fdq
echo "racebench: patch -p1 --fuzz=3"
if patch -p1 --fuzz=3 --batch --forward --no-backup-if-mismatch < /racebench/patch.diff; then
  echo "racebench-applied-with: patch-fuzz"; exit 0
fi
git reset -q --hard && git clean -fdq
exit 1
"#;

fn apply_method(stdout: &str) -> Option<ApplyMethod> {
    stdout.lines().rev().find_map(|line| {
        match line.trim().strip_prefix("racebench-applied-with: ")? {
            "git-apply" => Some(ApplyMethod::GitApply),
            "git-apply-3way" => Some(ApplyMethod::GitApply3way),
            "patch-fuzz" => Some(ApplyMethod::PatchFuzz),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_method_is_read_from_the_script_output() {
        assert_eq!(
            apply_method(
                "racebench: git apply\nChecking patch x\nracebench-applied-with: git-apply\n"
            ),
            Some(ApplyMethod::GitApply)
        );
        assert_eq!(
            apply_method("racebench: git apply\nerror: corrupt patch\n"),
            None
        );
    }
}
