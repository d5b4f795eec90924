//! The suite part of `report compare` (and of `run`'s summary): the per-task grid, the ranking
//! over tasks with its test, flip rates and infrastructure errors (docs/statistics.md).

use stackperf_core::analysis::suite::{RankAnalysis, SuiteAnalysis, TaskCell};

use crate::output::table;
use crate::CliError;

pub fn print_suite(s: &SuiteAnalysis) -> Result<(), CliError> {
    println!(
        "per task (median wall time, ×the task's fastest; success k/n; pass@{k} / pass^{k}):",
        k = s.k
    );
    let mut headers = vec!["TASK".to_string()];
    headers.extend(s.variants.iter().map(|v| v.variant.to_uppercase()));
    let rows: Vec<Vec<String>> = s
        .tasks
        .iter()
        .map(|t| {
            let mut row = vec![t.clone()];
            row.extend(s.variants.iter().map(|v| {
                s.cells
                    .iter()
                    .find(|c| &c.task_card == t && c.variant == v.variant)
                    .map(cell_text)
                    .unwrap_or_else(|| "-".into())
            }));
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&headers, &rows)?;
    println!();
    for r in [&s.time, &s.cost].into_iter().flatten() {
        print_ranks(r)?;
    }
    let rows: Vec<Vec<String>> = s
        .variants
        .iter()
        .map(|v| {
            vec![
                v.variant.clone(),
                v.trials.to_string(),
                pct(v.success_rate),
                pct(v.flip_rate),
                format!(
                    "{}{}",
                    v.infra_errors,
                    if v.infra_flagged {
                        " (stands out: check this harness's setup)"
                    } else {
                        ""
                    }
                ),
            ]
        })
        .collect();
    table(
        &[
            "VARIANT",
            "TRIALS",
            "SUCCESS (MEAN OVER TASKS)",
            "FLIP RATE",
            "INFRASTRUCTURE ERRORS",
        ],
        &rows,
    )?;
    for p in &s.success {
        println!(
            "success {} vs {} within tasks (CMH): p = {:.3}, Holm {:.3}{}",
            p.a,
            p.b,
            p.p,
            p.p_holm,
            p.odds_ratio
                .map(|o| format!(", common odds ratio {o:.2}"))
                .unwrap_or_default()
        );
    }
    for n in &s.notes {
        println!("note: {n}");
    }
    println!();
    Ok(())
}

fn cell_text(c: &TaskCell) -> String {
    let time = match (c.time_s, c.time_ratio) {
        (Some(t), Some(r)) => format!("{t:.1} s ×{r:.2}"),
        (Some(t), None) => format!("{t:.1} s"),
        _ => "–".into(),
    };
    let success = if c.known > 0 {
        format!(" · {}/{}", c.successes, c.known)
    } else {
        String::new()
    };
    let pass = match (c.pass_at_k, c.pass_hat_k) {
        (Some(a), Some(h)) => format!(" · {a:.2}/{h:.2}"),
        _ => String::new(),
    };
    let flip = if c.flipped == Some(true) {
        " flips"
    } else {
        ""
    };
    let infra = if c.infra_errors > 0 {
        format!(" · {} infra", c.infra_errors)
    } else {
        String::new()
    };
    format!("{time}{success}{pass}{flip}{infra}")
}

fn print_ranks(r: &RankAnalysis) -> Result<(), CliError> {
    println!(
        "{} over {} tasks ({} blocks): Friedman χ² = {:.2}, df {}, p = {:.4}; critical difference of mean ranks (Nemenyi, α 0.05): {}",
        r.metric,
        r.tasks_used.len(),
        r.blocks,
        r.friedman_statistic,
        r.df,
        r.friedman_p,
        r.critical_difference
            .map(|d| format!("{d:.2}"))
            .unwrap_or_else(|| "-".into())
    );
    let rows: Vec<Vec<String>> = r
        .ranks
        .iter()
        .map(|v| {
            vec![
                v.variant.clone(),
                format!("{:.2}", v.mean_rank),
                v.ratio_to_best
                    .map(|x| format!("{x:.3}×"))
                    .unwrap_or_else(|| "-".into()),
                v.ratio_ci95
                    .map(|(lo, hi)| format!("[{lo:.3}, {hi:.3}]"))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "VARIANT",
            "MEAN RANK",
            "TYPICAL RATIO TO BEST",
            "95 % CI (TASKS, THEN TRIALS)",
        ],
        &rows,
    )?;
    println!();
    Ok(())
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0} %", v * 100.0))
        .unwrap_or_else(|| "-".into())
}
