//! The Docker engine, wrapped: every call racebench makes goes through here and
//! fails with an [`EngineError`] variant that says what was being done.
//! `bollard` types never leave this module's public API.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, PortBinding,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, PushImageOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, TagImageOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

/// The oldest engine API racebench is tested against (Debian's docker.io 20.10).
pub const MIN_API_VERSION: &str = "1.41";

/// A failed Docker operation, naming what racebench was doing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "failed to reach a Docker engine at {host}: {reason}\n\
         racebench needs a running Docker engine. On Debian or Ubuntu: \
         `sudo apt-get install -y docker.io && sudo systemctl start docker` \
         (or run `sudo dockerd &` where there is no systemd). \
         If the engine listens elsewhere, set DOCKER_HOST (e.g. unix:///run/user/1000/docker.sock)."
    )]
    Unreachable { host: String, reason: String },
    #[error("the Docker engine speaks API {found}, older than the {MIN_API_VERSION} racebench needs; upgrade the engine")]
    TooOld { found: String },
    #[error("failed to {action}: {message}")]
    Operation { action: String, message: String },
    #[error("failed to build image {tag}: {message}")]
    Build {
        tag: String,
        message: String,
        /// The last lines of the build output.
        log_tail: String,
    },
    #[error("failed to pull image {image}: {message}")]
    Pull { image: String, message: String },
    #[error("failed to push image {image}: {message}")]
    Push { image: String, message: String },
}

impl EngineError {
    pub(crate) fn op(action: impl Into<String>, err: bollard::errors::Error) -> EngineError {
        EngineError::Operation {
            action: action.into(),
            message: describe(&err),
        }
    }

    /// Whether the engine answered "no such object" (container, network, image gone).
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Operation { message, .. } if message.starts_with("404"))
    }
}

/// Renders a bollard error as a short lowercase sentence (status code first when
/// the engine answered).
pub(crate) fn describe(err: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match err {
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("{status_code} {}", message.trim()),
        E::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

/// The bridge option that keeps the host's address off a network, so
/// containers cannot reach host ports through the gateway.
pub const INHIBIT_HOST_OPTION: &str = "com.docker.network.bridge.inhibit_ipv4";

/// How cut off a network is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkIsolation {
    /// An ordinary bridge: routes to the host and beyond.
    Open,
    /// No route off the host, but the host's own ports stay reachable through the gateway.
    Internal,
    /// Internal, and the host has no address on it: members reach each other only.
    Contained,
}

/// What the engine says about itself.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

impl fmt::Display for EngineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Docker {} (API {}, {}/{})",
            self.version, self.api_version, self.os, self.arch
        )
    }
}

/// An image as far as racebench cares.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub labels: HashMap<String, String>,
}

/// Resource limits and isolation of a container.
#[derive(Debug, Clone, Default)]
pub struct ContainerLimits {
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids: Option<i64>,
}

impl From<&racebench_model::Limits> for ContainerLimits {
    /// A datapoint's `[limits]`, as the engine takes them.
    fn from(limits: &racebench_model::Limits) -> Self {
        ContainerLimits {
            memory_bytes: Some((limits.memory_mb * 1024 * 1024) as i64),
            nano_cpus: Some((limits.cpus * 1e9) as i64),
            pids: Some(limits.pids),
        }
    }
}

/// Everything needed to create a container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: Option<String>,
    pub image: String,
    pub cmd: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: HashMap<String, String>,
    pub limits: ContainerLimits,
    /// The network to start on (others can be connected later).
    pub network: Option<String>,
    /// DNS aliases on `network`.
    pub aliases: Vec<String>,
    /// Container port (e.g. "5432/tcp") published on 127.0.0.1 with an engine-chosen port.
    pub publish_loopback: Vec<String>,
    /// Drop every capability but `keep_caps`, forbid privilege escalation.
    pub hardened: bool,
    /// Capabilities a hardened container keeps (e.g. `SETUID`).
    pub keep_caps: Vec<String>,
    pub hostname: Option<String>,
}

