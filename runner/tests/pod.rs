//! Integration tests of pods against the real Docker engine: readiness from
//! inside the pod, the services working with real clients (psycopg2,
//! confluent-kafka from PyPI, redis-py; Go sarama 1.22 from Debian),
//! containment (a trial reaches its own services and nothing else, not even a
//! second pod running beside it), removal, the sweep of dead processes' pods,
//! and an external broker probed through librdkafka.
//!
//! Test images are built from `tests/fixtures/datapoints/services-probe` and
//! cached by content hash. Run: `cargo test -p racebench-runner --test pod`.

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use racebench_model::{Datapoint, ServiceKind, TopicSpec};
use racebench_runner::archive::FileSet;
use racebench_runner::base_image::ensure_base;
use racebench_runner::cache_dir::cache_dir;
use racebench_runner::engine::{ContainerLimits, ContainerSpec, Engine, NetworkIsolation};
use racebench_runner::guard::ContainerGuard;
use racebench_runner::image::ensure_image;
use racebench_runner::labels;
use racebench_runner::pod::{MainContainer, Pod, PodError, PodSpec, ServiceImages, ServiceLimits};
use racebench_runner::services::{
    ensure_nisshi, kafka_metadata, pod_images, status, External, ServiceSource, ServicesConfig,
};
use racebench_runner::session::sweep_dead_pods;
use racebench_runner::trial::{Provision, TrialKey};
use serde_json::Value;
use tokio::sync::OnceCell;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

async fn engine() -> Engine {
    Engine::connect().await.expect("a running Docker engine")
}

fn all_kinds() -> BTreeSet<ServiceKind> {
    ServiceKind::ALL.into_iter().collect()
}

/// racebench's own service images, built once per machine.
async fn service_images(engine: &Engine) -> ServiceImages {
    static IMAGES: OnceCell<ServiceImages> = OnceCell::const_new();
    IMAGES
        .get_or_init(|| async {
            pod_images(engine, &ServicesConfig::default(), &all_kinds(), &mut |l| {
                eprintln!("  {l}")
            })
            .await
            .expect("service images")
        })
        .await
        .clone()
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/datapoints/services-probe")
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
    ensure_image(
        engine,
        repo,
        &context,
        "Dockerfile",
        &base.id,
        Default::default(),
        |l| eprintln!("  {l}"),
    )
    .await
    .unwrap_or_else(|e| panic!("build {repo}: {e}"))
    .tag
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

fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "rb-pod-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn spec(image: &str, services: &[ServiceKind], images: &ServiceImages) -> PodSpec {
    let name = unique("pod");
    PodSpec {
        labels: labels::for_trial(
            &format!("pod-test-{}", std::process::id()),
            "services-probe",
            "probe",
            1,
            "trial",
        ),
        main: MainContainer {
            image: image.to_string(),
            env: vec![("RACEBENCH_TRIAL".into(), "1".into())],
            limits: ContainerLimits {
                memory_bytes: Some(512 << 20),
                nano_cpus: None,
                pids: Some(256),
            },
            cmd: vec!["sleep".into(), "infinity".into()],
            hostname: "trial".into(),
        },
        services: services.to_vec(),
        topics: if services.contains(&ServiceKind::Kafka) {
            vec![TopicSpec {
                name: "events".into(),
                partitions: 3,
            }]
        } else {
            Vec::new()
        },
        images: images.clone(),
        service_limits: ServiceLimits::default(),
        isolation: NetworkIsolation::Contained,
        name,
    }
}

async fn ready_pod(engine: &Engine, spec: &PodSpec) -> Pod {
    let mut pod = Pod::start(engine, spec)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = pod.ready(Duration::from_secs(60)).await {
        let _ = pod.remove().await;
        panic!("{e}");
    }
    eprintln!(
        "pod {} started in {} ms, ready {} ms later",
        pod.name(),
        pod.timings.start.as_millis(),
        pod.timings.ready.as_millis()
    );
    pod
}

