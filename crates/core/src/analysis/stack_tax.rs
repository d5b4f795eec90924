//! The stack's tax in a comparison: every request a harness makes passes StackPerf's edge and
//! LiteLLM before it reaches the provider, and that time (`proxy_overhead_ms`: from the request's
//! arrival at the edge to LiteLLM's hand-off to the provider) is part of every time to first
//! token the harness saw. When two variants' tax differs by a large share of their TTFT gap, part
//! of the gap belongs to the proxy, not to the harness or the provider: said next to the verdict.

use crate::metrics::{format_value, Unit};
use crate::report::{PairComparison, VariantSummary};

/// The registry metric that measures the tax (median per session).
pub const TAX_METRIC: &str = "proxy_overhead_ms";
/// The compared metrics whose values include the tax (timed from the request's arrival at the
/// edge); the provider's own TTFT does not.
pub const INCLUDES_TAX: &[&str] = &["ttft_p50_ms", "ttft_visible_p50_ms"];
/// A gap in the tax larger than this share of the TTFT gap (same direction) is said.
pub const TAX_SHARE: f64 = 0.25;

/// The note for one pair, if the tax explains a large share of its gap.
pub fn note(pair: &PairComparison, variants: &[VariantSummary]) -> Option<String> {
    if !INCLUDES_TAX.contains(&pair.metric.as_str()) {
        return None;
    }
    let gap = pair.difference.filter(|d| *d != 0.0 && d.is_finite())?;
    let tax = |v: &str| {
        variants
            .iter()
            .find(|s| s.variant == v)?
            .metrics
            .get(TAX_METRIC)?
            .median
    };
    let tax_gap = tax(&pair.b)? - tax(&pair.a)?;
    if tax_gap.signum() != gap.signum() || tax_gap.abs() <= TAX_SHARE * gap.abs() {
        return None;
    }
    let ms = |x: f64| format_value(Unit::Milliseconds, Some(x.abs()));
    let share = tax_gap / gap;
    Some(if share >= 1.0 {
        format!(
            "all of this gap could be the proxy: the stack's tax differs by {} (the gap is {})",
            ms(tax_gap),
            ms(gap)
        )
    } else {
        format!(
            "part of this gap is the proxy: the stack's tax differs by {} of the {} ({:.0} %)",
            ms(tax_gap),
            ms(gap),
            share * 100.0
        )
    })
}

/// Sets every pair's `stack_tax_note`.
pub fn annotate(pairs: &mut [PairComparison], variants: &[VariantSummary]) {
    for p in pairs.iter_mut() {
        p.stack_tax_note = note(p, variants);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::analysis::per_success::per_success;
    use crate::metrics::Verdict;
    use crate::report::MetricSummary;

    fn variant(name: &str, tax: Option<f64>) -> VariantSummary {
        let mut metrics = BTreeMap::new();
        metrics.insert(
            TAX_METRIC.to_string(),
            MetricSummary {
                sessions: 5,
                median: tax,
                p95: tax,
                ci95: None,
                stdev: None,
            },
        );
        VariantSummary {
            variant: name.into(),
            sessions: 5,
            requests: 50,
            session_success_rate: None,
            metrics,
            cost_per_success: per_success(&[], 0),
            wall_per_success: per_success(&[], 0),
            infra_errors: 0,
        }
    }

    fn pair(metric: &str, difference: Option<f64>) -> PairComparison {
        PairComparison {
            a: "a".into(),
            b: "b".into(),
            metric: metric.into(),
            difference,
            p_value: None,
            p_adjusted: None,
            verdict: Verdict::NoDifference {
                p: 1.0,
                indicative_below: None,
            },
            verdict_text: String::new(),
            stack_tax_note: None,
        }
    }

    #[test]
    fn a_gap_mostly_made_of_tax_is_said_and_a_small_share_is_not() {
        let vs = [variant("a", Some(8.0)), variant("b", Some(10.5))];
        // TTFT gap 3.0 ms, tax gap 2.5 ms: 83 %.
        let n = note(&pair("ttft_p50_ms", Some(3.0)), &vs).unwrap();
        assert!(n.starts_with("part of this gap is the proxy"), "{n}");
        assert!(n.contains("2.5 ms of the 3.0 ms (83 %)"), "{n}");
        // A 20 ms gap: the 2.5 ms tax gap is 12.5 %, below the share.
        assert_eq!(note(&pair("ttft_p50_ms", Some(20.0)), &vs), None);
        // Opposite directions: the tax does not explain the gap.
        assert_eq!(note(&pair("ttft_p50_ms", Some(-3.0)), &vs), None);
        // Larger than the gap itself.
        let all = note(&pair("ttft_visible_p50_ms", Some(1.0)), &vs).unwrap();
        assert!(
            all.starts_with("all of this gap could be the proxy"),
            "{all}"
        );
        // Metrics that do not include the tax, no difference, no tax measured.
        assert_eq!(note(&pair("itl_p50_ms", Some(3.0)), &vs), None);
        assert_eq!(note(&pair("ttft_p50_ms", None), &vs), None);
        assert_eq!(note(&pair("ttft_p50_ms", Some(0.0)), &vs), None);
        let unmeasured = [variant("a", None), variant("b", Some(10.5))];
        assert_eq!(note(&pair("ttft_p50_ms", Some(3.0)), &unmeasured), None);
    }

    #[test]
    fn annotate_sets_each_pairs_note() {
        let vs = [variant("a", Some(8.0)), variant("b", Some(10.5))];
        let mut ps = [
            pair("ttft_p50_ms", Some(3.0)),
            pair("ttft_p50_ms", Some(30.0)),
        ];
        ps[1].stack_tax_note = Some("stale".into());
        annotate(&mut ps, &vs);
        assert!(ps[0].stack_tax_note.is_some());
        assert_eq!(ps[1].stack_tax_note, None);
    }
}
