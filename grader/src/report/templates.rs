//! The report's templates: embedded defaults from `templates/`, any of which
//! a folder can replace file by file. HTML templates are autoescaped.

use std::path::Path;

use serde::Serialize;
use tera::{Context, Tera};

use super::error::ReportError;

/// Every template file the report uses; a templates folder may hold any of them.
pub const TEMPLATE_NAMES: [&str; 7] = [
    "base.html",
    "index.html",
    "datapoint.html",
    "trial.html",
    "timeline.html",
    "agent.html",
    "style.css",
];

const EMBEDDED: [(&str, &str); 7] = [
    ("base.html", include_str!("../../../templates/base.html")),
    ("index.html", include_str!("../../../templates/index.html")),
    (
        "datapoint.html",
        include_str!("../../../templates/datapoint.html"),
    ),
    ("trial.html", include_str!("../../../templates/trial.html")),
    (
        "timeline.html",
        include_str!("../../../templates/timeline.html"),
    ),
    ("agent.html", include_str!("../../../templates/agent.html")),
    ("style.css", include_str!("../../../templates/style.css")),
];

/// Compiled templates and the stylesheet every page embeds.
///
/// A templates folder may hold any of [`TEMPLATE_NAMES`]; the others stay
/// embedded. Templates receive one context per page: `title`, `root` (the
/// relative path back to the report's root), `css`, `run`, `nav`, `current`
/// and `page`, the page's own view (see the embedded templates for its fields).
pub struct Templates {
    tera: Tera,
    css: String,
}

impl Templates {
    /// The embedded templates, or those of `dir` where it has a file of the same name.
    pub fn load(dir: Option<&Path>) -> Result<Templates, ReportError> {
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return Err(ReportError::ReadTemplate {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            });
        }
        let mut sources = Vec::new();
        for (name, embedded) in EMBEDDED {
            let path = dir.map(|d| d.join(name));
            let text = match path {
                Some(path) if path.is_file() => std::fs::read_to_string(&path)
                    .map_err(|source| ReportError::ReadTemplate { path, source })?,
                _ => embedded.to_string(),
            };
            sources.push((name, text));
        }
        let css = sources
            .iter()
            .find(|(n, _)| *n == "style.css")
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html"]);
        tera.add_raw_templates(sources.into_iter().filter(|(n, _)| n.ends_with(".html")))
            .map_err(ReportError::Templates)?;
        Ok(Templates { tera, css })
    }

    pub fn css(&self) -> &str {
        &self.css
    }

    /// Renders `template` with `context`; `page` names the page in errors.
    pub(crate) fn render(
        &self,
        template: &str,
        page: &str,
        context: &impl Serialize,
    ) -> Result<String, ReportError> {
        let err = |source| ReportError::Render {
            template: template.to_string(),
            page: page.to_string(),
            source,
        };
        let context = Context::from_serialize(context).map_err(err)?;
        self.tera.render(template, &context).map_err(err)
    }
}
