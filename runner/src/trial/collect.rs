//! Collecting: whatever the tests left in `/racebench/out` copied out (up to
//! a cap), and the report, from the folder only the verifier writes, read
//! as it is: the grader reconciles it with the exit code and the weights.

use std::time::Instant;

use racebench_model::{ReportFormat, TrialRecord, Verdict, REPORT_DIR};

use super::exec::Stop;
use super::steps::{ms, Trial, OUT_DIR};
use super::verify::Tested;
use crate::archive;
use crate::test_report;

/// Cap on what is copied out of `/racebench/out` per trial.
const COLLECT_LIMIT: u64 = 256 * 1024 * 1024;
/// Cap on the report and on the events file, each.
const FILE_LIMIT: u64 = 64 * 1024 * 1024;

impl Trial<'_> {
    pub(super) async fn collect(
        &self,
        record: &mut TrialRecord,
        tested: Tested,
    ) -> Result<(), Stop> {
        let spec = &self.plan.datapoint.spec;
        let t = Instant::now();
        let out_dir = self.logs_dir.join("out");
        // The folder up to the cap; when that fell short (the candidate's
        // code can write there too), the report and the events file again,
        // each on its own, so nothing else can crowd them out.
        let mut notes = Vec::new();
        let mut wanted = vec![OUT_DIR.to_string()];
        while let Some(path) = wanted.pop() {
            let whole = path == OUT_DIR;
            let limit = if whole { COLLECT_LIMIT } else { FILE_LIMIT };
            let Some((tar, cut)) = self
                .engine
                .get_archive(self.main_id(), &path, limit as usize)
                .await
                .map_err(Stop::infra)?
            else {
                continue;
            };
            let dest = match (whole, std::path::Path::new(in_out_dir(&path)).parent()) {
                (true, _) | (false, None) => out_dir.clone(),
                (false, Some(parent)) => out_dir.join(parent),
            };
            let done = archive::extract(&tar, &dest, limit, whole).map_err(|e| {
                Stop::infra(format!(
                    "failed to write the test outputs to {}: {e}",
                    dest.display()
                ))
            })?;
            if cut || !done.skipped.is_empty() {
                if whole {
                    wanted.extend(spec.events.clone());
                }
                notes.push(format!(
                    "the test outputs{} passed the {} MiB that are copied out; {} not copied",
                    if whole {
                        String::new()
                    } else {
                        format!(" ({path})")
                    },
                    limit / (1024 * 1024),
                    if done.skipped.is_empty() {
                        "the rest was".to_string()
                    } else {
                        done.skipped.join(", ") + " were"
                    }
                ));
            }
            tracing::debug!(files = done.written.len(), "collected test outputs");
        }
        // The report, from the folder only the verifier writes.
        let report_dir = self.logs_dir.join("report");
        let report_name = in_report_dir(&spec.test.report);
        let mut report_note = None;
        if let Some((tar, cut)) = self
            .engine
            .get_archive(self.main_id(), &spec.test.report, FILE_LIMIT as usize)
            .await
            .map_err(Stop::infra)?
        {
            let parent = std::path::Path::new(report_name)
                .parent()
                .map(|p| report_dir.join(p))
                .unwrap_or_else(|| report_dir.clone());
            archive::extract(&tar, &parent, FILE_LIMIT, false).map_err(|e| {
                Stop::infra(format!(
                    "failed to write the test report to {}: {e}",
                    parent.display()
                ))
            })?;
            if cut {
                report_note = Some(format!(
                    "the report passed the {} MiB that are read",
                    FILE_LIMIT / (1024 * 1024)
                ));
            }
        }
        record.timings.collect_ms = ms(t.elapsed());
        let report_path = report_dir.join(report_name);
        // What the runner observed; what it means for the score is the
        // grader's decision (it reconciles the report with the exit code).
        match std::fs::read_to_string(&report_path) {
            Err(_) => notes.push("the test step wrote no report".to_string()),
            Ok(text) => {
                let parsed = match spec.test.format {
                    ReportFormat::Junit => test_report::parse_junit(&text),
                    ReportFormat::GoTestJson => test_report::parse_go_test_json(&text),
                };
                match parsed {
                    Ok(tests) => record.tests = tests,
                    Err(e) => notes.push(format!("the report could not be read: {e}")),
                }
                record.logs.insert(
                    "report".into(),
                    format!("{}/report/{report_name}", self.logs_rel),
                );
            }
        }
        notes.extend(report_note);
        if let Some(events) = &spec.events {
            if out_dir.join(in_out_dir(events)).is_file() {
                record.events = Some(format!("{}/out/{}", self.logs_rel, in_out_dir(events)));
            }
        }
        if let Tested::TimedOut(limit) = tested {
            return Err(Stop::new(
                Verdict::TimedOut,
                format!("the test step ran past its {}s limit", limit.as_secs()),
            ));
        }
        record.inconsistencies.extend(notes);
        Ok(())
    }
}

/// `/racebench/report/report.xml` -> `report.xml`.
fn in_report_dir(path: &str) -> &str {
    path.strip_prefix(REPORT_DIR)
        .unwrap_or(path)
        .trim_start_matches('/')
}

/// `/racebench/out/report.xml` -> `report.xml`.
fn in_out_dir(path: &str) -> &str {
    path.strip_prefix(OUT_DIR)
        .unwrap_or(path)
        .trim_start_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_paths_are_relative_to_the_out_dir() {
        assert_eq!(in_out_dir("/racebench/out/report.xml"), "report.xml");
        assert_eq!(in_out_dir("/racebench/out/sub/r.json"), "sub/r.json");
        assert_eq!(in_report_dir("/racebench/report/r.xml"), "r.xml");
    }
}
