// The screens against a mocked IPC (no Rust): what they call, what they show, how they react.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { emit } from "@tauri-apps/api/event";
import { SessionScreen } from "../src/screens/session";
import { CompareScreen } from "../src/screens/compare";
import { StackScreen } from "../src/screens/stack";
import { SecretsScreen } from "../src/screens/secrets";
import { ExportDialog } from "../src/screens/export";
import { App } from "../src/app";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

const session = (status: string, n = 0) => ({
  session_id: "sess_abc",
  experiment: "sim-profiles",
  variant: "sim-fast-oai",
  variant_id: 1,
  config_fingerprint: "f",
  task_card: "sample-traffic",
  harness_profile: "openai-compatible",
  status,
  mode: "bounded",
  created_at: 1,
  started_at: 1,
  ended_at: null,
  operator_label: null,
  repo_root: null,
  git_branch: null,
  git_commit_sha: null,
  git_dirty: null,
  proxy_key_alias: "stackperf-sess_abc",
  key_expires_at: null,
  outcome: null,
  notes: null,
  app_version: "0.1.0",
  litellm_version: "1.108.7",
  config_commit: null,
  request_count: n,
});

const envView = {
  session_id: "sess_abc",
  format: "shell",
  default_format: "shell",
  text: "export OPENAI_BASE_URL='http://127.0.0.1:4000/v1'\nexport OPENAI_API_KEY='<session key: stackperf session env ID>'\n",
  files: [],
  launch_command: null,
  launch_checks: ["The repository is clean"],
  api_key_env: "OPENAI_API_KEY",
};

const brief = (i: number) => ({
  request_id: `r${i}`,
  started_at: Date.now() - 500,
  finished_at: Date.now() - 40,
  model: "sim-fast",
  call_type: "acompletion",
  kind: "chat completions (stream)",
  streamed: true,
  status: "success",
  http_status: 200,
  error_class: null,
  ttft_ms: 60 + i,
  ttft_visible_ms: 60 + i,
  itl_ms: 2,
  stall_count: 0,
  latency_ms: 300 + i,
  output_tokens_per_s: 90,
  input_tokens: 10,
  output_tokens: 20,
});

withRoot();

describe("Session screen", () => {
  it("starts a session, shows the redacted env and appends what each capture event brings", async () => {
    const pages: { since: unknown; rows: number }[] = [];
    let next = 0;
    mock({
      choices: () => ({
        experiments: [{ name: "sim-profiles", description: "", variants: ["sim-fast-oai", "sim-slow-oai"] }],
        task_cards: ["fix-failing-test", "sample-traffic"],
        problems: [],
      }),
      sessions_list: () => [],
      session_start: () => ({ session: session("active"), env: envView }),
      // Two new requests per page; the first request comes again, updated (LiteLLM's line merged).
      session_requests_since: (args) => {
        const rows = next === 0 ? [] : next === 1 ? [brief(1), brief(2)] : [brief(next), brief(next + 1), brief(1)];
        pages.push({ since: args.since, rows: rows.length });
        next = next === 0 ? 1 : next + 2;
        // The last page: the edge was killed and restarted during the session.
        const edge =
          next > 3
            ? {
                outages: [{ instance: "a1", from_ms: 1, until_ms: 401, crashed: true }],
                down_ms: 400,
                lost_requests: 1,
                not_timed_at_edge: 0,
                restarts: [],
                summary:
                  "the edge was down for 0.4 s during this session (1 outage, 1 after a crash); 1 request lost its stream with the edge (stored as edge_lost errors)",
              }
            : { outages: [], down_ms: 0, lost_requests: 0, not_timed_at_edge: 0, restarts: [], summary: null };
        return { rows, cursor: next, edge };
      },
      session_copy_env: () => 3,
    });
    render(<SessionScreen onExperiment={() => {}} />, root);
    await settle();
    click(root.querySelector("#session-start"));
    await settle();
    const start = calls.find((c) => c.cmd === "session_start");
    expect(start?.args.req).toMatchObject({ experiment: "sim-profiles", variant: "sim-fast-oai", task_card: "sample-traffic" });
    expect(root.querySelector("[data-testid=env-text]")?.textContent).toContain("<session key");
    expect(root.textContent).toContain("The repository is clean");
    expect(pages).toEqual([{ since: null, rows: 0 }]);

    for (const want of [2, 4]) {
      await act(async () => {
        await emit("capture-update", { inserted: 2, sessions: ["sess_abc"], last_finished_at: Date.now() });
      });
      await settle();
      expect(root.querySelector("[data-testid=live]")?.getAttribute("data-requests")).toBe(String(want));
    }
    // The edge's outage is said on the panel, once the page that knows it came.
    const health = root.querySelector("[data-testid=edge-health]");
    expect(health?.textContent).toContain("the edge was down for 0.4 s");
    expect(health?.getAttribute("data-lost")).toBe("1");
    // Each event asked only for what came after the previous page's cursor.
    expect(pages.map((p) => p.since)).toEqual([null, 1, 3]);
    expect(pages.map((p) => p.rows)).toEqual([0, 2, 3]);
    expect(root.querySelector("[data-testid=chart-ttft]")?.getAttribute("data-points")).toBe("4");
    expect(Number(root.querySelector("[data-testid=live]")?.getAttribute("data-lag-ms"))).toBeGreaterThanOrEqual(0);

    // Events for other sessions ask for nothing.
    await act(async () => {
      await emit("capture-update", { inserted: 1, sessions: ["sess_other"], last_finished_at: Date.now() });
    });
    await settle();
    expect(pages.length).toBe(3);

    click(root.querySelector("#copy-env"));
    await settle();
    expect(calls.some((c) => c.cmd === "session_copy_env" && c.args.id === "sess_abc")).toBe(true);
    expect(root.textContent).toContain("Copied 3 lines");
  });

  it("shows the backend's error code and message when a start is refused", async () => {
    mock({
      choices: () => ({ experiments: [{ name: "sim-profiles", description: "", variants: ["sim-fast-oai"] }], task_cards: ["sample-traffic"], problems: [] }),
      sessions_list: () => [],
      session_start: () => {
        throw { code: "keychain_unavailable", message: "the OS keychain is unavailable: no D-Bus" };
      },
    });
    render(<SessionScreen onExperiment={() => {}} />, root);
    await settle();
    click(root.querySelector("#session-start"));
    await settle();
    const err = root.querySelector("[role=alert]");
    expect(err?.getAttribute("data-code")).toBe("keychain_unavailable");
    expect(err?.textContent).toContain("no D-Bus");
    expect(err?.textContent).toContain("Secret Service");
  });
});

