//! Weights: how much each test of a datapoint counts, grouped in named
//! categories whose weights sum to 1.0. One TOML file per datapoint,
//! `weights/<datapoint>.toml`; see `docs/weights-format.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{parse_toml_collecting_unknown, Warning};

/// The only `format` value of a weights file this version understands.
pub const WEIGHTS_FORMAT: u32 = 1;

/// How far from 1.0 the category weights may sum (rounding in hand-written decimals).
pub const SUM_TOLERANCE: f64 = 1e-6;

/// A weight category: a share of the score, split equally among its tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub name: String,
    pub weight: f64,
    #[serde(default)]
    pub description: String,
    pub tests: Vec<String>,
}

impl Category {
    /// The weight of each single test of this category.
    pub fn test_weight(&self) -> f64 {
        self.weight / self.tests.len() as f64
    }
}

/// The weights of one datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub format: u32,
    pub datapoint: String,
    #[serde(rename = "category")]
    pub categories: Vec<Category>,
}

/// Why a weights file was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid weights file {}", path.display())]
pub struct WeightsError {
    pub path: PathBuf,
    #[source]
    pub kind: WeightsErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsErrorKind {
    #[error("failed to read it")]
    Read(#[source] std::io::Error),
    #[error("{0}")]
    Parse(#[source] toml::de::Error),
    #[error("format {0} is not supported; set `format = 1`")]
    Format(u32),
    #[error("category weights sum to {sum}, not 1.0; adjust them so they add up to exactly 1.0")]
    Sum { sum: f64 },
    #[error(
        "category `{name}` has weight {weight}; give every category a weight above 0 and at most 1"
    )]
    Weight { name: String, weight: f64 },
    #[error("category `{0}` lists no tests; list the test names it covers or remove it")]
    Empty(String),
    #[error("category `{0}` appears twice; merge the two entries")]
    DuplicateCategory(String),
    #[error("test `{test}` is in both `{first}` and `{second}`; keep it in one category")]
    DuplicateTest {
        test: String,
        first: String,
        second: String,
    },
    #[error("it is for datapoint `{found}` but is named after `{expected}`; rename the file or fix `datapoint`")]
    Mismatch { expected: String, found: String },
    #[error("no weights file for datapoint `{datapoint}` in {}; create {datapoint}.toml there", dir.display())]
    Missing { datapoint: String, dir: PathBuf },
}

impl Weights {
    /// Loads and validates one weights file; the file stem must be the datapoint id.
    pub fn load(path: &Path) -> Result<(Weights, Vec<Warning>), WeightsError> {
        let err = |kind| WeightsError {
            path: path.to_path_buf(),
            kind,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(WeightsErrorKind::Read(e)))?;
        let (weights, warnings): (Weights, _) = parse_toml_collecting_unknown(&text, path)
            .map_err(|e| err(WeightsErrorKind::Parse(e)))?;
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            if stem != weights.datapoint {
                return Err(err(WeightsErrorKind::Mismatch {
                    expected: stem.to_string(),
                    found: weights.datapoint.clone(),
                }));
            }
        }
        weights.check().map_err(err)?;
        Ok((weights, warnings))
    }

    /// Parses weights from text, validating them; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Weights, WeightsError> {
        let err = |kind| WeightsError {
            path: origin.to_path_buf(),
            kind,
        };
        let (weights, _): (Weights, _) = parse_toml_collecting_unknown(text, origin)
            .map_err(|e| err(WeightsErrorKind::Parse(e)))?;
        weights.check().map_err(err)?;
        Ok(weights)
    }

    fn check(&self) -> Result<(), WeightsErrorKind> {
        if self.format != WEIGHTS_FORMAT {
            return Err(WeightsErrorKind::Format(self.format));
        }
        let mut names = BTreeSet::new();
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for category in &self.categories {
            if !names.insert(category.name.as_str()) {
                return Err(WeightsErrorKind::DuplicateCategory(category.name.clone()));
            }
            if !(category.weight > 0.0 && category.weight <= 1.0) {
                return Err(WeightsErrorKind::Weight {
                    name: category.name.clone(),
                    weight: category.weight,
                });
            }
            if category.tests.is_empty() {
                return Err(WeightsErrorKind::Empty(category.name.clone()));
            }
            for test in &category.tests {
                if let Some(first) = owner.insert(test, &category.name) {
                    return Err(WeightsErrorKind::DuplicateTest {
                        test: test.clone(),
                        first: first.to_string(),
                        second: category.name.clone(),
                    });
                }
            }
        }
        let sum: f64 = self.categories.iter().map(|c| c.weight).sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            // Round for the message: 0.8999999999999999 reads as 0.9.
            let sum = (sum * 1e9).round() / 1e9;
            return Err(WeightsErrorKind::Sum { sum });
        }
        Ok(())
    }

    /// The category a test belongs to, if any.
    pub fn category_of(&self, test: &str) -> Option<&Category> {
        self.categories
            .iter()
            .find(|c| c.tests.iter().any(|t| t == test))
    }

    pub fn category(&self, name: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.name == name)
    }

    /// Every weighted test name, in file order.
    pub fn tests(&self) -> impl Iterator<Item = &str> {
        self.categories
            .iter()
            .flat_map(|c| c.tests.iter().map(String::as_str))
    }
}

