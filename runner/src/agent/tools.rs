//! A datapoint's visible tools: every file in its `tools/` folder (a
//! reproducer, a smoke test that is not one of the hidden tests) is copied
//! to `/racebench/tools/` in its sandboxes, on `PATH`. A tools folder inside
//! the hidden tests or the solutions is refused, so neither leaks this way.

use racebench_model::Datapoint;

use crate::archive::FileSet;

/// The folder of visible tools, relative to the datapoint folder.
pub const TOOLS_FOLDER: &str = "tools";

/// The datapoint's visible tools, by path below `tools/`.
pub fn visible_tools(dp: &Datapoint) -> std::io::Result<FileSet> {
    let dir = dp.dir.join(TOOLS_FOLDER);
    let hidden = dp.dir.join(&dp.spec.test.hidden);
    let solutions = dp.dir.join("solutions");
    if !dir.is_dir() {
        return Ok(FileSet::new());
    }
    let real = dir.canonicalize()?;
    for secret in [hidden, solutions] {
        if let Ok(secret) = secret.canonicalize() {
            if real.starts_with(&secret) || secret.starts_with(&real) {
                return Err(std::io::Error::other(format!(
                    "{} overlaps {}: the tools would carry hidden files into the sandbox",
                    dir.display(),
                    secret.display()
                )));
            }
        }
    }
    FileSet::from_dir(&dir, &[])
}
