//! From a real run of the fixture to scores, a timeline and an HTML report
//! that opens in headless Chromium without console errors.

use std::path::Path;
use std::process::Command;

use crate::util::{copy_fixtures, Racebench};

/// Loads a page in headless Chromium and returns what it logged to the console.
fn chromium_console(page: &Path) -> Option<String> {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed on {}",
        page.display()
    );
    assert!(
        !out.stdout.is_empty(),
        "chromium rendered nothing for {}",
        page.display()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    Some(
        stderr
            .lines()
            .filter(|l| l.contains("CONSOLE"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[test]
fn a_real_run_grades_reports_and_renders_without_console_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args([
            "run",
            "-d",
            "counter-race",
            "--reference",
            "--no-patch",
            "--trials",
            "2",
            "--jobs",
            "2",
        ])
        .output()
        .expect_code(0);
    let run_dir = run.run_dir();
    assert!(
        run.stdout().contains("reference"),
        "the summary is printed:\n{}",
        run.stdout()
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary["format"].is_number());
    assert!(std::fs::read_to_string(run_dir.join("junit.xml"))
        .unwrap()
        .contains("<testsuite"));

    let timeline = Racebench::fixture(tmp.path())
        .args(["timeline"])
        .arg_path(&run_dir)
        .output()
        .expect_code(0);
    let text = timeline.stdout();
    assert!(
        text.contains("counter-race unpatched"),
        "a failing trial is chosen:\n{text}"
    );
    assert!(
        text.contains("check passed") && text.contains("act failed"),
        "{text}"
    );
    let json = Racebench::fixture(tmp.path())
        .args(["timeline", "--format", "json"])
        .arg_path(&run_dir)
        .output()
        .expect_code(0);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert!(
        !parsed["windows"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true),
        "{parsed}"
    );

    let site = tmp.path().join("site");
    Racebench::fixture(tmp.path())
        .args(["report"])
        .arg_path(&run_dir)
        .args(["--out"])
        .arg_path(&site)
        .output()
        .expect_code(0);
    let pages: Vec<_> = walk(&site)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    assert!(pages.iter().any(|p| p.ends_with("index.html")));
    assert!(
        pages
            .iter()
            .any(|p| p.to_string_lossy().contains("timeline")),
        "{pages:?}"
    );
    for page in &pages {
        // Namespaces (xmlns="http://www.w3.org/2000/svg") name, they do not fetch.
        let html = std::fs::read_to_string(page)
            .unwrap()
            .replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{} reaches out",
            page.display()
        );
    }
    match chromium_console(&site.join("index.html")) {
        Some(_) => {
            for page in &pages {
                let console = chromium_console(page).unwrap();
                assert!(console.is_empty(), "{}: {console}", page.display());
            }
        }
        None if std::env::var_os("CI").is_some() => panic!("chromium is required in CI"),
        None => eprintln!("chromium not installed: pages not opened in a browser"),
    }
}

#[test]
fn grading_with_weights_that_sum_to_point_nine_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Racebench::fixture(tmp.path())
        .args(["run", "-d", "counter-race", "--reference"])
        .output()
        .expect_code(0);
    let (_, weights) = copy_fixtures(&tmp.path().join("copy"));
    let file = weights.join("counter-race.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("weight = 0.3", "weight = 0.2");
    std::fs::write(&file, text).unwrap();
    let graded = Racebench::fixture(tmp.path())
        .args(["grade"])
        .arg_path(&run.run_dir())
        .args(["--weights"])
        .arg_path(&weights)
        .output()
        .expect_code(3);
    let stderr = graded.stderr();
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("sum to 0.9"), "{stderr}");
}

#[test]
fn validate_passes_the_fixture_and_writes_rates() {
    let tmp = tempfile::tempdir().unwrap();
    let (datapoints, weights) = copy_fixtures(tmp.path());
    let run = Racebench::fixture(tmp.path())
        .env("RACEBENCH_DATAPOINTS", &datapoints)
        .env("RACEBENCH_WEIGHTS", &weights)
        .args([
            "validate",
            "counter-race",
            "--trials",
            "2",
            "--jobs",
            "2",
            "--write-rates",
        ])
        .output()
        .expect_code(0);
    assert!(
        run.stdout().contains("counter-race: ok"),
        "{}",
        run.stdout()
    );
    let readme = std::fs::read_to_string(datapoints.join("counter-race/README.md")).unwrap();
    assert!(
        readme.contains("racebench:rates:start")
            && readme.contains("racebench validate counter-race --trials 2"),
        "{readme}"
    );
}

#[test]
fn validate_fails_when_the_reference_is_broken() {
    let tmp = tempfile::tempdir().unwrap();
    let (datapoints, weights) = copy_fixtures(tmp.path());
    // Swap the reference for the decoy: it no longer fixes the race.
    let dp = datapoints.join("counter-race");
    std::fs::copy(
        dp.join("solutions/decoys/shorter-delay.patch"),
        dp.join("solutions/reference.patch"),
    )
    .unwrap();
    let run = Racebench::fixture(tmp.path())
        .env("RACEBENCH_DATAPOINTS", &datapoints)
        .env("RACEBENCH_WEIGHTS", &weights)
        .args(["validate", "counter-race"])
        .output()
        .expect_code(1);
    assert!(
        run.stdout().contains("counter-race: regressed"),
        "{}",
        run.stdout()
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
