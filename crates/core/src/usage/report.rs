//! A usage report from rollups: grouped, totalled, and per day for the chart.

use std::collections::{BTreeMap, HashMap};

use super::{day_label, Rollup, UsageBy, UsageFilter, UsageKey, UsagePoint, UsageReport, UsageRow};

/// The group a rollup falls into.
fn group_of(by: UsageBy, r: &Rollup, key: Option<&UsageKey>) -> String {
    match by {
        UsageBy::Key => r.key_alias.clone(),
        UsageBy::Owner => key.map_or_else(|| "(unknown key)".into(), |k| k.owner.clone()),
        UsageBy::Team => key
            .and_then(|k| k.team.clone())
            .unwrap_or_else(|| "(no team)".into()),
        UsageBy::Model if r.model.is_empty() => "(no model)".into(),
        UsageBy::Model => r.model.clone(),
        UsageBy::Day => day_label(r.day),
    }
}

fn keep(f: &UsageFilter, r: &Rollup, key: Option<&UsageKey>) -> bool {
    let is =
        |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
    f.since_day.is_none_or(|d| r.day >= d)
        && f.until_day.is_none_or(|d| r.day <= d)
        && is(&f.key, Some(&r.key_alias))
        && is(&f.model, Some(&r.model))
        && is(&f.owner, key.map(|k| k.owner.as_str()))
        && is(&f.team, key.and_then(|k| k.team.as_deref()))
}

fn row(group: String, r: &Rollup) -> UsageRow {
    UsageRow {
        group,
        requests: r.requests,
        errors: r.errors,
        error_rate: if r.requests > 0 {
            r.errors as f64 / r.requests as f64
        } else {
            0.0
        },
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cached_input_tokens: r.cached_input_tokens,
        cache_write_tokens: r.cache_write_tokens,
        reasoning_tokens: r.reasoning_tokens,
        cost_usd: (r.priced > 0).then_some(r.cost_usd),
        unpriced: r.requests - r.priced.min(r.requests),
        latency_p50_ms: r.latency.quantile(0.5),
        latency_p95_ms: r.latency.quantile(0.95),
        latency_p99_ms: r.latency.quantile(0.99),
        ttft_p50_ms: r.ttft.quantile(0.5),
        ttft_p95_ms: r.ttft.quantile(0.95),
    }
}

