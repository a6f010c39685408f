//! The report's charts as inline SVG (plotters, SVG backend only: no fonts loaded, no files, no
//! network): horizontal bars (per category, per sender, replay outcomes) and the trend line.

use anyhow::{Result, anyhow};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

pub const ERROR: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
pub const WARNING: RGBColor = RGBColor(0xe6, 0x7e, 0x22);
pub const INFO: RGBColor = RGBColor(0x29, 0x80, 0xb9);
pub const OK: RGBColor = RGBColor(0x27, 0xae, 0x60);
pub const GREY: RGBColor = RGBColor(0x95, 0xa5, 0xa6);

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw a chart: {e}")
}

/// One bar: its label and its stacked segments (value, colour).
pub struct Bar {
    pub label: String,
    pub segments: Vec<(u64, RGBColor)>,
}

/// Horizontal (stacked) bars, the first bar on top. `legend`: (name, colour) pairs.
pub fn hbars(
    title: &str,
    bars: &[Bar],
    legend: &[(&str, RGBColor)],
    label_width: u32,
) -> Result<String> {
    let width = 960u32;
    let n = bars.len().max(1);
    let height = 70 + 26 * n as u32 + 30;
    let max = bars
        .iter()
        .map(|b| b.segments.iter().map(|s| s.0).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = n as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0u64..(max + max / 8 + 1), (0..top).into_segmented())
            .map_err(err)?;
        let label_of = |v: &SegmentValue<i32>| -> String {
            match v {
                SegmentValue::CenterOf(i) => {
                    let idx = top - 1 - *i;
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| bars.get(i))
                        .map(|b| b.label.clone())
                        .unwrap_or_default()
                }
                _ => String::new(),
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_label_formatter(&|x| format!("{x}"))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        for (i, b) in bars.iter().enumerate() {
            let y = top - 1 - i as i32;
            let mut x0 = 0u64;
            for (v, colour) in &b.segments {
                if *v == 0 {
                    continue;
                }
                let mut rect = Rectangle::new(
                    [
                        (x0, SegmentValue::Exact(y)),
                        (x0 + v, SegmentValue::Exact(y + 1)),
                    ],
                    colour.filled(),
                );
                rect.set_margin(4, 4, 0, 0);
                chart.draw_series(std::iter::once(rect)).map_err(err)?;
                x0 += v;
            }
            let total: u64 = b.segments.iter().map(|s| s.0).sum();
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {total}"),
                    (x0, SegmentValue::CenterOf(y)),
                    ("sans-serif", 13).into_font(),
                )))
                .map_err(err)?;
        }
        for (name, colour) in legend {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (0u64, SegmentValue::Exact(0)),
                        (0u64, SegmentValue::Exact(0)),
                    ],
                    colour.filled(),
                )))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        if !legend.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Lines of errors, warnings and infos per run, oldest first.
pub fn trend(points: &[(String, [i64; 3])]) -> Result<String> {
    let (width, height) = (960u32, 320u32);
    let n = points.len();
    let ymax = points.iter().flat_map(|p| p.1).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let xmax = n.saturating_sub(1).max(1) as i64;
        let mut chart = ChartBuilder::on(&root)
            .caption("Findings per run", ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(0i64..xmax, 0i64..(ymax + ymax / 8 + 1))
            .map_err(err)?;
        let label = |x: &i64| -> String {
            usize::try_from(*x)
                .ok()
                .and_then(|i| points.get(i))
                .map(|p| p.0.clone())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(n.clamp(2, 8))
            .x_label_formatter(&label)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        for (k, (name, colour)) in [("error", ERROR), ("warning", WARNING), ("info", INFO)]
            .into_iter()
            .enumerate()
        {
            let pts: Vec<(i64, i64)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (i as i64, p.1[k]))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
