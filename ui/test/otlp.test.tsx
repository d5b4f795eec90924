// The OTLP export panel (Stack screen) against a mocked IPC.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { OtlpPanel } from "../src/screens/otlp";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

withRoot();

const type = async (sel: string, value: string) => {
  const input = root.querySelector(sel) as HTMLInputElement;
  await act(async () => {
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
};

describe("OTLP export panel", () => {
  it("saves the endpoint and headers, never shows the headers, and shows where spans go", async () => {
    let saved: string | null = null;
    const settings = () => ({
      endpoint: saved ? `${saved}/v1/traces` : null,
      source: saved ? "settings" : null,
      saved_endpoint: saved,
      headers_saved: saved !== null,
      status: saved ? { endpoint: `${saved}/v1/traces`, sent: 12, dropped: 0, failed: 0, queued: 0, metric_flushes_failed: 0, last_error: null } : null,
      error: null,
    });
    mock({
      otlp_settings: settings,
      otlp_configure: (args) => {
        saved = args.endpoint as string | null;
        return settings();
      },
    });
    render(<OtlpPanel />, root);
    await settle();
    expect(root.querySelector("[data-testid=otlp-state]")?.textContent).toContain("Off");
    await type("#otlp-endpoint", "http://collector:4318");
    await type("#otlp-headers", "Authorization=Basic c2VjcmV0");
    await act(async () => {
      root.querySelector("form")?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    });
    await settle();
    expect(calls.find((c) => c.cmd === "otlp_configure")?.args).toEqual({ endpoint: "http://collector:4318", headers: "Authorization=Basic c2VjcmV0" });
    const state = root.querySelector("[data-testid=otlp-state]")?.textContent ?? "";
    expect(state).toContain("http://collector:4318/v1/traces");
    expect(state).toContain("12 spans sent");
    expect((root.querySelector("#otlp-headers") as HTMLInputElement).value).toBe("");
    expect(root.textContent).not.toContain("c2VjcmV0");
    // Turning it off keeps the headers (null: unchanged) and forgets the endpoint.
    click([...root.querySelectorAll("button")].find((b) => b.textContent === "Turn off") ?? null);
    await settle();
    expect(calls.filter((c) => c.cmd === "otlp_configure").pop()?.args).toEqual({ endpoint: null, headers: null });
    expect(root.querySelector("[data-testid=otlp-state]")?.textContent).toContain("Off");
  });
});
