// The app shell against a mocked IPC: navigation keeps the open session.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { App } from "../src/app";
import { calls, click, mock, root, settle, withRoot } from "./ipc";
import { session, envView, brief } from "./fixtures";

withRoot();

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
