//! Comparisons across experiments: sessions pooled by harness, provider, model (or variant) with
//! the same statistics as a comparison of one experiment's variants.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::report::{compare_groups, Comparison, SessionStats, VariantSummary};
use crate::rollup::session_stats;
use crate::session::{SessionMode, SessionStatus};
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::{Error, APP_VERSION};

/// What a comparison's rows are.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, strum::VariantArray,
)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum GroupBy {
    /// One experiment's variants (the default comparison).
    #[default]
    Variant,
    Harness,
    Provider,
    Model,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<GroupBy> {
        s.parse().ok()
    }

    /// The group a session belongs to.
    pub fn key(self, s: &SessionStats) -> &str {
        match self {
            GroupBy::Variant => &s.variant,
            GroupBy::Harness => &s.harness,
            GroupBy::Provider => &s.provider,
            GroupBy::Model => &s.model,
        }
    }
}

/// Sessions of `experiments` (every experiment with sessions when empty) pooled by `by`. Rows are
/// the groups in name order; sessions left out of comparisons stay out here too.
pub async fn compare_by(
    store: &Store,
    by: GroupBy,
    experiments: &[String],
) -> Result<Comparison, Error> {
    let experiments = if experiments.is_empty() {
        store.experiments_with_sessions().await?
    } else {
        experiments.to_vec()
    };
    let mut all = Vec::new();
    for e in &experiments {
        all.extend(session_stats(store, e).await?);
    }
    let mut included: BTreeMap<String, Vec<&SessionStats>> = BTreeMap::new();
    let mut finished: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in &all {
        let key = by.key(s).to_string();
        if s.mode == SessionMode::Bounded && s.status.is_final() {
            let f = finished.entry(key.clone()).or_default();
            f.0 += 1;
            f.1 += usize::from(s.status == SessionStatus::Completed && s.excluded.is_none());
        }
        let group = included.entry(key).or_default();
        if s.excluded.is_none() {
            group.push(s);
        }
    }
    let names: Vec<String> = included.keys().cloned().collect();
    let mut rows: Vec<VariantSummary> = names
        .iter()
        .map(|n| {
            let mine = &included[n];
            let (done, completed) = finished.get(n).copied().unwrap_or_default();
            VariantSummary {
                variant: n.clone(),
                sessions: mine.len(),
                requests: mine.iter().map(|s| s.requests).sum(),
                session_success_rate: (done > 0).then(|| completed as f64 / done as f64),
                metrics: BTreeMap::new(),
                cost_per_success: crate::report::per_task(mine, "cost_usd"),
                wall_per_success: crate::report::per_task(mine, "wall_s"),
                infra_errors: all
                    .iter()
                    .filter(|s| by.key(s) == n && crate::report::is_infra(s))
                    .count(),
            }
        })
        .collect();
    let (pairs, tests) = compare_groups(&names, &included, &mut rows).await?;
    let used = included.values().flatten();
    let task_cards: BTreeSet<String> = used.clone().map(|s| s.task_card.clone()).collect();
    let commits: BTreeSet<String> = used.filter_map(|s| s.git_commit_sha.clone()).collect();
    let mut versions = BTreeSet::new();
    for e in &experiments {
        versions.extend(store.litellm_versions(e).await?);
    }
    let suite = crate::report::suite_of(
        &names,
        &included,
        &all,
        |s| by.key(s),
        &crate::analysis::suite::Weights::new(),
    );
    Ok(Comparison {
        headlines: match &suite {
            Some(s) => s.headlines.clone(),
            None => crate::analysis::headline::headlines(&rows, &pairs),
        },
        experiment: experiments.join(", "),
        group_by: by,
        generated_at: Timestamp::now(),
        app_version: APP_VERSION.to_string(),
        task_cards: task_cards.into_iter().collect(),
        repo_commits: commits.into_iter().collect(),
        litellm_versions: versions.into_iter().collect(),
        metrics: crate::metrics::infos(),
        variants: rows,
        pairs,
        tests,
        excluded: all
            .iter()
            .filter(|s| s.excluded.is_some())
            .cloned()
            .collect(),
        environment_notes: crate::analysis::environment::notes(&included),
        suite,
    })
}
