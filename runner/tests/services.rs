//! Integration tests of the live services against the real Docker engine:
//! readiness, per-trial isolation (two trials in parallel, each in a container
//! on its own contained network), client compatibility (confluent-kafka from
//! PyPI, Go sarama 1.22 from Debian; librdkafka from the host against an
//! external broker), network containment, and the sweep of a
//! killed run's leftovers.
//!
//! The tests share one set of services (started once, reused, and removed by
//! the last test still using them, unless they were running already) on one
//! runtime. Test images are built from `tests/fixtures/datapoints/services-probe`
//! and cached by content hash. Run: `cargo test -p racebench-runner --test services`.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use racebench_model::{Datapoint, DatapointSpec, ServiceKind};
use racebench_runner::archive::FileSet;
use racebench_runner::base_image::ensure_base;
use racebench_runner::cache_dir::cache_dir;
use racebench_runner::engine::{ContainerLimits, ContainerSpec, Engine, NetworkIsolation};
use racebench_runner::guard::{remove_network_fully, ContainerGuard};
use racebench_runner::image::ensure_image;
use racebench_runner::labels;
use racebench_runner::services::{
    down, ensure_nisshi, kafka_metadata, owner_of, status, sweep_leftovers, up, KafkaAdmin,
    Managed, PostgresAdmin, RedisAdmin, ServiceSource, Services, ServicesConfig, TrialKey,
    TrialNames, TrialServices, ADMIN_PASSWORD, ADMIN_USER,
};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell, RwLock};

// ---- shared runtime and services ----

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

struct Suite {
    services: Option<Arc<Services>>,
    users: usize,
}

static SUITE: Mutex<Suite> = Mutex::const_new(Suite {
    services: None,
    users: 0,
});
/// Tests hold it shared; the up/down test holds it alone.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

fn all_kinds() -> BTreeSet<ServiceKind> {
    ServiceKind::ALL.into_iter().collect()
}

fn config() -> ServicesConfig {
    ServicesConfig::from_env().expect("RACEBENCH_* service variables")
}

async fn engine() -> Engine {
    Engine::connect().await.expect("a Docker engine")
}

async fn acquire() -> Arc<Services> {
    let mut suite = SUITE.lock().await;
    if suite.services.is_none() {
        let started = Instant::now();
        let services = Services::ensure(&engine().await, &config(), &all_kinds(), &mut |line| {
            eprintln!("  {line}")
        })
        .await
        .unwrap_or_else(|e| panic!("services did not start: {e}"));
        eprintln!(
            "services ready in {} ms (started here: {:?})",
            started.elapsed().as_millis(),
            services.started()
        );
        suite.services = Some(Arc::new(services));
    }
    suite.users += 1;
    suite.services.clone().expect("set above")
}

async fn release_suite(services: Arc<Services>) {
    let mut suite = SUITE.lock().await;
    drop(services);
    suite.users -= 1;
    if suite.users == 0 {
        if let Some(shared) = suite.services.take() {
            match Arc::try_unwrap(shared) {
                Ok(services) => services
                    .stop_started()
                    .await
                    .expect("stop the services the tests started"),
                Err(_) => panic!("a test kept a handle to the services"),
            }
        }
    }
}

/// Runs `body` with the shared services; releases them even if it panics.
fn with_services<F, Fut>(body: F)
where
    F: FnOnce(Arc<Services>, Engine) -> Fut,
    Fut: Future<Output = ()>,
{
    rt().block_on(async {
        let _shared = EXCLUSIVE.read().await;
        let services = acquire().await;
        let result = AssertUnwindSafe(body(services.clone(), engine().await))
            .catch_unwind()
            .await;
        release_suite(services).await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    })
}

// ---- fixture images ----

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/datapoints/services-probe")
}

fn probe_spec() -> DatapointSpec {
    let (datapoint, _) = Datapoint::load(&fixture_dir()).expect("the services-probe fixture loads");
    datapoint.spec
}

fn spec_with(services: &[ServiceKind]) -> DatapointSpec {
    let mut spec = probe_spec();
    spec.services = services.to_vec();
    if !services.contains(&ServiceKind::Kafka) {
        spec.kafka.topics.clear();
    }
    spec
}

