//! Containers and networks as guard objects: `remove().await` is the normal
//! path; if a guard is dropped without it (a panic, an early return), `Drop`
//! removes the object from a helper thread with its own connection.

use std::collections::HashMap;
use std::time::Duration;

use crate::engine::{ContainerSpec, Engine, EngineError, NetworkIsolation};

/// A container racebench created and must remove.
#[derive(Debug)]
pub struct ContainerGuard {
    engine: Engine,
    id: String,
    keep: bool,
    done: bool,
}

impl ContainerGuard {
    /// Creates the container; the guard exists as soon as the engine returns its id.
    pub async fn create(
        engine: &Engine,
        spec: &ContainerSpec,
    ) -> Result<ContainerGuard, EngineError> {
        let id = engine.create_container(spec).await?;
        Ok(ContainerGuard {
            engine: engine.clone(),
            id,
            keep: false,
            done: false,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Leave the container in place for debugging (`--keep`).
    pub fn keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// Removes the container (killing it), unless asked to keep it.
    pub async fn remove(mut self) -> Result<(), EngineError> {
        self.done = true;
        if self.keep {
            return Ok(());
        }
        self.engine.remove_container(&self.id).await
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if !self.done && !self.keep {
            let id = self.id.clone();
            remove_in_background(move |engine| {
                Box::pin(async move { engine.remove_container(&id).await })
            });
        }
    }
}

/// A network racebench created; disconnects whatever is still attached, then removes it.
#[derive(Debug)]
pub struct NetworkGuard {
    engine: Engine,
    id: String,
    name: String,
    keep: bool,
    done: bool,
}

impl NetworkGuard {
    pub async fn create(
        engine: &Engine,
        name: &str,
        isolation: NetworkIsolation,
        labels: HashMap<String, String>,
    ) -> Result<NetworkGuard, EngineError> {
        let id = engine.create_network(name, isolation, labels).await?;
        Ok(NetworkGuard {
            engine: engine.clone(),
            id,
            name: name.to_string(),
            keep: false,
            done: false,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    pub async fn remove(mut self) -> Result<(), EngineError> {
        self.done = true;
        if self.keep {
            return Ok(());
        }
        remove_network_fully(&self.engine, &self.id).await
    }
}

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        if !self.done && !self.keep {
            let id = self.id.clone();
            remove_in_background(move |engine| {
                Box::pin(async move { remove_network_fully(&engine, &id).await })
            });
        }
    }
}

/// Disconnects every container still on the network, then removes it.
pub async fn remove_network_fully(engine: &Engine, id: &str) -> Result<(), EngineError> {
    for container in engine.network_containers(id).await? {
        engine.disconnect_network(id, &container).await?;
    }
    engine.remove_network(id).await
}

type RemoveFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), EngineError>> + Send>>;

/// Runs a removal on a fresh thread with its own runtime and engine connection,
/// waiting at most 20 s, so it works from `Drop` inside or outside a runtime.
fn remove_in_background(job: impl FnOnce(Engine) -> RemoveFuture + Send + 'static) {
    run_detached("cleanup", Duration::from_secs(20), async move {
        match Engine::connect().await {
            Ok(engine) => {
                if let Err(e) = job(engine).await {
                    tracing::warn!("cleanup after an interrupted step failed: {e}");
                }
            }
            Err(e) => tracing::warn!("cleanup could not reach the engine: {e}"),
        }
    });
}

/// Runs `work` to its end on a fresh thread with a runtime of its own, and
/// waits for it at most `limit`: the way a guard's `Drop` does async cleanup,
/// inside or outside a runtime. `what` names it in the log if no runtime
/// can be started.
pub(crate) fn run_detached(
    what: &str,
    limit: Duration,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let what = what.to_string();
    let handle = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(work),
            Err(e) => tracing::warn!("failed to start {what} runtime: {e}"),
        }
    });
    let deadline = std::time::Instant::now() + limit;
    while !handle.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}
