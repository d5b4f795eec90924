//! Charts with plotters: the distribution of a metric per variant as a CDF (one line per variant,
//! its median in the legend). The same drawing code renders SVG (desktop UI, export) and PNG
//! (export, with an embedded DejaVu Sans so no system font is needed).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::stats::median;
use crate::Error;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// One line of the chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

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
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let max = spec
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let x_max = if max > 0.0 { max * 1.05 } else { 1.0 };
    let mut chart = ChartBuilder::on(root)
        .caption(spec.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(spec.x_label)
        .y_desc("requests at or below x")
        .x_label_formatter(&|x| {
            if x_max >= 20.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        })
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
    {
        let root = SVGBackend::with_string(&mut out, spec.size).into_drawing_area();
        draw(&root, spec).map_err(|e| Error::Render(format!("chart: {e}")))?;
    }
    Ok(out)
}

/// The chart as a PNG file.
pub fn png(spec: &ChartSpec<'_>, path: &Path) -> Result<(), Error> {
    font();
    let root = BitMapBackend::new(path, spec.size).into_drawing_area();
    draw(&root, spec).map_err(|e| Error::Render(format!("chart {}: {e}", path.display())))
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
            },
            Series {
                name: "sim-slow-oai".into(),
                values: (0..50).map(|i| 580.0 + i as f64 * 2.0).collect(),
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
            values: vec![]
        }]))
        .unwrap()
        .contains("<svg"));
    }
}