async fn build_fixture_image(
    engine: &Engine,
    repo: &str,
    dir: PathBuf,
    exclude: &[&str],
) -> String {
    let base = ensure_base(engine, &cache_dir().join("base"), &mut |l| {
        eprintln!("  {l}")
    })
    .await
    .expect("base image");
    let context = FileSet::from_dir(&dir, exclude).expect("fixture context");
    let started = Instant::now();
    let image = ensure_image(
        engine,
        repo,
        &context,
        "Dockerfile",
        &base.id,
        Default::default(),
        |l| eprintln!("  {l}"),
    )
    .await
    .unwrap_or_else(|e| panic!("build {repo}: {e}"));
    eprintln!(
        "{} {:?} in {} ms",
        image.tag,
        image.provenance,
        started.elapsed().as_millis()
    );
    image.tag
}

/// Python 3 + psycopg2 + redis (Debian) + confluent-kafka 2.12.1 (PyPI).
async fn python_image(engine: &Engine) -> String {
    static IMAGE: OnceCell<String> = OnceCell::const_new();
    IMAGE
        .get_or_init(|| {
            build_fixture_image(
                engine,
                "racebench-test/services-probe",
                fixture_dir(),
                &["tests", "solutions", "sarama"],
            )
        })
        .await
        .clone()
}

/// Go sarama 1.22 from Debian.
async fn sarama_image(engine: &Engine) -> String {
    static IMAGE: OnceCell<String> = OnceCell::const_new();
    IMAGE
        .get_or_init(|| {
            build_fixture_image(
                engine,
                "racebench-test/sarama-probe",
                fixture_dir().join("sarama"),
                &[],
            )
        })
        .await
        .clone()
}

// ---- trials ----

/// A network removed on drop (from a helper thread) if not removed explicitly.
struct TestNetwork {
    id: String,
    done: bool,
}

impl TestNetwork {
    async fn contained(engine: &Engine, name: &str) -> TestNetwork {
        let id = engine
            .create_network(
                name,
                NetworkIsolation::Contained,
                labels::owned("trial-network"),
            )
            .await
            .expect("create a contained network");
        TestNetwork { id, done: false }
    }

    /// An internal network without the host-address option (the engine's plain kind).
    async fn plain_internal(engine: &Engine, name: &str) -> TestNetwork {
        let id = engine
            .create_network(
                name,
                NetworkIsolation::Internal,
                labels::owned("trial-network"),
            )
            .await
            .expect("create an internal network");
        TestNetwork { id, done: false }
    }

    async fn remove(mut self, engine: &Engine) {
        self.done = true;
        remove_network_fully(engine, &self.id)
            .await
            .expect("remove the test network");
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let id = self.id.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(engine) = Engine::connect().await {
                    let _ = remove_network_fully(&engine, &id).await;
                }
            })
        })
        .join();
    }
}

/// One trial: its network, provisioned services and container.
struct Trial {
    network: TestNetwork,
    services: Option<TrialServices>,
    container: Option<ContainerGuard>,
}

fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "rb-svc-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

