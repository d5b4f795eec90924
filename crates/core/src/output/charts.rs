//! Charts with plotters: the distribution of a metric per variant, side by side as a box plot
//! (one row per variant, with the sessions' median and its 95 % CI; `boxplot.rs`) and a CDF (one
//! line per variant, its median in the legend). The same drawing code renders SVG (desktop UI,
//! export; with `<title>` tooltips over boxes and quantile points) and PNG (export, with an
//! embedded DejaVu Sans so no system font is needed).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::boxplot::{self, Hover};
use crate::stats::median;
use crate::Error;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// One variant of the chart: its requests' values, and the estimate the comparison tests.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    pub estimate: Option<Estimate>,
}

/// The median of a metric across a variant's sessions and its 95 % confidence interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub sessions: usize,
    pub median: f64,
    pub ci95: Option<(f64, f64)>,
}

/// A value as the axis shows it: whole numbers on a wide axis, one decimal on a narrow one.
pub(crate) fn fmt_value(x: f64, x_max: f64) -> String {
    if x_max >= 20.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Where the value axis starts: 0, unless every value sits far from it (all above 40 % of the
/// largest), where starting at 0 would squeeze the distributions into a corner; then a round
/// number a little below the smallest value.
fn axis_start(series: &[Series], max: f64) -> f64 {
    let min = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    if !min.is_finite() || min <= 0.4 * max {
        return 0.0;
    }
    let step = 10f64.powf((max - min).max(1e-9).log10().floor());
    ((min - 0.05 * (max - min)) / step).floor() * step
}

/// The quantiles of each CDF line that carry a tooltip.
const HOVER_QUANTILES: [f64; 6] = [0.10, 0.25, 0.50, 0.75, 0.90, 0.99];

/// What the chart shows.
#[derive(Debug, Clone)]
pub struct ChartSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub series: &'a [Series],
    pub size: (u32, u32),
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn font() {
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Register the embedded font (once) for any chart drawn in this crate.
pub(crate) fn register_font() {
    font();
}

/// The `i`-th line colour.
pub(crate) fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec<'_>,
    hovers: &mut Vec<Hover>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let titled = root.titled(spec.title, ("sans-serif", 20)).map_err(err)?;
    let (w, _) = titled.dim_in_pixel();
    let (left, right) = titled.split_horizontally(w * 9 / 20);
    let max = spec
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let x_max = if max > 0.0 { max * 1.05 } else { 1.0 };
    let x_min = axis_start(spec.series, max);
    boxplot::draw(&left, spec.series, x_min..x_max, spec.x_label, hovers).map_err(err)?;
    let mut chart = ChartBuilder::on(&right)
        .caption("Requests at or below each value (CDF)", ("sans-serif", 13))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(spec.x_label)
        .y_desc("requests at or below x")
        .x_label_formatter(&|x| fmt_value(*x, x_max))
        .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for (i, s) in spec.series.iter().enumerate() {
        let mut v: Vec<f64> = s.values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len() as f64;
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(k, x)| (*x, (k + 1) as f64 / n))
            .collect();
        for q in HOVER_QUANTILES {
            let k = ((q * n).ceil() as usize).clamp(1, v.len()) - 1;
            let (px, py) = chart.backend_coord(&(v[k], (k + 1) as f64 / n));
            hovers.push(Hover {
                x: px - 5,
                y: py - 5,
                w: 10,
                h: 10,
                text: format!(
                    "{}: {:.0} % of {} requests at or below {} ({})",
                    s.name,
                    q * 100.0,
                    v.len(),
                    fmt_value(v[k], x_max),
                    spec.x_label
                ),
            });
        }
        let label = format!(
            "{} (n = {}, median {:.1})",
            s.name,
            v.len(),
            median(&v).unwrap_or(0.0)
        );
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// The chart as an SVG document.
pub fn svg(spec: &ChartSpec<'_>) -> Result<String, Error> {
    font();
    let mut out = String::new();
    let mut hovers = Vec::new();
    {
        let root = SVGBackend::with_string(&mut out, spec.size).into_drawing_area();
        draw(&root, spec, &mut hovers).map_err(|e| Error::Render(format!("chart: {e}")))?;
    }
    Ok(boxplot::with_hovers(out, &hovers))
}

/// The chart as a PNG file.
pub fn png(spec: &ChartSpec<'_>, path: &Path) -> Result<(), Error> {
    font();
    let root = BitMapBackend::new(path, spec.size).into_drawing_area();
    draw(&root, spec, &mut Vec::new())
        .map_err(|e| Error::Render(format!("chart {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(series: &[Series]) -> ChartSpec<'_> {
        ChartSpec {
            title: "sim-profiles: TTFT",
            x_label: "TTFT (ms)",
            series,
            size: (800, 500),
        }
    }

    #[test]
    fn svg_and_png_render_with_labels() {
        let series = vec![
            Series {
                name: "sim-fast-oai".into(),
                values: (0..50).map(|i| 55.0 + i as f64 * 0.3).collect(),
                estimate: Some(Estimate {
                    sessions: 3,
                    median: 62.0,
                    ci95: Some((58.5, 66.25)),
                }),
            },
            Series {
                name: "sim-slow-oai".into(),
                values: (0..50).map(|i| 580.0 + i as f64 * 2.0).collect(),
                estimate: None,
            },
        ];
        let svg = svg(&spec(&series)).unwrap();
        assert!(
            svg.starts_with("<svg")
                && svg.contains("sim-slow-oai (n = 50")
                && svg.contains("TTFT (ms)")
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        png(&spec(&series), &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(
            bytes.len() > 5000,
            "a chart with text and lines, not an empty image"
        );
    }

    #[test]
    fn empty_series_still_render_axes() {
        assert!(svg(&spec(&[Series {
            name: "none".into(),
            values: vec![],
            estimate: None,
        }]))
        .unwrap()
        .contains("<svg"));
    }

    /// The `(x, y, width, title)` of every hover target in an SVG.
    fn hovers(svg: &str) -> Vec<(i32, i32, i32, String)> {
        let layer = &svg[svg.find("<g class=\"hover\"").expect("a hover layer")..];
        layer
            .split("<rect ")
            .skip(1)
            .map(|r| {
                let attr = |name: &str| -> i32 {
                    let from = r.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    r[from..from + r[from..].find('"').unwrap()]
                        .parse()
                        .unwrap()
                };
                let t = &r[r.find("<title>").unwrap() + 7..r.find("</title>").unwrap()];
                (attr("x"), attr("y"), attr("width"), t.to_string())
            })
            .collect()
    }

    #[test]
    fn hovering_a_box_or_a_point_shows_its_numbers() {
        // 0, 1, …, 100: every percentile is its own rank (linear interpolation, R-7).
        let series = vec![
            Series {
                name: "a<b>".into(),
                values: (0..=100).map(f64::from).collect(),
                estimate: Some(Estimate {
                    sessions: 3,
                    median: 50.0,
                    ci95: Some((41.2, 58.7)),
                }),
            },
            Series {
                name: "two".into(),
                values: vec![],
                estimate: None,
            },
        ];
        let svg = svg(&spec(&series)).unwrap();
        let h = hovers(&svg);
        let titles: Vec<&str> = h.iter().map(|(_, _, _, t)| t.as_str()).collect();
        assert!(
            titles.contains(&"a&lt;b&gt;: 101 requests: p5 5, p25 25, median 50, p75 75, p95 95"),
            "{titles:?}"
        );
        assert!(titles.contains(&"a&lt;b&gt;: median across 3 session(s) 50, 95 % CI 41 – 59"));
        assert!(titles.contains(&"a&lt;b&gt;: 50 % of 101 requests at or below 50 (TTFT (ms))"));
        assert!(titles.contains(&"a&lt;b&gt;: 99 % of 101 requests at or below 99 (TTFT (ms))"));
        assert_eq!(
            h.len(),
            2 + 6,
            "one box, one interval, six CDF points; none for no data"
        );
        // The box plot is the left part of the picture, the CDF the right, and the CDF's points
        // go left to right as the quantile grows.
        let (w, split) = (800, 800 * 9 / 20);
        assert!(h[..2].iter().all(|(x, _, _, _)| *x < split));
        let cdf: Vec<i32> = h[2..].iter().map(|(x, _, _, _)| *x).collect();
        assert!(cdf.iter().all(|x| *x > split && *x < w), "{cdf:?}");
        assert!(cdf.windows(2).all(|p| p[0] < p[1]), "{cdf:?}");
        // The box spans p5..p95: wider than the interval bar (41..59).
        assert!(h[0].2 > h[1].2);
    }

    #[test]
    fn the_axis_starts_at_zero_unless_all_values_are_far_from_it() {
        let one = |values: Vec<f64>| {
            let max = values.iter().copied().fold(0.0, f64::max);
            axis_start(
                &[Series {
                    name: "a".into(),
                    values,
                    estimate: None,
                }],
                max,
            )
        };
        assert_eq!(one(vec![70.0, 85.0, 100.0]), 60.0);
        assert_eq!(one(vec![1200.0, 1450.0]), 1100.0);
        assert_eq!(one(vec![30.0, 100.0]), 0.0);
        assert_eq!(one(vec![]), 0.0);
    }
}
