//! Starting, reusing and stopping the services: [`Services::ensure`] starts
//! what a run needs (building images first), reuses running services, waits
//! until each answers a real probe, and remembers what it started so
//! [`Services::stop_started`] leaves nothing behind; `up`, `down` and `build`
//! back `racebench services up|down|build`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use racebench_model::ServiceKind;

use super::config::{ServiceSource, ServicesConfig};
use super::error::ServiceError;
use super::kafka_admin::KafkaAdmin;
use super::managed::{ensure_service_image, image_for, Managed, ADMIN_PASSWORD, ADMIN_USER};
use super::network::{ensure_services_network, SERVICES_NETWORK};
use super::postgres::PostgresAdmin;
use super::readiness::{wait_ready, Probe};
use super::redis::RedisAdmin;
use super::status::{status, ServiceStatus};
use crate::engine::{ContainerSpec, Engine};
use crate::image::ReadyImage;
use crate::labels;

/// Where one ready service is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub kind: ServiceKind,
    /// The managed container's id (`None` for an external service).
    pub container: Option<String>,
    /// The image it runs (`None` for an external service).
    pub image: Option<String>,
    /// `host:port` racebench reaches it at (127.0.0.1 for managed services).
    pub host_address: String,
    /// `host:port` (for Kafka: bootstrap list) trial containers are given.
    pub trial_address: String,
    /// How long the readiness probe took to succeed.
    pub ready_in: Duration,
}

/// Ready services, shared by the trials of a run (`Arc<Services>`).
#[derive(Debug)]
pub struct Services {
    pub(super) engine: Engine,
    pub(super) config: ServicesConfig,
    pub(super) endpoints: BTreeMap<ServiceKind, Endpoint>,
    pub(super) postgres: Option<PostgresAdmin>,
    pub(super) kafka: Option<KafkaAdmin>,
    /// The admin client and the number of logical databases.
    pub(super) redis: Option<(RedisAdmin, u32)>,
    /// Containers this handle started (and must remove).
    started: Vec<(ServiceKind, String)>,
    /// Whether this handle created the services network.
    created_network: Option<String>,
}

