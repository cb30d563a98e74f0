//! Trend charts as PNG: one small line chart per headline KPI, the period
//! against the previous one.
//!
//! Mail clients block SVG and scripts, so charts are bitmaps sent as inline
//! parts. They carry no text at all (the scale and the last value live in
//! the HTML next to them): that keeps them readable in any language and
//! needs no font, which a server may not have. They are drawn at twice their
//! displayed size so they stay sharp on high-density screens.
//!
//! The current period's line is coloured stretch by stretch by the KPI's
//! direction: green where it is better than the previous period on the same
//! day (above it for revenue, below it for CAC), red where it is worse, so a
//! CAC running above last month is never green. Its last point, the value
//! the card shows, is marked with a dot.

use kpi_core::Direction;
use plotters::prelude::*;

use crate::ReportError;

/// Displayed size in CSS pixels (a card's width); the PNG has twice as many
/// in each direction.
pub const WIDTH: u32 = 176;
/// Displayed height in CSS pixels.
pub const HEIGHT: u32 = 56;
const SCALE: u32 = 2;

/// A KPI's cumulative trend: `(day, value)` where the value covers the
/// period's first `day` days (see `kpi_engine::Engine::kpis_and_series`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trend {
    /// Catalog key.
    pub kpi: String,
    /// Points of the current period, by day.
    pub current: Vec<(u32, Option<f64>)>,
    /// Points of the previous period, by day.
    pub previous: Vec<(u32, Option<f64>)>,
}

impl Trend {
    /// Whether there is anything to draw: two or more current points.
    pub fn drawable(&self) -> bool {
        self.current
            .iter()
            .filter(|(_, v)| v.is_some_and(f64::is_finite))
            .count()
            >= 2
    }
}

/// A drawn chart: the PNG and the range of values its height spans, for the
/// scale printed beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// PNG bytes.
    pub png: Vec<u8>,
    /// The lowest value drawn.
    pub low: f64,
    /// The highest value drawn.
    pub high: f64,
}

/// A rendered chart, referenced from the HTML as `cid:<cid>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The KPI it shows.
    pub kpi: String,
    /// Content-ID of the inline part.
    pub cid: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

const GOOD: RGBColor = RGBColor(0x04, 0x78, 0x57);
const BAD: RGBColor = RGBColor(0xb9, 0x1c, 0x1c);
const NEUTRAL: RGBColor = RGBColor(0x1f, 0x29, 0x37);
const PREVIOUS: RGBColor = RGBColor(0x9c, 0xa3, 0xaf);

/// The previous period's value on `day`, read off its line (linear between
/// its points); past its last day (a 31-day month after a 30-day one), its
/// last value; `None` before its first point or in a gap.
fn previous_at(previous: &[Vec<(f64, f64)>], day: f64) -> Option<f64> {
    if let Some(&(last_day, last)) = previous.last().and_then(|s| s.last())
        && day > last_day
    {
        return Some(last);
    }
    previous.iter().find_map(|seg| {
        seg.windows(2)
            .find_map(|w| {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                (day >= x0 && day <= x1).then(|| {
                    if x1 == x0 {
                        y1
                    } else {
                        y0 + (y1 - y0) * (day - x0) / (x1 - x0)
                    }
                })
            })
            .or_else(|| seg.iter().find(|p| p.0 == day).map(|p| p.1))
    })
}

/// The colour of the current line where it ends at `(day, value)`.
fn colour_at(previous: &[Vec<(f64, f64)>], day: f64, value: f64, direction: Direction) -> RGBColor {
    match (direction, previous_at(previous, day)) {
        (Direction::Neutral, _) | (_, None) => NEUTRAL,
        (_, Some(p)) if (value - p).abs() <= 1e-9 * p.abs().max(1.0) => NEUTRAL,
        (Direction::Higher, Some(p)) if value > p => GOOD,
        (Direction::Lower, Some(p)) if value < p => GOOD,
        _ => BAD,
    }
}

