//! The critical-difference diagram of a suite (Demšar 2006, fig. 1): the variants' mean ranks
//! over the blocks on an axis from 1 (best) to k, each named beside its rank — the better half on
//! the left, the rest on the right — the Nemenyi critical difference as a bar above the axis, and
//! thick lines joining variants whose mean ranks differ by less than it (not told apart).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::suite::RankAnalysis;
use crate::output::charts::{color, register_font};
use crate::Error;

const WIDTH: u32 = 900;
const ROW: i32 = 26;

/// The diagram's height for `k` variants.
fn height(k: usize) -> u32 {
    (178 + ROW * k.div_ceil(2) as i32) as u32
}

/// The diagram as an SVG document.
pub fn svg(title: &str, r: &RankAnalysis) -> Result<String, Error> {
    register_font();
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (WIDTH, height(r.ranks.len()))).into_drawing_area();
        draw(&root, title, r).map_err(|e| Error::Render(format!("CD diagram: {e}")))?;
    }
    Ok(out)
}

/// The diagram as a PNG file.
pub fn png(title: &str, r: &RankAnalysis, path: &Path) -> Result<(), Error> {
    register_font();
    let root = BitMapBackend::new(path, (WIDTH, height(r.ranks.len()))).into_drawing_area();
    draw(&root, title, r).map_err(|e| Error::Render(format!("CD diagram {}: {e}", path.display())))
}

/// Groups of consecutive variants (best first) whose mean ranks span less than `cd`, each the
/// longest starting at its first member and not inside an earlier one.
pub fn cliques(ranks: &[f64], cd: f64) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in 0..ranks.len() {
        let mut j = i;
        while j + 1 < ranks.len() && ranks[j + 1] - ranks[i] < cd {
            j += 1;
        }
        if j > i && !out.iter().any(|&(a, b)| a <= i && j <= b) {
            out.push((i, j));
        }
    }
    out
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    r: &RankAnalysis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let k = r.ranks.len().max(2);
    let (left, right) = (170, WIDTH as i32 - 170);
    let axis_y = 112;
    let x_of =
        |rank: f64| left + ((rank - 1.0) / (k as f64 - 1.0) * f64::from(right - left)) as i32;
    let font = |size: u32| ("sans-serif", size).into_font();
    root.draw(&Text::new(title.to_string(), (16, 10), font(18)))?;
    let sub = format!(
        "mean rank over {} blocks ({} tasks); Friedman p = {:.4}; bar: critical difference {}",
        r.blocks,
        r.tasks_used.len(),
        r.friedman_p,
        r.critical_difference
            .map(|d| format!("{d:.2} (Nemenyi, α 0.05)"))
            .unwrap_or_else(|| "n/a".into())
    );
    root.draw(&Text::new(sub, (16, 34), font(13)))?;
    let black = BLACK.stroke_width(1);
    root.draw(&PathElement::new(
        vec![(left, axis_y), (right, axis_y)],
        black,
    ))?;
    for t in 1..=k {
        let x = x_of(t as f64);
        root.draw(&PathElement::new(vec![(x, axis_y - 6), (x, axis_y)], black))?;
        root.draw(&Text::new(t.to_string(), (x - 4, axis_y - 22), font(13)))?;
    }
    if let Some(cd) = r.critical_difference {
        let (x0, x1) = (x_of(1.0), x_of(1.0 + cd));
        let y = axis_y - 40;
        root.draw(&PathElement::new(
            vec![(x0, y), (x1.min(right), y)],
            BLACK.stroke_width(2),
        ))?;
        root.draw(&Text::new(
            "CD".to_string(),
            (x1.min(right) + 6, y - 7),
            font(12),
        ))?;
    }
    let half = r.ranks.len().div_ceil(2);
    for (i, v) in r.ranks.iter().enumerate() {
        let x = x_of(v.mean_rank);
        let c = color(i);
        let (row, on_left) = if i < half {
            (i, true)
        } else {
            (r.ranks.len() - 1 - i, false)
        };
        let y = axis_y + 40 + ROW * row as i32;
        let end = if on_left { left - 10 } else { right + 10 };
        root.draw(&PathElement::new(
            vec![(x, axis_y), (x, y), (end, y)],
            c.stroke_width(2),
        ))?;
        let label = format!("{} ({:.2})", v.variant, v.mean_rank);
        let lx = if on_left { 8 } else { end + 4 };
        root.draw(&Text::new(label, (lx, y - 8), font(13).color(&c)))?;
    }
    if let Some(cd) = r.critical_difference {
        let ranks: Vec<f64> = r.ranks.iter().map(|v| v.mean_rank).collect();
        for (n, (a, b)) in cliques(&ranks, cd).into_iter().enumerate() {
            let y = axis_y + 14 + 6 * n as i32;
            let (x0, x1) = (x_of(ranks[a]) - 4, x_of(ranks[b]) + 4);
            root.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                BLACK.stroke_width(4),
            ))?;
        }
    }
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::suite::VariantRank;

    #[test]
    fn cliques_join_what_the_critical_difference_cannot_tell_apart() {
        // 1.2, 1.9, 2.9, 4.3 with CD 1.25 → {0,1}, {1,2}; 4.3 is apart from all.
        assert_eq!(cliques(&[1.2, 1.9, 2.9, 4.3], 1.25), vec![(0, 1), (1, 2)]);
        assert_eq!(cliques(&[1.0, 1.1, 1.2], 5.0), vec![(0, 2)]);
        assert!(cliques(&[1.0, 3.0], 1.0).is_empty());
    }

    #[test]
    fn the_diagram_names_every_variant_and_renders_png() {
        let rank = |v: &str, m| VariantRank {
            variant: v.into(),
            mean_rank: m,
            ratio_to_best: None,
            ratio_ci95: None,
        };
        let r = RankAnalysis {
            metric: "wall_s".into(),
            tasks_used: vec!["a".into(), "b".into()],
            blocks: 8,
            friedman_statistic: 9.0,
            df: 3.0,
            friedman_p: 0.03,
            ranks: vec![
                rank("fast", 1.3),
                rank("mid", 2.2),
                rank("slow", 3.1),
                rank("slower", 3.4),
            ],
            critical_difference: Some(1.66),
            pairs: Vec::new(),
        };
        let s = svg("suite: wall time", &r).unwrap();
        for name in ["fast (1.30)", "slower (3.40)", "CD", "Friedman p = 0.0300"] {
            assert!(s.contains(name), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cd.png");
        png("t", &r, &p).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 1000);
    }
}
