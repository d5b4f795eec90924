//! Automated benchmark runs: the same task, repeated for every variant of an experiment in a
//! confounder-controlled order, each repetition one session launched headless (docs/runs.md).

mod exec;
pub mod report;
mod workdir;

pub use exec::{run_command, Finished, Launch};
pub use report::{HarnessReport, ReportFormat};
pub use workdir::prepare;

use serde::Deserialize;

use crate::rng::Rng;
pub use crate::store::model::{
    ItemState, OutcomeClass, PlannedItem, RunOrder, RunStatus, TaskOutcome, Worker,
};
pub use crate::store::RunItemRow;

/// The most sessions one worker runs at a time (`--parallel`, the Run panel's field).
pub const MAX_PARALLEL: u32 = 32;

/// What `stackperf run` and the Run panel ask for.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunRequest {
    pub experiment: String,
    /// The task cards (or leave empty and name a suite).
    #[serde(default)]
    pub task_cards: Vec<String>,
    /// A suite (`configs/suites/`) whose task cards the run repeats [default: the experiment's
    /// suite when no task card is named].
    #[serde(default)]
    pub suite: Option<String>,
    /// How many times an item that ended in an infrastructure error is tried again [default 1].
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub retry_infra: Option<u32>,
    /// Sessions at a time, 1 to [`MAX_PARALLEL`] [default 1]; each stays isolated, but they share the machine
    /// (docs/runs.md, "Parallel trials").
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub parallel: Option<u32>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub repeat: u32,
    pub order: RunOrder,
    /// The shuffle's seed (random order); generated and recorded when absent.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub seed: Option<u64>,
    /// Per-session limit [default: the task card's timebox].
    pub timeout_s: Option<f64>,
}

/// The run's items in `order`: interleaved (every variant once per repetition and task card),
/// blocked (all repetitions of a variant together), or shuffled with `seed`.
pub fn plan(
    variants: &[String],
    task_cards: &[String],
    repeat: u32,
    order: RunOrder,
    seed: u64,
) -> Vec<PlannedItem> {
    let item = |v: &String, t: &String, r| PlannedItem {
        variant: v.clone(),
        task_card: t.clone(),
        repetition: r,
    };
    let mut out = Vec::new();
    let mut rng = Rng::for_request(seed, (variants.len() * task_cards.len()) as u64);
    match order {
        RunOrder::Blocks => {
            for r in 0..repeat {
                let mut tasks: Vec<&String> = task_cards.iter().collect();
                shuffle(&mut tasks, &mut rng);
                for t in tasks {
                    let mut block: Vec<PlannedItem> =
                        variants.iter().map(|v| item(v, t, r)).collect();
                    shuffle(&mut block, &mut rng);
                    out.extend(block);
                }
            }
        }
        RunOrder::Interleaved | RunOrder::Random => {
            for r in 0..repeat {
                for t in task_cards {
                    out.extend(variants.iter().map(|v| item(v, t, r)));
                }
            }
        }
        RunOrder::Blocked => {
            for v in variants {
                for t in task_cards {
                    out.extend((0..repeat).map(|r| item(v, t, r)));
                }
            }
        }
    }
    if order == RunOrder::Random {
        let mut rng = Rng::for_request(seed, out.len() as u64);
        shuffle(&mut out, &mut rng);
    }
    out
}

/// Fisher–Yates with `rng`.
fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    fn names(items: &[PlannedItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| format!("{}{}", i.variant, i.repetition))
            .collect()
    }

    #[test]
    fn orders_interleave_block_and_shuffle_reproducibly() {
        let v = vec!["a".to_string(), "b".to_string()];
        let t = vec!["t".to_string()];
        let inter = plan(&v, &t, 2, RunOrder::Interleaved, 0);
        assert_eq!(names(&inter), ["a0", "b0", "a1", "b1"]);
        let blocked = plan(&v, &t, 2, RunOrder::Blocked, 0);
        assert_eq!(names(&blocked), ["a0", "a1", "b0", "b1"]);
        let r1 = plan(&v, &t, 5, RunOrder::Random, 42);
        assert_eq!(
            r1,
            plan(&v, &t, 5, RunOrder::Random, 42),
            "the seed fixes the order"
        );
        assert_ne!(
            names(&r1),
            names(&plan(&v, &t, 5, RunOrder::Interleaved, 0))
        );
        let mut sorted = names(&r1);
        sorted.sort();
        let mut all = names(&plan(&v, &t, 5, RunOrder::Interleaved, 0));
        all.sort();
        assert_eq!(sorted, all, "a shuffle keeps every item once");
    }

    #[test]
    fn blocks_hold_every_variant_once_per_task_and_repetition() {
        let v: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let t: Vec<String> = ["x", "y", "z", "w"].map(String::from).to_vec();
        let items = plan(&v, &t, 4, RunOrder::Blocks, 7);
        assert_eq!(items.len(), 3 * 4 * 4);
        assert_eq!(
            items,
            plan(&v, &t, 4, RunOrder::Blocks, 7),
            "the seed fixes it"
        );
        assert_ne!(items, plan(&v, &t, 4, RunOrder::Blocks, 8));
        let mut first_variants = std::collections::BTreeSet::new();
        let mut task_orders = std::collections::BTreeSet::new();
        for (r, rep) in items.chunks(12).enumerate() {
            let mut order = Vec::new();
            for block in rep.chunks(3) {
                let mut vs: Vec<&str> = block.iter().map(|i| i.variant.as_str()).collect();
                first_variants.insert(vs[0]);
                vs.sort();
                assert_eq!(vs, ["a", "b", "c"], "a block is every variant once");
                assert!(block.iter().all(|i| i.task_card == block[0].task_card));
                assert!(block.iter().all(|i| i.repetition == r as u32));
                order.push(block[0].task_card.clone());
            }
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                ["w", "x", "y", "z"],
                "each repetition: one block per task card"
            );
            task_orders.insert(order);
        }
        assert!(first_variants.len() > 1, "no variant always goes first");
        assert!(
            task_orders.len() > 1,
            "task cards shuffled between repetitions"
        );
    }

    #[test]
    fn outcome_classes_keep_infrastructure_out_of_success() {
        for &o in TaskOutcome::VARIANTS {
            assert_eq!(TaskOutcome::from_key(o.key()), Some(o));
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::Value::String(o.key().into())
            );
            if o.class() == OutcomeClass::InfraError {
                assert_eq!(o.success(), None, "{o:?} never counts as a task failure");
            }
        }
        assert_eq!(TaskOutcome::SetupFailed.class(), OutcomeClass::InfraError);
        assert_eq!(TaskOutcome::Timeout.success(), Some(false));
    }
}