impl Trial {
    async fn start(
        engine: &Engine,
        services: &Services,
        spec: &DatapointSpec,
        image: &str,
        trial: u32,
        cmd: &[&str],
    ) -> Trial {
        let network = TestNetwork::contained(engine, &unique("net")).await;
        let key = TrialKey {
            run_id: format!("svc-test-{}", std::process::id()),
            datapoint: spec.id.clone(),
            candidate: "probe".into(),
            trial,
        };
        let provisioned = services
            .provision(&key, spec, &network.id)
            .await
            .expect("provision the trial");
        let mut env = provisioned.env.clone();
        env.push(("RACEBENCH_TRIAL".into(), trial.to_string()));
        let container_spec = ContainerSpec {
            name: Some(unique("trial")),
            image: image.to_string(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            env,
            labels: labels::for_trial(&key.run_id, &key.datapoint, &key.candidate, trial, "trial"),
            limits: ContainerLimits {
                memory_bytes: Some(512 << 20),
                nano_cpus: None,
                pids: Some(256),
            },
            network: Some(network.id.clone()),
            hardened: true,
            ..Default::default()
        };
        let container = ContainerGuard::create(engine, &container_spec)
            .await
            .expect("create the trial container");
        engine
            .start_container(container.id())
            .await
            .expect("start the trial container");
        Trial {
            network,
            services: Some(provisioned),
            container: Some(container),
        }
    }

    fn names(&self) -> TrialNames {
        self.services.as_ref().expect("provisioned").names.clone()
    }

    fn var(&self, name: &str) -> String {
        self.services
            .as_ref()
            .expect("provisioned")
            .var(name)
            .unwrap_or_default()
            .to_string()
    }

    /// Runs a command in the trial container and parses its last output line as JSON.
    async fn exec_json(&self, engine: &Engine, cmd: &[&str]) -> Value {
        self.exec_json_env(engine, cmd, &[]).await
    }

    async fn exec_json_env(&self, engine: &Engine, cmd: &[&str], env: &[(&str, &str)]) -> Value {
        let id = self.container.as_ref().expect("container").id();
        let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = tokio::time::timeout(Duration::from_secs(150), engine.exec(id, &cmd, &env, None))
            .await
            .expect("the probe finished within 150 s")
            .expect("exec the probe");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|_| {
            panic!(
                "{cmd:?} printed no JSON (exit {:?}):\n{stdout}\n{}",
                out.exit_code,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Releases the services, then removes the container and the network.
    async fn finish(mut self, engine: &Engine) {
        let released = self.services.take().expect("provisioned").release().await;
        self.container
            .take()
            .expect("container")
            .remove()
            .await
            .expect("remove the trial container");
        self.network.remove(engine).await;
        released.expect("release the trial's services");
    }
}

/// Admin clients of the managed services, for checking from the test.
fn admins(services: &Services) -> (PostgresAdmin, KafkaAdmin, RedisAdmin) {
    let host = |kind| {
        services
            .endpoint(kind)
            .expect("endpoint")
            .host_address
            .clone()
    };
    let pg = PostgresAdmin::new(
        &format!(
            "postgres://{ADMIN_USER}:{ADMIN_PASSWORD}@{}/postgres",
            host(ServiceKind::Postgres)
        ),
        true,
    )
    .expect("postgres admin");
    let kafka = KafkaAdmin::managed(host(ServiceKind::Kafka));
    let redis = RedisAdmin::new(
        host(ServiceKind::Redis),
        Some((Some(ADMIN_USER.into()), ADMIN_PASSWORD.into())),
    );
    (pg, kafka, redis)
}

fn assert_ok(what: &str, result: &Value) {
    assert_eq!(result["ok"], Value::Bool(true), "{what}: {result:#}");
}

// ---- tests ----

#[test]
fn services_answer_real_probes_and_status_reports_them_healthy() {
    with_services(|services, engine| async move {
        for kind in ServiceKind::ALL {
            let endpoint = services.endpoint(kind).expect("every service is up");
            assert!(
                endpoint.host_address.starts_with("127.0.0.1:"),
                "{endpoint:?}"
            );
            assert_eq!(
                endpoint.trial_address,
                format!("{kind}:{}", Managed::of(kind).port)
            );
        }
        let statuses = status(&engine, &config()).await;
        for s in &statuses {
            eprintln!("{s}");
            assert!(s.healthy && s.probe_time.is_some(), "{s}");
        }
        let kafka = services
            .endpoint(ServiceKind::Kafka)
            .unwrap()
            .host_address
            .clone();
        // Twenty fresh probes in a row: the managed broker's probe must not
        // depend on which connection a client happens to keep (librdkafka
        // from the host drops the bootstrap one for `kafka:9092`).
        for _ in 0..20 {
            assert_eq!(
                KafkaAdmin::managed(kafka.clone())
                    .broker_count(Duration::from_secs(5))
                    .await,
                Ok(1),
                "the managed broker lists itself"
            );
        }
    });
}

#[test]
fn parallel_trials_see_only_their_own_rows_and_messages_and_leave_nothing_behind() {
    with_services(|services, engine| async move {
        let image = python_image(&engine).await;
        let spec = spec_with(&[ServiceKind::Postgres, ServiceKind::Kafka]);
        let sleep = ["sleep", "infinity"];
        let (a, b) = tokio::join!(
            Trial::start(&engine, &services, &spec, &image, 1, &sleep),
            Trial::start(&engine, &services, &spec, &image, 2, &sleep)
        );
        let (na, nb) = (a.names(), b.names());
        assert_ne!(na.database, nb.database);
        assert_ne!(na.topic_prefix, nb.topic_prefix);
        assert_eq!(
            a.var("KAFKA_TOPIC_EVENTS"),
            format!("{}events", na.topic_prefix)
        );
        assert_eq!(a.var("KAFKA_BOOTSTRAP_SERVERS"), "kafka:9092");
        let started = Instant::now();
        let (ra, rb) = tokio::join!(
            a.exec_json(
                &engine,
                &["python3", "/work/src/probe.py", "pg-kafka", "alpha"]
            ),
            b.exec_json(
                &engine,
                &["python3", "/work/src/probe.py", "pg-kafka", "beta"]
            )
        );
        eprintln!(
            "probes took {} ms:\n{ra}\n{rb}",
            started.elapsed().as_millis()
        );
        // The trial's role owns its database and nothing else.
        assert_eq!(ra["user"], Value::String(na.database.clone()));
        assert_eq!(rb["database"], Value::String(nb.database.clone()));
        assert_ok("trial 1", &ra);
        assert_ok("trial 2", &rb);

        let (pg, kafka, _) = admins(&services);
        let (_, _) = tokio::join!(a.finish(&engine), b.finish(&engine));
        let left = pg.trial_objects().await.expect("list databases");
        for names in [&na, &nb] {
            assert!(
                !left.contains(&names.database),
                "{} left behind: {left:?}",
                names.database
            );
            let topics = kafka
                .topics_with_prefix(&names.topic_prefix)
                .await
                .expect("list topics");
            assert!(topics.is_empty(), "topics left behind: {topics:?}");
        }
        pg.close().await;
    });
}

#[test]
fn redis_trials_get_their_own_database_and_cannot_reconfigure_or_reach_out() {
    with_services(|services, engine| async move {
        let image = python_image(&engine).await;
        let spec = spec_with(&[ServiceKind::Redis]);
        let sleep = ["sleep", "infinity"];
        let (a, b) = tokio::join!(
            Trial::start(&engine, &services, &spec, &image, 1, &sleep),
            Trial::start(&engine, &services, &spec, &image, 2, &sleep)
        );
        let ia = a.services.as_ref().unwrap().redis_index.expect("leased");
        let ib = b.services.as_ref().unwrap().redis_index.expect("leased");
        assert_ne!(ia, ib);
        assert_ne!(ia, 0, "database 0 holds the leases");
        assert_eq!(a.var("REDIS_URL"), format!("redis://redis:6379/{ia}"));
        let (ra, rb) = tokio::join!(
            a.exec_json(
                &engine,
                &["python3", "/work/src/probe.py", "redis", "alpha"]
            ),
            b.exec_json(&engine, &["python3", "/work/src/probe.py", "redis", "beta"])
        );
        assert_ok("trial 1", &ra);
        assert_ok("trial 2", &rb);
        let (_, _, redis) = admins(&services);
        assert_eq!(redis.db_size(ia).await.unwrap(), 2);
        let (_, _) = tokio::join!(a.finish(&engine), b.finish(&engine));
        assert_eq!(
            redis.db_size(ia).await.unwrap(),
            0,
            "released databases are emptied"
        );
        let leases = redis.leases().await.unwrap();
        assert!(
            !leases.iter().any(|(i, _)| *i == ia || *i == ib),
            "leases freed: {leases:?}"
        );
    });
}

#[test]
fn sarama_commits_with_offset_commit_v2_and_its_v1_commits_are_rejected() {
    with_services(|services, engine| async move {
        let image = sarama_image(&engine).await;
        let spec = spec_with(&[ServiceKind::Kafka]);
        let sleep = ["sleep", "infinity"];
        // One trial (and topic) per client setting, all at once.
        let settings = [
            ("v2", "2.0.0"),
            ("v1", "2.0.0"),
            ("v2", "0.11.0.0"),
            ("v2", "0.10.2.0"),
        ];
        let trials = futures_util::future::join_all(
            (1..=settings.len() as u32)
                .map(|n| Trial::start(&engine, &services, &spec, &image, n, &sleep)),
        )
        .await;
        let results = futures_util::future::join_all(trials.iter().zip(settings).map(
            |(trial, (commit, version))| {
                let engine = &engine;
                async move {
                    let env = [("SARAMA_KAFKA_VERSION", version)];
                    trial
                        .exec_json_env(engine, &["sarama-probe", commit], &env)
                        .await
                }
            },
        ))
        .await;
        futures_util::future::join_all(trials.into_iter().map(|t| t.finish(&engine))).await;
        for ((commit, version), result) in settings.iter().zip(&results) {
            eprintln!("sarama {version} commit {commit}: {result}");
        }
        for r in [&results[0], &results[2]] {
            assert_eq!(r["first"], 12, "{r}");
            assert_eq!(
                r["second"],
                serde_json::json!(["after-restart"]),
                "resumes at the committed offset: {r}"
            );
            assert_eq!(r["errors"], serde_json::json!([]), "{r}");
        }
        let v1 = &results[1];
        let errors = v1["errors"].as_array().map(Vec::len).unwrap_or(0);
        let redelivered = v1["second"].as_array().map(Vec::len).unwrap_or(0);
        assert!(
            errors > 0 && redelivered > 1,
            "v1 commits are rejected and do not take effect: {v1}"
        );
        let old = &results[3];
        assert_eq!(old["first"], 0, "0.10 produce fails: {old}");
        assert!(old["errors"].to_string().contains("produce"), "{old}");
    });
}

#[test]
fn trial_network_reaches_its_services_and_nothing_else() {
    if !config().fully_contained() {
        eprintln!("skipped: external services are configured");
        return;
    }
    with_services(|services, engine| async move {
        let image = python_image(&engine).await;
        // Something listening on every address of the host.
        let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("listen on the host");
        let host_port = listener.local_addr().unwrap().port();
        let registry = tokio::net::lookup_host("pypi.org:443")
            .await
            .ok()
            .and_then(|mut a| a.next());

        let spec = probe_spec();
        let (a, b) = tokio::join!(
            Trial::start(&engine, &services, &spec, &image, 1, &["sleep", "infinity"]),
            Trial::start(
                &engine,
                &services,
                &spec,
                &image,
                2,
                &["python3", "-m", "http.server", "8080"]
            )
        );
        let gateway = |id: String| {
            let engine = engine.clone();
            async move {
                engine
                    .network_details(&id)
                    .await
                    .unwrap()
                    .and_then(|d| d.gateway)
                    .expect("a gateway")
            }
        };
        let own_gateway = gateway(a.network.id.clone()).await;
        let services_gateway = gateway("racebench-services".into()).await;
        let docker0 = gateway("bridge".into()).await;
        let ip_b = b
            .exec_json(&engine, &["python3", "-c", "import json,socket;print(json.dumps({'ip':socket.gethostbyname(socket.gethostname())}))"])
            .await["ip"]
            .as_str()
            .expect("trial 2's address")
            .to_string();
        // Wait until trial 2's server listens (python starts slowly on a busy machine).
        let mut own_server = Value::Null;
        for _ in 0..40 {
            own_server = b
                .exec_json(
                    &engine,
                    &["python3", "/work/src/probe.py", "net", "127.0.0.1:8080"],
                )
                .await;
            if own_server["127.0.0.1:8080"] == "open" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(
            own_server["127.0.0.1:8080"], "open",
            "trial 2 serves on 8080: {own_server}"
        );

        let mut blocked = vec![
            format!("{own_gateway}:{host_port}"),
            format!("{services_gateway}:{host_port}"),
            format!("{docker0}:{host_port}"),
            format!("{ip_b}:8080"),
            "dns:pypi.org".to_string(),
        ];
        if let Some(registry) = registry {
            blocked.push(registry.to_string());
        }
        let reachable = ["postgres:5432", "kafka:9092", "redis:6379"];
        let mut args = vec!["python3", "/work/src/probe.py", "net"];
        args.extend(blocked.iter().map(String::as_str));
        args.extend(reachable);
        let result = a.exec_json(&engine, &args).await;
        eprintln!("from a contained trial network: {result:#}");

        // Control: a plain internal network does expose the host's ports.
        let control_net = TestNetwork::plain_internal(&engine, &unique("control")).await;
        let control_gateway = gateway(control_net.id.clone()).await;
        let control = ContainerGuard::create(
            &engine,
            &ContainerSpec {
                name: Some(unique("control")),
                image: image.clone(),
                cmd: vec!["sleep".into(), "infinity".into()],
                labels: labels::owned("trial"),
                network: Some(control_net.id.clone()),
                hardened: true,
                ..Default::default()
            },
        )
        .await
        .expect("control container");
        engine
            .start_container(control.id())
            .await
            .expect("start control");
        let target = format!("{control_gateway}:{host_port}");
        let cmd: Vec<String> = ["python3", "/work/src/probe.py", "net", &target]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = engine
            .exec(control.id(), &cmd, &[], None)
            .await
            .expect("control probe");
        let control_result: Value =
            serde_json::from_slice(out.stdout.trim_ascii()).expect("control JSON");
        eprintln!("from a plain internal network: {control_result}");
        control.remove().await.expect("remove control");
        control_net.remove(&engine).await;
        let (_, _) = tokio::join!(a.finish(&engine), b.finish(&engine));
        drop(listener);

        for target in &blocked {
            let verdict = result[target.as_str()].as_str().unwrap_or_default();
            assert!(
                verdict.starts_with("closed") || verdict.starts_with("unresolved"),
                "{target} must be unreachable: {verdict}"
            );
        }
        for target in reachable {
            assert_eq!(
                result[target], "open",
                "{target} must be reachable: {result}"
            );
        }
        assert_eq!(
            control_result[&target], "open",
            "the control shows the probe detects an open host port"
        );
    });
}

#[test]
fn leftovers_of_a_dead_process_are_swept_and_live_trials_are_kept() {
    with_services(|services, engine| async move {
        let (pg, kafka, redis) = admins(&services);
        let mut pg = pg;
        pg.prepare().await.expect("prepare");
        let dead_pid = (4_190_000u32..4_194_000)
            .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
            .expect("an unused pid");
        let host = racebench_runner::services::Owner::current().host;
        let token = format!("{host}_{dead_pid}_deadbeef");
        let dead = TrialNames {
            database: format!("rb_{token}"),
            topic_prefix: format!("rb-{}-", token.replace('_', "-")),
            token: token.clone(),
        };
        assert!(owner_of(&dead.database).is_some_and(|o| o.is_dead()));
        pg.create_trial(&dead, "leftover")
            .await
            .expect("leftover database");
        kafka
            .create_topics(&[(format!("{}events", dead.topic_prefix), 2)], false)
            .await
            .expect("leftover topic");
        let index = redis.lease(&token, 1024).await.expect("leftover lease");

        let live = Trial::start(
            &engine,
            &services,
            &probe_spec(),
            &python_image(&engine).await,
            1,
            &["sleep", "infinity"],
        )
        .await;
        let report = sweep_leftovers(&engine, &config()).await.expect("sweep");
        eprintln!("swept: {report:?}");
        let live_names = live.names();
        let objects = pg.trial_objects().await.unwrap();
        let live_topics = kafka
            .topics_with_prefix(&live_names.topic_prefix)
            .await
            .unwrap();
        live.finish(&engine).await;

        assert!(report.databases.contains(&dead.database), "{report:?}");
        assert_eq!(report.topics, [format!("{}events", dead.topic_prefix)]);
        assert!(report.redis_indexes.contains(&index), "{report:?}");
        assert!(!objects.contains(&dead.database));
        assert!(
            objects.contains(&live_names.database),
            "a live trial's database is kept"
        );
        assert_eq!(live_topics.len(), 1, "a live trial's topic is kept");
        pg.close().await;
    });
}

#[test]
fn services_up_then_down_leaves_nothing_running() {
    rt().block_on(async {
        let _alone = EXCLUSIVE.write().await;
        let engine = engine().await;
        let role = format!("{}=service", labels::ROLE);
        if !engine.containers_with_label(&role).await.unwrap().is_empty() || !config().fully_contained() {
            eprintln!("skipped: services someone else started are running (or external ones are configured)");
            return;
        }
        let statuses = up(&engine, &config(), &all_kinds(), &mut |l| eprintln!("  {l}")).await;
        let removed = down(&engine).await.expect("down");
        let statuses = statuses.expect("up");
        for s in &statuses {
            eprintln!("{s}");
        }
        assert!(statuses.iter().all(|s| s.healthy), "all healthy after up");
        assert_eq!(removed, 4, "three containers and the network");
        assert!(engine.containers_with_label(&role).await.unwrap().is_empty());
        let net_role = format!("{}=services-network", labels::ROLE);
        assert!(engine.networks_with_label(&net_role).await.unwrap().is_empty());
    });
}

/// `cargo test -p racebench-runner --test services -- --ignored --nocapture provisioning_time`
#[test]
#[ignore = "benchmark: prints the median per-trial provisioning time of 20"]
fn provisioning_time_median_of_20() {
    with_services(|services, engine| async move {
        let network = TestNetwork::contained(&engine, &unique("bench")).await;
        for (label, kinds) in [
            (
                "database + topics",
                vec![ServiceKind::Postgres, ServiceKind::Kafka],
            ),
            ("database + topics + redis", ServiceKind::ALL.to_vec()),
        ] {
            let spec = spec_with(&kinds);
            let mut provision = Vec::new();
            let mut release = Vec::new();
            for trial in 1..=20 {
                let key = TrialKey {
                    run_id: "bench".into(),
                    datapoint: spec.id.clone(),
                    candidate: "probe".into(),
                    trial,
                };
                let t = services
                    .provision(&key, &spec, &network.id)
                    .await
                    .expect("provision");
                provision.push(t.elapsed);
                let started = Instant::now();
                t.release().await.expect("release");
                release.push(started.elapsed());
            }
            provision.sort();
            release.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "{label} ({} topic(s)): provisioning median {:.0} ms (min {:.0}, max {:.0}); release median {:.0} ms",
                spec.kafka.topics.len(),
                ms(provision[10]),
                ms(provision[0]),
                ms(provision[19]),
                ms(release[10])
            );
        }
        network.remove(&engine).await;
    });
}

/// `cargo test -p racebench-runner --test services -- --ignored --nocapture broker_binary`
#[test]
#[ignore = "builds the broker from nothing: 13 to 50 minutes on 2 cores"]
fn broker_binary_builds_from_nothing_into_an_empty_cache_and_is_then_reused() {
    let cache = tempfile::tempdir().expect("temp dir");
    // Alone in its process (`--ignored` with this name): nothing else reads the variable.
    std::env::set_var("RACEBENCH_CACHE_DIR", cache.path());
    rt().block_on(async {
        let started = Instant::now();
        let binary = ensure_nisshi(&mut |line| {
            if !line.starts_with("Compiling") && !line.starts_with("Downloaded") {
                eprintln!("  {line}");
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        println!(
            "nisshi built from nothing in {} s",
            started.elapsed().as_secs()
        );
        assert!(binary.starts_with(cache.path()), "{}", binary.display());
        let again = Instant::now();
        assert_eq!(ensure_nisshi(&mut |_| {}).await.expect("reuse"), binary);
        assert!(
            again.elapsed() < Duration::from_secs(5),
            "the second call reuses the binary"
        );
    });
}

/// A port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// An external cluster advertises addresses the racebench host resolves; its
/// readiness and status go through librdkafka (unlike the managed broker's).
/// The "external" broker here is Nisshi on the host's network, advertising
/// `127.0.0.1:<port>`; twenty fresh librdkafka clients in a row must see it.
#[test]
fn an_external_broker_is_probed_through_librdkafka() {
    with_services(|services, engine| async move {
        let image = services
            .endpoint(ServiceKind::Kafka)
            .and_then(|e| e.image.clone())
            .expect("the managed broker's image");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let broker = ContainerGuard::create(
            &engine,
            &ContainerSpec {
                name: Some(unique("external-kafka")),
                image,
                cmd: [
                    "broker",
                    "--listener-url",
                    &format!("tcp://127.0.0.1:{port}"),
                    "--advertised-listener-url",
                    &format!("tcp://{address}"),
                    "--storage-engine",
                    "memory://nisshi/",
                ]
                .map(String::from)
                .to_vec(),
                labels: labels::owned("test"),
                network: Some("host".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create the external broker");
        engine
            .start_container(broker.id())
            .await
            .expect("start the external broker");

        let config = ServicesConfig {
            kafka: ServiceSource::External {
                admin: address.clone(),
                for_trials: address.clone(),
            },
            ..config()
        };
        let kafka_only: BTreeSet<ServiceKind> = [ServiceKind::Kafka].into();
        let external = Services::ensure(&engine, &config, &kafka_only, &mut |line| {
            eprintln!("  {line}")
        })
        .await
        .expect("the external broker answers librdkafka's metadata request");
        assert!(
            external.started().is_empty(),
            "nothing is started for an external service"
        );
        for _ in 0..20 {
            assert_eq!(
                kafka_metadata(address.clone(), Duration::from_secs(5)).await,
                Ok(1),
                "librdkafka sees the one broker"
            );
        }
        let statuses = status(&engine, &config).await;
        let kafka = statuses
            .iter()
            .find(|s| s.kind == ServiceKind::Kafka)
            .expect("a kafka line");
        eprintln!("{kafka}");
        assert_eq!(kafka.state, "external");
        assert!(kafka.healthy, "{kafka}");

        external.stop_started().await.expect("nothing to stop");
        broker.remove().await.expect("remove the external broker");
    });
}
