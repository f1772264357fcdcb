//! `racebench list` and `racebench new`: text output, snapshotted.

use crate::util::Racebench;

#[test]
fn list_shows_every_fixture_datapoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["list"])
        .output()
        .expect_code(0);
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn new_scaffolds_a_datapoint_that_loads_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let datapoints = tmp.path().join("datapoints");
    let weights = tmp.path().join("weights");
    let racebench = || {
        Racebench::fixture(tmp.path())
            .env("RACEBENCH_DATAPOINTS", &datapoints)
            .env("RACEBENCH_WEIGHTS", &weights)
    };
    racebench()
        .args(["new", "lost-update"])
        .output()
        .expect_code(0);
    let listed = racebench().args(["list"]).output().expect_code(0);
    assert!(
        listed.stdout().contains("lost-update"),
        "{}",
        listed.stdout()
    );
    let again = racebench()
        .args(["new", "lost-update"])
        .output()
        .expect_code(3);
    assert!(
        again.stderr().contains("already exists"),
        "{}",
        again.stderr()
    );
    let bad = racebench().args(["new", "Bad_Id"]).output().expect_code(3);
    assert!(bad.stderr().contains("not a valid id"), "{}", bad.stderr());
}
