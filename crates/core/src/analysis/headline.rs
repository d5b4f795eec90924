//! The comparison's answer first: which variant is fastest, cheapest and most reliable — each
//! only when it beats every other variant significantly (adjusted p-values), otherwise that the
//! data cannot tell yet.

use serde::Serialize;

use crate::metrics::{format_value, MetricDef, Verdict, METRICS};
use crate::report::{MetricSummary, PairComparison, VariantSummary};

/// The three questions a benchmark asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Question {
    Fastest,
    Cheapest,
    MostReliable,
}

impl Question {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Question::Fastest => "fastest",
            Question::Cheapest => "cheapest",
            Question::MostReliable => "most reliable",
        }
    }

    /// The metrics that answer it, best first (the first with data is used).
    fn metrics(self) -> &'static [&'static str] {
        match self {
            Question::Fastest => &["wall_s", "duration_s"],
            Question::Cheapest => &["cost_usd"],
            Question::MostReliable => &["task_success", "error_rate"],
        }
    }
}

/// One question's answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Headline {
    pub question: Question,
    /// The metric that answered it (none when no variant has data for any).
    pub metric: Option<String>,
    /// The variant with the best median: the answer only when `settled`.
    pub leader: Option<String>,
    /// The leader is significantly better than every other variant.
    pub settled: bool,
    /// The largest adjusted p-value of the leader's pairs.
    pub p: Option<f64>,
    /// When it cannot tell yet: about how many more sessions per variant would separate the
    /// leader from the runner-up with 80 % power, if the difference is as large as measured.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub more_sessions: Option<usize>,
    pub text: String,
}

/// Fastest, cheapest, most reliable.
pub fn headlines(variants: &[VariantSummary], pairs: &[PairComparison]) -> Vec<Headline> {
    [
        Question::Fastest,
        Question::Cheapest,
        Question::MostReliable,
    ]
    .into_iter()
    .map(|q| answer(q, variants, pairs))
    .collect()
}

fn answer(q: Question, variants: &[VariantSummary], pairs: &[PairComparison]) -> Headline {
    let with_data = |m: &MetricDef| {
        variants
            .iter()
            .filter_map(|v| {
                v.metrics
                    .get(m.name)?
                    .median
                    .map(|x| (v.variant.as_str(), x))
            })
            .collect::<Vec<_>>()
    };
    let Some((m, values)) = q
        .metrics()
        .iter()
        .filter_map(|n| METRICS.iter().find(|m| m.name == *n))
        .map(|m| (m, with_data(m)))
        .find(|(_, v)| !v.is_empty())
    else {
        return Headline {
            question: q,
            metric: None,
            leader: None,
            settled: false,
            p: None,
            more_sessions: None,
            text: format!("{}: not measured yet", capital(q.words())),
        };
    };
    let better = |a: f64, b: f64| if m.lower_is_better { a < b } else { a > b };
    let (leader, best) =
        values
            .iter()
            .copied()
            .fold(values[0], |acc, x| if better(x.1, acc.1) { x } else { acc });
    let mine: Vec<&PairComparison> = pairs
        .iter()
        .filter(|p| p.metric == m.name && (p.a == leader || p.b == leader))
        .collect();
    let wins = mine
        .iter()
        .filter(|p| matches!(&p.verdict, Verdict::Better { winner, .. } if winner == leader))
        .count();
    let settled = values.len() > 1 && wins == values.len() - 1;
    let p = mine
        .iter()
        .filter_map(|x| x.p_adjusted)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    let value = format_value(m.unit, Some(best));
    let more_sessions = (!settled && values.len() > 1)
        .then(|| more_sessions(m, variants, leader, values.len()))
        .flatten();
    let text = if values.len() < 2 {
        format!(
            "{}: only {leader} has data ({} {value})",
            capital(q.words()),
            m.label
        )
    } else if settled {
        format!(
            "{leader} is {} ({} {value}; adjusted p ≤ {:.3} against every other variant)",
            q.words(),
            m.label,
            p.unwrap_or(1.0)
        )
    } else {
        let more = match more_sessions {
            Some(n) => format!(
                "about {n} more session{} per variant would likely tell, if the gap to the runner-up is as large as measured",
                if n == 1 { "" } else { "s" }
            ),
            None => "run more sessions (too few, or too alike, to estimate how many)".into(),
        };
        format!(
            "{}: the data cannot tell yet — {leader} leads on {} ({value}), but not significantly against every other variant; {more} (docs/statistics.md)",
            capital(q.words()),
            m.label
        )
    };
    Headline {
        question: q,
        metric: Some(m.name.to_string()),
        leader: Some(leader.to_string()),
        settled,
        p,
        more_sessions,
        text,
    }
}

