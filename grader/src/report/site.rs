//! Writing the whole site: timelines first (pages link to them), then the
//! failing trials, the datapoint pages, the leaderboard and `summary.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::datapoint_page::{self, has_trial_page};
use super::error::ReportError;
use super::index_page;
use super::options::{ReportFiles, ReportOptions};
use super::page::{datapoint_href, timeline_href, trial_href, NavLink, Page, RunHeader};
use super::templates::Templates;
use super::timeline_page;
use super::trial_page;
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

    for dp in &summary.datapoints {
        for c in &dp.candidates {
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
                    has_timeline,
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
        let view =
            datapoint_page::build(run, dp, &timelines, options.max_patch_bytes, &mut warnings);
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
        &chrome.page("Leaderboard".into(), "", "", index_page::build(summary)),
    )?;
    let index = files.index.clone();
    put(&mut files, index, &html)?;
    put(&mut files, out.join("summary.json"), &summary.to_json())?;
    files.warnings = warnings;
    Ok(files)
}
