//! Integration tests of the grader against a small hand-written results
//! folder (`tests/fixtures/run`): two datapoints, a reference, an unpatched
//! service, a decoy and two samples of an agent, three trials each, with one
//! infrastructure error, a patch that does not apply and seed-shaped events;
//! three of the agent's samples keep their folder (`agents/`: record, logs,
//! diff, usage, the sandbox's events), one does not.

use std::path::{Path, PathBuf};

use racebench_grader::report::{self, ReportOptions};
use racebench_grader::summary::{Summary, TestOutcome};
use racebench_grader::timeline::{self, Timeline};
use racebench_grader::{calibration, grade, junit, load_run, text, validation, LoadedRun};
use racebench_model::WeightsSet;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run() -> LoadedRun {
    load_run(&fixtures().join("run")).expect("the fixture run loads")
}

fn weights() -> WeightsSet {
    WeightsSet::load_dir(&fixtures().join("weights"))
        .expect("the fixture weights load")
        .0
}

fn summary() -> Summary {
    grade(&run(), &weights()).expect("the fixture run grades")
}

/// The grader's version changes on release; snapshots should not.
fn redact_version(text: &str) -> String {
    text.replace(env!("CARGO_PKG_VERSION"), "[version]")
}

mod scoring {
    use super::*;

    #[test]
    fn the_reference_solves_both_datapoints() {
        let s = summary();
        for dp in &s.datapoints {
            let r = dp.candidate("reference").unwrap().score.unwrap();
            assert!(r.solved, "{}", dp.id);
            assert_eq!((r.strict, r.lenient), (1.0, 1.0));
        }
    }

    #[test]
    fn the_unpatched_service_keeps_only_the_tests_the_race_does_not_touch() {
        let s = summary();
        let c = s
            .datapoint("inventory-toctou")
            .unwrap()
            .candidate("unpatched")
            .unwrap();
        let score = c.score.unwrap();
        assert_eq!(score.strict, 0.4, "correctness 0.3 + throughput 0.1");
        assert_eq!(
            score.lenient, 0.5,
            "plus a third of test_check_and_reserve_atomic"
        );
        let atomic = c.test("test_check_and_reserve_atomic").unwrap();
        assert_eq!((atomic.passes, atomic.trials), (1, 3));
    }

    #[test]
    fn an_infrastructure_error_is_not_counted_against_the_sample() {
        let s = summary();
        let c = s
            .datapoint("inventory-toctou")
            .unwrap()
            .candidate("acme-coder-1-s1")
            .unwrap();
        assert_eq!((c.trials.counted, c.trials.infra_error), (2, 1));
        assert!(c.score.unwrap().solved);
    }

    #[test]
    fn a_patch_that_does_not_apply_fails_every_test() {
        let s = summary();
        let c = s
            .datapoint("ledger-lost-update")
            .unwrap()
            .candidate("acme-coder-1-s1")
            .unwrap();
        assert_eq!(c.trials.verdicts.patch_failed, 3);
        assert_eq!(c.score.unwrap().lenient, 0.0);
        assert!(c.tests.iter().all(|t| t
            .outcomes
            .iter()
            .all(|o| o.outcome == TestOutcome::PatchFailed)));
    }

    #[test]
    fn a_test_missing_from_a_report_counts_as_not_passed() {
        let s = summary();
        let c = s
            .datapoint("ledger-lost-update")
            .unwrap()
            .candidate("unpatched")
            .unwrap();
        let t = c.test("test_transfer_is_atomic").unwrap();
        assert_eq!(t.outcomes[2].outcome, TestOutcome::Missing);
        assert_eq!(t.passes, 1);
    }

    #[test]
    fn tests_outside_the_weights_are_listed_as_unweighted() {
        let s = summary();
        let c = s
            .datapoint("ledger-lost-update")
            .unwrap()
            .candidate("reference")
            .unwrap();
        assert_eq!(c.unweighted.len(), 1);
        assert_eq!(c.unweighted[0].name, "test_smoke_startup");
    }

    #[test]
    fn one_of_two_samples_solving_gives_pass_at_1_of_one_half() {
        let s = summary();
        let agent = &s.agents[0];
        assert_eq!(agent.agent, "acme/coder-1");
        for d in &agent.datapoints {
            assert_eq!((d.samples, d.solved), (2, 1), "{}", d.datapoint);
            assert_eq!(d.pass_at_k[0].pass_at_k, 0.5);
            assert_eq!(d.pass_at_k[1].pass_at_k, 1.0);
            assert_eq!(d.pass_at_k[1].pass_hat_k, 0.0);
        }
    }