/// About how many more sessions per variant would separate the leader from the runner-up: the
/// sample size of a two-sided test at level 0.05 / (number of pairs) — Holm's strictest step —
/// with 80 % power, for the difference and spread measured so far, minus the sessions the two
/// already have. `None` when the two measure alike (no difference to detect).
fn more_sessions(
    m: &MetricDef,
    variants: &[VariantSummary],
    leader: &str,
    k: usize,
) -> Option<usize> {
    fn summary<'a>(v: &'a VariantSummary, m: &MetricDef) -> Option<&'a MetricSummary> {
        v.metrics.get(m.name).filter(|s| s.median.is_some())
    }
    let lead = variants
        .iter()
        .find(|v| v.variant == leader)
        .and_then(|v| summary(v, m))?;
    let better = |a: f64, b: f64| if m.lower_is_better { a < b } else { a > b };
    let runner = variants
        .iter()
        .filter(|v| v.variant != leader)
        .filter_map(|v| summary(v, m))
        .reduce(|a, b| match (a.median, b.median) {
            (Some(x), Some(y)) if better(y, x) => b,
            _ => a,
        })?;
    let (a, b) = (lead.median?, runner.median?);
    let alpha = 0.05 / (k * (k - 1) / 2).max(1) as f64;
    let needed = if m.rollup == crate::metrics::Rollup::TaskSuccess {
        crate::analysis::power::sessions_for_rates(a, b, alpha, 0.8)?
    } else {
        let sd = ((lead.stdev?.powi(2) + runner.stdev?.powi(2)) / 2.0).sqrt();
        crate::analysis::power::sessions_for_means(a - b, sd, alpha, 0.8)?
    };
    let have = lead.sessions.min(runner.sessions);
    let floor = crate::analysis::power::min_sessions_for(alpha);
    let needed = (needed.ceil() as usize).max(m.claim_sessions).max(floor);
    Some(needed.saturating_sub(have).max(1))
}

pub(crate) fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn variant(name: &str, wall: f64) -> VariantSummary {
        let summary = MetricSummary {
            sessions: 5,
            median: Some(wall),
            p95: None,
            ci95: None,
            stdev: None,
        };
        VariantSummary {
            variant: name.into(),
            sessions: 5,
            requests: 10,
            session_success_rate: None,
            metrics: BTreeMap::from([("wall_s".to_string(), summary)]),
            cost_per_success: crate::analysis::per_success::per_success(&[], 0),
            wall_per_success: crate::analysis::per_success::per_success(&[], 0),
            infra_errors: 0,
        }
    }

    fn pair(a: &str, b: &str, winner: Option<&str>, p: f64) -> PairComparison {
        let verdict = match winner {
            Some(w) => Verdict::Better {
                winner: w.into(),
                loser: if w == a { b.into() } else { a.into() },
                p,
                indicative_below: None,
            },
            None => Verdict::NoDifference {
                p,
                indicative_below: None,
            },
        };
        PairComparison {
            a: a.into(),
            b: b.into(),
            metric: "wall_s".into(),
            difference: None,
            p_value: Some(p),
            p_adjusted: Some(p),
            verdict,
            verdict_text: String::new(),
            stack_tax_note: None,
        }
    }

    #[test]
    fn a_leader_is_named_only_when_it_beats_every_other_variant() {
        let vs = [variant("a", 10.0), variant("b", 20.0), variant("c", 21.0)];
        let all = [
            pair("a", "b", Some("a"), 0.01),
            pair("a", "c", Some("a"), 0.02),
            pair("b", "c", None, 0.9),
        ];
        let h = &headlines(&vs, &all)[0];
        assert_eq!(
            (h.question, h.settled, h.leader.as_deref()),
            (Question::Fastest, true, Some("a"))
        );
        assert_eq!(h.p, Some(0.02));
        assert!(h.text.starts_with("a is fastest"), "{}", h.text);
        let one_open = [
            pair("a", "b", Some("a"), 0.01),
            pair("a", "c", None, 0.2),
            pair("b", "c", None, 0.9),
        ];
        let h = &headlines(&vs, &one_open)[0];
        assert!(
            !h.settled && h.text.contains("cannot tell yet"),
            "{}",
            h.text
        );
        // No cost data anywhere: said so, not a made-up answer.
        let cheap = &headlines(&vs, &all)[1];
        assert!(
            cheap.metric.is_none() && cheap.text.contains("not measured"),
            "{}",
            cheap.text
        );
    }

    #[test]
    fn cannot_tell_says_about_how_many_more_sessions_would() {
        let with = |name: &str, median: f64, sd: f64| {
            let mut v = variant(name, median);
            if let Some(s) = v.metrics.get_mut("wall_s") {
                s.stdev = Some(sd);
                s.sessions = 3;
            }
            v
        };
        let vs = [
            with("a", 10.0, 2.0),
            with("b", 12.0, 2.0),
            with("c", 20.0, 2.0),
        ];
        let open = [
            pair("a", "b", None, 0.3),
            pair("a", "c", Some("a"), 0.01),
            pair("b", "c", Some("b"), 0.01),
        ];
        let h = &headlines(&vs, &open)[0];
        // Three pairs: α = 0.05 / 3; z(1 − α/2) = 2.393980, z(0.8) = 0.841621 (normal tables);
        // n = 2 (2.393980 + 0.841621)² · 2² / 2² = 20.94 → 21 per variant, 3 there already.
        assert_eq!(h.more_sessions, Some(18), "{}", h.text);
        assert!(h.text.contains("about 18 more sessions"), "{}", h.text);
        // A wide gap with almost no spread: the formula says 1, but an exact test of two
        // variants cannot reach p < 0.05 below 4 sessions each (2 / C(8, 4) = 0.029).
        let mut two = [with("a", 10.0, 0.01), with("b", 20.0, 0.01)];
        for v in &mut two {
            v.metrics.get_mut("wall_s").unwrap().sessions = 2;
        }
        let h = &headlines(&two, &open[..1])[0];
        assert_eq!(h.more_sessions, Some(2), "{}", h.text);
        // No spread known (one session each): no made-up number.
        let h = &headlines(&[variant("a", 10.0), variant("b", 12.0)], &open[..1])[0];
        assert_eq!(h.more_sessions, None);
        assert!(h.text.contains("run more sessions"), "{}", h.text);
    }
}