fn var<'a>(pod: &'a Pod, name: &str) -> &'a str {
    pod.env()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Runs a command in a container and parses its last output line as JSON.
async fn exec_json(engine: &Engine, id: &str, cmd: &[&str], env: &[(String, String)]) -> Value {
    let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    let out = tokio::time::timeout(Duration::from_secs(150), engine.exec(id, &cmd, env, None))
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

async fn probe(engine: &Engine, pod: &Pod, args: &[&str]) -> Value {
    let mut cmd = vec!["python3", "/work/src/probe.py"];
    cmd.extend_from_slice(args);
    exec_json(engine, pod.main_id(), &cmd, pod.env()).await
}

fn assert_ok(what: &str, result: &Value) {
    assert_eq!(result["ok"], Value::Bool(true), "{what}: {result:#}");
}

/// The address of a container on its (first) network.
async fn address_of(engine: &Engine, id: &str) -> String {
    let out = engine
        .exec(id, &["hostname".to_string(), "-i".to_string()], &[], None)
        .await
        .expect("hostname -i");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("an address")
        .to_string()
}

/// What is left on the engine of the pods of this test process.
async fn leftovers(engine: &Engine, pods: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    for c in engine
        .containers_with_label(labels::POD)
        .await
        .expect("list containers")
    {
        if pods.contains(
            &c.labels
                .get(labels::POD)
                .map(String::as_str)
                .unwrap_or_default(),
        ) {
            left.push(format!("container {:?}", c.names));
        }
    }
    for n in engine
        .networks_with_label(labels::POD)
        .await
        .expect("list networks")
    {
        if pods.contains(
            &n.labels
                .get(labels::POD)
                .map(String::as_str)
                .unwrap_or_default(),
        ) {
            left.push(format!("network {}", n.name));
        }
    }
    left
}

// ---- tests ----

#[test]
fn a_pod_is_ready_at_once_and_its_services_work_with_real_clients() {
    rt().block_on(async {
        let engine = engine().await;
        let images = service_images(&engine).await;
        let image = python_image(&engine).await;
        let spec = spec(&image, &ServiceKind::ALL, &images);
        let pod = ready_pod(&engine, &spec).await;
        assert!(var(&pod, "DATABASE_URL").contains("@postgres:5432/app"));
        assert_eq!(var(&pod, "KAFKA_BOOTSTRAP_SERVERS"), "kafka:9092");
        assert_eq!(var(&pod, "KAFKA_TOPIC_EVENTS"), "events");
        assert!(var(&pod, "REDIS_URL").starts_with("redis://default:"));
        let pg_kafka = probe(&engine, &pod, &["pg-kafka", "a"]).await;
        let redis = probe(&engine, &pod, &["redis", "a"]).await;
        let name = pod.name().to_string();
        pod.remove().await.expect("remove the pod");
        assert_ok("postgres and kafka", &pg_kafka);
        assert_eq!(pg_kafka["user"], "app", "{pg_kafka}");
        assert_ok("redis", &redis);
        assert_eq!(leftovers(&engine, &[&name]).await, Vec::<String>::new());
    });
}

/// The containment test: pods A and B run at once. From A, with real
/// clients, every way to another account, to B's services and container, to
/// the host and off the machine fails, while A's own services work; a
/// control container on an ordinary network reaches the same host port, so
/// the probes can tell open from closed.
#[test]
fn a_trial_reaches_its_own_services_and_nothing_else() {
    rt().block_on(async {
        let engine = engine().await;
        let images = service_images(&engine).await;
        let image = python_image(&engine).await;
        let (spec_a, spec_b) = (
            spec(&image, &ServiceKind::ALL, &images),
            spec(&image, &ServiceKind::ALL, &images),
        );
        let (a, b) = tokio::join!(ready_pod(&engine, &spec_a), ready_pod(&engine, &spec_b));

        // A port on every address of the host, and a control that reaches it.
        let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("listen on the host");
        let host_port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 1];
                let _ = stream.read(&mut buf);
            }
        });
        let host_target = format!("172.17.0.1:{host_port}");
        let control = ContainerGuard::create(
            &engine,
            &ContainerSpec {
                name: Some(unique("control")),
                image: image.clone(),
                cmd: vec!["sleep".into(), "infinity".into()],
                labels: labels::owned("test"),
                network: Some("bridge".into()),
                hardened: true,
                keep_caps: Vec::new(),
                ..Default::default()
            },
        )
        .await
        .expect("create the control container");
        engine.start_container(control.id()).await.expect("start the control");
        let control_view = exec_json(
            &engine,
            control.id(),
            &["python3", "/work/src/probe.py", "net", &host_target],
            &[],
        )
        .await;

        let b_addresses = futures_util::future::join_all(
            [ServiceKind::Postgres, ServiceKind::Kafka, ServiceKind::Redis]
                .map(|k| address_of(&engine, b.service_id(k).expect("b's service"))),
        )
        .await;
        let b_pg_password = var(&b, "PGPASSWORD").to_string();
        let b_redis_password = var(&b, "REDIS_PASSWORD").to_string();
        let a_pg_password = var(&a, "PGPASSWORD").to_string();

        // Own services work; other pods' data is not visible.
        let own_pg = probe(&engine, &a, &["pg-kafka", "a"]).await;
        let own_redis = probe(&engine, &a, &["redis", "a"]).await;
        // Every other account, and B's credentials, against A's own services.
        let mut logins: Vec<String> = Vec::new();
        for (user, password, db) in [
            ("postgres", "", "postgres"),
            ("postgres", "postgres", "postgres"),
            ("racebench", "racebench", "postgres"),
            ("racebench", "racebench", "app"),
            ("app", "", "app"),
            ("app", b_pg_password.as_str(), "app"),
            ("app", a_pg_password.as_str(), "postgres"),
            ("app", a_pg_password.as_str(), "template1"),
        ] {
            logins.push(format!("pg:postgres:5432:{user}:{password}:{db}"));
        }
        for (user, password) in [
            ("racebench", "racebench"),
            ("default", ""),
            ("default", b_redis_password.as_str()),
            ("admin", "admin"),
        ] {
            logins.push(format!("redis:redis:6379:{user}:{password}"));
        }
        let logins_view = {
            let mut args = vec!["logins"];
            args.extend(logins.iter().map(String::as_str));
            probe(&engine, &a, &args).await
        };
        // B by address, the host, names off the machine.
        let mut targets = vec![
            format!("{}:5432", b_addresses[0]),
            format!("{}:9092", b_addresses[1]),
            format!("{}:6379", b_addresses[2]),
            host_target.clone(),
            "dns:pypi.org".into(),
            "dns:deb.debian.org".into(),
            "dns:host.docker.internal".into(),
        ];
        targets.push(format!("127.0.0.1:{host_port}"));
        // The pod network's gateway: Docker names one, but the host has no
        // address on the network, so nothing answers there.
        let routes_view = probe(&engine, &a, &["routes"]).await;
        for gateway in routes_view["gateways"].as_array().into_iter().flatten() {
            targets.push(format!("{}:{host_port}", gateway.as_str().unwrap_or_default()));
        }
        let net_view = {
            let mut args = vec!["net"];
            args.extend(targets.iter().map(String::as_str));
            probe(&engine, &a, &args).await
        };
        // B works on its own, untouched by A.
        let b_view = probe(&engine, &b, &["pg-kafka", "b"]).await;

        let names = [a.name().to_string(), b.name().to_string()];
        let (ra, rb, rc) = tokio::join!(a.remove(), b.remove(), control.remove());
        ra.expect("remove pod a");
        rb.expect("remove pod b");
        rc.expect("remove the control");

        eprintln!("control: {control_view}\nlogins: {logins_view:#}\nnet: {net_view:#}\nroutes: {routes_view}");
        assert_eq!(control_view[&host_target], "open", "the control reaches the host port: {control_view}");
        assert_ok("own postgres and kafka", &own_pg);
        assert_ok("own redis", &own_redis);
        assert_ok("b's own services", &b_view);
        assert_eq!(b_view["foreign"], serde_json::json!([]), "b sees none of a's messages");
        for login in &logins {
            let got = logins_view[login].as_str().unwrap_or_default();
            assert!(got.starts_with("refused"), "{login} must be refused: {got}");
        }
        for target in &targets {
            let got = net_view[target].as_str().unwrap_or_default();
            assert!(
                got.starts_with("closed") || got.starts_with("unresolved"),
                "{target} must be out of reach: {got}"
            );
        }
        assert_eq!(routes_view["docker_socket"], false);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(leftovers(&engine, &names).await, Vec::<String>::new());
    });
}

