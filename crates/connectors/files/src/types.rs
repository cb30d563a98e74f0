//! The source types that come as files, their streams (the lake's schema
//! of each) and the export layouts they recognise.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use kpi_connector::{StreamDef, WriteMode};
use serde::Deserialize;

use crate::FileSettings;

/// A source type whose data comes as files: its config section, its
/// streams, and which settings load which stream. The registry in
/// `kpi-pipeline` needs nothing else.
pub trait FileType: serde::de::DeserializeOwned + Send + 'static {
    /// The `type = "..."` of its sources.
    const TYPE: &'static str;

    /// Its streams.
    fn streams() -> Vec<FileStream>;

    /// The settings of each configured stream, by stream name.
    fn inputs(&self) -> Vec<(&'static str, &FileSettings)>;
}

/// One stream of a file type.
#[derive(Debug, Clone)]
pub struct FileStream {
    /// Its name, schema (the date column included) and write mode.
    pub def: StreamDef,
    /// Export layouts whose headers it recognises.
    pub presets: &'static [Preset],
    /// What two rows with the same primary key on a day mean.
    pub overlap: Overlap,
}

/// What rows with the same primary key mean, in one file or in two files
/// with rows on the same day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Two facts that add up: two invoices of a vendor on one day are
    /// two costs.
    AddUp,
    /// Two versions of one fact (a network's followers on a day): the
    /// newest file's first row is kept.
    OneRowPerKey,
    /// The newest file with the key holds it, with every row it has for
    /// it: a re-export of the same days replaces the older file's rows,
    /// while an export broken down finer than the key (by ad group, by
    /// device) keeps all its rows, which add up.
    NewestFilePerKey,
}

/// A known export layout: for each stream column, the headers the tool
/// writes for it, tried in order.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The `preset = "..."` value.
    pub name: &'static str,
    /// Stream column, then its possible headers.
    pub headers: &'static [(&'static str, &'static [&'static str])],
}

impl FileStream {
    /// The partition column.
    pub fn date_column(&self) -> &str {
        match &self.def.write_mode {
            WriteMode::ReplaceDays { date_column } => date_column,
            // Every file stream is daily (see `daily`).
            _ => "date",
        }
    }

    /// The preset named `name`.
    pub fn preset(&self, name: &str) -> Option<&Preset> {
        self.presets.iter().find(|p| p.name == name)
    }
}

