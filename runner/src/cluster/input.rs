//! What a trial is handed on a swarm, where no archive call can reach its
//! container: swarm secrets (root-only files, for the hidden tests and service
//! passwords) and configs (readable files, for the plan and the patch), each
//! labelled like the trial and mounted into a job at a path with an owner and
//! mode. The swarm caps each at 500 KB.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::models::{
    ConfigSpec, SecretSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets,
};

use super::error::ClusterError;
use super::manager::Manager;

/// The swarm's limit on one secret or config.
pub const MAX_INPUT_BYTES: usize = 500 * 1024;

/// Which kind of swarm object an input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Mounted on a tmpfs under `/run/secrets/`; never written to a node's disk.
    Secret,
    /// Mounted at any absolute path.
    Config,
}

/// A created secret or config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub id: String,
    pub name: String,
    pub kind: InputKind,
}

/// An input mounted into a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMount {
    pub input: Input,
    /// For a secret, a file name under `/run/secrets/`; for a config, an absolute path.
    pub target: String,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl InputMount {
    pub(crate) fn secret_ref(&self) -> Option<TaskSpecContainerSpecSecrets> {
        (self.input.kind == InputKind::Secret).then(|| TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(self.target.clone()),
                uid: Some(self.uid.to_string()),
                gid: Some(self.gid.to_string()),
                mode: Some(self.mode),
            }),
            secret_id: Some(self.input.id.clone()),
            secret_name: Some(self.input.name.clone()),
        })
    }

    pub(crate) fn config_ref(&self) -> Option<TaskSpecContainerSpecConfigs> {
        (self.input.kind == InputKind::Config).then(|| TaskSpecContainerSpecConfigs {
            file: Some(TaskSpecContainerSpecFile1 {
                name: Some(self.target.clone()),
                uid: Some(self.uid.to_string()),
                gid: Some(self.gid.to_string()),
                mode: Some(self.mode),
            }),
            config_id: Some(self.input.id.clone()),
            config_name: Some(self.input.name.clone()),
            ..Default::default()
        })
    }
}

impl Manager {
    /// Creates a secret or config holding `data`, labelled.
    pub async fn create_input(
        &self,
        kind: InputKind,
        name: &str,
        data: &[u8],
        labels: &HashMap<String, String>,
    ) -> Result<Input, ClusterError> {
        let what = match kind {
            InputKind::Secret => "secret",
            InputKind::Config => "config",
        };
        let action = format!("create swarm {what} {name}");
        if data.len() > MAX_INPUT_BYTES {
            return Err(ClusterError::Operation {
                action,
                message: format!(
                    "{} bytes, over the swarm's {MAX_INPUT_BYTES}-byte limit; split it",
                    data.len()
                ),
            });
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let created = match kind {
            InputKind::Secret => {
                self.docker()
                    .create_secret(SecretSpec {
                        name: Some(name.to_string()),
                        labels: Some(labels.clone()),
                        data: Some(encoded),
                        ..Default::default()
                    })
                    .await
            }
            InputKind::Config => {
                self.docker()
                    .create_config(ConfigSpec {
                        name: Some(name.to_string()),
                        labels: Some(labels.clone()),
                        data: Some(encoded),
                        ..Default::default()
                    })
                    .await
            }
        }
        .map_err(|e| ClusterError::op(action, e))?;
        Ok(Input {
            id: created.id,
            name: name.to_string(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: InputKind) -> InputMount {
        InputMount {
            input: Input {
                id: "id1".into(),
                name: "rb-tests".into(),
                kind,
            },
            target: "tests.tar".into(),
            uid: 0,
            gid: 0,
            mode: 0o400,
        }
    }

    #[test]
    fn a_secret_mounts_as_a_secret_only_with_its_owner_and_mode() {
        let m = mount(InputKind::Secret);
        assert!(m.config_ref().is_none());
        let s = m.secret_ref().unwrap();
        let f = s.file.unwrap();
        assert_eq!(
            (f.name.as_deref(), f.uid.as_deref(), f.mode),
            (Some("tests.tar"), Some("0"), Some(0o400))
        );
        assert_eq!(s.secret_id.as_deref(), Some("id1"));
        assert!(mount(InputKind::Config).secret_ref().is_none());
        assert!(mount(InputKind::Config).config_ref().is_some());
    }
}
