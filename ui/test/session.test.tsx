// The Session screen against a mocked IPC: starting, the live panel, finalizing, capture failures.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { emit } from "@tauri-apps/api/event";
import { SessionScreen } from "../src/screens/session";
import { RecentList } from "../src/screens/session/recent";
import type { SessionRow } from "../src/types";
import { calls, click, mock, root, settle, withRoot } from "./ipc";
import { session, envView, brief } from "./fixtures";

withRoot();

describe("Session screen", () => {
  it("names each recent session's machine when several machines share the store", async () => {
    const other = { ...session("completed", 2), session_id: "sess_def", machine_id: "m2", hostname: "box-2" };
    mock({
      choices: () => ({ experiments: [], task_cards: [], problems: [] }),
      sessions_list: () => [session("completed", 1), other],
    });
    render(<SessionScreen onExperiment={() => {}} />, root);
    await settle();
    const items = [...root.querySelectorAll(".recent li")].map((li) => li.textContent ?? "");
    expect(items).toHaveLength(2);
    expect(items[0]).toContain("on box-1");
    expect(items[1]).toContain("on box-2");
    // One machine: nothing to tell apart.
    render(null, root);
    render(<RecentList recent={[session("completed", 1) as SessionRow]} onSelect={() => {}} />, root);
    expect(root.querySelector(".recent li")?.textContent).not.toContain(" on ");
  });

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
