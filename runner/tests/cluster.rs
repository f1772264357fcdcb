//! Integration test of racebench's swarm layer (`racebench_runner::cluster`)
//! against a real three-node swarm that `tests/cluster/testswarm` makes on this
//! machine (dockerd per network namespace, a registry on the host bridge):
//! a two-container pod pinned to one node talks over its internal overlay and
//! nothing else, a root-only secret reaches a root job whole and not a job as
//! the candidate's uid, files come back whole as framed output through the
//! manager's logs, a failing job reports its exit code, a node killed under a
//! running job is reported lost, removal by label leaves nothing, and the
//! harness takes down everything it made.
//!
//! Needs root and network namespaces (skipped, saying why, without them), and
//! `docker-registry` and `busybox-static` from Debian (`.ci/run` installs them).
//! Run: `cargo test -p racebench-runner --test cluster -- --nocapture`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use racebench_runner::cluster::{
    decode, pick_node, Demand, HealthProbe, InputKind, InputMount, JobLimits, JobOutcome, JobSpec,
    LabelGuard, Manager, NodeHealth, NodeInfo, WaitLimits, FRAMES_SH,
};
use racebench_runner::engine::Engine;
use sha2::{Digest, Sha256};

#[path = "support/testswarm.rs"]
mod testswarm;
use testswarm::{cannot_run, script, Swarm, SwarmName};

/// This test's swarm: its own names, subnet and state dir, so it never meets
/// a swarm someone made by hand with the default settings.
const NAME: &str = "rbtest";
const NET: &str = "10.213.7";
/// Not 5000, where Debian's packaged registry service listens once installed
/// on a machine with systemd.
const REGISTRY_PORT: &str = "5021";

const SWARM: SwarmName = SwarmName {
    name: NAME,
    net: NET,
    port: REGISTRY_PORT,
};

fn harness_ok(args: &[&str]) -> String {
    SWARM.harness_ok(args)
}

/// Cgroup directories named `name` (a node's cgroup parent), under any
/// controller (v1) or at the root (v2), and the processes still in them.
fn cgroups_named(name: &str) -> (Vec<PathBuf>, Vec<String>) {
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join(name))
                .collect()
        })
        .unwrap_or_default();
    dirs.push(root.join(name));
    dirs.retain(|d| d.is_dir());
    let mut procs = Vec::new();
    for dir in &dirs {
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
                procs.extend(text.lines().map(|l| format!("{} in {}", l, d.display())));
            }
            if let Ok(rd) = std::fs::read_dir(&d) {
                stack.extend(
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.is_dir()),
                );
            }
        }
    }
    (dirs, procs)
}

fn node<'a>(nodes: &'a [NodeInfo], hostname: &str) -> &'a NodeInfo {
    nodes
        .iter()
        .find(|n| n.hostname == hostname)
        .unwrap_or_else(|| panic!("no node {hostname} in {nodes:?}"))
}

fn job(
    name: &str,
    image: &str,
    node: &NodeInfo,
    labels: &HashMap<String, String>,
    script: &str,
) -> JobSpec {
    JobSpec {
        name: name.into(),
        image: image.into(),
        args: vec![script.into()],
        env: BTreeMap::new(),
        labels: labels.clone(),
        node_id: node.id.clone(),
        limits: JobLimits {
            cpus: 0.25,
            memory_mb: 64,
            pids: 64,
        },
        network: None,
        capabilities: Some(vec![]),
        user: None,
        stop_grace: Duration::from_secs(1),
        inputs: Vec::new(),
        health: None,
        init: false,
        mounts: Vec::new(),
    }
}

const LIMITS: WaitLimits = WaitLimits {
    start: Duration::from_secs(60),
    run: Duration::from_secs(60),
    poll: Duration::from_millis(250),
};

/// What every phase of the swarm test works with.
struct Ctx {
    manager: Manager,
    image: String,
    run: String,
    labels: HashMap<String, String>,
    n2: NodeInfo,
    n3: NodeInfo,
    registry_ip: String,
    manager_ip: String,
}

impl Ctx {
    fn job(&self, suffix: &str, node: &NodeInfo, script: &str) -> JobSpec {
        job(
            &format!("{}-{suffix}", self.run),
            &self.image,
            node,
            &self.labels,
            script,
        )
    }

