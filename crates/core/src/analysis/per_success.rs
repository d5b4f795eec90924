//! What one successful task costs: a variant's total (cost, wall time) over its sessions with a
//! known outcome, divided by how many of them succeeded — failures are paid for too.

use serde::Serialize;

use crate::metrics::{format_value, Unit};
use crate::rng::Rng;
use crate::stats::percentile;

/// A total per successful task, with a bootstrap 95 % interval over sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PerSuccess {
    /// Σ value / successes; `None` with no success, or when a session's value is unknown (a
    /// cost with an unpriced request: "n/a", never a smaller total).
    pub value: Option<f64>,
    pub ci95: Option<(f64, f64)>,
    /// Sessions with a known outcome, and how many succeeded.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: usize,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub successes: usize,
}

impl PerSuccess {
    /// For people: "$0.0123 [$0.0100–$0.0200] (3 of 4 succeeded)"; "–" without automated runs.
    pub fn text(&self, unit: Unit) -> String {
        if self.sessions == 0 {
            return "–".into();
        }
        let f = |x| format_value(unit, Some(x));
        let value = match (self.value, self.ci95) {
            (Some(x), Some((lo, hi))) => format!("{} [{}–{}]", f(x), f(lo), f(hi)),
            (Some(x), None) => f(x),
            (None, _) if self.successes == 0 => "no successful task".into(),
            (None, _) => format_value(unit, None),
        };
        format!(
            "{value} ({} of {} succeeded)",
            self.successes, self.sessions
        )
    }
}

/// `sessions`: each session with a known outcome, as (its value, whether it succeeded).
pub fn per_success(sessions: &[(Option<f64>, bool)], seed: u64) -> PerSuccess {
    let successes = sessions.iter().filter(|(_, ok)| *ok).count();
    let known: Option<Vec<(f64, bool)>> = sessions
        .iter()
        .map(|(x, ok)| x.filter(|x| x.is_finite()).map(|x| (x, *ok)))
        .collect();
    let value = known.as_ref().and_then(|k| ratio(k.iter().copied()));
    let ci95 = known.as_ref().and_then(|k| bootstrap(k, seed, 2000));
    PerSuccess {
        value,
        ci95,
        sessions: sessions.len(),
        successes,
    }
}

/// Σ value / successes.
fn ratio(xs: impl Iterator<Item = (f64, bool)>) -> Option<f64> {
    let (sum, wins) = xs.fold((0.0, 0usize), |(s, w), (x, ok)| (s + x, w + ok as usize));
    (wins > 0).then(|| sum / wins as f64)
}

/// Percentile bootstrap over sessions; a resample without a success has no ratio, and when more
/// than one in twenty have none the interval is not stated (it would hide an infinite tail).
fn bootstrap(k: &[(f64, bool)], seed: u64, iters: usize) -> Option<(f64, f64)> {
    let n = k.len();
    if n < 2 {
        return None;
    }
    let mut rng = Rng::for_request(seed, n as u64);
    let mut out = Vec::with_capacity(iters);
    for _ in 0..iters {
        let draw = (0..n).map(|_| k[(rng.next_u64() % n as u64) as usize]);
        if let Some(r) = ratio(draw) {
            out.push(r);
        }
    }
    if out.len() * 20 < iters * 19 {
        return None;
    }
    Some((percentile(&out, 2.5)?, percentile(&out, 97.5)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_paid_for_and_unknown_stays_unknown() {
        // $1 + $2 + $3 + $4 spent, three tasks done: $10 / 3 per success.
        let s = [
            (Some(1.0), true),
            (Some(2.0), false),
            (Some(3.0), true),
            (Some(4.0), true),
        ];
        let r = per_success(&s, 1);
        assert_eq!(r.value, Some(10.0 / 3.0));
        assert_eq!((r.sessions, r.successes), (4, 3));
        let (lo, hi) = r.ci95.expect("interval");
        assert!(lo <= 10.0 / 3.0 && 10.0 / 3.0 <= hi, "{lo} {hi}");
        // The cheapest possible resample (only the $1 success) and the dearest ($4, one success
        // among fails) bound it.
        assert!(lo >= 1.0 && hi <= 16.0, "{lo} {hi}");
        // One unpriced session: no total at all.
        let r = per_success(&[(Some(1.0), true), (None, true)], 1);
        assert_eq!((r.value, r.ci95), (None, None));
        assert_eq!(r.text(Unit::Usd), "n/a (2 of 2 succeeded)");
        // No success: nothing per success.
        let r = per_success(&[(Some(1.0), false), (Some(2.0), false)], 1);
        assert_eq!(r.value, None);
        assert_eq!(r.successes, 0);
        assert_eq!(
            r.text(Unit::Seconds),
            "no successful task (0 of 2 succeeded)"
        );
        assert_eq!(per_success(&[], 1).text(Unit::Usd), "–");
    }

    #[test]
    fn a_mostly_failing_variant_gets_no_interval() {
        // One success in ten: a third of resamples have no success at all.
        let mut s = vec![(Some(1.0), false); 9];
        s.push((Some(1.0), true));
        let r = per_success(&s, 3);
        assert_eq!(r.value, Some(10.0));
        assert_eq!(r.ci95, None);
    }
}
