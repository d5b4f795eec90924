//! A suite's verdicts (docs/statistics.md, "Suites"): fastest, cheapest and most reliable from
//! the comparison within each task — never from pooled medians.

use super::{RankAnalysis, RankPairResult, SuccessPair, SuiteVariant, VariantRank, ALPHA};
use crate::analysis::headline::{capital, Headline, Question};

/// Fastest or cheapest: the leader of the ranking, named only when Friedman's test and every
/// Holm-adjusted pair with it are significant.
pub(super) fn by_rank(q: Question, r: Option<&RankAnalysis>) -> Headline {
    let word = q.words();
    let Some(r) = r else {
        return Headline {
            question: q,
            metric: None,
            leader: None,
            settled: false,
            p: None,
            more_sessions: None,
            text: format!("{}: no task has a value for every variant", capital(word)),
        };
    };
    let leader = r.ranks[0].variant.clone();
    let theirs: Vec<&RankPairResult> = r
        .pairs
        .iter()
        .filter(|p| p.a == leader || p.b == leader)
        .collect();
    let worst = theirs.iter().map(|p| p.p_holm).fold(0.0, f64::max);
    let settled = r.friedman_p < ALPHA && worst < ALPHA;
    let (verb, amount) = match q {
        Question::Cheapest => ("costs", "as much"),
        _ => ("takes", "as long"),
    };
    let gap = match r.ranks.get(1) {
        Some(VariantRank {
            variant,
            ratio_to_best: Some(g),
            ..
        }) => format!("; the next, {variant}, {verb} {g:.2}× {amount} on a typical task"),
        _ => String::new(),
    };
    let text = if settled {
        format!(
            "{leader} is {word} across {} tasks (Friedman p = {:.3}; every pair p ≤ {worst:.3} after Holm){gap}",
            r.tasks_used.len(),
            r.friedman_p
        )
    } else {
        format!(
            "{}: the data cannot tell yet — {leader} ranks first over {} tasks, but not significantly (Friedman p = {:.3}; weakest pair p = {worst:.3} after Holm){gap}",
            capital(word),
            r.tasks_used.len(),
            r.friedman_p
        )
    };
    Headline {
        question: q,
        metric: Some(r.metric.clone()),
        leader: Some(leader),
        settled,
        p: Some(worst.max(r.friedman_p)),
        more_sessions: None,
        text,
    }
}

/// Most reliable: the best mean per-task success, named only when CMH within tasks separates it
/// from every other variant after Holm.
pub(super) fn by_success(variants: &[SuiteVariant], pairs: &[SuccessPair]) -> Headline {
    let leader = variants
        .iter()
        .filter_map(|v| Some((v, v.success_rate?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((lead, rate)) = leader else {
        return Headline {
            question: Question::MostReliable,
            metric: None,
            leader: None,
            settled: false,
            p: None,
            more_sessions: None,
            text: "Most reliable: no task outcome is known (no verify command?)".into(),
        };
    };
    let theirs: Vec<&SuccessPair> = pairs
        .iter()
        .filter(|p| p.a == lead.variant || p.b == lead.variant)
        .collect();
    let worst = theirs.iter().map(|p| p.p_holm).fold(0.0, f64::max);
    let settled = !theirs.is_empty() && theirs.len() + 1 == variants.len() && worst < ALPHA;
    let text = if settled {
        format!(
            "{} is most reliable across tasks ({:.0} % per task on average; every pair p ≤ {worst:.3}, CMH within tasks, Holm)",
            lead.variant,
            rate * 100.0
        )
    } else {
        format!(
            "Most reliable: the data cannot tell yet — {} succeeds most ({:.0} % per task on average), but not significantly within tasks",
            lead.variant,
            rate * 100.0
        )
    };
    Headline {
        question: Question::MostReliable,
        metric: Some("task_success".into()),
        leader: Some(lead.variant.clone()),
        settled,
        p: (!theirs.is_empty()).then_some(worst),
        more_sessions: None,
        text,
    }
}
