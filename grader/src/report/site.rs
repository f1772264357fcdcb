//! Writing the whole site: timelines and agent samples first (pages link to
//! them), then the failing trials, the datapoint pages, the leaderboard and
//! `summary.json`. Each agent sample's files are read just before its page
//! is rendered and dropped after, so a run of many samples stays small.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::agent_page::{self, SampleBrief};
use super::datapoint_page::{self, has_trial_page};
use super::error::ReportError;
use super::index_page;
use super::options::{ReportFiles, ReportOptions};
use super::page::{
    agent_href, datapoint_href, timeline_href, trial_href, NavLink, Page, RunHeader,
};
use super::templates::Templates;
use super::timeline_page;
use super::trial_page;
use crate::agent_sample::{load_agent_sample, SampleLimits};
use crate::load::LoadedRun;
use crate::summary::Summary;

/// The parts every page shares.
struct Chrome<'a> {
    css: &'a str,
    run: &'a RunHeader,
    nav: &'a [NavLink],
}

impl<'a> Chrome<'a> {
    fn page<T: serde::Serialize>(
        &self,
        title: String,
        root: &'a str,
        current: &str,
        view: T,
    ) -> Page<'a, T> {
        Page {
            title,
            root,
            css: self.css,
            run: self.run,
            nav: self.nav,
            current: current.to_string(),
            page: view,
        }
    }
}

fn put(files: &mut ReportFiles, path: PathBuf, content: &str) -> Result<(), ReportError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&path, content).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    files.written.push(path);
    Ok(())
}

/// Writes the static HTML report of `summary` (graded from `run`) into `options.out`.
pub fn write(
    run: &LoadedRun,
    summary: &Summary,
    options: &ReportOptions,
) -> Result<ReportFiles, ReportError> {
    let templates = Templates::load(options.templates_dir.as_deref())?;
    let out: &Path = &options.out;
    let mut files = ReportFiles {
        index: out.join("index.html"),
        ..ReportFiles::default()
    };
    let mut warnings = Vec::new();
    let header = RunHeader::of(summary);
    let nav: Vec<NavLink> = summary
        .datapoints
        .iter()
        .map(|d| NavLink {
            id: d.id.clone(),
            href: datapoint_href(&d.id),
        })
        .collect();
    let chrome = Chrome {
        css: templates.css(),
        run: &header,
        nav: &nav,
    };

    let mut timelines = BTreeSet::new();
    for dp in &summary.datapoints {
        for c in &dp.candidates {
            let Some((view, svg)) = timeline_page::build(run, &dp.id, c, &mut warnings) else {
                continue;
            };
            let rel = timeline_href(&dp.id, &c.id);
            let html = templates.render(
                "timeline.html",
                &rel,
                &chrome.page(
                    format!("Timeline · {} · {}", dp.id, c.id),
                    "../../",
                    &dp.id,
                    view,
                ),
            )?;
            put(&mut files, out.join(&rel), &html)?;
            put(&mut files, out.join(rel.replace(".html", ".svg")), &svg)?;
            timelines.insert((dp.id.clone(), c.id.clone()));
        }
    }

    let limits = SampleLimits {
        log_bytes: options.max_log_bytes as u64,
        diff_bytes: options.max_patch_bytes as u64,
        events_bytes: options.max_events_bytes as u64,
    };
    let mut samples: BTreeMap<(String, String), SampleBrief> = BTreeMap::new();
    for dp in &summary.datapoints {
        for c in dp.candidates.iter().filter(|c| c.agent.is_some()) {
            let sample = match load_agent_sample(run, &dp.id, &c.id, &limits) {
                Ok(Some(sample)) => sample,
                Ok(None) => continue,
                Err(e) => {
                    let mut message = e.to_string();
                    if let Some(source) = std::error::Error::source(&e) {
                        message = format!("{message}: {source}");
                    }
                    warnings.push(format!(
                        "could not show the agent sample {}/{}: {message}",
                        dp.id, c.id
                    ));
                    continue;
                }
            };
            warnings.extend(sample.problems.iter().cloned());
            let rel = agent_href(&dp.id, &c.id);
            let html = templates.render(
                "agent.html",
                &rel,
                &chrome.page(
                    format!("Agent sample · {} · {}", dp.id, c.id),
                    "../../",
                    &dp.id,
                    agent_page::build(&dp.id, c, &sample),
                ),
            )?;
            put(&mut files, out.join(&rel), &html)?;
            samples.insert(
                (dp.id.clone(), c.id.clone()),
                agent_page::brief(&dp.id, &sample),
            );
        }
    }

    for dp in &summary.datapoints {
        for c in &dp.candidates {
            let sample = samples.get(&(dp.id.clone(), c.id.clone()));
            for t in c
                .trial_results
                .iter()
                .filter(|t| has_trial_page(c, t.trial))
            {
                let has_timeline = timelines.contains(&(dp.id.clone(), c.id.clone()));
                let view = trial_page::build(
                    run,
                    &dp.id,
                    c,
                    t,
                    trial_page::Related {
                        has_timeline,
                        sample,
                    },
                    options.max_log_bytes,
                    &mut warnings,
                );
                let rel = trial_href(&dp.id, &c.id, t.trial);
                let html = templates.render(
                    "trial.html",
                    &rel,
                    &chrome.page(
                        format!("Trial {} · {} · {}", t.trial, dp.id, c.id),
                        "../../../",
                        &dp.id,
                        view,
                    ),
                )?;
                put(&mut files, out.join(&rel), &html)?;
            }
        }
        let view = datapoint_page::build(
            run,
            dp,
            &timelines,
            &samples,
            options.max_patch_bytes,
            &mut warnings,
        );
        let rel = datapoint_href(&dp.id);
        let html = templates.render(
            "datapoint.html",
            &rel,
            &chrome.page(dp.id.clone(), "../", &dp.id, view),
        )?;
        put(&mut files, out.join(&rel), &html)?;
    }

    let html = templates.render(
        "index.html",
        "index.html",
        &chrome.page(
            "Leaderboard".into(),
            "",
            "",
            index_page::build(summary, &samples),
        ),
    )?;
    let index = files.index.clone();
    put(&mut files, index, &html)?;
    put(&mut files, out.join("summary.json"), &summary.to_json())?;
    files.warnings = warnings;
    Ok(files)
}
