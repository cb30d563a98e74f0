//! `kpi-report`: turns a period's KPI table into the report leadership reads.
//!
//! It owns the report context (what a template can show, already formatted
//! in the KPI's unit and the reporting locale), the handlebars registry with
//! its partials and helpers, and CSS inlining so the HTML holds up in mail
//! clients. The layout itself lives in `report-templates/<report>/`, not here;
//! KPI arithmetic stays in `queries/`: this crate only picks rows and formats.

pub mod alerts;
pub mod charts;
mod context;
pub mod strings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;

pub use alerts::AlertRule;
pub use charts::{Chart, Trend};
pub use context::{BenchmarkSource, Freshness, KpiRow, ReportInput, build_context};
pub use strings::Strings;

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Email-safe HTML with CSS inlined into the elements.
    pub html: String,
    /// The text/plain alternative with the same headline numbers.
    pub text: String,
    /// The subject line, from the report's subject template.
    pub subject: String,
    /// Charts the HTML references as `cid:`, to send as inline parts.
    pub images: Vec<Chart>,
}

impl Rendered {
    /// The HTML with every `cid:` chart reference replaced by a `data:` URI:
    /// the copy saved to disk opens in a browser looking like the email.
    pub fn standalone_html(&self) -> String {
        use base64::Engine as _;
        let mut html = self.html.clone();
        for img in &self.images {
            let uri = format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&img.png)
            );
            html = html.replace(&format!("cid:{}", img.cid), &uri);
        }
        html
    }
}