    #[test]
    fn regrading_under_weights_summing_to_point_nine_names_the_file() {
        let err = WeightsSet::load_dir(&fixtures().join("weights-bad")).unwrap_err();
        let text = format!("{err}: {}", err.kind);
        assert!(text.contains("weights-bad/inventory-toctou.toml"), "{text}");
        assert!(text.contains("sum to 0.9"), "{text}");
    }

    #[test]
    fn the_summary_round_trips_through_json() {
        let s = summary();
        let back: Summary = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(back, s);
    }
}

mod snapshots {
    use super::*;

    #[test]
    fn summary_json() {
        insta::assert_json_snapshot!("summary", summary(), {
            ".created_at" => "[timestamp]",
            ".finished_at" => "[timestamp]",
            ".grader_version" => "[version]",
        });
    }

    #[test]
    fn junit_xml() {
        insta::assert_snapshot!("junit", junit::render(&summary()));
    }

    #[test]
    fn junit_escapes_hostile_messages() {
        let mut s = summary();
        let c = &mut s.datapoints[0].candidates[1];
        c.tests[0].outcomes[0].message = Some("</failure><script>&\u{1b}[31m\"x\"".into());
        let xml = junit::render(&s);
        assert!(
            // quick-junit drops terminal escape sequences, which XML 1.0 cannot hold.
            xml.contains("&lt;/failure&gt;&lt;script&gt;&amp;&quot;x&quot;"),
            "{xml}"
        );
        assert!(!xml.contains("<script>"));
    }

    #[test]
    fn text_table() {
        insta::assert_snapshot!("text", text::render(&summary()));
    }

    fn unpatched_timeline() -> Timeline {
        timeline::load_trial_events(&run(), "inventory-toctou", "unpatched", 1)
            .unwrap()
            .expect("the trial recorded events")
            .timeline()
    }

    #[test]
    fn timeline_text() {
        insta::assert_snapshot!(
            "timeline_text",
            timeline::render_text(&unpatched_timeline())
        );
    }

    #[test]
    fn timeline_json() {
        insta::assert_snapshot!("timeline_json", timeline::to_json(&unpatched_timeline()));
    }

    #[test]
    fn timeline_svg() {
        insta::assert_snapshot!("timeline_svg", timeline::render_svg(&unpatched_timeline()));
    }

    #[test]
    fn validation_report() {
        let report = validation::validate(&summary());
        let mut out = validation::render_text(&report);
        for d in &report.datapoints {
            out.push_str(&format!("\n{}\n{}", d.datapoint, d.rates.to_markdown()));
        }
        insta::assert_snapshot!("validation", out);
    }

    #[test]
    fn calibration_markdown() {
        let out: Vec<String> = calibration::calibrate(&summary())
            .iter()
            .map(|c| format!("{}\n{}", c.datapoint, c.to_markdown()))
            .collect();
        insta::assert_snapshot!("calibration", out.join("\n"));
    }
}

mod timelines {
    use super::*;

    #[test]
    fn the_default_timeline_is_a_failing_trial_with_events() {
        let r = run();
        let pick = timeline::choose_trial(&r, None, None, None).unwrap();
        assert_eq!(
            (pick.datapoint.as_str(), pick.candidate.as_str(), pick.trial),
            ("inventory-toctou", "unpatched", 1),
            "the reference's trial 1 has events too, but passed"
        );
        let pick = timeline::choose_trial(&r, None, Some("reference"), None).unwrap();
        assert_eq!(pick.trial, 1, "no failing trial: the first with events");
        assert_eq!(
            timeline::choose_trial(&r, Some("ledger-lost-update"), None, None),
            None
        );
    }

    #[test]
    fn a_trial_without_events_has_no_timeline() {
        let events =
            timeline::load_trial_events(&run(), "inventory-toctou", "unpatched", 3).unwrap();
        assert!(events.is_none());
    }

    #[test]
    fn a_bad_line_in_an_events_file_is_reported_not_fatal() {
        let events = timeline::load_trial_events(&run(), "inventory-toctou", "unpatched", 1)
            .unwrap()
            .unwrap();
        assert_eq!(events.skipped.len(), 1);
        assert_eq!(events.skipped[0].0, 6);
        assert_eq!(events.events.len(), 18);
    }
}

mod html {
    use super::*;

    fn write_report() -> (tempfile::TempDir, report::ReportFiles) {
        let tmp = tempfile::tempdir().unwrap();
        let files = report::write(
            &run(),
            &summary(),
            &ReportOptions::new(tmp.path().join("report")),
        )
        .expect("the report is written");
        (tmp, files)
    }

    fn read(tmp: &tempfile::TempDir, rel: &str) -> String {
        std::fs::read_to_string(tmp.path().join("report").join(rel)).unwrap()
    }

