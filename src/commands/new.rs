//! `racebench new ID`: the skeleton of a datapoint that already works — a
//! tiny Python service with a lost-update race, a test that catches it, the
//! reference fix and weights — for an author to replace piece by piece.

use std::path::Path;

use anyhow::Context as _;
use racebench_model::datapoint::is_valid_id;

use crate::args::NewArgs;
use crate::commands::Context;
use crate::exit_code::{self, coded};

/// (path inside the datapoint folder, content) of every skeleton file.
const FILES: &[(&str, &str)] = &[
    (
        "datapoint.toml",
        include_str!("new_skeleton/datapoint.toml"),
    ),
    ("Dockerfile", include_str!("new_skeleton/Dockerfile")),
    ("prompt.md", include_str!("new_skeleton/prompt.md")),
    ("README.md", include_str!("new_skeleton/README.md")),
    ("src/counter.py", include_str!("new_skeleton/counter.py")),
    (
        "tests/test_counter.py",
        include_str!("new_skeleton/test_counter.py"),
    ),
    (
        "solutions/reference.patch",
        include_str!("new_skeleton/reference.patch"),
    ),
];
const WEIGHTS: &str = include_str!("new_skeleton/weights.toml");

pub fn new(ctx: &Context, args: NewArgs) -> anyhow::Result<i32> {
    if !is_valid_id(&args.id) {
        return Err(coded(
            exit_code::BAD_INPUT,
            anyhow::anyhow!("`{}` is not a valid id: use lowercase letters, digits and dashes, starting with a letter", args.id),
        ));
    }
    let dir = ctx.datapoints_dir.join(&args.id);
    let weights = ctx.weights_dir.join(format!("{}.toml", args.id));
    for path in [&dir, &weights] {
        if path.exists() {
            return Err(coded(
                exit_code::BAD_INPUT,
                anyhow::anyhow!(
                    "{} already exists; choose another id or remove it",
                    path.display()
                ),
            ));
        }
    }
    for (rel, content) in FILES {
        write(&dir.join(rel), &content.replace("{{id}}", &args.id))?;
    }
    write(&weights, &WEIGHTS.replace("{{id}}", &args.id))?;
    println!("created {} and {}", dir.display(), weights.display());
    println!(
        "next: edit the TODOs, then `racebench validate {} --trials 5`",
        args.id
    );
    Ok(exit_code::SUCCESS)
}

fn write(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("failed to write {}", path.display()))
}