/// Report failures; each names the template file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report name has no template directory.
    #[error("unknown report '{name}': no templates in {}", dir.display())]
    UnknownReport {
        /// The report asked for.
        name: String,
        /// Where its templates were looked for.
        dir: PathBuf,
    },
    /// A template could not be read or parsed.
    #[error("{file}: {message}")]
    Template {
        /// The template file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Rendering failed (a missing partial or a helper error).
    #[error("rendering {file}: {message}")]
    Render {
        /// The template file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A chart could not be drawn.
    #[error("chart of {kpi}: {message}")]
    Chart {
        /// The KPI the chart shows.
        kpi: String,
        /// What went wrong.
        message: String,
    },
    /// The input names a KPI the catalog does not have.
    #[error("{0}")]
    Input(String),
}

/// The built-in templates, by path under `report-templates/`.
const BUILTIN: &[(&str, &str)] = &[
    (
        "leadership/report.html.hbs",
        include_str!("../../../report-templates/leadership/report.html.hbs"),
    ),
    (
        "leadership/report.txt.hbs",
        include_str!("../../../report-templates/leadership/report.txt.hbs"),
    ),
    (
        "leadership/style.css",
        include_str!("../../../report-templates/leadership/style.css"),
    ),
    (
        "leadership/partials/kpi_card.hbs",
        include_str!("../../../report-templates/leadership/partials/kpi_card.hbs"),
    ),
    (
        "leadership/partials/funnel.hbs",
        include_str!("../../../report-templates/leadership/partials/funnel.hbs"),
    ),
    (
        "leadership/partials/table.hbs",
        include_str!("../../../report-templates/leadership/partials/table.hbs"),
    ),
    (
        "leadership/partials/footer.hbs",
        include_str!("../../../report-templates/leadership/partials/footer.hbs"),
    ),
    (
        "leadership/locales/en.toml",
        include_str!("../../../report-templates/leadership/locales/en.toml"),
    ),
    (
        "leadership/locales/es.toml",
        include_str!("../../../report-templates/leadership/locales/es.toml"),
    ),
];

/// The built-in locale files every report falls back to.
fn builtin_locales() -> Result<BTreeMap<String, Strings>, ReportError> {
    let mut out = BTreeMap::new();
    for (path, text) in BUILTIN {
        if let Some(file) = path.strip_prefix("leadership/locales/") {
            let code = file.trim_end_matches(".toml").to_string();
            out.insert(
                code,
                Strings::parse(text, &format!("report-templates/{path}"))?,
            );
        }
    }
    Ok(out)
}

/// A report's templates, ready to render.
pub struct Renderer {
    registry: Handlebars<'static>,
    /// The text part is not HTML: a registry that does not escape.
    text: Handlebars<'static>,
    css: String,
    origin: String,
    /// The report's own locale files, by code.
    locales: BTreeMap<String, Strings>,
    /// The built-in ones, the fallback for any missing key.
    builtin_locales: BTreeMap<String, Strings>,
}

handlebars::handlebars_helper!(upper: |s: str| s.to_uppercase());

impl Renderer {
    /// Loads report `name` from `dir` when given (a user's copy of
    /// `report-templates/`), else from the built-in templates.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<Self, ReportError> {
        let files: Vec<(String, String, String)> = match dir {
            Some(dir) => {
                let base = dir.join(name);
                if !base.is_dir() {
                    return Err(ReportError::UnknownReport {
                        name: name.into(),
                        dir: dir.to_path_buf(),
                    });
                }
                let mut files = Vec::new();
                for rel in ["report.html.hbs", "report.txt.hbs", "style.css"] {
                    let path = base.join(rel);
                    let text =
                        std::fs::read_to_string(&path).map_err(|e| ReportError::Template {
                            file: path.display().to_string(),
                            message: e.to_string(),
                        })?;
                    files.push((rel.to_string(), path.display().to_string(), text));
                }
                for sub in ["partials", "locales"] {
                    let Ok(entries) = std::fs::read_dir(base.join(sub)) else {
                        continue;
                    };
                    for entry in entries.filter_map(Result::ok) {
                        let path = entry.path();
                        let text =
                            std::fs::read_to_string(&path).map_err(|e| ReportError::Template {
                                file: path.display().to_string(),
                                message: e.to_string(),
                            })?;
                        let rel = format!("{sub}/{}", entry.file_name().to_string_lossy());
                        files.push((rel, path.display().to_string(), text));
                    }
                }
                files
            }
            None => {
                let prefix = format!("{name}/");
                let files: Vec<_> = BUILTIN
                    .iter()
                    .filter_map(|(p, t)| {
                        p.strip_prefix(&prefix).map(|rel| {
                            (
                                rel.to_string(),
                                format!("report-templates/{p}"),
                                t.to_string(),
                            )
                        })
                    })
                    .collect();
                if files.is_empty() {
                    return Err(ReportError::UnknownReport {
                        name: name.into(),
                        dir: PathBuf::from("report-templates (built in)"),
                    });
                }
                files
            }
        };
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        let mut text_registry = Handlebars::new();
        text_registry.set_strict_mode(true);
        text_registry.register_escape_fn(handlebars::no_escape);
        let mut css = String::new();
        let mut locales = BTreeMap::new();
        for (rel, origin, text) in &files {
            if rel == "style.css" {
                css = text.clone();
                continue;
            }
            if let Some(file) = rel.strip_prefix("locales/") {
                let code = file.trim_end_matches(".toml").to_string();
                locales.insert(code, Strings::parse(text, origin)?);
                continue;
            }
            let key = rel
                .strip_prefix("partials/")
                .map(|p| p.trim_end_matches(".hbs").to_string())
                .unwrap_or_else(|| rel.clone());
            let target = if rel.ends_with(".txt.hbs") {
                &mut text_registry
            } else {
                &mut registry
            };
            target
                .register_template_string(&key, text)
                .map_err(|e| ReportError::Template {
                    file: origin.clone(),
                    message: e.to_string(),
                })?;
        }
        for r in [&mut registry, &mut text_registry] {
            r.register_helper("upper", Box::new(upper));
        }
        Ok(Self {
            registry,
            text: text_registry,
            css,
            locales,
            builtin_locales: builtin_locales()?,
            origin: files
                .first()
                .map(|f| {
                    f.1.rsplit_once('/')
                        .map(|x| x.0.to_string())
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
        })
    }

    /// The words for `locale`: the report's own file, then the built-in one,
    /// then English.
    fn strings(&self, locale: kpi_core::format::Locale) -> Strings {
        let code = strings::code(locale);
        let empty = Strings::default();
        let pick = |m: &BTreeMap<String, Strings>, c: &str| m.get(c).cloned().unwrap_or_default();
        pick(&self.locales, code)
            .over(self.builtin_locales.get(code).unwrap_or(&empty))
            .over(&pick(&self.locales, "en"))
            .over(self.builtin_locales.get("en").unwrap_or(&empty))
    }

    /// Renders the HTML and text parts for `input`.
    pub fn render(&self, input: &ReportInput) -> Result<Rendered, ReportError> {
        let strings = self.strings(input.locale);
        let mut context = build_context(input, &strings)?;
        context["css"] = serde_json::Value::String(self.css.clone());
        let images = attach_charts(&mut context, input)?;
        let render = |name: &str| {
            let registry = if name.ends_with(".txt.hbs") {
                &self.text
            } else {
                &self.registry
            };
            registry
                .render(name, &context)
                .map_err(|e| ReportError::Render {
                    file: format!("{}/{name}", self.origin),
                    message: e.to_string(),
                })
        };
        let raw = render("report.html.hbs")?;
        // Styles go inline (what Gmail and Outlook read); the @media rules
        // that stack the layout on a phone stay in a <style> tag, for the
        // clients that read one.
        let html = css_inline::CSSInliner::options()
            .keep_style_tags(false)
            .keep_at_rules(true)
            .build()
            .inline(&raw)
            .map_err(|e| ReportError::Render {
                file: format!("{}/style.css", self.origin),
                message: e.to_string(),
            })?;
        let text = render("report.txt.hbs")?;
        let subject = self
            .text
            .render_template(&input.subject, &context)
            .map_err(|e| ReportError::Render {
                file: "the subject setting".into(),
                message: e.to_string(),
            })?
            .trim()
            .to_string();
        Ok(Rendered {
            html,
            text,
            subject,
            images,
        })
    }
}

/// Draws the trend chart of every headline KPI that has one and points its
/// card at it (`chart.cid`); a KPI without a drawable trend gets no image.
fn attach_charts(
    context: &mut serde_json::Value,
    input: &ReportInput,
) -> Result<Vec<Chart>, ReportError> {
    let mut images = Vec::new();
    context["charts"] = serde_json::Value::Bool(false);
    let Some(cards) = context["headline"].as_array_mut() else {
        return Ok(images);
    };
    for card in cards {
        let kpi = card["kpi"].as_str().unwrap_or_default().to_string();
        let Some(trend) = input.trends.iter().find(|t| t.kpi == kpi && t.drawable()) else {
            continue;
        };
        let Some(def) = input.catalog.get(&kpi) else {
            continue;
        };
        let drawn = charts::draw(trend, def.direction)?;
        let f = |v: f64| kpi_core::format::value(Some(v), def.unit, &input.currency, input.locale);
        let cid = format!("trend-{kpi}@kpi.report");
        card["chart"] = serde_json::json!({
            "cid": cid,
            "width": charts::WIDTH,
            "height": charts::HEIGHT,
            "low": f(drawn.low),
            "high": f(drawn.high),
        });
        images.push(Chart {
            kpi,
            cid,
            png: drawn.png,
        });
    }
    context["charts"] = serde_json::Value::Bool(!images.is_empty());
    Ok(images)
}
