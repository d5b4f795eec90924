//! Whether compared variants ran under the same conditions (docs/runs.md, "Environment"): the
//! same machines, similar load, the same concurrency, the same time limit. A difference is said
//! next to the comparison — it is part of what differs between the variants.

use std::collections::{BTreeMap, BTreeSet};

use crate::machine::Environment;
use crate::report::SessionStats;
use crate::stats::median;

/// Load per CPU between the variants' medians that is worth a word.
const LOAD_GAP: f64 = 0.5;
/// Mean concurrent sessions between variants that is worth a word.
const CONCURRENCY_GAP: f64 = 0.5;

/// Notes on environments that differ between the groups of `included` (empty: none found).
pub fn notes(included: &BTreeMap<String, Vec<&SessionStats>>) -> Vec<String> {
    let envs: BTreeMap<&str, Vec<&Environment>> = included
        .iter()
        .map(|(v, ss)| {
            let e = ss.iter().filter_map(|s| s.environment.as_ref()).collect();
            (v.as_str(), e)
        })
        .filter(|(_, e): &(&str, Vec<&Environment>)| !e.is_empty())
        .collect();
    if envs.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    machines(&envs, &mut out);
    spread(
        &envs,
        |e| e.load_per_cpu(),
        LOAD_GAP,
        "the machine's load differed (median 1-minute load per CPU when sessions began)",
        &mut out,
    );
    spread(
        &envs,
        |e| Some(f64::from(e.concurrent_sessions)),
        CONCURRENCY_GAP,
        "mixed concurrency (mean other sessions running beside each; timings under concurrency are slower, docs/runs.md)",
        &mut out,
    );
    let limits: BTreeSet<String> = envs
        .values()
        .flatten()
        .filter_map(|e| e.time_limit_s)
        .map(|l| format!("{l:.0} s"))
        .collect();
    if limits.len() > 1 {
        out.push(format!(
            "sessions had different time limits ({}): a timeout means different things",
            limits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// Variants that ran on different sets of machines.
fn machines(envs: &BTreeMap<&str, Vec<&Environment>>, out: &mut Vec<String>) {
    let sets: BTreeMap<&str, BTreeSet<String>> = envs
        .iter()
        .map(|(v, es)| {
            let m = es
                .iter()
                .map(|e| format!("{} ({} CPUs, {} MiB)", e.hostname, e.cpus, e.memory_mib))
                .collect();
            (*v, m)
        })
        .collect();
    let distinct: BTreeSet<&BTreeSet<String>> = sets.values().collect();
    if distinct.len() > 1 {
        let each: Vec<String> = sets
            .iter()
            .map(|(v, m)| {
                format!(
                    "{v} on {}",
                    m.iter().cloned().collect::<Vec<_>>().join(" + ")
                )
            })
            .collect();
        out.push(format!(
            "compared variants ran on different machines — the machine is part of what differs: {}",
            each.join("; ")
        ));
    }
}

/// A per-variant median of `f` whose spread across variants reaches `gap`.
fn spread(
    envs: &BTreeMap<&str, Vec<&Environment>>,
    f: fn(&Environment) -> Option<f64>,
    gap: f64,
    what: &str,
    out: &mut Vec<String>,
) {
    let per: Vec<(&str, f64)> = envs
        .iter()
        .filter_map(|(v, es)| {
            let xs: Vec<f64> = es.iter().filter_map(|e| f(e)).collect();
            Some((*v, median(&xs)?))
        })
        .collect();
    let lo = per.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = per.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if per.len() >= 2 && hi - lo >= gap {
        let each: Vec<String> = per.iter().map(|(v, x)| format!("{v} {x:.1}")).collect();
        out.push(format!("{what}: {}", each.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionMode, SessionStatus};

    fn env(host: &str, load: f64, concurrent: u32, limit: f64) -> Environment {
        Environment {
            machine_id: format!("id-{host}"),
            hostname: host.into(),
            os: "linux".into(),
            cpu_model: "cpu".into(),
            cpus: 2,
            memory_mib: 4096,
            load_start: Some(load),
            load_end: None,
            concurrent_sessions: concurrent,
            time_limit_s: Some(limit),
        }
    }

    fn session(variant: &str, e: Environment) -> SessionStats {
        SessionStats {
            session_id: format!("s-{variant}"),
            variant: variant.into(),
            experiment: "x".into(),
            provider: "p".into(),
            model: "m".into(),
            harness: "h".into(),
            task_card: "t".into(),
            status: SessionStatus::Completed,
            mode: SessionMode::Bounded,
            git_commit_sha: None,
            started_at: None,
            ended_at: None,
            requests: 1,
            successes: 1,
            errors: 0,
            input_tokens: 0,
            output_tokens: 0,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            metrics: BTreeMap::new(),
            outcome: None,
            environment: Some(e),
            excluded: None,
        }
    }

    fn of(ss: &[SessionStats]) -> BTreeMap<String, Vec<&SessionStats>> {
        let mut m: BTreeMap<String, Vec<&SessionStats>> = BTreeMap::new();
        for s in ss {
            m.entry(s.variant.clone()).or_default().push(s);
        }
        m
    }

    #[test]
    fn alike_environments_say_nothing_and_differences_are_named() {
        let same = [
            session("a", env("m1", 0.2, 0, 300.0)),
            session("b", env("m1", 0.4, 0, 300.0)),
        ];
        assert!(notes(&of(&same)).is_empty());
        let differ = [
            session("a", env("m1", 0.2, 0, 300.0)),
            session("b", env("m2", 3.0, 2, 600.0)),
        ];
        let n = notes(&of(&differ));
        assert_eq!(n.len(), 4, "{n:?}");
        assert!(n[0].contains("different machines") && n[0].contains("b on m2"));
        assert!(n[1].contains("load") && n[1].contains("b 1.5"));
        assert!(n[2].contains("mixed concurrency") && n[2].contains("b 2.0"));
        assert!(n[3].contains("time limits"));
    }
}
