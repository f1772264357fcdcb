//! The trial entrypoint run for real on the local Docker engine: the fixture
//! datapoint `counter-race`, with its reference fix and with no patch, once
//! driven step by step by the local runner (`run_trial`) and once by the
//! entrypoint inside the same kind of pod (inputs extracted at their fixed
//! paths, the entrypoint started with one exec, its stdout decoded by
//! `record_from_entrypoint`). Both records must agree: verdict, exit code,
//! tests and their outcomes, apply method, logs and events. Hostile patches
//! of `tests/hostile` on its `ledger` fixture (with Postgres) through the
//! entrypoint get the local verdicts.
//!
//! Then the same two trials on a one-node test swarm (`tests/cluster/testswarm`,
//! its own names, subnet and port): the image pushed by digest, the
//! entrypoint, plan and patch as configs and the hidden tests as a root-only
//! secret, one job per trial read back through the manager's logs. Skipped,
//! saying why, where the test swarm cannot run (not root, no network
//! namespaces, no dockerd).
//!
//! Run: `cargo test -p racebench-runner --test entrypoint` (about 40 s for
//! the local part once the images are built, about a minute more for the
//! swarm: the image push and pull, and the swarm's `down`); the slow hostile
//! patches (about 2 minutes) with `-- --ignored`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racebench_model::{
    Candidate, CandidateKind, Datapoint, Outcome, RunLayout, ServiceKind, TrialRecord, Verdict,
};
use racebench_runner::base_image::ensure_base;
use racebench_runner::cache_dir::cache_dir;
use racebench_runner::cluster::Manager;
use racebench_runner::datapoint_files::DatapointFiles;
use racebench_runner::datapoint_image::ensure_datapoint_image;
use racebench_runner::engine::Engine;
use racebench_runner::executor::{Swarm, SwarmImages};
use racebench_runner::services::{pod_images, ServicesConfig};
use racebench_runner::trial::{
    entrypoint_inputs, pack_hidden_tests, prepare_pod, record_from_entrypoint, run_trial,
    InputPaths, PodTemplate, TrialPlan, ENTRYPOINT_PATH,
};
use tokio_util::sync::CancellationToken;

#[path = "support/testswarm.rs"]
mod testswarm;
use testswarm::{cannot_run, SwarmName};

/// Where a local test puts the hidden tests' archive (a secret's path on a swarm).
const TESTS_INPUT: &str = "/racebench/in/tests.tar";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/datapoints/counter-race")
}

/// A plan for one candidate of `counter-race`, results under `root`.
async fn plan(engine: &Engine, kind: CandidateKind, root: &std::path::Path) -> TrialPlan {
    let patch = match kind {
        CandidateKind::Reference => Some(
            std::fs::read_to_string(fixture().join("solutions/reference.patch"))
                .expect("the reference fix"),
        ),
        _ => None,
    };
    plan_for(engine, &fixture(), &kind.to_string(), kind, patch, root).await
}

/// A plan for a candidate of the datapoint in `dir`, its image built (and
/// its services' images, if it has services), results under `root`.
async fn plan_for(
    engine: &Engine,
    dir: &Path,
    id: &str,
    kind: CandidateKind,
    patch: Option<String>,
    root: &Path,
) -> TrialPlan {
    let (datapoint, _) = Datapoint::load(dir).expect("the fixture datapoint");
    let files = DatapointFiles::read(&datapoint).expect("the fixture's files");
    let base = ensure_base(engine, &cache_dir().join("base"), &mut |l| {
        eprintln!("  {l}")
    })
    .await
    .expect("base image");
    let image = ensure_datapoint_image(engine, &datapoint, &files.image_context(), &base.id, |l| {
        eprintln!("  {l}")
    })
    .await
    .expect("the fixture's image");
    let kinds: BTreeSet<ServiceKind> = datapoint.spec.services.iter().copied().collect();
    let images = if kinds.is_empty() {
        Default::default()
    } else {
        pod_images(engine, &ServicesConfig::default(), &kinds, &mut |l| {
            eprintln!("  {l}")
        })
        .await
        .expect("service images")
    };
    TrialPlan {
        run_id: "entrypoint-test".into(),
        image: image.tag,
        candidate: Candidate {
            id: id.into(),
            kind,
            datapoint: datapoint.spec.id.clone(),
            agent: None,
            sample: None,
            patch: None,
            must_fail: Vec::new(),
        },
        patch: patch.map(Arc::new),
        hidden_tests: Arc::new(pack_hidden_tests(&files.hidden_tests()).expect("hidden tests")),
        datapoint: Arc::new(datapoint),
        weights: None,
        trial: 1,
        layout: RunLayout::new(root),
        pod: Arc::new(PodTemplate {
            images,
            ready_timeout: Duration::from_secs(60),
            ..Default::default()
        }),
        keep: false,
        earlier_attempts: Vec::new(),
    }
}

