//! The self-contained HTML report: the comparison's tables, a suite's per-task grid and
//! critical-difference diagram, and the charts inline (no external resources).

use crate::analysis::suite::SuiteAnalysis;
use crate::metrics::{self, format_value, METRICS};
use crate::report::Comparison;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
        None => "–".into(),
    }
}

/// A table's head: `<table>` and a row of column names (escaped here).
fn head<S: AsRef<str>>(h: &mut String, names: impl IntoIterator<Item = S>) {
    h.push_str("<table><tr>");
    for n in names {
        h.push_str(&format!("<th>{}</th>", esc(n.as_ref())));
    }
    h.push_str("</tr>");
}

/// A table row of plain-text cells (escaped here).
fn row<S: AsRef<str>>(h: &mut String, cells: impl IntoIterator<Item = S>) {
    h.push_str("<tr>");
    for c in cells {
        h.push_str(&format!("<td>{}</td>", esc(c.as_ref())));
    }
    h.push_str("</tr>");
}

/// One HTML file with the comparison tables and the charts inline (no external resources).
pub fn report(c: &Comparison, svgs: &[String], cd_svg: Option<&str>) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>StackPerf report: ");
    h.push_str(&esc(&c.experiment));
    h.push_str("</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d232a}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccd;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}.charts svg{max-width:100%;height:auto;margin:.5em 0}</style></head><body>");
    h.push_str(&format!(
        "<h1>{}</h1><p>StackPerf {} · generated {} · task cards: {} · LiteLLM: {} · commits: {}</p>",
        esc(&c.experiment),
        esc(&c.app_version),
        c.generated_at,
        esc(&c.task_cards.join(", ")),
        esc(&c.litellm_versions.join(", ")),
        esc(&c.repo_commits.join(", "))
    ));
    h.push_str("<ul>");
    for line in &c.headlines {
        h.push_str(&format!("<li>{}</li>", esc(&line.text)));
    }
    h.push_str("</ul>");
    if !c.environment_notes.is_empty() {
        h.push_str("<h2>Conditions differed</h2><ul>");
        for n in &c.environment_notes {
            h.push_str(&format!("<li>{}</li>", esc(n)));
        }
        h.push_str("</ul>");
    }
    if let Some(s) = &c.suite {
        suite_section(&mut h, s, cd_svg);
    }
    if c.variants.iter().any(|v| v.cost_per_success.sessions > 0) {
        h.push_str("<h2>Per successful task</h2>");
        head(
            &mut h,
            [
                "variant",
                "cost per successful task",
                "wall time per successful task",
            ],
        );
        for v in &c.variants {
            row(
                &mut h,
                [
                    v.variant.clone(),
                    v.cost_per_success.text(crate::metrics::Unit::Usd),
                    v.wall_per_success.text(crate::metrics::Unit::Seconds),
                ],
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Variants</h2>");
    head(
        &mut h,
        ["variant".to_string(), "sessions".into(), "requests".into()]
            .into_iter()
            .chain(
                METRICS
                    .iter()
                    .map(|m| format!("{} (median · p95 · 95 % CI)", m.label)),
            ),
    );
    for v in &c.variants {
        let cells = METRICS.iter().map(|m| {
            let f = |x| format_value(m.unit, x);
            v.metrics.get(m.name).map_or_else(String::new, |s| {
                let ci = s.ci95.map_or_else(
                    || "–".into(),
                    |(a, b)| format!("[{}, {}]", f(Some(a)), f(Some(b))),
                );
                format!("{} · {} · {ci}", f(s.median), f(s.p95))
            })
        });
        let counts = [v.sessions.to_string(), v.requests.to_string()];
        row(
            &mut h,
            [v.variant.clone()].into_iter().chain(counts).chain(cells),
        );
    }
    h.push_str("</table><h2>Differences</h2>");
    head(
        &mut h,
        ["pair", "metric", "difference (B − A)", "p", "verdict"],
    );
    for p in &c.pairs {
        let def = metrics::find(&p.metric);
        row(
            &mut h,
            [
                format!("{} vs {}", p.a, p.b),
                def.map_or_else(|| p.metric.clone(), |d| d.label.to_string()),
                def.map_or_else(|| num(p.difference), |d| format_value(d.unit, p.difference)),
                num(p.p_value),
                match &p.stack_tax_note {
                    Some(n) => format!("{} ({n})", p.verdict_text),
                    None => p.verdict_text.clone(),
                },
            ],
        );
    }
    h.push_str("</table><h2>Excluded sessions</h2>");
    if c.excluded.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        head(&mut h, ["session", "variant", "reason"]);
        for s in &c.excluded {
            row(
                &mut h,
                [
                    s.session_id.as_str(),
                    s.variant.as_str(),
                    s.excluded.as_deref().unwrap_or(""),
                ],
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Distributions</h2><div class=\"charts\">");
    for svg in svgs {
        h.push_str(svg);
    }
    h.push_str("</div></body></html>\n");
    h
}

/// A suite's verdict inputs: per task × variant cells (shaded by the time ratio to the task's
/// best), the ranking with its test, flip rates and infrastructure errors.
fn suite_section(h: &mut String, s: &SuiteAnalysis, cd_svg: Option<&str>) {
    h.push_str(&format!(
        "<h2>Per task</h2><p>Median wall time (× the task's fastest) · success k/n · pass@{k} / pass^{k}. The verdicts above come from comparing within each task, never from pooled medians.</p><table><tr><th>task</th>",
        k = s.k
    ));
    for v in &s.variants {
        h.push_str(&format!("<th>{}</th>", esc(&v.variant)));
    }
    h.push_str("</tr>");
    for t in &s.tasks {
        h.push_str(&format!("<tr><td>{}</td>", esc(t)));
        for v in &s.variants {
            let Some(c) = s
                .cells
                .iter()
                .find(|c| &c.task_card == t && c.variant == v.variant)
            else {
                h.push_str("<td>–</td>");
                continue;
            };
            let shade = c
                .time_ratio
                .map_or(0.0, |r| ((r - 1.0) * 2.0).clamp(0.0, 0.6));
            h.push_str(&format!(
                "<td style=\"background:rgba(214,39,40,{shade:.2})\">{} ×{} · {}/{} · {}/{}{}</td>",
                num(c.time_s),
                num(c.time_ratio),
                c.successes,
                c.known,
                num(c.pass_at_k),
                num(c.pass_hat_k),
                if c.infra_errors > 0 {
                    format!(" · {} infra", c.infra_errors)
                } else {
                    String::new()
                }
            ));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    let names = [
        "variant",
        "trials",
        "success (mean over tasks)",
        "flip rate",
    ];
    head(h, names.into_iter().chain(["infrastructure errors"]));
    for v in &s.variants {
        let flagged = if v.infra_flagged { " (stands out)" } else { "" };
        row(
            h,
            [
                v.variant.clone(),
                v.trials.to_string(),
                num(v.success_rate),
                num(v.flip_rate),
                format!("{}{flagged}", v.infra_errors),
            ],
        );
    }
    h.push_str("</table>");
    if let Some(r) = &s.time {
        h.push_str(&format!(
            "<p>Wall time over {} blocks: Friedman χ² = {:.2}, df {}, p = {:.4}.</p>",
            r.blocks, r.friedman_statistic, r.df, r.friedman_p
        ));
        head(
            h,
            ["variant", "mean rank", "typical ratio to best", "95 % CI"],
        );
        for v in &r.ranks {
            let ci = v
                .ratio_ci95
                .map_or_else(|| "–".into(), |(a, b)| format!("[{a:.3}, {b:.3}]"));
            row(
                h,
                [
                    v.variant.clone(),
                    format!("{:.2}", v.mean_rank),
                    num(v.ratio_to_best),
                    ci,
                ],
            );
        }
        h.push_str("</table>");
    }
    if let Some(svg) = cd_svg {
        h.push_str("<div class=\"charts\">");
        h.push_str(svg);
        h.push_str("</div>");
    }
}