/// What a finished exec returned.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: Option<i64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes dropped from the middle of stdout and stderr to respect the capture cap.
    pub truncated: u64,
}

/// A container as listed by label.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub labels: HashMap<String, String>,
    pub state: String,
}

/// A network as listed by label.
#[derive(Debug, Clone)]
pub struct NetworkSummary {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
}

/// A connected Docker engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// Crate-internal: other runner modules may add engine operations in
    /// `impl Engine` blocks; nothing outside the crate sees bollard.
    pub(crate) docker: Docker,
    host: String,
    info: EngineInfo,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("host", &self.host)
            .field("info", &self.info)
            .finish()
    }
}

/// Cap on output kept in memory per exec (the rest is counted as truncated).
const EXEC_CAPTURE_LIMIT: usize = 8 * 1024 * 1024;

impl Engine {
    /// Connects to the engine named by DOCKER_HOST (or the local socket),
    /// negotiates the API version and checks that it answers.
    pub async fn connect() -> Result<Engine, EngineError> {
        let host = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let unreachable = |reason: String| EngineError::Unreachable {
            host: host.clone(),
            reason,
        };
        let docker = Docker::connect_with_defaults().map_err(|e| unreachable(describe(&e)))?;
        Engine::connected(docker, host).await
    }

    /// Connects to the engine at `host` (`unix://PATH`), whatever DOCKER_HOST says.
    pub async fn connect_to(host: &str) -> Result<Engine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            host: host.to_string(),
            reason,
        };
        let path = host
            .strip_prefix("unix://")
            .ok_or_else(|| unreachable("only unix:// sockets can be named here".into()))?;
        let docker = Docker::connect_with_unix(path, 600, bollard::API_DEFAULT_VERSION)
            .map_err(|e| unreachable(describe(&e)))?;
        Engine::connected(docker, host.to_string()).await
    }

    /// Negotiates the API version and checks that the engine answers and is new enough.
    async fn connected(docker: Docker, host: String) -> Result<Engine, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            host: host.clone(),
            reason,
        };
        let docker = docker.with_timeout(Duration::from_secs(600));
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))?
            .map_err(|e| unreachable(describe(&e)))?;
        let version = docker
            .version()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let info = EngineInfo {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os: version.os.unwrap_or_default(),
            arch: version.arch.unwrap_or_default(),
        };
        if api_older(&info.api_version, MIN_API_VERSION) {
            return Err(EngineError::TooOld {
                found: info.api_version,
            });
        }
        tracing::debug!(%host, %info, "connected to docker engine");
        Ok(Engine { docker, host, info })
    }

    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    // ---- images ----

    /// Looks an image up locally; `None` when the engine does not have it.
    pub async fn image(&self, name: &str) -> Result<Option<ImageInfo>, EngineError> {
        match self.docker.inspect_image(name).await {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                labels: image.config.and_then(|c| c.labels).unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(EngineError::op(format!("inspect image {name}"), e)),
        }
    }

    /// Pulls `image` (e.g. `debian:bookworm-slim`) from its registry.
    pub async fn pull(&self, image: &str) -> Result<(), EngineError> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| EngineError::Pull {
                image: image.to_string(),
                message: describe(&e),
            })?;
        }
        Ok(())
    }

    /// Tags `image` as `REGISTRY/REPO:TAG` and pushes it there; returns the
    /// pushed image by digest (`REGISTRY/REPO@sha256:...`), the name a swarm
    /// service must use so every node runs the same bytes.
    pub async fn push(
        &self,
        image: &str,
        registry: &str,
        repo: &str,
        tag: &str,
    ) -> Result<String, EngineError> {
        let target = format!("{registry}/{repo}");
        let failed = |message: String| EngineError::Push {
            image: format!("{target}:{tag}"),
            message,
        };
        self.docker
            .tag_image(
                image,
                Some(TagImageOptionsBuilder::new().repo(&target).tag(tag).build()),
            )
            .await
            .map_err(|e| failed(format!("tag {image}: {}", describe(&e))))?;
        let mut stream = self.docker.push_image(
            &target,
            Some(PushImageOptionsBuilder::new().tag(tag).build()),
            None,
        );
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| failed(describe(&e)))?;
            if let Some(detail) = item.error_detail {
                return Err(failed(detail.message.unwrap_or_default()));
            }
        }
        let pushed = self
            .docker
            .inspect_image(&format!("{target}:{tag}"))
            .await
            .map_err(|e| failed(format!("inspect after push: {}", describe(&e))))?;
        let prefix = format!("{target}@");
        pushed
            .repo_digests
            .unwrap_or_default()
            .into_iter()
            .find(|d| d.starts_with(&prefix))
            .ok_or_else(|| failed("the engine recorded no digest for the pushed image".into()))
    }

    /// Imports a root file system tarball as image `repo:tag`, applying
    /// Dockerfile-style `changes` (e.g. `LABEL a=b`, `CMD ["bash"]`).
    pub async fn import_rootfs(
        &self,
        rootfs_tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        repo: &str,
        tag: &str,
        changes: Vec<String>,
    ) -> Result<(), EngineError> {
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        let body = bollard::body_try_stream(rootfs_tar);
        let mut stream = self.docker.create_image(Some(options), Some(body), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| EngineError::op(format!("import image {repo}:{tag}"), e))?;
        }
        Ok(())
    }

    /// Builds an image from a tar build context with the classic builder,
    /// passing each output line to `on_line`. Never pulls a newer base image.
    pub async fn build_image(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        dockerfile: &str,
        labels: HashMap<String, String>,
        mut on_line: impl FnMut(&str),
    ) -> Result<String, EngineError> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(&labels)
            .build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context_tar.into())));
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let mut image_id = String::new();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    return Err(EngineError::Build {
                        tag: tag.to_string(),
                        message: describe(&e),
                        log_tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
                    })
                }
            };
            if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                    tail.push_back(line.to_string());
                    if tail.len() > 40 {
                        tail.pop_front();
                    }
                }
            }
            if let Some(aux) = info.aux.as_ref().and_then(|a| a.id.clone()) {
                image_id = aux;
            }
            if let Some(detail) = info.error_detail {
                return Err(EngineError::Build {
                    tag: tag.to_string(),
                    message: detail.message.unwrap_or_else(|| "unknown error".into()),
                    log_tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
                });
            }
        }
        if image_id.is_empty() {
            image_id = self.image(tag).await?.map(|i| i.id).unwrap_or_default();
        }
        Ok(image_id)
    }

    pub async fn remove_image(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .remove_image(
                name,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .map(|_| ())
            .map_err(|e| EngineError::op(format!("remove image {name}"), e))
    }

    /// Removes every image carrying `label`; returns how many were removed.
    /// Tags of the images carrying `label`, newest first.
    pub async fn images_with_label(&self, label: &str) -> Result<Vec<String>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let mut images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| EngineError::op(format!("list images labelled {label}"), e))?;
        images.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(images.into_iter().flat_map(|i| i.repo_tags).collect())
    }

    pub async fn remove_images_with_label(&self, label: &str) -> Result<usize, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| EngineError::op(format!("list images labelled {label}"), e))?;
        let remove = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .force(true)
            .build();
        let mut removed = 0;
        for image in images {
            match self
                .docker
                .remove_image(&image.id, Some(remove.clone()), None)
                .await
            {
                Ok(_) => removed += 1,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => {
                    return Err(EngineError::op(
                        format!("remove image {}", short(&image.id)),
                        e,
                    ))
                }
            }
        }
        Ok(removed)
    }

    // ---- containers ----

    /// Creates (does not start) a container.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let mut host = HostConfig {
            memory: spec.limits.memory_bytes,
            memory_swap: spec.limits.memory_bytes,
            nano_cpus: spec.limits.nano_cpus,
            pids_limit: spec.limits.pids,
            init: Some(true),
            network_mode: spec.network.clone(),
            ..Default::default()
        };
        if spec.hardened {
            host.cap_drop = Some(vec!["ALL".to_string()]);
            if !spec.keep_caps.is_empty() {
                host.cap_add = Some(spec.keep_caps.clone());
            }
            host.security_opt = Some(vec!["no-new-privileges".to_string()]);
        }
        if !spec.publish_loopback.is_empty() {
            host.port_bindings = Some(
                spec.publish_loopback
                    .iter()
                    .map(|port| {
                        (
                            port.clone(),
                            Some(vec![PortBinding {
                                host_ip: Some("127.0.0.1".into()),
                                host_port: Some(String::new()),
                            }]),
                        )
                    })
                    .collect(),
            );
        }
        let networking = spec
            .network
            .as_ref()
            .map(|net| bollard::models::NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    net.clone(),
                    EndpointSettings {
                        aliases: (!spec.aliases.is_empty()).then(|| spec.aliases.clone()),
                        ..Default::default()
                    },
                )])),
            });
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.cmd.clone()).filter(|c| !c.is_empty()),
            entrypoint: spec.entrypoint.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone()),
            hostname: spec.hostname.clone(),
            exposed_ports: (!spec.publish_loopback.is_empty())
                .then(|| spec.publish_loopback.clone()),
            host_config: Some(host),
            networking_config: networking,
            ..Default::default()
        };
        let mut options = CreateContainerOptionsBuilder::default();
        if let Some(name) = &spec.name {
            options = options.name(name);
        }
        let created = self
            .docker
            .create_container(Some(options.build()), body)
            .await
            .map_err(|e| EngineError::op(format!("create a container from {}", spec.image), e))?;
        Ok(created.id)
    }

    /// Kills every process of a running container at once and starts it
    /// again (its file system and networks stay).
    pub async fn restart_container(&self, id: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::RestartContainerOptionsBuilder::default()
            .t(0)
            .build();
        self.docker
            .restart_container(id, Some(options))
            .await
            .map_err(|e| EngineError::op(format!("restart container {}", short(id)), e))
    }

    pub async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| EngineError::op(format!("start container {}", short(id)), e))
    }

    /// Removes a container, killing it first. Gone already is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // 409: removal already in progress.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(
                format!("remove container {}", short(id)),
                e,
            )),
        }
    }

    /// State, host port mappings and labels of a container.
    pub async fn inspect_container(
        &self,
        id: &str,
    ) -> Result<Option<ContainerDetails>, EngineError> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => {
                let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                let exit_code = c.state.as_ref().and_then(|s| s.exit_code);
                let labels = c
                    .config
                    .as_ref()
                    .and_then(|c| c.labels.clone())
                    .unwrap_or_default();
                let image = c
                    .config
                    .as_ref()
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let mut ports = HashMap::new();
                if let Some(map) = c.network_settings.as_ref().and_then(|n| n.ports.clone()) {
                    for (port, bindings) in map {
                        if let Some(b) = bindings.and_then(|b| b.into_iter().next()) {
                            if let Some(p) = b.host_port.and_then(|p| p.parse::<u16>().ok()) {
                                ports.insert(port, p);
                            }
                        }
                    }
                }
                let networks = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
                    .unwrap_or_default();
                Ok(Some(ContainerDetails {
                    id: c.id.unwrap_or_default(),
                    image,
                    running,
                    exit_code,
                    labels,
                    host_ports: ports,
                    networks,
                }))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(EngineError::op(
                format!("inspect container {}", short(id)),
                e,
            )),
        }
    }

    /// The last `tail` lines of a container's output.
    pub async fn container_logs(&self, id: &str, tail: usize) -> Result<String, EngineError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let chunks: Vec<_> = self
            .docker
            .logs(id, Some(options))
            .try_collect()
            .await
            .map_err(|e| EngineError::op(format!("read logs of container {}", short(id)), e))?;
        Ok(chunks
            .into_iter()
            .map(|c| String::from_utf8_lossy(&c.into_bytes()).into_owned())
            .collect())
    }

    /// Runs a command in a running container and waits for it; of each
    /// stream the first and the last 4 MiB are kept, and what is dropped
    /// between them is counted (and marked in the text). The caller bounds
    /// the wait.
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        env: &[(String, String)],
        workdir: Option<&str>,
    ) -> Result<ExecOutput, EngineError> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let what = || format!("run `{}` in container {}", cmd.join(" "), short(id));
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let created = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    env: Some(env),
                    working_dir: workdir.map(str::to_string),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| EngineError::op(what(), e))?;
        let mut out = ExecOutput::default();
        let (mut stdout, mut stderr) = (Capture::default(), Capture::default());
        match self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| EngineError::op(what(), e))?
        {
            StartExecResults::Attached { mut output, .. } => {
                while let Some(chunk) = output.next().await {
                    use bollard::container::LogOutput;
                    let chunk = chunk.map_err(|e| EngineError::op(what(), e))?;
                    match chunk {
                        LogOutput::StdErr { message } => stderr.push(&message),
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            stdout.push(&message)
                        }
                        LogOutput::StdIn { .. } => continue,
                    };
                }
            }
            StartExecResults::Detached => {}
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| EngineError::op(what(), e))?;
        out.exit_code = inspect.exit_code;
        out.truncated = stdout.dropped + stderr.dropped;
        out.stdout = stdout.into_bytes();
        out.stderr = stderr.into_bytes();
        Ok(out)
    }

    /// Extracts a tar archive into `path` inside the container.
    pub async fn put_archive(&self, id: &str, path: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        let options = UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| {
                EngineError::op(
                    format!("copy files to {path} in container {}", short(id)),
                    e,
                )
            })
    }

    /// A tar archive of `path` inside the container; `None` when it does not
    /// exist. At most `max_bytes` are read (a container's files are not
    /// racebench's to hold in memory whatever their size): the flag says
    /// whether the archive was cut there.
    pub async fn get_archive(
        &self,
        id: &str,
        path: &str,
        max_bytes: usize,
    ) -> Result<Option<(Vec<u8>, bool)>, EngineError> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(id, Some(options));
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    let room = max_bytes.saturating_sub(data.len());
                    if bytes.len() > room {
                        data.extend_from_slice(&bytes[..room]);
                        return Ok(Some((data, true)));
                    }
                    data.extend_from_slice(&bytes);
                }
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(None),
                Err(e) => {
                    return Err(EngineError::op(
                        format!("copy {path} out of container {}", short(id)),
                        e,
                    ))
                }
            }
        }
        Ok(Some((data, false)))
    }

    /// Containers carrying `label` (`key` or `key=value`), running or not.
    pub async fn containers_with_label(
        &self,
        label: &str,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| EngineError::op(format!("list containers labelled {label}"), e))?;
        Ok(list
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                names: c.names.unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    // ---- networks ----

    /// Creates a bridge network isolated as asked.
    pub async fn create_network(
        &self,
        name: &str,
        isolation: NetworkIsolation,
        labels: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let contained = isolation == NetworkIsolation::Contained;
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(isolation != NetworkIsolation::Open),
            attachable: Some(true),
            labels: Some(labels),
            options: contained
                .then(|| HashMap::from([(INHIBIT_HOST_OPTION.to_string(), "true".to_string())])),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|e| EngineError::op(format!("create network {name}"), e))?;
        Ok(created.id)
    }

    /// Removes a network. Gone already is fine.
    pub async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        match self.docker.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("remove network {}", short(id)), e)),
        }
    }

    /// Connects a container to a network under DNS `aliases`.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<(), EngineError> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases.to_vec()),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| {
                EngineError::op(
                    format!(
                        "connect container {} to network {}",
                        short(container),
                        short(network)
                    ),
                    e,
                )
            })
    }

    /// Disconnects a container from a network. Already gone is fine.
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
    ) -> Result<(), EngineError> {
        let request = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        match self.docker.disconnect_network(network, request).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Being removed (by its own run, or a sweep): it leaves the network anyway.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("marked for removal") =>
            {
                Ok(())
            }
            Err(e) => Err(EngineError::op(
                format!(
                    "disconnect container {} from network {}",
                    short(container),
                    short(network)
                ),
                e,
            )),
        }
    }

    /// Ids of the containers attached to a network.
    pub async fn network_containers(&self, network: &str) -> Result<Vec<String>, EngineError> {
        match self
            .docker
            .inspect_network(
                network,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(n) => Ok(n.containers.unwrap_or_default().into_keys().collect()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(Vec::new()),
            Err(e) => Err(EngineError::op(
                format!("inspect network {}", short(network)),
                e,
            )),
        }
    }

    /// Networks carrying `label`.
    pub async fn networks_with_label(
        &self,
        label: &str,
    ) -> Result<Vec<NetworkSummary>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| EngineError::op(format!("list networks labelled {label}"), e))?;
        Ok(list
            .into_iter()
            .map(|n| NetworkSummary {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default(),
            })
            .collect())
    }

    /// Names of the volumes carrying `label`.
    pub async fn volumes_with_label(&self, label: &str) -> Result<Vec<String>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| EngineError::op(format!("list volumes labelled {label}"), e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let options = RemoveVolumeOptionsBuilder::default().force(true).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("remove volume {name}"), e)),
        }
    }
}

