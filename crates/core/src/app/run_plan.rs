//! Plan before running (docs/runs.md, "Plan"): how long a run will take and the smallest time
//! difference it can detect, from earlier sessions of the same variants and task cards where they
//! exist, else from the task card's timebox and an assumed spread — said so either way.

use serde::Serialize;

use super::runs::check_request;
use super::App;
use crate::analysis::power::{detectable_ratio, pooled_sd};
use crate::run::RunRequest;
use crate::stats::median;
use crate::Error;

/// The spread of log wall time between trials assumed when no earlier session measured it
/// (about 20 % trial to trial).
pub const ASSUMED_SPREAD: f64 = 0.2;

/// Where an estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EstimateSource {
    /// Earlier sessions of this variant on this task card.
    Measured,
    /// None yet: the task card's timebox (an upper bound).
    Timebox,
    /// None yet: an assumption (the spread).
    Assumed,
}

/// One variant × task card of a plan.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PlanCell {
    pub variant: String,
    pub task_card: String,
    /// One session's expected wall time.
    pub each_s: f64,
    pub source: EstimateSource,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub earlier_sessions: usize,
}

/// What a run would cost and what it could tell.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunPlan {
    pub experiment: String,
    pub suite: Option<String>,
    pub variants: Vec<String>,
    pub task_cards: Vec<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub repeat: u32,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub sessions: u32,
    /// Sessions one after another (`--parallel 1`).
    pub estimated_s: f64,
    /// Some estimate is a timebox: the run is likely shorter.
    pub estimate_is_upper_bound: bool,
    pub cells: Vec<PlanCell>,
    /// Standard deviation of ln(wall time) between trials of one variant on one task.
    pub spread: f64,
    pub spread_source: EstimateSource,
    /// The smallest slowdown of one variant (on every task) the run finds with 80 % power at
    /// α = 0.05 after Holm over every pair (e.g. 1.12: 12 % slower).
    pub detectable_ratio: Option<f64>,
    /// The plan in words, the estimate's sources and any warning.
    pub text: Vec<String>,
}

impl App {
    /// The plan of `req`, from the experiment's earlier sessions.
    pub async fn run_plan(&self, req: &RunRequest) -> Result<RunPlan, Error> {
        let reg = self.registry()?;
        let (variants, task_cards, suite) = check_request(&reg, req)?;
        let earlier = self.compare_sessions(&req.experiment).await?;
        let mut cells = Vec::new();
        let mut logs_by_cell = Vec::new();
        for t in &task_cards {
            let timebox = reg
                .task_card(t)
                .map_or(0.0, |c| f64::from(c.session_timebox_minutes) * 60.0);
            for v in &variants {
                let walls: Vec<f64> = earlier
                    .iter()
                    .filter(|s| &s.variant == v && &s.task_card == t && s.excluded.is_none())
                    .filter_map(|s| s.metric("wall_s").or_else(|| s.metric("duration_s")))
                    .filter(|w| *w > 0.0)
                    .collect();
                let (each_s, source) = match median(&walls) {
                    Some(m) => (m, EstimateSource::Measured),
                    None => (timebox, EstimateSource::Timebox),
                };
                logs_by_cell.push(walls.iter().map(|w| w.ln()).collect::<Vec<f64>>());
                cells.push(PlanCell {
                    variant: v.clone(),
                    task_card: t.clone(),
                    each_s,
                    source,
                    earlier_sessions: walls.len(),
                });
            }
        }
        let (spread, spread_source) = match pooled_sd(&logs_by_cell) {
            Some(sd) => (sd, EstimateSource::Measured),
            None => (ASSUMED_SPREAD, EstimateSource::Assumed),
        };
        let blocks = task_cards.len() as u32 * req.repeat;
        let detectable_ratio = detectable_ratio(spread, variants.len(), blocks as usize);
        let mut plan = RunPlan {
            experiment: req.experiment.clone(),
            suite,
            sessions: blocks * variants.len() as u32,
            estimated_s: cells.iter().map(|c| c.each_s).sum::<f64>() * f64::from(req.repeat),
            estimate_is_upper_bound: cells.iter().any(|c| c.source == EstimateSource::Timebox),
            variants,
            task_cards,
            repeat: req.repeat,
            cells,
            spread,
            spread_source,
            detectable_ratio,
            text: Vec::new(),
        };
        plan.text = words(&plan);
        Ok(plan)
    }
}

fn words(p: &RunPlan) -> Vec<String> {
    let mut out = vec![format!(
        "{} sessions: {} × {} × {}, one at a time: about {}{}",
        p.sessions,
        count(p.variants.len(), "variant"),
        count(p.task_cards.len(), "task card"),
        count(p.repeat as usize, "repetition"),
        duration(p.estimated_s),
        if p.estimate_is_upper_bound {
            " at most (task cards without earlier sessions are counted at their timebox)"
        } else {
            " (from earlier sessions of these variants)"
        }
    )];
    let spread = match p.spread_source {
        EstimateSource::Measured => format!(
            "the trial-to-trial spread measured earlier ({:.0} %)",
            p.spread * 100.0
        ),
        _ => format!(
            "an assumed trial-to-trial spread of {:.0} % (no earlier repetitions to measure it)",
            p.spread * 100.0
        ),
    };
    match p.detectable_ratio {
        Some(r) if r > 1.5 => out.push(format!(
            "this run cannot detect anything useful: with {spread}, only a variant {:.0} % slower on every task would be found (80 % power). Add repetitions or task cards",
            (r - 1.0) * 100.0
        )),
        Some(r) => out.push(format!(
            "smallest difference it can detect: a variant {:.0} % slower on every task, found with 80 % power (α 0.05 after Holm), given {spread}",
            (r - 1.0) * 100.0
        )),
        None => out.push(
            "this run cannot detect anything: it needs two variants and at least two blocks (task cards × repetitions)".into(),
        ),
    }
    out
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}
