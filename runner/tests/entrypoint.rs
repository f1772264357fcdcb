//! The trial entrypoint run for real on the local Docker engine: the fixture
//! datapoint `counter-race`, with its reference fix and with no patch, once
//! driven step by step by the local runner (`run_trial`) and once by the
//! entrypoint inside the same kind of pod (inputs extracted at their fixed
//! paths, the entrypoint started with one exec, its stdout decoded by
//! `record_from_entrypoint`). Both records must agree: verdict, exit code,
//! tests and their outcomes, apply method, logs and events.
//!
//! Run: `cargo test -p racebench-runner --test entrypoint` (about half a
//! minute once the images are built).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use racebench_model::{
    Candidate, CandidateKind, Datapoint, Outcome, RunLayout, TrialRecord, Verdict,
};
use racebench_runner::base_image::ensure_base;
use racebench_runner::cache_dir::cache_dir;
use racebench_runner::datapoint_files::DatapointFiles;
use racebench_runner::datapoint_image::ensure_datapoint_image;
use racebench_runner::engine::Engine;
use racebench_runner::trial::{
    entrypoint_inputs, pack_hidden_tests, prepare_pod, record_from_entrypoint, run_trial,
    PodTemplate, TrialPlan, ENTRYPOINT_PATH,
};
use tokio_util::sync::CancellationToken;

/// Where a local test puts the hidden tests' archive (a secret's path on a swarm).
const TESTS_INPUT: &str = "/racebench/in/tests.tar";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/datapoints/counter-race")
}

/// A plan for one candidate of `counter-race`, results under `root`.
async fn plan(engine: &Engine, kind: CandidateKind, root: &std::path::Path) -> TrialPlan {
    let (datapoint, _) = Datapoint::load(&fixture()).expect("the fixture datapoint");
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
    let patch = match kind {
        CandidateKind::Reference => Some(Arc::new(
            std::fs::read_to_string(datapoint.dir.join(&datapoint.spec.reference))
                .expect("the reference fix"),
        )),
        _ => None,
    };
    TrialPlan {
        run_id: "entrypoint-test".into(),
        image: image.tag,
        candidate: Candidate {
            id: kind.to_string(),
            kind,
            datapoint: datapoint.spec.id.clone(),
            agent: None,
            sample: None,
            patch: None,
            must_fail: Vec::new(),
        },
        patch,
        hidden_tests: Arc::new(pack_hidden_tests(&files.hidden_tests()).expect("hidden tests")),
        datapoint: Arc::new(datapoint),
        weights: None,
        trial: 1,
        layout: RunLayout::new(root),
        pod: Arc::new(PodTemplate {
            ready_timeout: Duration::from_secs(60),
            ..Default::default()
        }),
        keep: false,
        earlier_attempts: Vec::new(),
    }
}

/// The trial driven by the entrypoint in a pod of its own: the inputs at
/// their fixed paths, one exec as root, the record from its stdout.
async fn self_driven(engine: &Engine, plan: &TrialPlan) -> (TrialRecord, String) {
    let pod = prepare_pod(engine, plan)
        .await
        .into_pod()
        .expect("the pod starts");
    let inputs = entrypoint_inputs(plan, pod.env(), TESTS_INPUT);
    let tar = inputs.to_tar(TESTS_INPUT).expect("inputs archive");
    let ran = async {
        engine.put_archive(pod.main_id(), "/", tar).await?;
        engine
            .exec(
                pod.main_id(),
                &["sh".into(), ENTRYPOINT_PATH.into()],
                &[],
                None,
            )
            .await
    }
    .await;
    pod.remove().await.expect("the pod is removed");
    let out = ran.expect("the entrypoint runs");
    assert_eq!(
        out.exit_code,
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (record_from_entrypoint(plan, &out.stdout), stdout)
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