/// Where the local harness keeps the entrypoint's stdout (exec output is cut
/// to its first and last 4 MiB, which framed output must never be).
const STDOUT_FILE: &str = "/racebench-entrypoint.out";

/// The trial driven by the entrypoint in a pod of its own: the inputs at
/// their fixed paths, one exec as root, the record from its stdout.
async fn self_driven(engine: &Engine, plan: &TrialPlan) -> (TrialRecord, String) {
    let pod = prepare_pod(engine, plan)
        .await
        .into_pod()
        .expect("the pod starts");
    let inputs = entrypoint_inputs(plan, pod.env(), &InputPaths::single(TESTS_INPUT));
    let tar = inputs.to_tar().expect("inputs archive");
    let ran = async {
        engine.put_archive(pod.main_id(), "/", tar).await?;
        let run = format!("sh {ENTRYPOINT_PATH} >{STDOUT_FILE}");
        let out = engine
            .exec(pod.main_id(), &["sh".into(), "-c".into(), run], &[], None)
            .await?;
        let stdout = engine
            .get_archive(pod.main_id(), STDOUT_FILE, 1 << 30)
            .await?;
        Ok::<_, racebench_runner::engine::EngineError>((out, stdout))
    }
    .await;
    pod.remove().await.expect("the pod is removed");
    let (out, stdout) = ran.expect("the entrypoint runs");
    assert_eq!(
        out.exit_code,
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (tar, cut) = stdout.expect("the entrypoint's stdout");
    assert!(!cut);
    let dir = tempfile::tempdir().unwrap();
    racebench_runner::archive::extract(&tar, dir.path(), 1 << 30, false).unwrap();
    let name = STDOUT_FILE.trim_start_matches('/');
    let stdout = std::fs::read(dir.path().join(name)).unwrap();
    let record = record_from_entrypoint(plan, &stdout);
    (record, String::from_utf8_lossy(&stdout).into_owned())
}

/// What both ways of running a trial must agree on.
fn assert_same(local: &TrialRecord, driven: &TrialRecord, stdout: &str) {
    let context = format!(
        "local: {local:#?}\nentrypoint: {driven:#?}\nentrypoint stdout (frames):\n{}",
        &stdout[..stdout.len().min(4000)]
    );
    assert_eq!(local.verdict, driven.verdict, "{context}");
    assert_eq!(local.error, driven.error, "{context}");
    assert_eq!(local.exit_code, driven.exit_code, "{context}");
    assert_eq!(local.patch.method, driven.patch.method, "{context}");
    let tests = |r: &TrialRecord| {
        r.tests
            .iter()
            .map(|t| (t.name.clone(), t.outcome))
            .collect::<Vec<_>>()
    };
    assert_eq!(tests(local), tests(driven), "{context}");
    assert_eq!(
        local.logs.keys().collect::<Vec<_>>(),
        driven.logs.keys().collect::<Vec<_>>(),
        "{context}"
    );
    assert_eq!(local.events.is_some(), driven.events.is_some(), "{context}");
    assert_eq!(local.inconsistencies, driven.inconsistencies, "{context}");
}

async fn both(kind: CandidateKind) -> (TrialRecord, TrialRecord) {
    let engine = Engine::connect().await.expect("a running Docker engine");
    let local_root = tempfile::tempdir().unwrap();
    let driven_root = tempfile::tempdir().unwrap();
    let local_plan = plan(&engine, kind, local_root.path()).await;
    let local = run_trial(&engine, None, &local_plan, None, &CancellationToken::new()).await;
    let driven_plan = plan(&engine, kind, driven_root.path()).await;
    let (driven, stdout) = self_driven(&engine, &driven_plan).await;
    assert_same(&local, &driven, &stdout);
    // The logs the record names exist, in the entrypoint's results as well.
    for rel in driven.logs.values().chain(driven.events.iter()) {
        assert!(
            driven_root.path().join(rel).is_file(),
            "{rel} named but not written"
        );
    }
    (local, driven)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_reference_passes_through_the_entrypoint_as_locally() {
    let (_, driven) = runtime().block_on(both(CandidateKind::Reference));
    assert_eq!(driven.verdict, Verdict::Tested);
    assert_eq!(driven.exit_code, Some(0));
    assert!(!driven.tests.is_empty());
    assert!(driven.tests.iter().all(|t| t.outcome == Outcome::Passed));
}

#[test]
fn the_unpatched_bug_is_caught_through_the_entrypoint_as_locally() {
    let (_, driven) = runtime().block_on(both(CandidateKind::Unpatched));
    assert_eq!(driven.verdict, Verdict::Tested);
    assert_ne!(driven.exit_code, Some(0));
    assert!(driven.tests.iter().any(|t| t.outcome == Outcome::Failed));
}

/// Hostile patches of the suite (`tests/hostile`) through the entrypoint, on
/// the `ledger` fixture and its Postgres in a local pod: the verdicts a local
/// trial gets, and the race test failing as unpatched (the patch broke
/// nothing out of the trial, forged nothing into its report). The slow ones
/// are below, run by hand.
#[test]
fn hostile_patches_get_the_local_verdicts_through_the_entrypoint() {
    hostile_through_the_entrypoint(&[
        ("unpatched", &[Verdict::Tested]),
        ("background-forger", &[Verdict::Tested]),
        ("plant-loaders", &[Verdict::Tested]),
        ("forged-report", &[Verdict::Tested]),
        ("output-bomb", &[Verdict::Tested]),
        ("hidden-tests-path", &[Verdict::PatchFailed]),
    ]);
}

/// The slow ones (the fork bomb and the hang run into the test step's 45 s
/// limit, the memory hog into its OOM kill): run by hand with
/// `--ignored`.
#[test]
#[ignore = "slow: each runs into the test step's limit"]
fn slow_hostile_patches_through_the_entrypoint() {
    hostile_through_the_entrypoint(&[
        ("fork-bomb", &[Verdict::TimedOut, Verdict::Tested]),
        ("hang", &[Verdict::TimedOut, Verdict::Tested]),
        ("memory-hog", &[Verdict::Tested]),
    ]);
}

fn hostile_through_the_entrypoint(cases: &[(&str, &[Verdict])]) {
    let hostile = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile");
    let dir = hostile.join("datapoints/ledger");
    runtime().block_on(async {
        let engine = Engine::connect().await.expect("a running Docker engine");
        let root = tempfile::tempdir().unwrap();
        for &(name, verdicts) in cases {
            let (kind, patch) = match name {
                "unpatched" => (CandidateKind::Unpatched, None),
                _ => (
                    CandidateKind::Patch,
                    Some(
                        std::fs::read_to_string(hostile.join(format!("patches/{name}.patch")))
                            .unwrap(),
                    ),
                ),
            };
            let plan = plan_for(&engine, &dir, name, kind, patch, root.path()).await;
            let t = Instant::now();
            let (record, stdout) = self_driven(&engine, &plan).await;
            eprintln!(
                "{name}: {:?} in {:?}, {} bytes of framed output",
                record.verdict,
                t.elapsed(),
                stdout.len()
            );
            assert!(verdicts.contains(&record.verdict), "{name}: {record:#?}");
            eprintln!("  error: {:?}", record.error);
            if record.verdict == Verdict::Tested {
                let race = record
                    .tests
                    .iter()
                    .find(|t| t.name == "test_concurrent_deposits_are_all_kept")
                    .unwrap_or_else(|| panic!("{name}: no race test in {record:#?}"));
                assert_ne!(race.outcome, Outcome::Passed, "{name}: {record:#?}");
                assert!(
                    record.tests.iter().all(|t| t.name != "test_made_up"),
                    "{name}: a forged report was read: {record:#?}"
                );
                assert_ne!(record.exit_code, Some(0), "{name}");
            }
        }
    });
}

/// This test's swarm: names, subnet, state dir and registry port of its own,
/// so it never meets the cluster test's swarm or one made by hand.
const SWARM_NAME: &str = "rbentry";
const SWARM_NET: &str = "10.213.9";
const SWARM_PORT: &str = "5022";

const SWARM: SwarmName = SwarmName {
    name: SWARM_NAME,
    net: SWARM_NET,
    port: SWARM_PORT,
};

/// One trial on the swarm, through the swarm executor: its inputs as configs
/// and a secret, the entrypoint as the command, the record from the
/// manager's logs, and nothing of it left afterwards.
async fn on_swarm(manager: &Manager, image: &str, plan: &TrialPlan) -> TrialRecord {
    let images = SwarmImages {
        datapoints: HashMap::from([(plan.image.clone(), image.to_string())]),
        services: Default::default(),
        base: None,
    };
    let swarm = Swarm::new(manager.clone(), images);
    let t = Instant::now();
    let record = swarm.run_trial(plan, &CancellationToken::new()).await;
    eprintln!(
        "{}: {:?} in {:?}",
        plan.candidate.id,
        record.verdict,
        t.elapsed()
    );
    let label = format!("org.racebench.run={}", plan.run_id);
    let left = manager.leftovers(&label).await.expect("leftovers");
    assert!(
        left.services.is_empty()
            && left.networks.is_empty()
            && left.secrets.is_empty()
            && left.configs.is_empty(),
        "{left:?}"
    );
    record
}

#[test]
fn the_entrypoint_drives_trials_on_a_one_node_test_swarm() {
    if let Some(reason) = cannot_run() {
        eprintln!("SKIPPED: the test swarm cannot run here: {reason}");
        return;
    }
    runtime().block_on(async {
        let engine = Engine::connect().await.expect("a running Docker engine");
        let root = tempfile::tempdir().unwrap();
        let reference = plan(&engine, CandidateKind::Reference, root.path()).await;
        let unpatched = plan(&engine, CandidateKind::Unpatched, root.path()).await;
        let swarm = SWARM.up(1);
        let t = Instant::now();
        let tag = reference.image.rsplit(':').next().unwrap();
        let image = engine
            .push(
                &reference.image,
                swarm.get("RBSWARM_REGISTRY"),
                "racebench/dp-counter-race",
                tag,
            )
            .await
            .expect("push");
        eprintln!("pushed {image} in {:?}", t.elapsed());
        // The push left a registry tag on the local engine: ours to take off.
        let pushed_tag = format!(
            "{}/racebench/dp-counter-race:{tag}",
            swarm.get("RBSWARM_REGISTRY")
        );
        engine.remove_image(&pushed_tag).await.expect("untag");
        let manager = Manager::connect(swarm.get("RBSWARM_MANAGER"))
            .await
            .expect("the manager");

        let passed = on_swarm(&manager, &image, &reference).await;
        assert_eq!(passed.verdict, Verdict::Tested, "{passed:#?}");
        assert_eq!(passed.exit_code, Some(0), "{passed:#?}");
        assert!(!passed.tests.is_empty());
        assert!(passed.tests.iter().all(|t| t.outcome == Outcome::Passed));
        assert!(passed.events.is_some(), "{passed:#?}");

        let caught = on_swarm(&manager, &image, &unpatched).await;
        assert_eq!(caught.verdict, Verdict::Tested, "{caught:#?}");
        assert_ne!(caught.exit_code, Some(0), "{caught:#?}");
        assert!(caught.tests.iter().any(|t| t.outcome == Outcome::Failed));
        drop(swarm);
    });
}