pub(crate) fn daily(name: &str, fields: Vec<Field>, key: &[&str]) -> StreamDef {
    let mut all = vec![Field::new("date", DataType::Date32, false)];
    all.extend(fields);
    StreamDef {
        name: name.to_string(),
        schema: Arc::new(Schema::new(all)),
        primary_key: key.iter().map(|k| k.to_string()).collect(),
        write_mode: WriteMode::ReplaceDays {
            date_column: "date".to_string(),
        },
        // Files are loaded by what changed in the folder, not by a window.
        cursor: None,
    }
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn count(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}
fn amount(name: &str) -> Field {
    Field::new(name, DataType::Float64, false)
}

/// `type = "costs"`: marketing costs outside the ad platforms (agency fees,
/// tools, content, events), as finance exports them: one row per cost
/// and day, in any currency (converted in `queries/staging/`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct CostsSource(pub FileSettings);

/// The costs stream.
pub const MARKETING_COSTS: &str = "marketing_costs";

impl FileType for CostsSource {
    const TYPE: &'static str = "costs";

    fn streams() -> Vec<FileStream> {
        vec![FileStream {
            def: daily(
                MARKETING_COSTS,
                vec![
                    text("vendor", false),
                    text("category", false),
                    // No channel: overhead (`unallocated` in the KPIs).
                    text("channel", true),
                    text("campaign", true),
                    amount("amount"),
                    text("currency", false),
                ],
                &["date", "vendor", "category", "channel", "campaign"],
            ),
            presets: &[],
            overlap: Overlap::AddUp,
        }]
    }

    fn inputs(&self) -> Vec<(&'static str, &FileSettings)> {
        vec![(MARKETING_COSTS, &self.0)]
    }
}

/// `type = "backlinks"`: an SEO tool's history of the site's link profile,
/// one row per crawl date.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct BacklinksSource(pub FileSettings);

/// The backlinks stream.
pub const SNAPSHOTS: &str = "snapshots";

/// The headers of the three tools' overview history exports. Followed
/// ("dofollow") counts first where the tool has both, since the KPI
/// counts followed referring domains.
const BACKLINK_PRESETS: &[Preset] = &[
    Preset {
        name: "ahrefs",
        headers: &[
            ("date", &["Date"]),
            ("domain", &["Target", "Domain"]),
            (
                "referring_domains_followed",
                &[
                    "Dofollow referring domains",
                    "Referring domains",
                    "Ref. domains",
                ],
            ),
            ("backlinks_followed", &["Dofollow backlinks", "Backlinks"]),
            ("domain_rating", &["Domain Rating", "DR"]),
        ],
    },
    Preset {
        name: "semrush",
        headers: &[
            ("date", &["Date"]),
            ("domain", &["Target", "Domain"]),
            (
                "referring_domains_followed",
                &["Referring Domains", "domains_num"],
            ),
            (
                "backlinks_followed",
                &["Follow Links", "follows_num", "Backlinks", "total"],
            ),
            ("domain_rating", &["Authority Score", "ascore"]),
        ],
    },
    Preset {
        name: "moz",
        headers: &[
            ("date", &["Date"]),
            ("domain", &["Root Domain", "Domain"]),
            (
                "referring_domains_followed",
                &[
                    "Followed Linking Root Domains",
                    "Linking Root Domains",
                    "Linking Domains",
                ],
            ),
            (
                "backlinks_followed",
                &["Followed Links", "External Followed Links", "Inbound Links"],
            ),
            ("domain_rating", &["Domain Authority", "DA"]),
        ],
    },
];

impl FileType for BacklinksSource {
    const TYPE: &'static str = "backlinks";

    fn streams() -> Vec<FileStream> {
        vec![FileStream {
            def: daily(
                SNAPSHOTS,
                vec![
                    text("domain", false),
                    count("referring_domains_followed"),
                    count("backlinks_followed"),
                    amount("domain_rating"),
                ],
                &["date", "domain"],
            ),
            presets: BACKLINK_PRESETS,
            overlap: Overlap::OneRowPerKey,
        }]
    }

    fn inputs(&self) -> Vec<(&'static str, &FileSettings)> {
        vec![(SNAPSHOTS, &self.0)]
    }
}

/// `type = "social"`: organic social, from two exports: the networks' page
/// insights (`[sources.<name>.page_insights]`) and a listening tool's
/// classified mentions (`[sources.<name>.mentions]`). Either may be left
/// out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocialSource {
    /// Page insights: per network and day, impressions, engagements, link
    /// clicks and followers.
    pub page_insights: Option<FileSettings>,
    /// Listening: per network and day, positive, neutral and negative
    /// mentions.
    pub mentions: Option<FileSettings>,
}

/// The page insights stream.
pub const PAGE_INSIGHTS: &str = "page_insights";
/// The mentions stream.
pub const MENTIONS: &str = "mentions";

impl FileType for SocialSource {
    const TYPE: &'static str = "social";

    fn streams() -> Vec<FileStream> {
        vec![
            FileStream {
                def: daily(
                    PAGE_INSIGHTS,
                    vec![
                        text("network", false),
                        count("impressions"),
                        count("engagements"),
                        count("link_clicks"),
                        count("followers"),
                    ],
                    &["date", "network"],
                ),
                presets: &[],
                overlap: Overlap::OneRowPerKey,
            },
            FileStream {
                def: daily(
                    MENTIONS,
                    vec![
                        text("network", false),
                        count("mentions_positive"),
                        count("mentions_neutral"),
                        count("mentions_negative"),
                    ],
                    &["date", "network"],
                ),
                presets: &[],
                overlap: Overlap::OneRowPerKey,
            },
        ]
    }

    fn inputs(&self) -> Vec<(&'static str, &FileSettings)> {
        let mut out = Vec::new();
        if let Some(s) = &self.page_insights {
            out.push((PAGE_INSIGHTS, s));
        }
        if let Some(s) = &self.mentions {
            out.push((MENTIONS, s));
        }
        out
    }
}
