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
pub(super) const COLLECT_LIMIT: u64 = 256 * 1024 * 1024;
/// Cap on the report and on the events file, each.
pub(super) const FILE_LIMIT: u64 = 64 * 1024 * 1024;

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
        observe_outputs(spec, &self.logs_dir, &self.logs_rel, record, &mut notes);
        notes.extend(report_note);
        finish(record, tested, notes)
    }
}

/// Reads what the test step left in the trial's log folder (`report/`,
/// `out/`): the report as it is, and the events file; what it means for the
/// score is the grader's decision (it reconciles the report with the exit
/// code). Shared with the trial entrypoint's records.
pub(super) fn observe_outputs(
    spec: &racebench_model::DatapointSpec,
    logs_dir: &std::path::Path,
    logs_rel: &str,
    record: &mut TrialRecord,
    notes: &mut Vec<String>,
) {
    let report_name = in_report_dir(&spec.test.report);
    let report_path = logs_dir.join("report").join(report_name);
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
            record
                .logs
                .insert("report".into(), format!("{logs_rel}/report/{report_name}"));
        }
    }
    if let Some(events) = &spec.events {
        if logs_dir.join("out").join(in_out_dir(events)).is_file() {
            record.events = Some(format!("{logs_rel}/out/{}", in_out_dir(events)));
        }
    }
}

/// The end of the trial: a test step past its limit stops it; otherwise the
/// notes are the record's.
pub(super) fn finish(
    record: &mut TrialRecord,
    tested: Tested,
    notes: Vec<String>,
) -> Result<(), Stop> {
    if let Tested::TimedOut(limit) = tested {
        return Err(Stop::new(
            Verdict::TimedOut,
            format!("the test step ran past its {}s limit", limit.as_secs()),
        ));
    }
    record.inconsistencies.extend(notes);
    Ok(())
}

/// `/racebench/report/report.xml` -> `report.xml`.
fn in_report_dir(path: &str) -> &str {
    path.strip_prefix(REPORT_DIR)
        .unwrap_or(path)
        .trim_start_matches('/')
}

/// `/racebench/out/report.xml` -> `report.xml`.
pub(super) fn in_out_dir(path: &str) -> &str {
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