#[test]
fn sarama_commits_with_offset_commit_v2_and_its_v1_commits_are_rejected() {
    rt().block_on(async {
        let engine = engine().await;
        let images = service_images(&engine).await;
        let image = sarama_image(&engine).await;
        let settings = [
            ("v2", "2.0.0"),
            ("v1", "2.0.0"),
            ("v2", "0.11.0.0"),
            ("v2", "0.10.2.0"),
        ];
        let specs: Vec<PodSpec> = settings
            .iter()
            .map(|_| spec(&image, &[ServiceKind::Kafka], &images))
            .collect();
        let pods =
            futures_util::future::join_all(specs.iter().map(|s| ready_pod(&engine, s))).await;
        let results = futures_util::future::join_all(pods.iter().zip(settings).map(
            |(pod, (commit, version))| {
                let engine = &engine;
                async move {
                    let mut env = pod.env().to_vec();
                    env.push(("SARAMA_KAFKA_VERSION".into(), version.into()));
                    exec_json(engine, pod.main_id(), &["sarama-probe", commit], &env).await
                }
            },
        ))
        .await;
        for pod in pods {
            pod.remove().await.expect("remove the pod");
        }
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

/// A service that never answers fails readiness by its deadline, naming the
/// service and showing its log, and removing the pod then leaves nothing.
#[test]
fn a_service_that_never_gets_ready_is_reported_with_its_log_and_removed() {
    rt().block_on(async {
        let engine = engine().await;
        let mut images = service_images(&engine).await;
        // The broker's image as Postgres: it runs, but no `psql` ever logs in.
        let broker = images[&ServiceKind::Kafka].clone();
        images.insert(ServiceKind::Postgres, broker);
        let image = python_image(&engine).await;
        let spec = spec(&image, &[ServiceKind::Postgres], &images);
        let mut pod = Pod::start(&engine, &spec).await.expect("the pod starts");
        let started = Instant::now();
        let error = pod
            .ready(Duration::from_secs(5))
            .await
            .expect_err("a broker is not a database");
        let waited = started.elapsed();
        let name = pod.name().to_string();
        pod.remove().await.expect("remove the pod");
        let text = error.to_string();
        assert!(
            matches!(
                error,
                PodError::NotReady {
                    kind: ServiceKind::Postgres,
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("got no answer"), "{text}");
        assert!(text.contains("last lines of its log"), "{text}");
        assert!(
            waited < Duration::from_secs(30),
            "the deadline holds: {waited:?}"
        );
        assert_eq!(leftovers(&engine, &[&name]).await, Vec::<String>::new());
    });
}

/// Pods of a racebench process that died are swept; those of live processes
/// (this one) are not.
#[test]
fn pods_of_dead_processes_are_swept_and_live_ones_kept() {
    rt().block_on(async {
        let engine = engine().await;
        let with_pid = |pid: u32, pod: &str| {
            let mut l: HashMap<String, String> = labels::owned("trial-network");
            l.insert(labels::PID.into(), pid.to_string());
            l.insert(labels::POD.into(), pod.into());
            l
        };
        let (dead, live) = (unique("dead"), unique("live"));
        let dead_id = engine
            .create_network(
                &dead,
                NetworkIsolation::Contained,
                with_pid(i32::MAX as u32 - 7, &dead),
            )
            .await
            .expect("create");
        let live_id = engine
            .create_network(
                &live,
                NetworkIsolation::Contained,
                with_pid(std::process::id(), &live),
            )
            .await
            .expect("create");
        sweep_dead_pods(&engine).await.expect("sweep");
        let left: Vec<String> = engine
            .networks_with_label(labels::POD)
            .await
            .expect("list")
            .into_iter()
            .map(|n| n.id)
            .collect();
        engine.remove_network(&live_id).await.expect("remove");
        assert!(
            !left.contains(&dead_id),
            "the dead process's network is gone"
        );
        assert!(left.contains(&live_id), "the live process's network stays");
    });
}

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

/// An external cluster advertises addresses the racebench host resolves: it
/// is probed through librdkafka, and a trial's topics are made and removed
/// under a prefix of its own. The "external" broker here is Nisshi on the
/// host's network, advertising `127.0.0.1:<port>`.
#[test]
fn an_external_broker_is_probed_and_provisioned_through_librdkafka() {
    rt().block_on(async {
        let engine = engine().await;
        let images = service_images(&engine).await;
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let broker = ContainerGuard::create(
            &engine,
            &ContainerSpec {
                name: Some(unique("external-kafka")),
                image: images[&ServiceKind::Kafka].clone(),
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
            ..ServicesConfig::default()
        };
        let kafka_only: BTreeSet<ServiceKind> = [ServiceKind::Kafka].into();
        let external = External::connect(&config, &kafka_only)
            .await
            .expect("the external broker answers librdkafka's metadata request")
            .expect("kafka is external");
        for _ in 0..20 {
            assert_eq!(
                kafka_metadata(address.clone(), Duration::from_secs(5)).await,
                Ok(1)
            );
        }
        let (datapoint, _) = Datapoint::load(&fixture_dir()).expect("the fixture loads");
        let mut dp_spec = datapoint.spec;
        dp_spec.services = vec![ServiceKind::Kafka];
        let key = TrialKey {
            run_id: "pod-test".into(),
            datapoint: dp_spec.id.clone(),
            candidate: "probe".into(),
            trial: 1,
        };
        let lease = external.provision(&key, &dp_spec).await.expect("provision");
        let env: HashMap<String, String> = lease.env().into_iter().collect();
        let topic = env["KAFKA_TOPIC_EVENTS"].clone();
        assert!(
            topic.starts_with(&env["RACEBENCH_TOPIC_PREFIX"]) && topic.ends_with("events"),
            "{env:?}"
        );
        let listed = |t: String| {
            let address = address.clone();
            tokio::task::spawn_blocking(move || {
                use rdkafka::consumer::{BaseConsumer, Consumer};
                let c: BaseConsumer = rdkafka::ClientConfig::new()
                    .set("bootstrap.servers", &address)
                    .create()
                    .expect("client");
                let md = c
                    .fetch_metadata(None, Duration::from_secs(5))
                    .expect("metadata");
                md.topics().iter().any(|x| x.name() == t)
            })
        };
        assert!(
            listed(topic.clone()).await.unwrap(),
            "the trial's topic exists"
        );
        lease.release().await.expect("release");
        assert!(!listed(topic).await.unwrap(), "the trial's topic is gone");
        let statuses = status(&engine, &config).await;
        let kafka = statuses
            .iter()
            .find(|s| s.kind == ServiceKind::Kafka)
            .expect("a kafka line");
        assert_eq!(kafka.state, "external");
        assert!(kafka.healthy, "{kafka}");
        broker.remove().await.expect("remove the external broker");
    });
}
