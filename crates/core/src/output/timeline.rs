//! The usage chart: one line per group over the report's days (requests, tokens or cost per
//! UTC day), drawn with plotters like the distribution charts.

use std::collections::BTreeMap;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::boxplot::Hover;
use crate::usage::{parse_day, UsageReport};
use crate::Error;

/// What the usage chart plots per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageMetric {
    #[default]
    Requests,
    Tokens,
    Cost,
}

impl UsageMetric {
    fn label(self) -> &'static str {
        match self {
            UsageMetric::Requests => "requests per day",
            UsageMetric::Tokens => "tokens per day (input + output)",
            UsageMetric::Cost => "cost per day (USD)",
        }
    }
}

/// The most lines drawn; smaller groups are summed into "other".
const MAX_LINES: usize = 7;

/// Per group, the value of every day in the window (0 where it had no traffic).
fn lines(r: &UsageReport, metric: UsageMetric, first: i64, days: usize) -> Vec<(String, Vec<f64>)> {
    let top: Vec<&str> = r
        .rows
        .iter()
        .take(MAX_LINES)
        .map(|x| x.group.as_str())
        .collect();
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for p in &r.days {
        let Some(d) = parse_day(&p.day) else { continue };
        let i = usize::try_from(d - first).unwrap_or(usize::MAX);
        if i >= days {
            continue;
        }
        let name = if top.contains(&p.group.as_str()) {
            p.group.clone()
        } else {
            "other".to_string()
        };
        let v = match metric {
            UsageMetric::Requests => p.requests as f64,
            UsageMetric::Tokens => p.tokens as f64,
            UsageMetric::Cost => p.cost_usd,
        };
        out.entry(name).or_insert_with(|| vec![0.0; days])[i] += v;
    }
    // In the report's order (largest first), "other" last.
    let mut ordered: Vec<(String, Vec<f64>)> = top
        .iter()
        .filter_map(|g| out.remove(*g).map(|v| (g.to_string(), v)))
        .collect();
    ordered.extend(out);
    ordered
}

/// The chart as an SVG document.
pub fn usage_svg(r: &UsageReport, metric: UsageMetric, size: (u32, u32)) -> Result<String, Error> {
    super::charts::register_font();
    let (Some(first), Some(last)) = (parse_day(&r.since), parse_day(&r.until)) else {
        return Err(Error::Internal("usage report without a day range".into()));
    };
    let days = usize::try_from(last - first + 1).unwrap_or(1).max(1);
    let series = lines(r, metric, first, days);
    let mut out = String::new();
    let mut hovers = Vec::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root, r, metric, &series, (first, days), &mut hovers)
            .map_err(|e| Error::Render(format!("usage chart: {e}")))?;
    }
    Ok(super::boxplot::with_hovers(out, &hovers))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    r: &UsageReport,
    metric: UsageMetric,
    series: &[(String, Vec<f64>)],
    (first, days): (i64, usize),
    hovers: &mut Vec<Hover>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max);
    // Counts get whole-number ticks; cost keeps its fractions.
    let (y_max, y_ticks) = match metric {
        UsageMetric::Cost => (if max > 0.0 { max * 1.1 } else { 1.0 }, 8),
        _ => {
            let top = (max * 1.1).ceil().max(1.0);
            (top, (top as usize + 1).min(8))
        }
    };
    let x_max = (days.max(2) - 1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Usage by {}, {} … {}", r.by.as_str(), r.since, r.until),
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("UTC day")
        .y_desc(metric.label())
        .x_labels(days.min(8))
        .y_labels(y_ticks)
        .x_label_formatter(&|x| {
            let mut s = crate::usage::day_label(first + x.round() as i64);
            s.replace_range(..5, "");
            s
        })
        .y_label_formatter(&|y| match metric {
            UsageMetric::Cost => format!("${y:.2}"),
            _ if *y >= 10_000.0 => format!("{:.0}k", y / 1000.0),
            _ if (y - y.round()).abs() < 1e-9 => format!("{y:.0}"),
            _ => format!("{y:.1}"),
        })
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for (i, (name, values)) in series.iter().enumerate() {
        let color = super::charts::color(i);
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(d, v)| (d as f64, *v))
            .collect();
        for (d, v) in &points {
            let (x, y) = chart.backend_coord(&(*d, *v));
            let value = match metric {
                UsageMetric::Cost => format!("${v:.4}"),
                _ => format!("{v:.0}"),
            };
            hovers.push(Hover {
                x: x - 4,
                y: y - 4,
                w: 8,
                h: 8,
                text: format!(
                    "{name}, {}: {value} {}",
                    crate::usage::day_label(first + *d as i64),
                    metric.label()
                ),
            });
        }
        let total: f64 = values.iter().sum();
        let label = match metric {
            UsageMetric::Cost => format!("{name} (${total:.2})"),
            _ => format!("{name} ({total:.0})"),
        };
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        if days <= 60 {
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 2, color.filled())),
                )
                .map_err(err)?;
        }
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{assemble, Rollup, UsageBy, UsageFilter, UsageRequest};

    #[test]
    fn every_group_gets_a_line_and_small_ones_fold_into_other() {
        let mut rollups = Vec::new();
        for k in 0..10 {
            for day in 100..103 {
                let mut r = Rollup {
                    key_alias: format!("k{k}"),
                    model: "m".into(),
                    day,
                    ..Rollup::default()
                };
                for _ in 0..(k + 1) {
                    r.add(&UsageRequest {
                        latency_ms: Some(10.0),
                        ..UsageRequest::default()
                    });
                }
                rollups.push(r);
            }
        }
        let r = assemble(
            UsageBy::Key,
            &rollups,
            &Default::default(),
            &UsageFilter::default(),
            99,
            103,
        );
        let l = lines(&r, UsageMetric::Requests, 99, 5);
        assert_eq!(l.len(), MAX_LINES + 1);
        assert_eq!(l[0].0, "k9");
        assert_eq!(l[0].1, vec![0.0, 10.0, 10.0, 10.0, 0.0]);
        assert_eq!(l.last().unwrap().0, "other");
        assert_eq!(l.last().unwrap().1[1], 1.0 + 2.0 + 3.0);
        let svg = usage_svg(&r, UsageMetric::Requests, (640, 320)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("k9 (30)") && svg.contains("other (18)"),
            "{}",
            &svg[..200]
        );
        // Hovering a day's point shows its value.
        let day = crate::usage::day_label(100);
        assert!(svg.contains(&format!("<title>k9, {day}: 10 requests per day</title>")));
        assert!(svg.contains(&format!("<title>other, {day}: 6 requests per day</title>")));
        assert_eq!(svg.matches("<title>").count(), (MAX_LINES + 1) * 5);
        let empty = assemble(
            UsageBy::Key,
            &[],
            &Default::default(),
            &UsageFilter::default(),
            99,
            103,
        );
        assert!(usage_svg(&empty, UsageMetric::Cost, (640, 320))
            .unwrap()
            .starts_with("<svg"));
    }
}