    #[test]
    fn writes_every_page_without_warnings() {
        let (tmp, files) = write_report();
        assert!(files.warnings.is_empty(), "{:?}", files.warnings);
        let written: Vec<String> = files
            .written
            .iter()
            .map(|p| {
                p.strip_prefix(tmp.path().join("report"))
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        insta::assert_snapshot!("report_files", written.join("\n"));
    }

    #[test]
    fn pages() {
        let (tmp, _) = write_report();
        for (name, rel) in [
            ("index", "index.html"),
            ("datapoint", "datapoints/inventory-toctou.html"),
            ("timeline", "timelines/inventory-toctou/unpatched.html"),
            ("trial", "trials/inventory-toctou/unpatched/001.html"),
            ("agent", "agents/inventory-toctou/acme-coder-1-s0.html"),
            (
                "agent_timed_out",
                "agents/ledger-lost-update/acme-coder-1-s1.html",
            ),
        ] {
            insta::assert_snapshot!(format!("html_{name}"), redact_version(&read(&tmp, rel)));
        }
    }

    #[test]
    fn a_script_in_a_patch_or_a_log_is_rendered_inert() {
        let (tmp, files) = write_report();
        let page = read(&tmp, "datapoints/inventory-toctou.html");
        assert!(
            page.contains("&lt;&#x2F;pre&gt;&lt;script&gt;alert("),
            "the patch is shown, escaped"
        );
        let trial = read(&tmp, "trials/inventory-toctou/unpatched/001.html");
        assert!(trial.contains("&lt;img src=x onerror=alert(1)&gt;"));
        let agent = read(&tmp, "agents/inventory-toctou/acme-coder-1-s0.html");
        assert!(
            agent.contains("&lt;&#x2F;pre&gt;&lt;script&gt;alert(&quot;log&quot;)"),
            "the agent's log is shown, escaped"
        );
        for path in files
            .written
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
        {
            let html = std::fs::read_to_string(path).unwrap();
            assert!(!html.contains("<script"), "{}", path.display());
            assert!(!html.contains("<img"), "{}", path.display());
        }
    }

    #[test]
    fn pages_load_nothing_from_the_network() {
        let (_tmp, files) = write_report();
        for path in &files.written {
            let text = std::fs::read_to_string(path).unwrap();
            let without_namespace = text.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            for scheme in ["http://", "https://", "//cdn", "@import"] {
                assert!(
                    !without_namespace.contains(scheme),
                    "{} has {scheme}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn every_link_points_at_a_written_file() {
        let (tmp, files) = write_report();
        let root = tmp.path().join("report");
        for path in files
            .written
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
        {
            let html = std::fs::read_to_string(path).unwrap();
            for link in html
                .split("href=\"")
                .skip(1)
                .filter_map(|s| s.split('"').next())
            {
                let link = link.replace("&#x2F;", "/");
                let target = link.split('#').next().unwrap();
                if target.is_empty() || target.starts_with("data:") {
                    continue;
                }
                let resolved = path.parent().unwrap().join(target);
                assert!(
                    resolved.is_file(),
                    "{} links to missing {target}",
                    path.strip_prefix(&root).unwrap().display()
                );
            }
        }
    }

    /// A copy of the fixture run that a test may change.
    fn fixture_copy(tmp: &Path) -> PathBuf {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), &target).unwrap();
                }
            }
        }
        let dir = tmp.join("run");
        copy(&fixtures().join("run"), &dir);
        dir
    }

    fn report_of(dir: &Path, options: &ReportOptions) -> report::ReportFiles {
        let run = load_run(dir).unwrap();
        let summary = grade(&run, &weights()).unwrap();
        report::write(&run, &summary, options).unwrap()
    }

