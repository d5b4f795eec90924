// The Compare screen against a mocked IPC: verdicts, tables from the registry, pooled rows, charts.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { CompareScreen } from "../src/screens/compare";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

withRoot();

describe("Compare screen", () => {
  it("lays variants side by side and states verdicts in words", async () => {
    const metric = (median: number) => ({ sessions: 5, median, p95: median * 1.2, ci95: [median * 0.9, median * 1.1], stdev: 1 });
    mock({
      choices: () => ({ experiments: [{ name: "sim-profiles", description: "", variants: ["a", "b"] }], task_cards: [], problems: [] }),
      compare: () => ({
        experiment: "sim-profiles",
        generated_at: 0,
        app_version: "0.1.0",
        task_cards: ["sample-traffic"],
        repo_commits: [],
        litellm_versions: ["1.108.7"],
        metrics: [
          {
            name: "ttft_p50_ms",
            short: "ttft",
            label: "Time to first token",
            unit: "milliseconds",
            lower_is_better: true,
            chartable: true,
            session_column: true,
          },
          {
            name: "proxy_overhead_ms",
            short: "stack-tax",
            label: "Stack tax to first token (edge + LiteLLM)",
            unit: "milliseconds",
            lower_is_better: true,
            chartable: false,
            session_column: false,
          },
          { name: "error_rate", short: "error-rate", label: "Error rate", unit: "ratio", lower_is_better: true, chartable: false, session_column: false },
        ],
        variants: [
          {
            variant: "a",
            sessions: 5,
            requests: 50,
            session_success_rate: 1,
            metrics: { ttft_p50_ms: metric(70), proxy_overhead_ms: metric(8), error_rate: metric(0.02) },
            cost_per_success: { value: 0.25, ci95: [0.2, 0.3], sessions: 5, successes: 4 },
            wall_per_success: { value: 12.5, ci95: null, sessions: 5, successes: 4 },
          },
          {
            variant: "b",
            sessions: 5,
            requests: 50,
            session_success_rate: 1,
            metrics: { ttft_p50_ms: metric(600), proxy_overhead_ms: metric(10.5), error_rate: metric(0.03) },
            cost_per_success: { value: null, ci95: null, sessions: 5, successes: 0 },
            wall_per_success: { value: null, ci95: null, sessions: 5, successes: 0 },
          },
        ],
        pairs: [
          {
            a: "a",
            b: "b",
            metric: "ttft_p50_ms",
            difference: 530,
            p_value: 0.008,
            verdict: { kind: "better", winner: "a", loser: "b", p: 0.008, indicative_below: null },
            verdict_text: "a is faster than b (p = 0.008)",
            stack_tax_note: "part of this gap is the proxy: the stack's tax differs by 2.5 ms of the 3.0 ms (83 %)",
          },
          // The tone comes from the kind, never from the words.
          {
            a: "a",
            b: "b",
            metric: "error_rate",
            difference: 0.01,
            p_value: 0.5,
            verdict: { kind: "no_difference", p: 0.5, indicative_below: null },
            verdict_text: "words the UI does not parse",
            stack_tax_note: null,
          },
        ],
        excluded: [{ session_id: "sess_x", variant: "a", excluded: "exploratory session", requests: 3 }],
        environment_notes: ["compared variants ran on different machines — the machine is part of what differs: a on m1; b on m2"],
      }),
      compare_sessions: () => [],
      compare_chart: () => "<svg><path/></svg>",
    });
    render(<CompareScreen experiment="sim-profiles" onExperiment={() => {}} />, root);
    await settle();
    const heads = [...root.querySelectorAll("[data-testid=compare-table] th[data-variant]")].map((t) => t.getAttribute("data-variant"));
    expect(heads).toEqual(["a", "b"]);
    const table = root.querySelector("[data-testid=compare-table]")?.textContent ?? "";
    expect(table).toContain("70.0 ms");
    expect(table).toContain("600 ms");
    expect(table).toContain("[63.0 ms, 77.0 ms]");
    expect(root.querySelector("[data-testid=environment-notes]")?.textContent).toContain("b on m2");
    expect(root.querySelector("[data-testid=pairs]")?.textContent).toContain("a is faster than b");
    expect(root.querySelector("[data-testid=pairs]")?.textContent).toContain("p = 0.008");
    // The stack's tax per variant, and next to the verdict when it explains the gap.
    expect(table).toContain("Stack tax to first token");
    expect(table).toContain("10.5 ms");
    const notes = [...root.querySelectorAll("[data-testid=stack-tax-note]")].map((n) => n.textContent);
    expect(notes).toEqual(["part of this gap is the proxy: the stack's tax differs by 2.5 ms of the 3.0 ms (83 %)"]);
    // The significant pair first; every pair on request.
    expect([...root.querySelectorAll("[data-testid=pairs] .badge")].map((b) => b.className)).toHaveLength(1);
    expect(root.querySelector("#pairs-significant")?.textContent).toBe("Significant (1)");
    click(root.querySelector("#pairs-all"));
    await settle();
    const badges = [...root.querySelectorAll("[data-testid=pairs] .badge")].map((b) => b.className);
    expect(badges[0]).toContain("ok");
    expect(badges[1]).toContain("muted");
    click(root.querySelector("#pairs-pick"));
    await settle();
    expect((root.querySelector("#pair-a") as HTMLSelectElement).value).toBe("a");
    expect((root.querySelector("#pair-b") as HTMLSelectElement).value).toBe("b");
    expect(root.querySelectorAll("[data-testid=pairs] tbody tr")).toHaveLength(2);
    const second = root.querySelector("#pair-b") as HTMLSelectElement;
    second.value = "a";
    second.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(root.querySelector("[data-testid=pairs-none]")?.textContent).toBe("No comparison for this choice.");
    expect(table).toContain("Error rate");
    expect(table).toContain("2.0 %");
    // What one successful task costs, failures paid for, beside a variant that never succeeded.
    expect(root.querySelector("[data-testid=cost_per_success]")?.textContent).toContain("$0.2500 [$0.2000–$0.3000] (4 of 5 succeeded)");
    expect(root.querySelector("[data-testid=wall_per_success]")?.textContent).toContain("no successful task (0 of 5 succeeded)");
    expect(root.querySelector("[data-testid=excluded]")?.textContent).toContain("exploratory session");
    // One chart tab per chartable metric of the registry; the first is drawn.
    expect([...root.querySelectorAll("[role=tab]:not([id^=pairs-])")].map((t) => t.textContent)).toEqual(["Time to first token"]);
    expect(calls.some((c) => c.cmd === "compare_chart" && c.args.metric === "ttft_p50_ms")).toBe(true);
  });

  it("pools sessions across experiments by harness, without per-experiment charts", async () => {
    const metric = (median: number) => ({ sessions: 4, median, p95: median, ci95: null, stdev: 1 });
    const none = { value: null, ci95: null, sessions: 0, successes: 0 };
    const grouped = (by: string) => ({
      headlines: [],
      experiment: "e1, e2",
      group_by: by,
      generated_at: 0,
      app_version: "",
      task_cards: ["t1", "t2"],
      repo_commits: [],
      litellm_versions: [],
      metrics: [{ name: "wall_s", short: "wall", label: "Wall time", unit: "seconds", lower_is_better: true, chartable: false, session_column: false }],
      variants: ["claude-code", "codex"].map((h, i) => ({
        variant: h,
        sessions: 4,
        requests: 8,
        session_success_rate: 1,
        metrics: { wall_s: metric(10 + i) },
        cost_per_success: none,
        wall_per_success: none,
      })),
      pairs: [],
      tests: [],
      excluded: [],
      environment_notes: [],
    });
    mock({
      choices: () => ({ experiments: [{ name: "e1", description: "", variants: ["a"] }], task_cards: [], problems: [] }),
      compare: () => ({ ...grouped("variant"), experiment: "e1", variants: [] }),
      compare_grouped: (args) => grouped(args.by as string),
      compare_sessions: () => [],
      compare_chart: () => "<svg/>",
    });
    render(<CompareScreen experiment="e1" onExperiment={() => {}} />, root);
    await settle();
    const sel = root.querySelector("#compare-by") as HTMLSelectElement;
    await act(async () => {
      sel.value = "harness";
      sel.dispatchEvent(new Event("change", { bubbles: true }));
    });
    await settle();
    expect(calls.find((c) => c.cmd === "compare_grouped")?.args).toEqual({ by: "harness", experiments: [] });
    const heads = [...root.querySelectorAll("[data-testid=compare-table] th[data-variant]")].map((t) => t.getAttribute("data-variant"));
    expect(heads).toEqual(["claude-code", "codex"]);
    expect(root.querySelector("[data-testid=grouped-note]")?.textContent).toContain("different task cards");
    expect(root.querySelector("[data-testid=compare-sessions]")).toBeNull();
    expect((root.querySelector("#compare-experiment") as HTMLSelectElement).disabled).toBe(true);
  });

  it("explains the next step when there are no sessions", async () => {
    mock({
      choices: () => ({ experiments: [{ name: "e", description: "", variants: ["a"] }], task_cards: [], problems: [] }),
      compare: () => ({
        experiment: "e",
        generated_at: 0,
        app_version: "",
        task_cards: [],
        repo_commits: [],
        litellm_versions: [],
        metrics: [],
        variants: [
          {
            variant: "a",
            sessions: 0,
            requests: 0,
            session_success_rate: null,
            metrics: {},
            cost_per_success: { value: null, ci95: null, sessions: 0, successes: 0 },
            wall_per_success: { value: null, ci95: null, sessions: 0, successes: 0 },
          },
        ],
        pairs: [],
        excluded: [],
        environment_notes: [],
      }),
      compare_sessions: () => [],
    });
    render(<CompareScreen experiment="e" onExperiment={() => {}} />, root);
    await settle();
    expect(root.textContent).toContain("No finished sessions");
  });
});