    async fn run_to_end(&self, spec: &JobSpec) -> (JobOutcome, String, String) {
        let job = self.manager.create_job(spec).await.unwrap();
        let outcome = self.manager.wait(&job, LIMITS).await.unwrap();
        let logs = self.manager.job_logs(&job, 8 << 20).await.unwrap();
        (
            outcome,
            String::from_utf8_lossy(&logs.stdout).into_owned(),
            String::from_utf8_lossy(&logs.stderr).into_owned(),
        )
    }
}

#[test]
fn a_pod_runs_on_one_node_of_a_swarm_a_lost_node_is_reported_and_nothing_is_left() {
    if let Some(reason) = cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    let started = Instant::now();
    let swarm = SWARM.up(3);
    eprintln!("swarm up in {:?}", started.elapsed());
    let probe = harness_ok(&["probe-image"]).trim().to_string();
    assert!(probe.contains("@sha256:"), "probe image by digest: {probe}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = connect(&swarm, &probe).await;
        a_pod_is_ready_together_and_reaches_nothing_but_itself(&ctx).await;
        a_secret_is_for_root_only_and_a_config_for_all(&ctx).await;
        files_come_back_whole_as_framed_output(&ctx).await;
        a_dropped_guard_removes_its_pod(&ctx).await;
        a_failing_job_says_how(&ctx).await;
        a_killed_node_loses_its_jobs(&ctx).await;
        removal_by_label_leaves_nothing(&ctx).await;
    });

    // The harness takes down all it made.
    drop(swarm);
    assert!(!SWARM.state_dir().exists(), "state dir left");
    let links = Command::new("ip").args(["-br", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(NAME), "links left: {links}");
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(NAME),
        "netns left"
    );
    let rules = Command::new("iptables")
        .args(["-S", "FORWARD"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains(&format!("testswarm:{NAME}")),
        "iptables rule left"
    );
    assert!(
        !Path::new(&format!("/etc/docker/certs.d/{NET}.1:{REGISTRY_PORT}")).exists(),
        "registry CA left"
    );
    for i in 1..=3 {
        let (dirs, procs) = cgroups_named(&format!("{NAME}-n{i}"));
        assert!(
            dirs.is_empty() && procs.is_empty(),
            "node {i} left cgroups {dirs:?} with processes {procs:?}"
        );
    }
}

/// Pushes the probe image with racebench's own engine code (node 1's engine
/// standing in for the runner's), connects to the manager, picks nodes.
async fn connect(swarm: &Swarm, probe: &str) -> Ctx {
    let local = Engine::connect_to(swarm.get("RBSWARM_NODE1_HOST"))
        .await
        .expect("node 1's engine");
    let registry = swarm.get("RBSWARM_REGISTRY");
    let image = local
        .push(probe, registry, "racebench/probe", "cluster-test")
        .await
        .expect("push");
    assert!(
        image.starts_with(&format!("{registry}/racebench/probe@sha256:")),
        "{image}"
    );

    let manager = Manager::connect(swarm.get("RBSWARM_MANAGER"))
        .await
        .expect("connect to the manager");
    let nodes = manager.nodes().await.unwrap();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.schedulable()), "{nodes:?}");
    // The runner's own pick, keeping the manager free: a worker.
    let exclude = HashSet::from([manager.node_id().to_string()]);
    let demand = Demand {
        cpus: 0.5,
        memory_bytes: 128 << 20,
    };
    let picked = pick_node(&nodes, demand, &HashMap::new(), &exclude).expect("a worker has room");
    assert_ne!(picked.id, manager.node_id());

    let run = format!("cluster-test-{}", std::process::id());
    let labels = HashMap::from([
        ("org.racebench".to_string(), "1".to_string()),
        ("org.racebench.run".to_string(), run.clone()),
    ]);
    Ctx {
        n2: node(&nodes, &format!("{NAME}-n2")).clone(),
        n3: node(&nodes, &format!("{NAME}-n3")).clone(),
        manager,
        image,
        run,
        labels,
        registry_ip: registry.split(':').next().unwrap().to_string(),
        manager_ip: swarm.get("RBSWARM_NODE1_IP").to_string(),
    }
}