describe("Session screen, capture failures", () => {
  it("says when the capture tailer fails and that it retries", async () => {
    mock({
      choices: () => ({ experiments: [{ name: "sim-profiles", description: "", variants: ["sim-fast-oai"] }], task_cards: ["sample-traffic"], problems: [] }),
      sessions_list: () => [],
    });
    render(<SessionScreen onExperiment={() => {}} />, root);
    await settle();
    await act(async () => {
      await emit("capture-error", { code: "database_unavailable", message: "database is locked" });
    });
    await settle();
    const err = root.querySelector("[role=alert]");
    expect(err?.getAttribute("data-code")).toBe("database_unavailable");
    expect(err?.textContent).toContain("database is locked");
    expect(err?.textContent).toContain("retries");
  });
});

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
          { name: "ttft_p50_ms", short: "ttft", label: "Time to first token", unit: "milliseconds", lower_is_better: true, chartable: true },
          { name: "error_rate", short: "error-rate", label: "Error rate", unit: "ratio", lower_is_better: true, chartable: false },
        ],
        variants: [
          {
            variant: "a",
            sessions: 5,
            requests: 50,
            session_success_rate: 1,
            metrics: { ttft_p50_ms: metric(70), error_rate: metric(0.02) },
            cost_per_success: { value: 0.25, ci95: [0.2, 0.3], sessions: 5, successes: 4 },
            wall_per_success: { value: 12.5, ci95: null, sessions: 5, successes: 4 },
          },
          {
            variant: "b",
            sessions: 5,
            requests: 50,
            session_success_rate: 1,
            metrics: { ttft_p50_ms: metric(600), error_rate: metric(0.03) },
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
      metrics: [{ name: "wall_s", short: "wall", label: "Wall time", unit: "seconds", lower_is_better: true, chartable: false }],
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

describe("Stack screen", () => {
  const stopped = {
    services: [{ name: "litellm", state: "stopped", url: null, healthy: false, version: null, pid: null, container: null, log: null, detail: null }],
    skipped: [],
    proxy_url: null,
    litellm_installed: null,
    litellm_pinned: "1.108.7",
    compose_available: false,
    config_dir: "c",
    data_dir: "d",
  };
  it("streams progress steps and shows the failing service's log lines", async () => {
    mock({
      stack_status: () => stopped,
      stack_up: async () => {
        await emit("stack-progress", { kind: "not_served", service: "openai", message: "provider `openai` is not served: no key" });
        await emit("stack-progress", { kind: "step", service: "sim", message: "starting the simulator" });
        // The log shown is that of the service the progress named last, not one parsed from prose.
        throw { code: "service_failed", message: "words the UI does not parse" };
      },
      stack_log_tail: () => ["Traceback (most recent call last):", "ImportError: boom"],
      data_usage: () => ({ database: 1, sessions: 0, capture: 0, logs: 0, data_dir: "d" }),
    });
    render(<StackScreen />, root);
    await settle();
    expect(root.querySelector("input[type=radio][disabled]")).toBeTruthy(); // Compose needs Docker
    click(root.querySelector("#stack-start"));
    await settle();
    expect(root.querySelector("[data-testid=stack-steps]")?.textContent).toContain("starting the simulator");
    // Providers not served are listed with the services, not repeated among the steps (by kind).
    expect(root.querySelector("[data-testid=stack-steps]")?.textContent).not.toContain("not served");
    expect(root.querySelector("[role=alert]")?.getAttribute("data-code")).toBe("service_failed");
    expect(root.textContent).toContain("ImportError: boom");
    expect(calls.find((c) => c.cmd === "stack_log_tail")?.args.service).toBe("sim");
  });

  it("shows what data takes and deletes only after the plan is confirmed, sending that plan back", async () => {
    const plan = {
      retention: { raw_days: 7, requests_days: 30, sessions_days: 90 },
      plan: { sessions: ["sess_old"], requests_of: ["sess_mid"], requests: 9, unattributed: 2 },
      folders: 1,
      folder_bytes: 2_500_000,
      db_bytes: 40_000_000,
      db_bytes_after: null,
      applied: false,
      old_exports: [],
      spools: ["/d/capture/spool.jsonl.1"],
      spool_bytes: 70_000_000,
      at: 1_795_800_000_000,
    };
    mock({
      stack_status: () => stopped,
      data_usage: () => ({ database: 40_000_000, sessions: 3_000_000, capture: 70_000_000, logs: 1_200, data_dir: "/d" }),
      prune_plan: () => plan,
      prune_apply: (args) => ({ ...(args.plan as typeof plan), applied: true, db_bytes_after: 12_000_000 }),
    });
    render(<StackScreen />, root);
    await settle();
    expect(root.querySelector("[data-testid=data-usage]")?.textContent).toContain("Database 40.0 MB · sessions 3.0 MB · capture spools 70.0 MB · logs 1.2 kB");
    click(root.querySelector("#prune-look"));
    await settle();
    const shown = root.querySelector("[data-testid=prune-plan]")?.textContent ?? "";
    expect(shown).toContain("1 session(s) deleted whole (1 folder(s), 2.5 MB)");
    expect(shown).toContain("9 request row(s) in all (2 without a session)");
    expect(calls.some((c) => c.cmd === "prune_apply")).toBe(false);
    click(root.querySelector("#prune-apply"));
    await settle();
    expect(calls.find((c) => c.cmd === "prune_apply")?.args.plan).toEqual(plan);
    expect(root.querySelector("[data-testid=prune-done]")?.textContent).toContain("40.0 MB → 12.0 MB");
  });
});

describe("Secrets screen", () => {
  it("never renders a value and sends the typed one to the keychain", async () => {
    let stored = false;
    mock({
      secrets_list: () => [
        { name: "OPENAI_API_KEY", in_keychain: stored, in_environment: false, effective: stored ? "keychain" : null, used_by: ["provider openai"] },
      ],
      secret_set: () => {
        stored = true;
        return null;
      },
    });
    render(<SecretsScreen />, root);
    await settle();
    click([...root.querySelectorAll("button")].find((b) => b.textContent === "Set") ?? null);
    await settle();
    const input = root.querySelector("input[type=password]") as HTMLInputElement;
    expect(input).toBeTruthy();
    await act(async () => {
      input.value = "sk-test-value";
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
    const form = input.closest("form") as HTMLFormElement;
    await act(async () => {
      form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    });
    await settle();
    expect(calls.find((c) => c.cmd === "secret_set")?.args).toEqual({ name: "OPENAI_API_KEY", value: "sk-test-value" });
    expect(root.textContent).not.toContain("sk-test-value");
    expect(root.textContent).toContain("saved to the OS keychain");
  });

  it("shows core's verdict on a new secret name as it is typed", async () => {
    mock({
      secrets_list: () => [],
      secret_name_check: (args) => ((args.name as string).startsWith("1") ? "`1BAD` is not a valid secret name" : null),
    });
    render(<SecretsScreen />, root);
    await settle();
    const name = root.querySelector("input[aria-label='Secret name']") as HTMLInputElement;
    const setButton = () => [...root.querySelectorAll("button")].find((b) => b.textContent?.startsWith("Set…")) as HTMLButtonElement;
    for (const [typed, bad] of [
      ["1BAD", true],
      ["GOOD_NAME", false],
    ] as const) {
      await act(async () => {
        name.value = typed;
        name.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await settle();
      expect(calls.some((c) => c.cmd === "secret_name_check" && c.args.name === typed)).toBe(true);
      expect(setButton().disabled).toBe(bad);
      expect(root.querySelector(".field-error")?.textContent ?? "").toBe(bad ? "`1BAD` is not a valid secret name" : "");
    }
  });
});

describe("Export dialog", () => {
  it("sends what, format, experiment, session and path, and shows the written file", async () => {
    mock({
      choices: () => ({
        experiments: [{ name: "sim-profiles", description: "", variants: ["a"] }],
        task_cards: [],
        problems: [],
        export_formats: [
          { what: "requests", formats: ["csv", "json", "parquet"] },
          { what: "chart", formats: ["png", "svg"] },
        ],
      }),
      sessions_list: () => [session("completed", 6)],
      export_data: (args) => ({ path: (args.req as { path: string }).path, rows: 6, bytes: 4096 }),
    });
    render(<ExportDialog experiment="sim-profiles" onClose={() => {}} />, root);
    await settle();
    const set = async (sel: string, value: string) => {
      const el = root.querySelector(sel) as HTMLSelectElement | HTMLInputElement;
      await act(async () => {
        el.value = value;
        el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input", { bubbles: true }));
      });
    };
    await set("#export-format", "parquet");
    await set("#export-session", "sess_abc");
    await set("#export-path", "/tmp/out.parquet");
    click(root.querySelector("#export-run"));
    await settle();
    expect(calls.find((c) => c.cmd === "export_data")?.args.req).toEqual({
      what: "requests",
      format: "parquet",
      experiment: "sim-profiles",
      session: "sess_abc",
      metric: "ttft",
      path: "/tmp/out.parquet",
      include_internal: false,
    });
    expect(root.querySelector("[data-testid=export-written]")?.getAttribute("data-path")).toBe("/tmp/out.parquet");

    // A chart offers PNG/SVG only.
    await set("#export-what", "chart");
    await settle();
    const formats = [...(root.querySelector("#export-format") as HTMLSelectElement).options].map((o) => o.value);
    expect(formats).toEqual(["png", "svg"]);
  });
});

describe("App", () => {
  it("keeps the open session when the user visits another screen and comes back", async () => {
    mock({
      app_info: () => ({ version: "0.1.0", config_dir: "c", data_dir: "d", db_path: "db" }),
      stack_status: () => ({
        services: [],
        skipped: [],
        proxy_url: null,
        litellm_installed: null,
        litellm_pinned: "1.108.7",
        compose_available: false,
        config_dir: "c",
        data_dir: "d",
      }),
      choices: () => ({
        experiments: [{ name: "sim-profiles", description: "", variants: ["sim-fast-oai"] }],
        task_cards: ["sample-traffic"],
        problems: [],
        export_formats: [],
      }),
      sessions_list: () => [],
      session_start: () => ({ session: session("active"), env: envView }),
      session_requests_since: () => ({ rows: [brief(1)], cursor: 1 }),
      compare: () => ({
        experiment: "sim-profiles",
        generated_at: 0,
        app_version: "",
        task_cards: [],
        repo_commits: [],
        litellm_versions: [],
        metrics: [],
        variants: [],
        pairs: [],
        excluded: [],
        environment_notes: [],
      }),
      compare_sessions: () => [],
      compare_chart: () => "<svg/>",
      ui_ready: () => null,
    });
    render(<App />, root);
    await settle();
    click(root.querySelector("#nav-session"));
    await settle();
    click(root.querySelector("#session-start"));
    await settle();
    expect(root.querySelector("[data-testid=session-head]")?.getAttribute("data-session")).toBe("sess_abc");
    click(root.querySelector("#nav-compare"));
    await settle();
    expect(root.querySelector("[data-testid=session-head]")).toBeNull();
    click(root.querySelector("#nav-session"));
    await settle();
    expect(root.querySelector("[data-testid=session-head]")?.getAttribute("data-session")).toBe("sess_abc");
    expect(root.querySelector("[data-testid=env-text]")?.textContent).toContain("<session key");
    expect(root.querySelector("[data-testid=live]")?.getAttribute("data-requests")).toBe("1");
    // The request's kind in words, never LiteLLM's internal call type.
    expect(root.querySelector("[data-testid=live]")?.textContent).toContain("chat completions (stream)");
    expect(root.querySelector("[data-testid=live]")?.textContent).not.toContain("acompletion");
    // Coming back re-used what was loaded: one start, one page of requests.
    expect(calls.filter((c) => c.cmd === "session_start").length).toBe(1);
    expect(calls.filter((c) => c.cmd === "session_requests_since").length).toBe(1);
  });
});
