// A suite in the window: the Run panel plans it before starting, Compare shows the comparison
// within each task (grid shaded by the task's best, flip rates, infrastructure errors, the CD
// diagram) under the suite's verdicts.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { CompareScreen } from "../src/screens/compare";
import { RunScreen, tone, workersOf, workOf } from "../src/screens/run";
import { shade } from "../src/screens/suite";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

withRoot();

const choices = () => ({
  experiments: [{ name: "agent-shootout", description: "", variants: ["a", "b"], suite: "agent-suite" }],
  task_cards: ["agent-quick", "write-marker"],
  suites: ["agent-suite"],
  problems: [],
  isolation: [],
  export_formats: [],
});

const cell = (task: string, variant: string, time: number, ratio: number, ok: number, flipped: boolean, infra = 0) => ({
  task_card: task,
  variant,
  trials: 2,
  time_s: time,
  time_ratio: ratio,
  cost_usd: 0.01,
  ttft_ms: 50,
  successes: ok,
  known: 2,
  success_ci95: [0.2, 1],
  pass_at_k: ok > 0 ? 1 : 0,
  pass_hat_k: ok === 2 ? 1 : 0,
  flipped,
  infra_errors: infra,
});

const suite = {
  headlines: [],
  tasks: ["agent-long", "agent-quick"],
  variants: [
    { variant: "a", trials: 4, flip_rate: 0, success_rate: 1, infra_errors: 0, infra_flagged: false },
    { variant: "b", trials: 4, flip_rate: 0.5, success_rate: 0.75, infra_errors: 3, infra_flagged: true },
  ],
  k: 2,
  cells: [
    cell("agent-long", "a", 20, 1, 2, false),
    cell("agent-long", "b", 30, 1.5, 1, true, 3),
    cell("agent-quick", "a", 5, 1, 2, false),
    cell("agent-quick", "b", 6, 1.2, 2, false),
  ],
  time: {
    metric: "wall_s",
    tasks_used: ["agent-long", "agent-quick"],
    blocks: 4,
    friedman_statistic: 4,
    df: 1,
    friedman_p: 0.0455,
    ranks: [
      { variant: "a", mean_rank: 1, ratio_to_best: 1, ratio_ci95: null },
      { variant: "b", mean_rank: 2, ratio_to_best: 1.34, ratio_ci95: [1.2, 1.5] },
    ],
    critical_difference: 0.98,
    pairs: [],
  },
  cost: null,
  success: [],
  notes: ["cost_usd: task agent-long left out (no value for b)"],
};

const comparison = (withSuite: boolean) => ({
  headlines: [
    {
      question: "fastest",
      metric: "wall_s",
      leader: "a",
      settled: true,
      p: 0.04,
      more_sessions: null,
      text: "fastest across 2 tasks: a (Friedman p = 0.046)",
    },
  ],
  experiment: "agent-shootout",
  group_by: "variant",
  generated_at: 0,
  app_version: "0.1.0",
  task_cards: ["agent-long", "agent-quick"],
  repo_commits: [],
  litellm_versions: [],
  metrics: [],
  variants: ["a", "b"].map((v) => ({
    variant: v,
    sessions: 4,
    requests: 8,
    session_success_rate: 1,
    metrics: {},
    cost_per_success: { value: null, ci95: null, sessions: 0, successes: 0 },
    wall_per_success: { value: null, ci95: null, sessions: 0, successes: 0 },
    infra_errors: v === "b" ? 3 : 0,
  })),
  pairs: [],
  tests: [],
  excluded: [],
  environment_notes: [],
  suite: withSuite ? suite : null,
});

