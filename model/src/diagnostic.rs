//! Non-fatal findings about user-edited files (unknown keys, odd values),
//! reported to the user but never stopping a run.

use std::fmt;
use std::path::PathBuf;

/// A problem in a user-edited file that does not stop racebench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file the warning is about.
    pub file: PathBuf,
    /// What is odd, as a lowercase fragment.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// Collects the keys serde skipped while deserializing `text`, as warnings.
pub(crate) fn parse_toml_collecting_unknown<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &std::path::Path,
) -> Result<(T, Vec<Warning>), toml::de::Error> {
    let mut unknown = Vec::new();
    let de = toml::Deserializer::parse(text)?;
    let value: T = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()))?;
    let warnings = unknown
        .into_iter()
        .map(|key| Warning {
            file: file.to_path_buf(),
            message: format!("unknown key `{key}` is ignored (check its spelling)"),
        })
        .collect();
    Ok((value, warnings))
}
