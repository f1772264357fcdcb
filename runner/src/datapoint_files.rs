//! A datapoint's folder, read from disk once per run: its content hash (in
//! `run.json`), its image's build context, and its hidden tests all come from
//! the same read.

use racebench_model::Datapoint;

use crate::archive::FileSet;

/// Top-level entries of a datapoint folder never sent to the image build:
/// the solutions, the visible tools (copied into sandboxes when they start,
/// never part of a trial), and files that change without changing the image
/// (so a README rewritten by `validate --write-rates` does not force a
/// rebuild).
pub const NOT_IN_IMAGE: &[&str] = &[
    "solutions",
    "tools",
    "README.md",
    "prompt.md",
    "datapoint.toml",
];

/// Every file of a datapoint folder.
#[derive(Debug, Clone)]
pub struct DatapointFiles {
    files: FileSet,
    hidden: String,
}

impl DatapointFiles {
    pub fn read(datapoint: &Datapoint) -> std::io::Result<DatapointFiles> {
        Ok(DatapointFiles {
            files: FileSet::from_dir(&datapoint.dir, &[])?,
            hidden: datapoint
                .spec
                .test
                .hidden
                .to_string_lossy()
                .replace('\\', "/")
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string(),
        })
    }

    /// Hash of everything in the folder.
    pub fn content_hash(&self) -> String {
        self.files.content_hash()
    }

    /// The image's build context: the folder without the hidden tests and the
    /// entries of [`NOT_IN_IMAGE`].
    pub fn image_context(&self) -> FileSet {
        let mut context = FileSet::new();
        for (path, data, mode) in self.files.iter() {
            let top = path.split('/').next().unwrap_or(path);
            if NOT_IN_IMAGE.contains(&top) || self.is_hidden(path) {
                continue;
            }
            context.add(path, data.to_vec(), mode);
        }
        context
    }

    /// The hidden tests, with paths relative to their folder.
    pub fn hidden_tests(&self) -> FileSet {
        let mut tests = FileSet::new();
        let prefix = format!("{}/", self.hidden);
        for (path, data, mode) in self.files.iter() {
            if let Some(rel) = path.strip_prefix(&prefix) {
                tests.add(rel, data.to_vec(), mode);
            }
        }
        tests
    }

    fn is_hidden(&self, path: &str) -> bool {
        path == self.hidden || path.starts_with(&format!("{}/", self.hidden))
    }
}