    #[test]
    fn the_agent_sections_show_the_sample_and_link_its_trials() {
        let (tmp, _) = write_report();
        // Links as written, with tera's escaped slashes put back.
        let read = |rel: &str| read(&tmp, rel).replace("&#x2F;", "/");
        let s0 = read("agents/inventory-toctou/acme-coder-1-s0.html");
        for part in [
            "the agent exited with status 0",
            "182,340",
            "$0.6847",
            "2 min 01 s",
            "Timeline of the sandbox",
            "<svg",
            "out/trajectory.jsonl",
        ] {
            assert!(s0.contains(part), "no {part} in the agent page");
        }
        let s1 = read("agents/inventory-toctou/acme-coder-1-s1.html");
        assert!(s1.contains("setup.log") && s1.contains("240,118"));
        assert!(
            s1.contains("The sandbox kept no events file"),
            "no events: said so"
        );
        assert!(
            s1.contains("href=\"../../trials/inventory-toctou/acme-coder-1-s1/002.html\""),
            "the failing trial is linked"
        );
        let failing = read("trials/inventory-toctou/acme-coder-1-s1/002.html");
        assert!(failing.contains("href=\"../../../agents/inventory-toctou/acme-coder-1-s1.html\""));
        let dp = read("datapoints/inventory-toctou.html");
        assert!(dp.contains("href=\"../agents/inventory-toctou/acme-coder-1-s0.html\""));
        let timed_out = read("agents/ledger-lost-update/acme-coder-1-s1.html");
        assert!(
            timed_out.contains("$0.3100"),
            "the usage comes from out/usage.json when the record has none"
        );
        assert!(
            !tmp.path()
                .join("report/agents/ledger-lost-update/acme-coder-1-s0.html")
                .exists(),
            "a sample without a folder has no page"
        );
        let index = read("index.html");
        assert!(
            index.contains("512,458") && index.contains("$0.9947"),
            "the board adds up every sample's tokens and cost"
        );
    }

    #[test]
    fn a_long_agent_log_shows_its_end_with_a_note() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fixture_copy(tmp.path());
        let log = dir.join("agents/inventory-toctou/acme-coder-1-s0/agent.log");
        let mut text = "noise\n".repeat(100_000);
        text.push_str("the last line\n");
        std::fs::write(&log, &text).unwrap();
        let mut options = ReportOptions::new(tmp.path().join("out"));
        options.max_log_bytes = 1024;
        report_of(&dir, &options);
        let page = std::fs::read_to_string(
            tmp.path()
                .join("out/agents/inventory-toctou/acme-coder-1-s0.html"),
        )
        .unwrap();
        assert!(page.contains("the last line"));
        assert!(
            page.contains(&format!("showing the last 1022 of {} bytes", text.len())),
            "cut at a line, and said so"
        );
        assert!(page.matches("noise").count() < 200);
    }

    #[test]
    fn an_empty_diff_is_said_to_be_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fixture_copy(tmp.path());
        let sample = dir.join("agents/ledger-lost-update/acme-coder-1-s1");
        std::fs::write(sample.join("fix.diff"), "").unwrap();
        let record = std::fs::read_to_string(sample.join("agent.json"))
            .unwrap()
            .replace("\"empty_diff\": false", "\"empty_diff\": true");
        std::fs::write(sample.join("agent.json"), record).unwrap();
        let files = report_of(&dir, &ReportOptions::new(tmp.path().join("out")));
        assert!(files.warnings.is_empty(), "{:?}", files.warnings);
        let page = std::fs::read_to_string(
            tmp.path()
                .join("out/agents/ledger-lost-update/acme-coder-1-s1.html"),
        )
        .unwrap();
        assert!(page.contains("empty diff: the agent left the work tree as it found it"));
        let dp = std::fs::read_to_string(tmp.path().join("out/datapoints/ledger-lost-update.html"))
            .unwrap();
        assert!(dp.contains(">empty diff<"));
    }

    #[test]
    fn an_agent_record_naming_a_file_outside_its_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fixture_copy(tmp.path());
        let path = dir.join("agents/inventory-toctou/acme-coder-1-s0/agent.json");
        let record = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"sandbox/events.jsonl\"", "\"../../../../etc/passwd\"");
        std::fs::write(&path, record).unwrap();
        let files = report_of(&dir, &ReportOptions::new(tmp.path().join("out")));
        assert!(
            files.warnings.iter().any(|w| w.contains("etc/passwd")),
            "{:?}",
            files.warnings
        );
        assert!(!tmp
            .path()
            .join("out/agents/inventory-toctou/acme-coder-1-s0.html")
            .exists());
    }

    #[test]
    fn a_templates_folder_replaces_templates_file_by_file() {
        let tmp = tempfile::tempdir().unwrap();
        let templates = tmp.path().join("templates");
        std::fs::create_dir_all(&templates).unwrap();
        std::fs::write(
            templates.join("index.html"),
            "{% extends \"base.html\" %}{% block content %}<p>custom {{ page.rows | length }} rows</p>{% endblock content %}",
        )
        .unwrap();
        let mut options = ReportOptions::new(tmp.path().join("out"));
        options.templates_dir = Some(templates);
        report::write(&run(), &summary(), &options).unwrap();
        let index = std::fs::read_to_string(tmp.path().join("out/index.html")).unwrap();
        assert!(index.contains("<p>custom 5 rows</p>"), "{index}");
        assert!(
            index.contains("class=\"top\""),
            "the embedded base.html is still used"
        );
    }
}