/// A service and a main container pinned to node 2 on an internal overlay: the
/// service's task is running only once its probe passes, the main reaches it
/// by alias at its first try, and reaches nothing off the overlay.
async fn a_pod_is_ready_together_and_reaches_nothing_but_itself(ctx: &Ctx) {
    let m = &ctx.manager;
    let net = m
        .create_pod_network(&format!("{}-net", ctx.run), &ctx.labels)
        .await
        .unwrap();
    let mut svc = ctx.job(
        "svc",
        &ctx.n2,
        "sleep 2; mkdir -p /www && echo hello-from-svc-$(hostname) > /www/index.html \
         && exec httpd -f -p 8080 -h /www",
    );
    svc.network = Some((net.name.clone(), vec!["svc".into()]));
    svc.health = Some(HealthProbe {
        shell: "nc -w 1 127.0.0.1 8080 </dev/null".into(),
        interval: Duration::from_millis(300),
        timeout: Duration::from_secs(1),
        grace: Duration::from_secs(30),
    });
    let (registry_ip, manager_ip) = (&ctx.registry_ip, &ctx.manager_ip);
    let mut main = ctx.job(
        "main",
        &ctx.n2,
        &format!(
            "for i in $(seq 1 40); do \
               a=$(nslookup svc 127.0.0.11 2>/dev/null | awk '/^Address/ {{print $NF}}' \
                   | grep -v :53 | head -1); \
               [ -n \"$a\" ] && r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $a 8080 | tail -1) \
                 && [ -n \"$r\" ] && break; \
               sleep 0.25; done; \
             echo \"tries=$i got: $r\"; ip route; \
             nc -w 2 {registry_ip} {REGISTRY_PORT} </dev/null \
               && echo registry-reachable || echo registry-unreachable; \
             nc -w 2 {manager_ip} 2377 </dev/null \
               && echo manager-reachable || echo manager-unreachable; \
             case \"$r\" in hello-from-svc-*) exit 0;; *) exit 1;; esac"
        ),
    );
    main.network = Some((net.name.clone(), vec!["trial".into()]));

    let t0 = Instant::now();
    let svc = m.create_job(&svc).await.unwrap();
    m.wait_running(&svc, LIMITS)
        .await
        .unwrap()
        .expect("svc healthy");
    eprintln!("pod service healthy after {:?}", t0.elapsed());
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "running before its probe could pass"
    );
    let (outcome, out, err) = ctx.run_to_end(&main).await;
    eprintln!("pod main finished in {:?}: {outcome:?}", t0.elapsed());
    assert_eq!(
        outcome,
        JobOutcome::Completed,
        "main's output:\n{out}\n{err}"
    );
    assert!(
        out.contains("tries=1 got: hello-from-svc-"),
        "ready before main started: {out}"
    );
    assert!(
        out.contains("registry-unreachable"),
        "the overlay is internal: {out}"
    );
    assert!(
        out.contains("manager-unreachable"),
        "the overlay is internal: {out}"
    );
    assert!(!out.contains("default"), "no default route: {out}");
    let svc_task = m.task(&svc).await.unwrap().expect("svc has a task");
    assert_eq!(svc_task.node_id, ctx.n2.id);
}

