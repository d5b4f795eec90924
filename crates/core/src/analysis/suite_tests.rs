//! The suite analysis on hand-made data, and the simulations docs/statistics.md quotes (run with
//! `--nocapture` to see the figures).

use super::*;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}")).collect()
}

fn trial<'a>(v: &'a str, t: &'a str, time: f64, ok: Option<bool>) -> Trial<'a> {
    Trial {
        variant: v,
        task: t,
        time_s: Some(time),
        cost_usd: Some(time / 100.0),
        ttft_ms: None,
        success: ok,
    }
}

#[test]
fn cells_count_outcomes_flips_and_ratios_per_task() {
    let v = names(2);
    let mut trials = Vec::new();
    for (task, base) in [("short", 10.0), ("long", 100.0)] {
        for r in 0..4 {
            trials.push(trial("v0", task, base, Some(true)));
            // v1: twice as slow, fails every other trial on the long task.
            let ok = task == "short" || r % 2 == 0;
            trials.push(trial("v1", task, base * 2.0, Some(ok)));
        }
    }
    let infra = InfraCounts::from([(("v1".to_string(), "long".to_string()), 8)]);
    let a = analyse(&v, &trials, &infra, &Weights::new(), 1, 200).unwrap();
    assert_eq!(a.tasks, ["long", "short"]);
    assert_eq!(a.k, 4);
    let cell = |t: &str, var: &str| {
        a.cells
            .iter()
            .find(|c| c.task_card == t && c.variant == var)
            .unwrap()
    };
    let c = cell("long", "v1");
    assert_eq!((c.successes, c.known, c.trials), (2, 4, 4));
    assert_eq!(c.flipped, Some(true));
    assert_eq!(c.time_ratio, Some(2.0));
    assert_eq!(c.infra_errors, 8);
    // pass@4 of 2/4 is 1, pass^4 is 0; the short task never flips.
    assert_eq!((c.pass_at_k, c.pass_hat_k), (Some(1.0), Some(0.0)));
    assert_eq!(cell("short", "v1").flipped, Some(false));
    let time = a.time.as_ref().unwrap();
    assert_eq!(time.ranks[0].variant, "v0");
    assert_eq!(time.ranks[1].ratio_to_best, Some(2.0));
    let (lo, hi) = time.ranks[1].ratio_ci95.unwrap();
    assert!(
        lo <= 2.0 && hi >= 2.0,
        "constant data: the interval holds 2"
    );
    let v1 = &a.variants[1];
    assert_eq!(v1.flip_rate, Some(0.5));
    assert_eq!(v1.success_rate, Some(0.75));
    assert!(
        v1.infra_flagged,
        "8 infrastructure errors against none elsewhere"
    );
    assert!(!a.variants[0].infra_flagged);
    let one = InfraCounts::from([(("v1".to_string(), "long".to_string()), 1)]);
    let b = analyse(&v, &trials, &one, &Weights::new(), 1, 0).unwrap();
    assert!(
        !b.variants[1].infra_flagged,
        "one error in 17 does not stand out"
    );
    // 8 blocks (2 tasks × 4 trials), v0 faster in each: settled, with the typical ratio.
    let fastest = &a.headlines[0];
    assert!(fastest.settled, "{}", fastest.text);
    assert_eq!(fastest.leader.as_deref(), Some("v0"));
    assert!(fastest.text.contains("2.00×"), "{}", fastest.text);
    assert_eq!(a.time.as_ref().unwrap().blocks, 8);
    assert!(
        analyse(&v, &trials[..8], &infra, &Weights::new(), 1, 0).is_none(),
        "one task"
    );
}

/// A simulated suite: `tasks` base times spread 20× (log-spaced 30 s … 600 s), every trial's
/// time log-normal around base × the variant's factor with spread `sigma`, success with
/// probability `p_ok`.
struct Sim {
    tasks: usize,
    variants: usize,
    repeats: usize,
    sigma: f64,
}

impl Sim {
    fn base(&self, t: usize) -> f64 {
        30.0 * 20f64.powf(t as f64 / (self.tasks - 1) as f64)
    }

    /// One experiment: the trials' (variant, task, time, success).
    fn draw(
        &self,
        rng: &mut Rng,
        factor: &dyn Fn(usize, usize) -> f64,
    ) -> Vec<(usize, usize, f64, bool)> {
        let mut out = Vec::new();
        for t in 0..self.tasks {
            for _ in 0..self.repeats {
                for v in 0..self.variants {
                    let time = self.base(t) * factor(v, t) * (self.sigma * rng.normal()).exp();
                    out.push((v, t, time, rng.unit() < 0.8));
                }
            }
        }
        out
    }
}

fn run(
    sim: &Sim,
    names: &[String],
    tasks: &[String],
    raw: &[(usize, usize, f64, bool)],
) -> SuiteAnalysis {
    let trials: Vec<Trial<'_>> = raw
        .iter()
        .map(|&(v, t, time, ok)| trial(&names[v], &tasks[t], time, Some(ok)))
        .collect();
    assert!(sim.tasks >= 2);
    analyse(names, &trials, &InfraCounts::new(), &Weights::new(), 0, 0).unwrap()
}

/// Some pair of the metric's ranking significant after Friedman and Holm.
fn any_difference(r: &RankAnalysis) -> bool {
    r.friedman_p < ALPHA && r.pairs.iter().any(|p| p.p_holm < ALPHA)
}

