// The Usage screen against a mocked IPC: keys created (the value never reaches the page),
// revoked only after a confirmation, and the report with its chart and empty state.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { UsageScreen, lastDays } from "../src/screens/usage";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

const row = (group: string, requests: number) => ({
  group,
  requests,
  errors: 1,
  error_rate: 1 / requests,
  input_tokens: 1000 * requests,
  output_tokens: 10 * requests,
  cached_input_tokens: 0,
  cache_write_tokens: 0,
  reasoning_tokens: 0,
  cost_usd: requests * 0.01,
  unpriced: 0,
  latency_p50_ms: 250,
  latency_p95_ms: 900,
  latency_p99_ms: 1500,
  ttft_p50_ms: 80,
  ttft_p95_ms: 120,
});

const report = (rows: ReturnType<typeof row>[]) => ({
  by: "owner",
  since: "2026-10-30",
  until: "2026-11-28",
  rows,
  total: row("total", rows.reduce((s, r) => s + r.requests, 0) || 1),
  days: [],
  note: "UTC days; percentiles from histograms",
});

const key = (alias: string, state: string) => ({
  alias,
  owner: "ana",
  team: "ml",
  purpose: null,
  models: null,
  created_at: 1_764_288_000_000,
  expires_at: null,
  revoked_at: null,
  state,
});

withRoot();

function type(sel: string, value: string) {
  const el = root.querySelector(sel) as HTMLInputElement;
  expect(el).toBeTruthy();
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

describe("Usage screen", () => {
  it("creates a key without the value ever reaching the page, and revokes only after a confirmation", async () => {
    let keys = [key("stackperf-key-bo-1", "active")];
    mock({
      usage_keys: () => keys,
      usage_report: () => report([row("ana", 8), row("bo", 4)]),
      usage_chart: () => "<svg data-chart='usage'/>",
      usage_key_create: (args) => {
        const req = args.req as { owner: string; models: string[] | null; team: string | null };
        keys = [{ ...key("stackperf-key-ana-2", "active"), owner: req.owner }, ...keys];
        return { key: keys[0], base_url: "http://127.0.0.1:4000/v1", keychain_entry: "STACKPERF_USAGE_KEY_ANA_2" };
      },
      usage_key_revoke: () => {
        keys = keys.map((k) => ({ ...k, state: "revoked" }));
        return true;
      },
    });
    render(<UsageScreen />, root);
    await settle();
    expect(root.querySelectorAll("[data-testid=usage-keys] tbody tr").length).toBe(1);
    const create = root.querySelector("#usage-create") as HTMLButtonElement;
    expect(create.disabled).toBe(true);
    type("#usage-owner", "ana");
    type("#usage-team", "ml");
    type("#usage-models", "sim-fast, sim-slow");
    await settle();
    await act(async () => {
      (root.querySelector("[data-testid=usage-key-form]") as HTMLFormElement).dispatchEvent(new Event("submit", { cancelable: true }));
    });
    await settle();
    const sent = calls.find((c) => c.cmd === "usage_key_create")?.args.req as Record<string, unknown>;
    expect(sent).toMatchObject({ owner: "ana", team: "ml", models: ["sim-fast", "sim-slow"], expires_days: null });
    expect(root.querySelector("[data-testid=usage-note]")?.textContent).toContain("on the clipboard");
    expect(root.textContent).not.toContain("sk-stackperf");
    expect(root.querySelectorAll("[data-testid=usage-keys] tbody tr").length).toBe(2);

    click(root.querySelector("[data-alias='stackperf-key-bo-1'] .danger"));
    await settle();
    expect(calls.some((c) => c.cmd === "usage_key_revoke")).toBe(false);
    click(root.querySelector("[data-testid=usage-revoke-confirm]"));
    await settle();
    expect(calls.find((c) => c.cmd === "usage_key_revoke")?.args).toEqual({ alias: "stackperf-key-bo-1" });
    expect(root.querySelector("[data-alias='stackperf-key-bo-1']")?.textContent).toContain("revoked");
  });

  it("shows the report largest first with a total and the chart, and regroups on request", async () => {
    mock({
      usage_keys: () => [key("stackperf-key-ana-1", "active")],
      usage_report: (args) => (args.by === "team" ? report([row("ml", 12)]) : report([row("ana", 8), row("bo", 4)])),
      usage_chart: () => "<svg data-chart='usage'/>",
    });
    render(<UsageScreen />, root);
    await settle();
    const cells = [...root.querySelectorAll("[data-testid=usage-table] tbody tr td:first-child")].map((c) => c.textContent);
    expect(cells).toEqual(["ana", "bo", "Total"]);
    expect(root.querySelector("[data-testid=usage-table]")?.textContent).toContain("250 ms / 900 ms / 1.50 s");
    expect(root.querySelector("[data-testid=usage-chart] svg")).toBeTruthy();
    const by = root.querySelector("#usage-by") as HTMLSelectElement;
    by.value = "team";
    by.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(calls.filter((c) => c.cmd === "usage_report").at(-1)?.args.by).toBe("team");
    expect(root.querySelector("[data-testid=usage-table] tbody td")?.textContent).toBe("ml");
  });

  it("says what to do when there is no usage yet", async () => {
    mock({ usage_keys: () => [], usage_report: () => ({ ...report([]), total: row("total", 0) }), usage_chart: () => "<svg/>" });
    render(<UsageScreen />, root);
    await settle();
    expect(root.textContent).toContain("No usage keys yet");
    expect(root.textContent).toContain("No usage traffic in this window");
    expect(root.querySelector("[data-testid=usage-table]")).toBeNull();
  });

  it("asks for the last N UTC days, today included", () => {
    const f = lastDays(30, Date.UTC(2026, 10, 28, 23, 59));
    expect([f.since_day, f.until_day]).toEqual([20_756, 20_785]);
  });
});
