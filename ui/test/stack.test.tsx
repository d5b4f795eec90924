// The Stack screen against a mocked IPC.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { emit } from "@tauri-apps/api/event";
import { StackScreen } from "../src/screens/stack";
import { otlpOff } from "./fixtures";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

withRoot();

describe("Stack screen", () => {
  const stopped = {
    services: [{ name: "litellm", state: "stopped", url: null, healthy: false, version: null, pid: null, container: null, log: null, detail: null }],
    problem: null,
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
      otlp_settings: () => otlpOff,
      stack_status: () => stopped,
      stack_up: async () => {
        await emit("stack-progress", { kind: "not_served", service: null, provider: "openai", message: "provider `openai` is not served: no key" });
        await emit("stack-progress", { kind: "step", service: "sim", provider: null, message: "starting the simulator" });
        // The log shown is that of the service the progress named last, not one parsed from prose.
        throw { code: "service_failed", message: "words the UI does not parse" };
      },
      stack_log_tail: () => ["Traceback (most recent call last):", "ImportError: boom"],
      data_usage: () => ({ database: 1, sessions: 0, capture: 0, logs: 0, data_dir: "d" }),
    });
    render(<StackScreen />, root);
    await settle();
    expect(root.querySelector("input[type=radio][disabled]")).toBeTruthy(); // Compose needs Docker
    expect(root.querySelector("[data-testid=otlp-state]")?.textContent).toContain("Off"); // its panel, asked once
    click(root.querySelector("#stack-start"));
    await settle();
    expect(root.querySelector("[data-testid=stack-steps]")?.textContent).toContain("starting the simulator");
    // Providers not served are listed with the services, not repeated among the steps (by kind).
    expect(root.querySelector("[data-testid=stack-steps]")?.textContent).not.toContain("not served");
    expect(root.querySelector("[role=alert]")?.getAttribute("data-code")).toBe("service_failed");
    expect(root.textContent).toContain("ImportError: boom");
    expect(calls.find((c) => c.cmd === "stack_log_tail")?.args.service).toBe("sim");
  });

  it("says why the Compose services cannot be listed", async () => {
    mock({
      otlp_settings: () => otlpOff,
      stack_status: () => ({ ...stopped, runtime: "compose", services: [], problem: "permission denied on /var/run/docker.sock" }),
      data_usage: () => ({ database: 1, sessions: 0, capture: 0, logs: 0, data_dir: "d" }),
    });
    render(<StackScreen />, root);
    await settle();
    expect(root.querySelector("[data-testid=services-problem]")?.textContent).toContain("permission denied on /var/run/docker.sock");
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
      otlp_settings: () => otlpOff,
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
