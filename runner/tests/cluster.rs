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

/// This test's swarm: its own names, subnet and state dir, so it never meets
/// a swarm someone made by hand with the default settings.
const NAME: &str = "rbtest";
const NET: &str = "10.213.7";
/// Not 5000, where Debian's packaged registry service listens once installed
/// on a machine with systemd.
const REGISTRY_PORT: &str = "5021";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cluster/testswarm")
}

fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("{NAME}-state"))
}

fn harness(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .env("RBSWARM_NAME", NAME)
        .env("RBSWARM_NET", NET)
        .env("RBSWARM_STATE", state_dir())
        .env("RBSWARM_PORT", REGISTRY_PORT)
        .output()
        .expect("run testswarm")
}

fn harness_ok(args: &[&str]) -> String {
    let out = harness(args);
    assert!(
        out.status.success(),
        "testswarm {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Why the harness cannot run here, if it cannot (not root, no network
/// namespaces, no dockerd). Anything else missing is a failure, not a skip.
fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: the swarm harness needs ip netns, iptables and dockerd".into());
    }
    let netns = Command::new("unshare").args(["--net", "true"]).status();
    if !matches!(netns, Ok(s) if s.success()) {
        return Some("network namespaces are not available (unshare --net failed)".into());
    }
    if Command::new("ip").args(["netns", "list"]).output().is_err() {
        return Some("no `ip` (iproute2) to make network namespaces".into());
    }
    if Command::new("dockerd").arg("--version").output().is_err() {
        return Some("no dockerd to run as swarm nodes".into());
    }
    None
}

/// The swarm; taken down when dropped, even when the test fails.
struct Swarm {
    env: HashMap<String, String>,
}