describe("suite in the window", () => {
  it("Compare shows the per-task grid, flips, infrastructure errors and the CD diagram", async () => {
    mock({
      choices,
      compare: () => comparison(true),
      compare_sessions: () => [],
      compare_chart: () => "<svg><path/></svg>",
      compare_cd: () => "<svg><text>CD</text></svg>",
    });
    await act(async () => render(<CompareScreen experiment="agent-shootout" onExperiment={() => {}} />, root));
    await settle();
    const grid = root.querySelector("[data-testid=suite-grid]");
    expect(grid).toBeTruthy();
    expect(grid?.querySelectorAll("tbody tr").length).toBe(2);
    const slow = grid?.querySelector("tr[data-task=agent-long] td[data-ratio='1.5']") as HTMLElement;
    expect(slow.style.background).toContain("0.6");
    expect(slow.textContent).toContain("1/2 succeeded");
    expect(slow.textContent).toContain("flips");
    expect(slow.textContent).toContain("3 infra");
    expect(root.querySelector("[data-testid=suite-infra]")?.textContent).toContain("stands out");
    expect(root.querySelector("[data-testid=suite-flips]")?.textContent).toContain("50 %");
    expect(root.querySelector("[data-testid=suite-ranks]")?.textContent).toContain("1.340×");
    expect(root.querySelector("[data-testid=cd-diagram]")?.innerHTML).toContain("CD");
    expect(root.textContent).toContain("left out (no value for b)");
    expect(root.textContent).toContain("Pooled across tasks");
    expect(calls.some((c) => c.cmd === "compare_cd")).toBe(true);
  });

  it("Compare without a suite asks for no CD diagram", async () => {
    mock({ choices, compare: () => comparison(false), compare_sessions: () => [], compare_chart: () => "<svg/>" });
    await act(async () => render(<CompareScreen experiment="agent-shootout" onExperiment={() => {}} />, root));
    await settle();
    expect(root.querySelector("[data-testid=suite]")).toBeNull();
    expect(calls.some((c) => c.cmd === "compare_cd")).toBe(false);
  });

  it("the Run panel takes the experiment's suite, in blocks, and shows its plan before starting", async () => {
    mock({
      choices,
      run_plan: (args) => ({
        experiment: "agent-shootout",
        suite: (args.req as { suite: string | null }).suite,
        variants: ["a", "b"],
        task_cards: ["agent-quick"],
        repeat: 2,
        sessions: 4,
        estimated_s: 1200,
        estimate_is_upper_bound: true,
        cells: [],
        spread: 0.2,
        spread_source: "assumed",
        detectable_ratio: 1.6,
        text: ["4 sessions: about 20 min at most", "this run cannot detect anything useful"],
      }),
    });
    await act(async () => render(<RunScreen onCompare={() => {}} />, root));
    await settle();
    expect((root.querySelector("#run-task") as HTMLSelectElement).value).toBe("suite:agent-suite");
    expect((root.querySelector("#run-order") as HTMLSelectElement).value).toBe("blocks");
    const plan = root.querySelector("#run-plan");
    expect(plan?.getAttribute("data-sessions")).toBe("4");
    expect(plan?.textContent).toContain("cannot detect anything useful");
    const req = calls.find((c) => c.cmd === "run_plan")?.args.req as Record<string, unknown>;
    expect(req).toMatchObject({ experiment: "agent-shootout", suite: "agent-suite", task_cards: [], order: "blocks" });
  });

  it("infrastructure outcomes read as such and a work choice becomes the request", () => {
    expect(tone("harness_not_started")).toBe("warn");
    expect(tone("failed_verify")).toBe("bad");
    expect(workOf("suite:s")).toEqual({ suite: "s", task_cards: [] });
    expect(workOf("task:t")).toEqual({ suite: null, task_cards: ["t"] });
    expect(shade(1)).toBe(0);
    expect(shade(3)).toBe(0.6);
    expect(shade(null)).toBe(0);
  });

  it("joining a run sends its id and shows every worker with what it did", async () => {
    const item = (index: number, state: string, host: string | null) => ({
      index,
      variant: "a",
      task_card: "agent-quick",
      repetition: 0,
      state,
      session_id: `s${index}`,
      outcome: state === "done" ? "success" : null,
      outcome_class: state === "done" ? "success" : null,
      attempts: 1,
      worker: host ? { machine_id: host, hostname: host, pid: 7, slot: 0 } : null,
      lease_until: null,
    });
    const items = [item(0, "done", "alpha"), item(1, "done", "beta"), item(2, "done", "alpha"), item(3, "pending", null)];
    mock({
      choices,
      run_plan: () => null,
      run_join: () => ({ run: { run_id: "run_00ff", experiment: "agent-shootout", status: "completed", order: "blocks", seed: "1" }, items, comparison: null }),
    });
    await act(async () => render(<RunScreen onCompare={() => {}} />, root));
    await settle();
    const input = root.querySelector("#run-join-id") as HTMLInputElement;
    expect((root.querySelector("#run-join") as HTMLButtonElement).disabled).toBe(true);
    input.value = " run_00ff ";
    const parallel = root.querySelector("#run-parallel") as HTMLInputElement;
    parallel.value = "3";
    await act(async () => {
      input.dispatchEvent(new Event("input"));
      parallel.dispatchEvent(new Event("input"));
    });
    click(root.querySelector("#run-join"));
    await settle();
    expect(calls.find((c) => c.cmd === "run_join")?.args).toEqual({ runId: "run_00ff", parallel: 3 });
    const rows = [...root.querySelectorAll("[data-testid=run-workers] tbody tr")].map((r) => r.textContent);
    expect(rows).toEqual(["alpha · pid 7 · slot 12–", "beta · pid 7 · slot 11–"]);
    expect(workersOf([item(4, "running", "gamma")] as never)).toEqual([{ worker: "gamma · pid 7 · slot 1", done: 0, running: 5 }]);
  });
});