/// `who` found significantly slower than some other variant.
fn found_slower(r: &RankAnalysis, who: &str) -> bool {
    r.friedman_p < ALPHA
        && r.pairs
            .iter()
            .any(|p| p.p_holm < ALPHA && ((p.a == who && p.z > 0.0) || (p.b == who && p.z < 0.0)))
}

#[test]
fn simulations_false_alarms_power_and_simpson() {
    const EXPERIMENTS: usize = 1000;
    let v = names(5);
    let mut rng = Rng::for_request(2026, 30);
    println!("suite simulations: 8 tasks (base times 30–600 s), 5 variants, {EXPERIMENTS} experiments each");
    // A/A: five identical variants.
    for (sigma, repeats) in [(0.2, 3), (0.3, 5)] {
        let sim = Sim {
            tasks: 8,
            variants: 5,
            repeats,
            sigma,
        };
        let tasks: Vec<String> = (0..8).map(|t| format!("t{t}")).collect();
        let (mut time_fp, mut success_fp) = (0, 0);
        for _ in 0..EXPERIMENTS {
            let raw = sim.draw(&mut rng, &|_, _| 1.0);
            let a = run(&sim, &v, &tasks, &raw);
            time_fp += usize::from(any_difference(a.time.as_ref().unwrap()));
            success_fp += usize::from(a.success.iter().any(|p| p.p_holm < ALPHA));
        }
        let (t, s) = (time_fp as f64 / 10.0, success_fp as f64 / 10.0);
        println!("A/A  sigma {sigma} × {repeats} trials: time called different in {t:.1} %, success in {s:.1} %");
        assert!(
            t <= 5.0 && s <= 5.0,
            "false alarms: time {t} %, success {s} %"
        );
    }
    // One variant 10 % slower on every task: found at which size?
    let mut found_at = Vec::new();
    for (sigma, repeats) in [
        (0.1, 3),
        (0.1, 5),
        (0.2, 5),
        (0.2, 10),
        (0.2, 15),
        (0.3, 20),
        (0.3, 30),
    ] {
        let sim = Sim {
            tasks: 8,
            variants: 5,
            repeats,
            sigma,
        };
        let tasks: Vec<String> = (0..8).map(|t| format!("t{t}")).collect();
        let mut found = 0;
        for _ in 0..EXPERIMENTS {
            let raw = sim.draw(&mut rng, &|v, _| if v == 4 { 1.1 } else { 1.0 });
            found += usize::from(found_slower(
                run(&sim, &v, &tasks, &raw).time.as_ref().unwrap(),
                "v4",
            ));
        }
        let share = found as f64 / 10.0;
        // What `stackperf plan` would promise for this size (80 % power).
        let plan = crate::analysis::power::detectable_ratio(sigma, 5, 8 * repeats).unwrap_or(0.0);
        println!(
            "10 % slower, sigma {sigma} × {repeats} trials: found in {share:.1} % (plan: {:.0} % slower found with 80 % power)",
            (plan - 1.0) * 100.0
        );
        found_at.push((sigma, repeats, share));
    }
    // The size docs/statistics.md recommends for a trial-to-trial spread of about 10 %.
    let (_, _, at_recommended) = found_at[1];
    assert!(
        at_recommended >= 80.0,
        "10 % slower found in {at_recommended} % at 8 tasks × 5 trials, sigma 0.1"
    );
    simpson(&mut rng, EXPERIMENTS);
}

/// Two variants: v0 10 % faster on every task; v1 times out on half its trials of the four
/// longest tasks (stopped, so those sessions carry no time). Pooled, v1's median is shorter (it
/// did less of the long work); within tasks, v0 wins.
fn simpson(rng: &mut Rng, experiments: usize) {
    let v = names(2);
    let sim = Sim {
        tasks: 8,
        variants: 2,
        repeats: 5,
        sigma: 0.1,
    };
    let tasks: Vec<String> = (0..8).map(|t| format!("t{t}")).collect();
    let (mut pooled_wrong, mut suite_right, mut suite_wrong) = (0, 0, 0);
    for _ in 0..experiments {
        let raw: Vec<_> = sim
            .draw(rng, &|v, _| if v == 0 { 0.9 } else { 1.0 })
            .into_iter()
            .filter(|&(v, t, _, _)| !(v == 1 && t >= 4 && rng.unit() < 0.5))
            .collect();
        let pooled = |who: usize| {
            let xs: Vec<f64> = raw.iter().filter(|r| r.0 == who).map(|r| r.2).collect();
            median(&xs).unwrap()
        };
        pooled_wrong += usize::from(pooled(1) < pooled(0));
        let a = run(&sim, &v, &tasks, &raw);
        let time = a.time.as_ref().unwrap();
        suite_right += usize::from(time.ranks[0].variant == "v0" && a.headlines[0].settled);
        suite_wrong += usize::from(time.ranks[0].variant == "v1" && a.headlines[0].settled);
    }
    let pct = |n: usize| n as f64 * 100.0 / experiments as f64;
    println!(
        "Simpson (v0 10 % faster on every task; v1 loses half its long-task trials): pooled median picks v1 in {:.1} %; the suite analysis calls v0 fastest in {:.1} %, v1 in {:.1} %",
        pct(pooled_wrong),
        pct(suite_right),
        pct(suite_wrong)
    );
    assert!(pct(pooled_wrong) > 50.0, "the pooled median is fooled");
    assert!(pct(suite_right) >= 80.0 && suite_wrong == 0);
}
