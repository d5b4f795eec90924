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
        h.push_str("<h2>Per successful task</h2><table><tr><th>variant</th><th>cost per successful task</th><th>wall time per successful task</th></tr>");
        for v in &c.variants {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.variant),
                esc(&v.cost_per_success.text(crate::metrics::Unit::Usd)),
                esc(&v.wall_per_success.text(crate::metrics::Unit::Seconds))
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Variants</h2><table><tr><th>variant</th><th>sessions</th><th>requests</th>");
    for m in METRICS {
        h.push_str(&format!(
            "<th>{}<br>median · p95 · 95 % CI</th>",
            esc(m.label)
        ));
    }
    h.push_str("</tr>");
    for v in &c.variants {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            esc(&v.variant),
            v.sessions,
            v.requests
        ));
        for m in METRICS {
            let f = |x| format_value(m.unit, x);
            let cell = v.metrics.get(m.name).map(|s| {
                format!(
                    "{} · {} · {}",
                    f(s.median),
                    f(s.p95),
                    s.ci95
                        .map(|(a, b)| format!("[{}, {}]", f(Some(a)), f(Some(b))))
                        .unwrap_or_else(|| "–".into())
                )
            });
            h.push_str(&format!("<td>{}</td>", cell.unwrap_or_default()));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table><h2>Differences</h2><table><tr><th>pair</th><th>metric</th><th>difference (B − A)</th><th>p</th><th>verdict</th></tr>");
    for p in &c.pairs {
        let def = metrics::find(&p.metric);
        h.push_str(&format!(
            "<tr><td>{} vs {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.a),
            esc(&p.b),
            esc(def.map(|d| d.label).unwrap_or(&p.metric)),
            def.map(|d| format_value(d.unit, p.difference))
                .unwrap_or_else(|| num(p.difference)),
            num(p.p_value),
            esc(&p.verdict_text)
        ));
    }
    h.push_str("</table><h2>Excluded sessions</h2>");
    if c.excluded.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        h.push_str("<table><tr><th>session</th><th>variant</th><th>reason</th></tr>");
        for s in &c.excluded {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.session_id),
                esc(&s.variant),
                esc(s.excluded.as_deref().unwrap_or(""))
            ));
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
    h.push_str("</table><table><tr><th>variant</th><th>trials</th><th>success (mean over tasks)</th><th>flip rate</th><th>infrastructure errors</th></tr>");
    for v in &s.variants {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&v.variant),
            v.trials,
            num(v.success_rate),
            num(v.flip_rate),
            v.infra_errors,
            if v.infra_flagged { " (stands out)" } else { "" }
        ));
    }
    h.push_str("</table>");
    if let Some(r) = &s.time {
        h.push_str(&format!(
            "<p>Wall time over {} blocks: Friedman χ² = {:.2}, df {}, p = {:.4}.</p><table><tr><th>variant</th><th>mean rank</th><th>typical ratio to best</th><th>95 % CI</th></tr>",
            r.blocks, r.friedman_statistic, r.df, r.friedman_p
        ));
        for v in &r.ranks {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.variant),
                v.mean_rank,
                num(v.ratio_to_best),
                v.ratio_ci95
                    .map(|(a, b)| format!("[{a:.3}, {b:.3}]"))
                    .unwrap_or_else(|| "–".into())
            ));
        }
        h.push_str("</table>");
    }
    if let Some(svg) = cd_svg {
        h.push_str("<div class=\"charts\">");
        h.push_str(svg);
        h.push_str("</div>");
    }
}