impl Swarm {
    fn up() -> Swarm {
        // A test killed before its teardown left the same names behind: ours.
        harness_ok(&["down"]);
        let started = Instant::now();
        harness_ok(&["up", "3"]);
        eprintln!("swarm up in {:?}", started.elapsed());
        let env = harness_ok(&["env"])
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Swarm { env }
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("testswarm env has no {key}"))
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let out = harness(&["down"]);
        if !out.status.success() {
            eprintln!(
                "testswarm down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
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
    }
}

const LIMITS: WaitLimits = WaitLimits {
    start: Duration::from_secs(60),
    run: Duration::from_secs(60),
    poll: Duration::from_millis(250),
};

#[test]
fn a_pod_runs_on_one_node_of_a_swarm_a_lost_node_is_reported_and_nothing_is_left() {
    if let Some(reason) = cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    let swarm = Swarm::up();
    let image = harness_ok(&["probe-image"]).trim().to_string();
    assert!(image.contains("@sha256:"), "probe image by digest: {image}");
    let registry_ip = swarm
        .get("RBSWARM_REGISTRY")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let manager_ip = swarm.get("RBSWARM_NODE1_IP").to_string();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Pushed by racebench's own engine code (node 1's engine standing in
        // for the runner's), and named by digest from then on.
        let local = Engine::connect_to(swarm.get("RBSWARM_NODE1_HOST")).await.expect("node 1's engine");
        let registry = swarm.get("RBSWARM_REGISTRY");
        let pushed = local.push(&image, registry, "racebench/probe", "cluster-test").await.expect("push");
        assert!(pushed.starts_with(&format!("{registry}/racebench/probe@sha256:")), "{pushed}");
        let image = pushed;

        let manager = Manager::connect(swarm.get("RBSWARM_MANAGER")).await.expect("connect to the manager");
        let nodes = manager.nodes().await.unwrap();
        assert_eq!(nodes.len(), 3, "{nodes:?}");
        assert!(nodes.iter().all(|n| n.schedulable()), "{nodes:?}");
        // The runner's own pick, keeping the manager free: a worker.
        let exclude = HashSet::from([manager.node_id().to_string()]);
        let demand = Demand { cpus: 0.5, memory_bytes: 128 << 20 };
        let picked = pick_node(&nodes, demand, &HashMap::new(), &exclude).expect("a worker has room");
        assert_ne!(picked.id, manager.node_id());
        let n2 = node(&nodes, &format!("{NAME}-n2")).clone();
        let n3 = node(&nodes, &format!("{NAME}-n3")).clone();

        let run = format!("cluster-test-{}", std::process::id());
        let label = format!("org.racebench.run={run}");
        let labels = HashMap::from([
            ("org.racebench".to_string(), "1".to_string()),
            ("org.racebench.run".to_string(), run.clone()),
        ]);

        // A pod: a service and a main container, pinned to node 2, on an internal overlay.
        let net = manager.create_pod_network(&format!("{run}-net"), &labels).await.unwrap();
        let mut svc = job(&format!("{run}-svc"), &image, &n2, &labels,
            "sleep 2; mkdir -p /www && echo hello-from-svc-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www");
        svc.network = Some((net.name.clone(), vec!["svc".into()]));
        // Ready only once it answers: the swarm keeps the task `starting` until then.
        svc.health = Some(HealthProbe {
            shell: "nc -w 1 127.0.0.1 8080 </dev/null".into(),
            interval: Duration::from_millis(300),
            grace: Duration::from_secs(30),
        });
        let mut main = job(&format!("{run}-main"), &image, &n2, &labels, &format!(
            "for i in $(seq 1 40); do \
               a=$(nslookup svc 127.0.0.11 2>/dev/null | awk '/^Address/ {{print $NF}}' | grep -v :53 | head -1); \
               [ -n \"$a\" ] && r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $a 8080 | tail -1) && [ -n \"$r\" ] && break; \
               sleep 0.25; done; \
             echo \"tries=$i got: $r\"; ip route; \
             nc -w 2 {registry_ip} {REGISTRY_PORT} </dev/null && echo registry-reachable || echo registry-unreachable; \
             nc -w 2 {manager_ip} 2377 </dev/null && echo manager-reachable || echo manager-unreachable; \
             case \"$r\" in hello-from-svc-*) exit 0;; *) exit 1;; esac"));
        main.network = Some((net.name.clone(), vec!["trial".into()]));
        let t0 = Instant::now();
        let svc = manager.create_job(&svc).await.unwrap();
        manager.wait_running(&svc, LIMITS).await.unwrap().expect("svc healthy");
        eprintln!("pod service healthy after {:?}", t0.elapsed());
        assert!(t0.elapsed() >= Duration::from_secs(2), "running before its probe could pass");
        let main = manager.create_job(&main).await.unwrap();
        let outcome = manager.wait(&main, LIMITS).await.unwrap();
        eprintln!("pod main finished in {:?}: {outcome:?}", t0.elapsed());
        let logs = manager.job_logs(&main, 1 << 20).await.unwrap();
        let out = String::from_utf8_lossy(&logs.stdout);
        assert_eq!(outcome, JobOutcome::Completed, "main's output:\n{out}\n{}", String::from_utf8_lossy(&logs.stderr));
        assert!(out.contains("tries=1 got: hello-from-svc-"), "ready before main started: {out}");
        assert!(out.contains("registry-unreachable"), "the overlay is internal: {out}");
        assert!(out.contains("manager-unreachable"), "the overlay is internal: {out}");
        assert!(!out.contains("default"), "no default route: {out}");
        let svc_task = manager.task(&svc).await.unwrap().expect("svc has a task");
        let main_task = manager.task(&main).await.unwrap().expect("main has a task");
        assert_eq!((svc_task.node_id.as_str(), main_task.node_id.as_str()), (n2.id.as_str(), n2.id.as_str()));

        // Inputs: a secret only root can read, a config anyone can.
        let tests: Vec<u8> = (0..300_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let tests_sha = hex::encode(Sha256::digest(&tests));
        let secret = manager.create_input(InputKind::Secret, &format!("{run}-tests"), &tests, &labels).await.unwrap();
        let config = manager.create_input(InputKind::Config, &format!("{run}-patch"), b"--- a/x\n+++ b/x\n", &labels).await.unwrap();
        let mounts = vec![
            InputMount { input: secret.clone(), target: "tests.tar".into(), uid: 0, gid: 0, mode: 0o400 },
            InputMount { input: config.clone(), target: "/racebench/in/patch.diff".into(), uid: 0, gid: 0, mode: 0o444 },
        ];
        let mut verifier = job(&format!("{run}-verifier"), &image, &n3, &labels,
            "sha256sum /run/secrets/tests.tar; cat /racebench/in/patch.diff");
        verifier.inputs = mounts.clone();
        let mut candidate = job(&format!("{run}-candidate"), &image, &n3, &labels,
            "cat /run/secrets/tests.tar >/dev/null && echo read-the-tests; cat /racebench/in/patch.diff");
        candidate.inputs = mounts;
        candidate.user = Some("1500:1500".into());
        let verifier = manager.create_job(&verifier).await.unwrap();
        let candidate = manager.create_job(&candidate).await.unwrap();
        assert_eq!(manager.wait(&verifier, LIMITS).await.unwrap(), JobOutcome::Completed);
        let out = manager.job_logs(&verifier, 1 << 20).await.unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.starts_with(&tests_sha), "the secret arrives whole: {out} (want {tests_sha})");
        assert!(out.contains("+++ b/x"), "{out}");
        manager.wait(&candidate, LIMITS).await.unwrap();
        let out = manager.job_logs(&candidate, 1 << 20).await.unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!stdout.contains("read-the-tests"), "uid 1500 read the root-only secret: {stdout}");
        assert!(stderr.contains("Permission denied"), "{stderr}");
        assert!(stdout.contains("+++ b/x"), "the config is readable: {stdout}");