/// A 300 000-byte secret mounted root-only arrives whole in a root job and is
/// refused to uid 1500; a config at an absolute path is readable by both.
async fn a_secret_is_for_root_only_and_a_config_for_all(ctx: &Ctx) {
    let m = &ctx.manager;
    let tests: Vec<u8> = (0..300_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let tests_sha = hex::encode(Sha256::digest(&tests));
    let secret = m
        .create_input(
            InputKind::Secret,
            &format!("{}-tests", ctx.run),
            &tests,
            &ctx.labels,
        )
        .await
        .unwrap();
    let patch = b"--- a/x\n+++ b/x\n";
    let config = m
        .create_input(
            InputKind::Config,
            &format!("{}-patch", ctx.run),
            patch,
            &ctx.labels,
        )
        .await
        .unwrap();
    let mounts = vec![
        InputMount {
            input: secret,
            target: "tests.tar".into(),
            uid: 0,
            gid: 0,
            mode: 0o400,
        },
        InputMount {
            input: config,
            target: "/racebench/in/patch.diff".into(),
            uid: 0,
            gid: 0,
            mode: 0o444,
        },
    ];
    let mut verifier = ctx.job(
        "verifier",
        &ctx.n3,
        "sha256sum /run/secrets/tests.tar; cat /racebench/in/patch.diff",
    );
    verifier.inputs = mounts.clone();
    let (outcome, out, _) = ctx.run_to_end(&verifier).await;
    assert_eq!(outcome, JobOutcome::Completed);
    assert!(
        out.starts_with(&tests_sha),
        "the secret arrives whole: {out} (want {tests_sha})"
    );
    assert!(out.contains("+++ b/x"), "{out}");

    let mut candidate = ctx.job(
        "candidate",
        &ctx.n3,
        "cat /run/secrets/tests.tar >/dev/null && echo read-the-tests; cat /racebench/in/patch.diff",
    );
    candidate.inputs = mounts;
    candidate.user = Some("1500:1500".into());
    let (_, out, err) = ctx.run_to_end(&candidate).await;
    assert!(
        !out.contains("read-the-tests"),
        "uid 1500 read the root-only secret: {out}"
    );
    assert!(err.contains("Permission denied"), "{err}");
    assert!(out.contains("+++ b/x"), "the config is readable: {out}");
}

/// 1 MiB of random bytes and a report handed back from a task on another
/// node through the manager's logs, the shell side installed as a config.
async fn files_come_back_whole_as_framed_output(ctx: &Ctx) {
    let frames_sh = ctx
        .manager
        .create_input(
            InputKind::Config,
            &format!("{}-frames", ctx.run),
            FRAMES_SH.as_bytes(),
            &ctx.labels,
        )
        .await
        .unwrap();
    let mut emitter = ctx.job(
        "frames",
        &ctx.n2,
        ". /racebench/bin/frames.sh; head -c 1048576 /dev/urandom > /tmp/big; \
         echo '<testsuite/>' > /tmp/r.xml; echo noise; \
         rbx_emit out/big /tmp/big; rbx_emit report.xml /tmp/r.xml; \
         echo \"SUM $(sha256sum < /tmp/big | cut -d' ' -f1)\"; rbx_done",
    );
    emitter.inputs = vec![InputMount {
        input: frames_sh,
        target: "/racebench/bin/frames.sh".into(),
        uid: 0,
        gid: 0,
        mode: 0o444,
    }];
    let (outcome, out, err) = ctx.run_to_end(&emitter).await;
    assert_eq!(outcome, JobOutcome::Completed, "{err}");
    let frames = decode(out.as_bytes()).unwrap_or_else(|e| panic!("{e}: {err}"));
    let big = &frames.files["out/big"];
    assert_eq!(big.len(), 1 << 20);
    let sum_line = format!("SUM {}", hex::encode(Sha256::digest(big)));
    assert!(
        frames.other.contains(&sum_line),
        "the task's own hash of the file: {:?}",
        frames.other
    );
    assert_eq!(frames.files["report.xml"], b"<testsuite/>\n");
}

/// A pod's guard dropped without `remove()` still takes its objects away.
async fn a_dropped_guard_removes_its_pod(ctx: &Ctx) {
    let m = &ctx.manager;
    let pod = format!("{}-guarded", ctx.run);
    let pod_label = format!("org.racebench.pod={pod}");
    {
        let _guard = LabelGuard::new(m, pod_label.clone());
        let mut labels = ctx.labels.clone();
        labels.insert("org.racebench.pod".into(), pod.clone());
        let net = m
            .create_pod_network(&format!("{pod}-net"), &labels)
            .await
            .unwrap();
        let mut idle = job(&pod, &ctx.image, &ctx.n2, &labels, "sleep 600");
        idle.network = Some((net.name, vec![]));
        let idle = m.create_job(&idle).await.unwrap();
        m.wait_running(&idle, LIMITS)
            .await
            .unwrap()
            .expect("guarded job running");
    }
    let left = m.leftovers(&pod_label).await.unwrap();
    assert!(
        left.services.is_empty() && left.networks.is_empty(),
        "a dropped guard left {left:?}"
    );
}

async fn a_failing_job_says_how(ctx: &Ctx) {
    let (outcome, _, err) = ctx
        .run_to_end(&ctx.job("fail", &ctx.n3, "echo bye >&2; exit 3"))
        .await;
    assert!(
        matches!(
            outcome,
            JobOutcome::Failed {
                exit_code: Some(3),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(!outcome.is_infrastructure());
    assert_eq!(err.trim(), "bye");
}

/// A node killed under a running job: the job is lost, an infrastructure
/// error; a job pinned to the dead node is lost at once.
async fn a_killed_node_loses_its_jobs(ctx: &Ctx) {
    let m = &ctx.manager;
    let long = m
        .create_job(&ctx.job("long", &ctx.n3, "while true; do echo tick; sleep 1; done"))
        .await
        .unwrap();
    m.wait_running(&long, LIMITS)
        .await
        .unwrap()
        .expect("long job running");
    let killed = Instant::now();
    harness_ok(&["kill", "3"]);
    // Dead means its containers too (they would outlive a SIGKILLed shim).
    let (_, procs) = cgroups_named(&format!("{NAME}-n3"));
    assert!(procs.is_empty(), "node 3's containers still run: {procs:?}");
    let outcome = m.wait(&long, LIMITS).await.unwrap();
    eprintln!(
        "node 3 killed; the manager reported the job lost after {:?}: {outcome:?}",
        killed.elapsed()
    );
    assert!(
        matches!(outcome, JobOutcome::Lost { ref node_id, .. } if *node_id == ctx.n3.id),
        "{outcome:?}"
    );
    assert!(outcome.is_infrastructure());
    let n3_now = m
        .node(&ctx.n3.id)
        .await
        .unwrap()
        .expect("node 3 still listed");
    assert_eq!(n3_now.health, NodeHealth::Down, "{n3_now:?}");

    let asked = Instant::now();
    let (outcome, _, _) = ctx.run_to_end(&ctx.job("late", &ctx.n3, "true")).await;
    assert!(matches!(outcome, JobOutcome::Lost { .. }), "{outcome:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
}

/// Removal by the run's label takes every service, network, secret and
/// config, and node 2's containers go too (the dead node 3 keeps its own until
/// it returns).
async fn removal_by_label_leaves_nothing(ctx: &Ctx) {
    let m = &ctx.manager;
    let label = format!("org.racebench.run={}", ctx.run);
    let removed = m
        .remove_labelled(&label, Duration::from_secs(30))
        .await
        .unwrap();
    eprintln!("removed {removed:?}");
    assert_eq!(
        (
            removed.services,
            removed.networks,
            removed.secrets,
            removed.configs
        ),
        (8, 1, 1, 2),
        "{removed:?}"
    );
    let left = m.leftovers(&label).await.unwrap();
    assert!(
        left.services.is_empty()
            && left.networks.is_empty()
            && left.secrets.is_empty()
            && left.configs.is_empty(),
        "{left:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let filter = format!("label=com.docker.swarm.service.name={}", ctx.run);
        let ps = harness_ok(&[
            "docker",
            "2",
            "ps",
            "-aq",
            "--filter",
            &format!("{filter}-main"),
        ]);
        let ps_svc = harness_ok(&[
            "docker",
            "2",
            "ps",
            "-aq",
            "--filter",
            &format!("{filter}-svc"),
        ]);
        if ps.trim().is_empty() && ps_svc.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "containers left on node 2: {ps} {ps_svc}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `up` killed half-way (SIGKILL, so its own undo cannot run) leaves daemons,
/// namespaces, links and a rule behind; `down` must remove exactly those, and
/// a second `down` must find nothing to do.
#[test]
fn down_after_an_up_killed_half_way_leaves_nothing() {
    if let Some(reason) = cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    let (name, net, port) = ("rbhalf", "10.213.8", "5022");
    let state = std::env::temp_dir().join(format!("{name}-state"));
    let run = |args: &[&str]| {
        Command::new("bash")
            .arg(script())
            .args(args)
            .env("RBSWARM_NAME", name)
            .env("RBSWARM_NET", net)
            .env("RBSWARM_STATE", &state)
            .env("RBSWARM_PORT", port)
            .output()
            .expect("run testswarm")
    };
    assert!(run(&["down"]).status.success());
    let mut up = Command::new("bash")
        .arg(script())
        .args(["up", "3"])
        .env("RBSWARM_NAME", name)
        .env("RBSWARM_NET", net)
        .env("RBSWARM_STATE", &state)
        .env("RBSWARM_PORT", port)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start testswarm up");
    let made = state.join("made");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&made)
        .unwrap_or_default()
        .contains("pid dockerd-n2")
    {
        assert!(Instant::now() < deadline, "up never got to node 2");
        std::thread::sleep(Duration::from_millis(20));
    }
    up.kill().expect("kill up");
    up.wait().unwrap();
    let record = std::fs::read_to_string(&made).unwrap();
    assert!(record.contains("iptables FORWARD"), "{record}");

    let down = run(&["down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let again = run(&["down"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing recorded"));

    assert!(!state.exists(), "state dir left");
    let links = Command::new("ip").args(["-br", "link"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(name),
        "links left"
    );
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(name),
        "netns left"
    );
    let rules = Command::new("iptables")
        .args(["-S", "FORWARD"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains(&format!("testswarm:{name}")),
        "rule left"
    );
    let procs = Command::new("pgrep")
        .args(["-f", &format!("{}/", state.display())])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&procs.stdout).trim().is_empty(),
        "processes left"
    );
}
