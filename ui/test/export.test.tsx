// The Export dialog against a mocked IPC.
import { METRICS } from "../src/bindings";
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { ExportDialog } from "../src/screens/export";
import { calls, click, mock, root, settle, withRoot } from "./ipc";
import { session } from "./fixtures";

withRoot();

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
    // Its metrics are the registry's chartable ones (core's list in the bindings), not a copy.
    const metricSelect = [...root.querySelectorAll("select")].find((s) => s.closest("label")?.textContent?.startsWith("Metric"));
    const offered = [...(metricSelect as HTMLSelectElement).options].map((o) => [o.value, o.textContent]);
    expect(offered).toEqual(METRICS.filter((m) => m.chartable).map((m) => [m.short, m.label]));
    expect(offered.length).toBeGreaterThanOrEqual(3);
  });
});