/// Splits a series into runs without gaps: an undefined value (a ratio with
/// nothing to divide by yet) breaks the line instead of dropping to zero.
fn segments(points: &[(u32, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (day, v) in points {
        match v.filter(|v| v.is_finite()) {
            Some(v) => out.last_mut().expect("non-empty").push((*day as f64, v)),
            None if out.last().is_some_and(|s| !s.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Draws `trend` as a PNG: the previous period in grey, the current one
/// coloured by how it compares with it given the KPI's `direction`, on one
/// scale, with a dot on the last value.
pub fn draw(trend: &Trend, direction: Direction) -> Result<Drawn, ReportError> {
    let err = |e: String| ReportError::Chart {
        kpi: trend.kpi.clone(),
        message: e,
    };
    let (w, h) = (WIDTH * SCALE, HEIGHT * SCALE);
    let current = segments(&trend.current);
    let previous = segments(&trend.previous);
    let all = current.iter().chain(&previous).flatten();
    let (mut lo, mut hi) = all
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    if !lo.is_finite() {
        return Err(err("no values to draw".into()));
    }
    let (low, high) = (lo, hi);
    if (hi - lo).abs() < 1e-12 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let pad = (hi - lo) * 0.08;
    let x_max = all.map(|p| p.0).fold(2.0, f64::max);

    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(4 * SCALE)
            .build_cartesian_2d(1f64..x_max, (lo - pad)..(hi + pad))
            .map_err(|e| err(e.to_string()))?;
        // A faint baseline gives the eye a floor without needing an axis label.
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(1.0, lo - pad), (x_max, lo - pad)],
                RGBColor(0xe5, 0xe7, 0xeb).stroke_width(SCALE),
            )))
            .map_err(|e| err(e.to_string()))?;
        for s in &previous {
            chart
                .draw_series(LineSeries::new(
                    s.iter().copied(),
                    PREVIOUS.stroke_width(SCALE),
                ))
                .map_err(|e| err(e.to_string()))?;
        }
        for s in &current {
            for w in s.windows(2) {
                let c = colour_at(&previous, w[1].0, w[1].1, direction);
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![w[0], w[1]],
                        c.stroke_width(2 * SCALE),
                    )))
                    .map_err(|e| err(e.to_string()))?;
            }
        }
        if let Some(&(x, y)) = current.last().and_then(|s| s.last()) {
            let c = colour_at(&previous, x, y, direction);
            chart
                .draw_series(std::iter::once(Circle::new((x, y), 3 * SCALE, c.filled())))
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().map_err(|e| err(e.to_string()))?;
        writer
            .write_image_data(&buf)
            .map_err(|e| err(e.to_string()))?;
    }
    Ok(Drawn { png, low, high })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("a valid PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("one frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn count(pixels: &[u8], rgb: (u8, u8, u8)) -> usize {
        pixels
            .chunks(3)
            .filter(|p| (p[0], p[1], p[2]) == rgb)
            .count()
    }

    #[test]
    fn draws_both_periods_at_twice_the_displayed_size() {
        let trend = Trend {
            kpi: "revenue".into(),
            current: (1..=10).map(|d| (d, Some(d as f64 * 100.0))).collect(),
            previous: (1..=10).map(|d| (d, Some(d as f64 * 80.0))).collect(),
        };
        let drawn = draw(&trend, Direction::Higher).unwrap();
        assert_eq!((drawn.low, drawn.high), (80.0, 1000.0));
        let (w, h, pixels) = decode(&drawn.png);
        assert_eq!((w, h), (WIDTH * 2, HEIGHT * 2));
        assert!(count(&pixels, (0x04, 0x78, 0x57)) > 100, "the current line");
        assert!(count(&pixels, (0x9c, 0xa3, 0xaf)) > 50, "the previous line");
        assert_eq!(count(&pixels, (0xb9, 0x1c, 0x1c)), 0, "no red when better");
    }

    #[test]
    fn a_cost_above_the_previous_period_is_red_below_it_green() {
        // CAC: lower is better. Above the previous period for days 1-5,
        // below it from day 6.
        let trend = Trend {
            kpi: "cac".into(),
            current: (1..=10)
                .map(|d| (d, Some(if d <= 5 { 150.0 } else { 50.0 })))
                .collect(),
            previous: (1..=10).map(|d| (d, Some(100.0))).collect(),
        };
        let (_, _, pixels) = decode(&draw(&trend, Direction::Lower).unwrap().png);
        let (red, green) = (
            count(&pixels, (0xb9, 0x1c, 0x1c)),
            count(&pixels, (0x04, 0x78, 0x57)),
        );
        assert!(red > 100 && green > 100, "red {red}, green {green}");
        // The same line for revenue (higher is better) swaps the colours.
        let (_, _, flipped) = decode(&draw(&trend, Direction::Higher).unwrap().png);
        assert!(count(&flipped, (0x04, 0x78, 0x57)) > 100);
        assert!(count(&flipped, (0xb9, 0x1c, 0x1c)) > 100);
        // Entirely above the previous period: red only.
        let above = Trend {
            current: (1..=10).map(|d| (d, Some(150.0))).collect(),
            ..trend.clone()
        };
        let (_, _, pixels) = decode(&draw(&above, Direction::Lower).unwrap().png);
        assert_eq!(count(&pixels, (0x04, 0x78, 0x57)), 0, "never green above");
    }

    #[test]
    fn without_a_previous_period_the_line_is_neutral() {
        let trend = Trend {
            kpi: "cpl".into(),
            current: vec![(1, Some(50.0)), (2, Some(60.0))],
            previous: vec![],
        };
        let (_, _, pixels) = decode(&draw(&trend, Direction::Lower).unwrap().png);
        assert!(count(&pixels, (0x1f, 0x29, 0x37)) > 50);
        assert_eq!(count(&pixels, (0xb9, 0x1c, 0x1c)), 0);
    }

    #[test]
    fn gaps_break_the_line_and_flat_series_draw() {
        assert_eq!(
            segments(&[(1, None), (2, Some(1.0)), (3, None), (4, Some(2.0))]),
            vec![vec![(2.0, 1.0)], vec![(4.0, 2.0)]]
        );
        let flat = Trend {
            kpi: "leads".into(),
            current: vec![(1, Some(0.0)), (2, Some(0.0))],
            previous: vec![(1, Some(0.0))],
        };
        assert!(flat.drawable());
        assert!(draw(&flat, Direction::Neutral).is_ok());
        let empty = Trend {
            kpi: "leads".into(),
            current: vec![(1, None), (2, Some(1.0))],
            previous: vec![],
        };
        assert!(!empty.drawable());
    }
}
