//! The per-variant box plot drawn beside the CDF, and the hover layer: `<title>` elements over
//! the plotted shapes (plotters draws the SVG; the layer is appended after it, at the pixel
//! positions plotters mapped), so hovering a box or a point shows its numbers.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::charts::{color, fmt_value, Series};
use crate::stats::percentile;

/// A transparent hover target with its tooltip text.
#[derive(Debug, Clone)]
pub(crate) struct Hover {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub text: String,
}

/// `hovers` as SVG elements, inserted before the closing `</svg>` of `svg`.
pub(crate) fn with_hovers(mut svg: String, hovers: &[Hover]) -> String {
    let Some(end) = svg.rfind("</svg>") else {
        return svg;
    };
    let mut layer = String::from("<g class=\"hover\" fill=\"#000\" fill-opacity=\"0\">\n");
    for h in hovers {
        layer.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" pointer-events=\"all\"><title>{}</title></rect>\n",
            h.x,
            h.y,
            h.w.max(1),
            h.h.max(1),
            escape(&h.text)
        ));
    }
    layer.push_str("</g>\n");
    svg.insert_str(end, &layer);
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The five numbers a box shows: p5, p25, p50, p75, p95 of the requests.
fn five(values: &[f64]) -> Option<[f64; 5]> {
    let p = |q| percentile(values, q);
    Some([p(5.0)?, p(25.0)?, p(50.0)?, p(75.0)?, p(95.0)?])
}

/// One row per variant (top to bottom in the experiment's order): the box spans the requests'
/// p25–p75 with the median marked and whiskers at p5 and p95; the black bar beneath is the median
/// across sessions with its 95 % confidence interval (what the comparison tests).
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series],
    x: std::ops::Range<f64>,
    x_label: &str,
    hovers: &mut Vec<Hover>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let x_max = x.end;
    let n = series.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Requests (box p25–p75, whiskers p5–p95) · sessions (bar: median, 95 % CI)",
            ("sans-serif", 13),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(8)
        .build_cartesian_2d(x.clone(), 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_label)
        .x_label_formatter(&|x| fmt_value(*x, x_max))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let top = n - i as f64;
        row(&mut chart, s, i, top, x.clone(), hovers)?;
    }
    Ok(())
}

fn row<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    s: &Series,
    i: usize,
    top: f64,
    x: std::ops::Range<f64>,
    hovers: &mut Vec<Hover>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let x_max = x.end;
    let c = color(i);
    let mid = top - 0.38;
    let f = |v: f64| fmt_value(v, x_max);
    let values: Vec<f64> = s.values.iter().copied().filter(|v| v.is_finite()).collect();
    chart.draw_series(std::iter::once(Text::new(
        format!("{} (n = {})", s.name, values.len()),
        (x.start + (x.end - x.start) * 0.01, top - 0.06),
        ("sans-serif", 12).into_font().color(&RGBColor(60, 60, 60)),
    )))?;
    let mut text = format!("{}: {} requests", s.name, values.len());
    if let Some([p5, p25, p50, p75, p95]) = five(&values) {
        let (lo, hi) = (mid - 0.16, mid + 0.16);
        chart.draw_series([
            PathElement::new(vec![(p5, mid), (p25, mid)], c.stroke_width(1)),
            PathElement::new(vec![(p75, mid), (p95, mid)], c.stroke_width(1)),
            PathElement::new(vec![(p5, lo + 0.06), (p5, hi - 0.06)], c.stroke_width(1)),
            PathElement::new(vec![(p95, lo + 0.06), (p95, hi - 0.06)], c.stroke_width(1)),
        ])?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(p25, lo), (p75, hi)],
            c.mix(0.25).filled(),
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(p25, lo), (p75, hi)],
            c.stroke_width(1),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(p50, lo), (p50, hi)],
            c.stroke_width(3),
        )))?;
        text.push_str(&format!(
            ": p5 {}, p25 {}, median {}, p75 {}, p95 {}",
            f(p5),
            f(p25),
            f(p50),
            f(p75),
            f(p95)
        ));
        let (x0, y0) = chart.backend_coord(&(p5, hi));
        let (x1, y1) = chart.backend_coord(&(p95, lo));
        hovers.push(Hover {
            x: x0 - 3,
            y: y0,
            w: x1 - x0 + 6,
            h: y1 - y0,
            text: text.clone(),
        });
    }
    if let Some(e) = &s.estimate {
        let y = mid - 0.3;
        let mut t = format!(
            "{}: median across {} session(s) {}",
            s.name,
            e.sessions,
            f(e.median)
        );
        if let Some((lo, hi)) = e.ci95 {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(lo, y), (hi, y)],
                BLACK.stroke_width(3),
            )))?;
            t.push_str(&format!(", 95 % CI {} – {}", f(lo), f(hi)));
        } else {
            t.push_str(" (too few sessions for an interval)");
        }
        chart.draw_series(std::iter::once(Circle::new(
            (e.median, y),
            4,
            BLACK.filled(),
        )))?;
        let (lo, hi) = e.ci95.unwrap_or((e.median, e.median));
        let (x0, y0) = chart.backend_coord(&(lo, y));
        let (x1, _) = chart.backend_coord(&(hi, y));
        hovers.push(Hover {
            x: x0 - 6,
            y: y0 - 6,
            w: x1 - x0 + 12,
            h: 12,
            text: t,
        });
    }
    Ok(())
}
