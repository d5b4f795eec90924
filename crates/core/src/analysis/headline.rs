//! The comparison's answer first: which variant is fastest, cheapest and most reliable — each
//! only when it beats every other variant significantly (adjusted p-values), otherwise that the
//! data cannot tell yet.

use serde::Serialize;

use crate::metrics::{format_value, MetricDef, Verdict, METRICS};
use crate::report::{PairComparison, VariantSummary};

/// The three questions a benchmark asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Question {
    Fastest,
    Cheapest,
    MostReliable,
}

impl Question {
    fn words(self) -> &'static str {
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
        format!(
            "{}: the data cannot tell yet — {leader} leads on {} ({value}), but not significantly against every other variant; run more sessions (docs/statistics.md)",
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
        text,
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::MetricSummary;
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
}