/// Details of one container.
#[derive(Debug, Clone)]
pub struct ContainerDetails {
    pub id: String,
    pub image: String,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub labels: HashMap<String, String>,
    /// Container port ("5432/tcp") to the host port it is published on.
    pub host_ports: HashMap<String, u16>,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
}

/// One output stream of an exec, kept within [`EXEC_CAPTURE_LIMIT`]: its
/// first half and its last half, so a summary printed at the end (pytest's)
/// survives an output bomb. What is dropped from the middle is counted.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: Vec<u8>,
    dropped: u64,
}

impl Capture {
    const HALF: usize = EXEC_CAPTURE_LIMIT / 2;

    fn push(&mut self, bytes: &[u8]) {
        let room = Self::HALF.saturating_sub(self.head.len());
        let (head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(head);
        self.tail.extend_from_slice(rest);
        if self.tail.len() > 2 * Self::HALF {
            let excess = self.tail.len() - Self::HALF;
            self.tail.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn into_bytes(mut self) -> Vec<u8> {
        if self.tail.len() > Self::HALF {
            let excess = self.tail.len() - Self::HALF;
            self.tail.drain(..excess);
            self.dropped += excess as u64;
        }
        if self.dropped > 0 {
            self.head.extend_from_slice(
                format!("\n[racebench: {} bytes dropped here]\n", self.dropped).as_bytes(),
            );
        }
        self.head.extend_from_slice(&self.tail);
        self.head
    }
}

/// The first 12 characters of an id, as `docker ps` shows them.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Whether API version `found` ("1.41") is older than `min`.
fn api_older(found: &str, min: &str) -> bool {
    let parse = |v: &str| -> (u32, u32) {
        let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    !found.is_empty() && parse(found) < parse(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() {
        assert!(api_older("1.40", "1.41"));
        assert!(!api_older("1.41", "1.41"));
        assert!(!api_older("1.100", "1.41"));
        assert!(!api_older("", "1.41"), "unknown is not refused");
    }

    #[test]
    fn capture_keeps_the_start_and_the_end_and_counts_the_middle() {
        let mut capture = Capture::default();
        capture.push(b"START");
        for _ in 0..3 {
            capture.push(&vec![b'x'; EXEC_CAPTURE_LIMIT]);
        }
        capture.push(b"SUMMARY");
        let dropped_before = 3 * EXEC_CAPTURE_LIMIT as u64 + 12 - EXEC_CAPTURE_LIMIT as u64;
        let kept = capture.into_bytes();
        assert!(kept.starts_with(b"START"));
        assert!(kept.ends_with(b"SUMMARY"));
        assert!(kept.len() < EXEC_CAPTURE_LIMIT + 100);
        let text = String::from_utf8_lossy(&kept);
        assert!(
            text.contains(&format!("[racebench: {dropped_before} bytes dropped here]")),
            "{}",
            &text[Capture::HALF - 10..Capture::HALF + 60]
        );
    }
}