/// The weights of many datapoints, loaded from one folder.
#[derive(Debug, Clone, Default)]
pub struct WeightsSet {
    pub dir: PathBuf,
    by_datapoint: BTreeMap<String, Weights>,
}

impl WeightsSet {
    /// Loads every `*.toml` in `dir`. Any invalid file is an error naming that file.
    pub fn load_dir(dir: &Path) -> Result<(WeightsSet, Vec<Warning>), WeightsError> {
        let entries = std::fs::read_dir(dir).map_err(|e| WeightsError {
            path: dir.to_path_buf(),
            kind: WeightsErrorKind::Read(e),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        let mut set = WeightsSet {
            dir: dir.to_path_buf(),
            by_datapoint: BTreeMap::new(),
        };
        let mut warnings = Vec::new();
        for path in paths {
            let (weights, w) = Weights::load(&path)?;
            warnings.extend(w);
            set.by_datapoint.insert(weights.datapoint.clone(), weights);
        }
        Ok((set, warnings))
    }

    /// Builds a set from weights already in memory (tests, embedded defaults).
    pub fn from_weights(dir: PathBuf, weights: impl IntoIterator<Item = Weights>) -> WeightsSet {
        WeightsSet {
            dir,
            by_datapoint: weights
                .into_iter()
                .map(|w| (w.datapoint.clone(), w))
                .collect(),
        }
    }

    pub fn get(&self, datapoint: &str) -> Option<&Weights> {
        self.by_datapoint.get(datapoint)
    }

    /// The weights of `datapoint`, or an error saying which file to create.
    pub fn require(&self, datapoint: &str) -> Result<&Weights, WeightsError> {
        self.get(datapoint).ok_or_else(|| WeightsError {
            path: self.dir.join(format!("{datapoint}.toml")),
            kind: WeightsErrorKind::Missing {
                datapoint: datapoint.to_string(),
                dir: self.dir.clone(),
            },
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Weights> {
        self.by_datapoint.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
format = 1
datapoint = "demo"

[[category]]
name = "Race Conditions"
weight = 0.7
tests = ["test_a", "test_b"]

[[category]]
name = "Basics"
weight = 0.3
tests = ["test_c"]
"#;

    fn load_text(name: &str, text: &str) -> Result<Weights, WeightsError> {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        Weights::load(&path).map(|(w, _)| w)
    }

    #[test]
    fn tests_share_their_category_weight() {
        let w = load_text("demo.toml", GOOD).unwrap();
        let race = w.category_of("test_b").unwrap();
        assert_eq!(race.name, "Race Conditions");
        assert!((race.test_weight() - 0.35).abs() < 1e-12);
        assert_eq!(
            w.tests().collect::<Vec<_>>(),
            ["test_a", "test_b", "test_c"]
        );
    }

    #[test]
    fn weights_summing_to_point_nine_name_the_file_and_the_sum() {
        let err = load_text("demo.toml", &GOOD.replace("0.3", "0.2")).unwrap_err();
        let text = format!("{err}: {}", err.kind);
        assert!(text.contains("demo.toml"), "{text}");
        assert!(text.contains("sum to 0.9"), "{text}");
    }

    #[test]
    fn a_test_in_two_categories_is_refused() {
        let err = load_text("demo.toml", &GOOD.replace("\"test_c\"", "\"test_a\"")).unwrap_err();
        assert!(matches!(err.kind, WeightsErrorKind::DuplicateTest { .. }));
    }

    #[test]
    fn file_stem_must_match_datapoint() {
        let err = load_text("other.toml", GOOD).unwrap_err();
        assert!(matches!(err.kind, WeightsErrorKind::Mismatch { .. }));
    }

    #[test]
    fn missing_weights_say_which_file_to_create() {
        let set = WeightsSet::from_weights(PathBuf::from("weights"), []);
        let err = set.require("demo").unwrap_err();
        assert!(err.kind.to_string().contains("create demo.toml"));
    }
}