        // Files handed back as framed output through the manager's logs, the
        // shell side installed as a config.
        let frames_sh = manager.create_input(InputKind::Config, &format!("{run}-frames"), FRAMES_SH.as_bytes(), &labels).await.unwrap();
        let mut emitter = job(&format!("{run}-frames"), &image, &n2, &labels,
            ". /racebench/bin/frames.sh; head -c 1048576 /dev/urandom > /tmp/big; echo '<testsuite/>' > /tmp/r.xml; \
             echo noise; rbx_emit out/big /tmp/big; rbx_emit report.xml /tmp/r.xml; \
             echo \"SUM $(sha256sum < /tmp/big | cut -d' ' -f1)\"; rbx_done");
        emitter.inputs = vec![InputMount { input: frames_sh, target: "/racebench/bin/frames.sh".into(), uid: 0, gid: 0, mode: 0o444 }];
        let emitter = manager.create_job(&emitter).await.unwrap();
        assert_eq!(manager.wait(&emitter, LIMITS).await.unwrap(), JobOutcome::Completed);
        let logs = manager.job_logs(&emitter, 8 << 20).await.unwrap();
        let frames = decode(&logs.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&logs.stderr)));
        let big = &frames.files["out/big"];
        assert_eq!(big.len(), 1 << 20);
        let sum_line = format!("SUM {}", hex::encode(Sha256::digest(big)));
        assert!(frames.other.contains(&sum_line), "the task's own hash of the file: {:?}", frames.other);
        assert_eq!(frames.files["report.xml"], b"<testsuite/>\n");

        // A pod's guard dropped without remove() still takes its objects away.
        let pod_label = format!("org.racebench.pod={run}-guarded");
        {
            let _guard = LabelGuard::new(&manager, pod_label.clone());
            let mut pod_labels = labels.clone();
            pod_labels.insert("org.racebench.pod".into(), format!("{run}-guarded"));
            let net = manager.create_pod_network(&format!("{run}-guarded-net"), &pod_labels).await.unwrap();
            let mut idle = job(&format!("{run}-guarded"), &image, &n2, &pod_labels, "sleep 600");
            idle.network = Some((net.name, vec![]));
            let idle = manager.create_job(&idle).await.unwrap();
            manager.wait_running(&idle, LIMITS).await.unwrap().expect("guarded job running");
        }
        let left = manager.leftovers(&pod_label).await.unwrap();
        assert!(left.services.is_empty() && left.networks.is_empty(), "a dropped guard left {left:?}");

        // A job that fails says how.
        let failing = manager
            .create_job(&job(&format!("{run}-fail"), &image, &n3, &labels, "echo bye >&2; exit 3"))
            .await
            .unwrap();
        let outcome = manager.wait(&failing, LIMITS).await.unwrap();
        assert!(matches!(outcome, JobOutcome::Failed { exit_code: Some(3), .. }), "{outcome:?}");
        assert!(!outcome.is_infrastructure());
        let logs = manager.job_logs(&failing, 1 << 20).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&logs.stderr).trim(), "bye");

        // A node killed under a running job: the job is lost, an infrastructure error.
        let long = manager
            .create_job(&job(&format!("{run}-long"), &image, &n3, &labels, "while true; do echo tick; sleep 1; done"))
            .await
            .unwrap();
        manager.wait_running(&long, LIMITS).await.unwrap().expect("long job running");
        let killed = Instant::now();
        harness_ok(&["kill", "3"]);
        let outcome = manager.wait(&long, LIMITS).await.unwrap();
        eprintln!("node 3 killed; the manager reported the job lost after {:?}: {outcome:?}", killed.elapsed());
        assert!(matches!(outcome, JobOutcome::Lost { ref node_id, .. } if *node_id == n3.id), "{outcome:?}");
        assert!(outcome.is_infrastructure());
        let n3_now = manager.node(&n3.id).await.unwrap().expect("node 3 still listed");
        assert_eq!(n3_now.health, NodeHealth::Down, "{n3_now:?}");
        // A job pinned to the dead node is lost at once, not after the start limit.
        let late = manager
            .create_job(&job(&format!("{run}-late"), &image, &n3, &labels, "true"))
            .await
            .unwrap();
        let asked = Instant::now();
        let outcome = manager.wait(&late, LIMITS).await.unwrap();
        assert!(matches!(outcome, JobOutcome::Lost { .. }), "{outcome:?}");
        assert!(asked.elapsed() < Duration::from_secs(10), "{:?}", asked.elapsed());

        // Removal by label takes every service and the network.
        let removed = manager.remove_labelled(&label, Duration::from_secs(30)).await.unwrap();
        eprintln!("removed {removed:?}");
        assert_eq!(
            (removed.services, removed.networks, removed.secrets, removed.configs),
            (8, 1, 1, 2),
            "{removed:?}"
        );
        let left = manager.leftovers(&label).await.unwrap();
        assert!(
            left.services.is_empty() && left.networks.is_empty() && left.secrets.is_empty() && left.configs.is_empty(),
            "{left:?}"
        );
        // Node 2's containers are gone too (the dead node 3 keeps its own until it returns).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ps = harness_ok(&["docker", "2", "ps", "-aq", "--filter", &format!("label=com.docker.swarm.service.name={run}-main")]);
            let ps_svc = harness_ok(&["docker", "2", "ps", "-aq", "--filter", &format!("label=com.docker.swarm.service.name={run}-svc")]);
            if ps.trim().is_empty() && ps_svc.trim().is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "containers left on node 2: {ps} {ps_svc}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    // The harness takes down all it made.
    drop(swarm);
    assert!(!state_dir().exists(), "state dir left");
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