impl Services {
    /// Makes the `needed` services ready: starts missing managed containers
    /// (building their images first), reuses running ones, connects to
    /// external ones, and waits until each answers its probe.
    pub async fn ensure(
        engine: &Engine,
        config: &ServicesConfig,
        needed: &BTreeSet<ServiceKind>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Services, ServiceError> {
        let mut services = Services {
            engine: engine.clone(),
            config: config.clone(),
            endpoints: BTreeMap::new(),
            postgres: None,
            kafka: None,
            redis: None,
            started: Vec::new(),
            created_network: None,
        };
        match services.bring_up(needed, on_line).await {
            Ok(()) => Ok(services),
            Err(e) => {
                if let Err(cleanup) = services.stop_started().await {
                    tracing::warn!("cleanup after failed service start: {cleanup}");
                }
                Err(e)
            }
        }
    }

    async fn bring_up(
        &mut self,
        needed: &BTreeSet<ServiceKind>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<(), ServiceError> {
        let mut probes = Vec::new();
        for &kind in needed {
            let endpoint = match self.config.source(kind).clone() {
                ServiceSource::Managed { image } => {
                    self.start_managed(kind, image.as_deref(), on_line).await?
                }
                ServiceSource::External { admin, for_trials } => Endpoint {
                    kind,
                    container: None,
                    image: None,
                    host_address: admin,
                    trial_address: for_trials,
                    ready_in: Duration::ZERO,
                },
            };
            let probe = self.admin_for(&endpoint)?;
            probes.push((endpoint, probe));
        }
        // Probe all at once: a slow Postgres start overlaps the others.
        let deadline = self.config.ready_timeout;
        let engine = self.engine.clone();
        let waits = probes.iter().map(|(endpoint, probe)| {
            let engine = engine.clone();
            async move {
                let shown = match &endpoint.container {
                    Some(_) => format!(
                        "{} (published at {})",
                        endpoint.trial_address, endpoint.host_address
                    ),
                    None => endpoint.host_address.clone(),
                };
                wait_ready(
                    &engine,
                    probe,
                    &shown,
                    endpoint.container.as_deref(),
                    deadline,
                )
                .await
            }
        });
        let results = futures_util::future::join_all(waits).await;
        for ((mut endpoint, _), result) in probes.into_iter().zip(results) {
            endpoint.ready_in = result?;
            on_line(&format!(
                "{} ready at {} ({} ms)",
                endpoint.kind,
                endpoint.host_address,
                endpoint.ready_in.as_millis()
            ));
            self.endpoints.insert(endpoint.kind, endpoint);
        }
        if let Some(pg) = self.postgres.as_mut() {
            pg.prepare().await?;
        }
        if let Some(kafka) = &self.kafka {
            // Checks that the broker speaks the admin requests racebench uses.
            kafka
                .topics_with_prefix(super::naming::TOPIC_PREFIX)
                .await?;
        }
        if let Some((redis, databases)) = self.redis.as_mut() {
            *databases = redis.database_count().await?;
        }
        Ok(())
    }

    /// The admin client of an endpoint (kept on `self`) and its readiness probe.
    fn admin_for(&mut self, endpoint: &Endpoint) -> Result<Probe, ServiceError> {
        let managed = endpoint.container.is_some();
        Ok(match endpoint.kind {
            ServiceKind::Postgres => {
                let url = match self.config.source(ServiceKind::Postgres) {
                    ServiceSource::External { admin, .. } => admin.clone(),
                    ServiceSource::Managed { .. } => {
                        format!(
                            "postgres://{ADMIN_USER}:{ADMIN_PASSWORD}@{}/postgres",
                            endpoint.host_address
                        )
                    }
                };
                let admin = PostgresAdmin::new(&url, managed)?;
                self.postgres = Some(admin.clone());
                Probe::Postgres(admin)
            }
            ServiceKind::Kafka => {
                if managed {
                    let admin = KafkaAdmin::managed(endpoint.host_address.clone());
                    self.kafka = Some(admin.clone());
                    Probe::ManagedKafka(admin)
                } else {
                    self.kafka = Some(KafkaAdmin::external(&endpoint.host_address));
                    Probe::Kafka(endpoint.host_address.clone())
                }
            }
            ServiceKind::Redis => {
                let admin = match self.config.source(ServiceKind::Redis) {
                    ServiceSource::External { admin, .. } => RedisAdmin::from_url(admin)?,
                    // racebench's image has an admin user; another image is used as it comes.
                    ServiceSource::Managed { image: None } => RedisAdmin::new(
                        endpoint.host_address.clone(),
                        Some((Some(ADMIN_USER.into()), ADMIN_PASSWORD.into())),
                    ),
                    ServiceSource::Managed { image: Some(_) } => {
                        RedisAdmin::new(endpoint.host_address.clone(), None)
                    }
                };
                self.redis = Some((admin.clone(), 16));
                Probe::Redis(admin)
            }
        })
    }

    /// Reuses the running `racebench-<kind>` container or starts one.
    async fn start_managed(
        &mut self,
        kind: ServiceKind,
        override_image: Option<&str>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Endpoint, ServiceError> {
        let managed = Managed::of(kind);
        let existing = self.engine.inspect_container(managed.container).await?;
        let details = match existing {
            // Reused as it is (`racebench services down` switches to a newer image).
            Some(details) if details.running => details,
            other => {
                let image = image_for(&self.engine, kind, override_image, on_line).await?;
                if let Some(stopped) = other {
                    self.engine.remove_container(&stopped.id).await?;
                }
                let (network, created) = ensure_services_network(&self.engine).await?;
                if created {
                    self.created_network = Some(network);
                }
                let mut labels = labels::owned("service");
                labels.insert(labels::SERVICE.into(), kind.as_str().into());
                let spec = ContainerSpec {
                    name: Some(managed.container.to_string()),
                    image: image.clone(),
                    env: managed.env(),
                    labels,
                    network: Some(SERVICES_NETWORK.to_string()),
                    aliases: vec![managed.alias().to_string()],
                    publish_loopback: vec![managed.port_key()],
                    // racebench's own images run unprivileged; others may need root to start.
                    hardened: override_image.is_none(),
                    ..Default::default()
                };
                match self.engine.create_container(&spec).await {
                    Ok(id) => {
                        self.started.push((kind, id.clone()));
                        self.engine.start_container(&id).await?;
                        on_line(&format!("started {} from {image}", managed.container));
                    }
                    // A concurrent racebench process created it first: use theirs.
                    Err(e) if e.to_string().contains("409") => {}
                    Err(e) => return Err(e.into()),
                }
                self.running_details(managed).await?
            }
        };
        let port = details.host_ports.get(&managed.port_key()).copied().ok_or_else(|| ServiceError::Config {
            variable: managed.container.to_string(),
            message: format!("the container publishes no host port for {}; remove it (`racebench services down`)", managed.port_key()),
        })?;
        Ok(Endpoint {
            kind,
            container: Some(details.id),
            image: Some(details.image),
            host_address: format!("127.0.0.1:{port}"),
            trial_address: format!("{}:{}", managed.alias(), managed.port),
            ready_in: Duration::ZERO,
        })
    }

    /// Details of a just-started container, once the engine reports its port.
    async fn running_details(
        &self,
        managed: Managed,
    ) -> Result<crate::engine::ContainerDetails, ServiceError> {
        for _ in 0..50 {
            match self.engine.inspect_container(managed.container).await? {
                Some(d) if d.running && d.host_ports.contains_key(&managed.port_key()) => {
                    return Ok(d)
                }
                Some(d) if !d.running && d.exit_code.is_some_and(|c| c != 0) => {
                    return Err(ServiceError::Exited {
                        kind: managed.kind,
                        container: managed.container.to_string(),
                        exit_code: d.exit_code,
                        log_tail: super::readiness::log_tail(&self.engine, &d.id).await,
                    })
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Err(ServiceError::NotStarted { kind: managed.kind })
    }

    /// Where each ready service is.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.values()
    }

    pub fn endpoint(&self, kind: ServiceKind) -> Option<&Endpoint> {
        self.endpoints.get(&kind)
    }

    /// The services this handle started itself.
    pub fn started(&self) -> Vec<ServiceKind> {
        self.started.iter().map(|(k, _)| *k).collect()
    }

    /// Whether trial networks can be internal: every service is a managed
    /// container that racebench connects to the trial network. With an
    /// external service, trials must reach it through the host's routes.
    pub fn contained(&self) -> bool {
        self.endpoints.values().all(|e| e.container.is_some())
    }

    /// Keeps the services running after this handle is gone (what `up` does).
    pub fn keep_running(mut self) {
        self.started.clear();
        self.created_network = None;
    }

    /// Removes the containers (and network) this handle started; services it
    /// found running are left alone.
    pub async fn stop_started(mut self) -> Result<(), ServiceError> {
        if let Some(pg) = &self.postgres {
            pg.close().await;
        }
        let mut first_error = None;
        for (_, id) in std::mem::take(&mut self.started) {
            if let Err(e) = self.engine.remove_container(&id).await {
                first_error.get_or_insert(ServiceError::from(e));
            }
        }
        if let Some(network) = self.created_network.take() {
            if self.engine.network_containers(&network).await?.is_empty() {
                if let Err(e) = self.engine.remove_network(&network).await {
                    first_error.get_or_insert(ServiceError::from(e));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// `racebench services up`: makes `which` ready and leaves them running.
pub async fn up(
    engine: &Engine,
    config: &ServicesConfig,
    which: &BTreeSet<ServiceKind>,
    on_line: &mut dyn FnMut(&str),
) -> Result<Vec<ServiceStatus>, ServiceError> {
    Services::ensure(engine, config, which, on_line)
        .await?
        .keep_running();
    Ok(status(engine, config).await)
}

/// `racebench services down`: removes every managed service container and
/// the services network; returns how many objects were removed.
pub async fn down(engine: &Engine) -> Result<usize, ServiceError> {
    let mut removed = 0;
    let role = format!("{}=service", labels::ROLE);
    for container in engine.containers_with_label(&role).await? {
        engine.remove_container(&container.id).await?;
        removed += 1;
    }
    let role = format!("{}=services-network", labels::ROLE);
    for network in engine.networks_with_label(&role).await? {
        crate::guard::remove_network_fully(engine, &network.id).await?;
        removed += 1;
    }
    Ok(removed)
}

/// `racebench services build`: builds the images of every managed service
/// without an image override (and the broker binary first).
pub async fn build(
    engine: &Engine,
    config: &ServicesConfig,
    on_line: &mut dyn FnMut(&str),
) -> Result<Vec<(ServiceKind, ReadyImage)>, ServiceError> {
    let mut images = Vec::new();
    for kind in ServiceKind::ALL {
        if let ServiceSource::Managed { image: None } = config.source(kind) {
            images.push((kind, ensure_service_image(engine, kind, on_line).await?));
        }
    }
    Ok(images)
}