/// The report over `rollups` (any order) for the days `since..=until`.
pub fn assemble(
    by: UsageBy,
    rollups: &[Rollup],
    keys: &HashMap<String, UsageKey>,
    filter: &UsageFilter,
    since: i64,
    until: i64,
) -> UsageReport {
    let mut groups: BTreeMap<String, Rollup> = BTreeMap::new();
    let mut days: BTreeMap<(i64, String), Rollup> = BTreeMap::new();
    let mut total = Rollup::default();
    for r in rollups {
        let key = keys.get(&r.key_alias);
        if r.day < since || r.day > until || !keep(filter, r, key) {
            continue;
        }
        let g = group_of(by, r, key);
        groups.entry(g.clone()).or_default().merge(r);
        let d = days.entry((r.day, g)).or_default();
        d.requests += r.requests;
        d.input_tokens += r.input_tokens;
        d.output_tokens += r.output_tokens;
        d.cost_usd += r.cost_usd;
        total.merge(r);
    }
    let mut rows: Vec<UsageRow> = groups.into_iter().map(|(g, r)| row(g, &r)).collect();
    if by == UsageBy::Day {
        rows.sort_by(|a, b| a.group.cmp(&b.group));
    } else {
        rows.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.group.cmp(&b.group)));
    }
    UsageReport {
        by,
        since: day_label(since),
        until: day_label(until),
        rows,
        total: row("total".into(), &total),
        days: days
            .into_iter()
            .map(|((day, group), r)| UsagePoint {
                day: day_label(day),
                group,
                requests: r.requests,
                tokens: r.input_tokens + r.output_tokens,
                cost_usd: r.cost_usd,
            })
            .collect(),
        note: format!(
            "UTC days; latency and TTFT percentiles are read from log-bucketed histograms (within ±{:.0} % of the exact value); cost counts only requests whose model has a price",
            (super::hist::GROWTH - 1.0) * 50.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;
    use crate::usage::{KeyState, UsageRequest};

    fn key(alias: &str, owner: &str, team: Option<&str>) -> (String, UsageKey) {
        (
            alias.into(),
            UsageKey {
                alias: alias.into(),
                owner: owner.into(),
                team: team.map(Into::into),
                purpose: None,
                models: None,
                created_at: Timestamp::EPOCH,
                expires_at: None,
                revoked_at: None,
                state: KeyState::Active,
            },
        )
    }

    fn rollup(alias: &str, model: &str, day: i64, latencies: &[f64], cost: Option<f64>) -> Rollup {
        let mut r = Rollup {
            key_alias: alias.into(),
            model: model.into(),
            day,
            ..Rollup::default()
        };
        for (i, l) in latencies.iter().enumerate() {
            r.add(&UsageRequest {
                model: Some(model.into()),
                error: i == 0,
                latency_ms: Some(*l),
                input_tokens: Some(10),
                output_tokens: Some(2),
                cost_usd: cost,
                ..UsageRequest::default()
            });
        }
        r
    }

    #[test]
    fn groups_sum_to_the_total_and_filters_apply() {
        let keys: HashMap<_, _> = [key("k1", "ana", Some("ml")), key("k2", "bo", None)].into();
        let rs = vec![
            rollup("k1", "m1", 10, &[100.0, 200.0, 300.0], Some(0.5)),
            rollup("k1", "m2", 11, &[400.0], None),
            rollup("k2", "m1", 11, &[50.0, 60.0], Some(1.0)),
            rollup("k3", "m1", 12, &[70.0], None),
            rollup("k2", "m1", 30, &[1.0], None),
        ];
        let f = UsageFilter::default();
        let r = assemble(UsageBy::Owner, &rs, &keys, &f, 10, 12);
        let groups: Vec<(&str, u64)> = r
            .rows
            .iter()
            .map(|x| (x.group.as_str(), x.requests))
            .collect();
        assert_eq!(groups, [("ana", 4), ("bo", 2), ("(unknown key)", 1)]);
        assert_eq!(r.total.requests, 7, "day 30 is outside the window");
        assert_eq!(r.total.errors, 4);
        assert_eq!(r.total.input_tokens, 70);
        assert_eq!(r.rows[0].cost_usd, Some(1.5));
        assert_eq!(r.rows[0].unpriced, 1);
        assert_eq!(r.rows[2].cost_usd, None);
        let p50 = r.rows[0].latency_p50_ms.unwrap();
        assert!((p50 / 200.0 - 1.0).abs() < 0.01, "{p50}");
        let team = assemble(UsageBy::Team, &rs, &keys, &f, 10, 12);
        assert_eq!(
            team.rows
                .iter()
                .map(|x| x.group.as_str())
                .collect::<Vec<_>>(),
            ["ml", "(no team)"]
        );
        let by_day = assemble(UsageBy::Day, &rs, &keys, &f, 0, 40);
        let labels: Vec<&str> = by_day.rows.iter().map(|x| x.group.as_str()).collect();
        assert_eq!(
            labels,
            ["1970-01-11", "1970-01-12", "1970-01-13", "1970-01-31"]
        );
        let only = UsageFilter {
            team: Some("ml".into()),
            model: Some("m1".into()),
            ..UsageFilter::default()
        };
        let r = assemble(UsageBy::Model, &rs, &keys, &only, 0, 40);
        assert_eq!((r.rows.len(), r.total.requests), (1, 3));
        assert_eq!(r.days.len(), 1);
        assert_eq!(
            (r.days[0].day.as_str(), r.days[0].tokens),
            ("1970-01-11", 36)
        );
    }
}
