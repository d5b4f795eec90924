// The question the window asks when it is closed with a session active.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { emit } from "@tauri-apps/api/event";
import { CloseDialog } from "../src/screens/close";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

withRoot();

describe("Close dialog", () => {
  it("appears only when asked, names the sessions, and sends the answer", async () => {
    mock({ window_close: () => null });
    render(<CloseDialog />, root);
    await settle();
    expect(root.querySelector("[data-testid=close-dialog]")).toBeNull();
    await act(async () => {
      await emit("close-asked", { sessions: ["sess_a"] });
    });
    await settle();
    expect(root.querySelector("#close-title")?.textContent).toBe("A session is still active");
    expect(root.textContent).toContain("sess_a");
    click(root.querySelector("#close-cancel"));
    await settle();
    expect(calls.filter((c) => c.cmd === "window_close").map((c) => c.args.choice)).toEqual(["cancel"]);
    expect(root.querySelector("[data-testid=close-dialog]")).toBeNull();

    await act(async () => {
      await emit("close-asked", { sessions: ["sess_a", "sess_b"] });
    });
    await settle();
    expect(root.querySelector("#close-title")?.textContent).toBe("2 sessions are still active");
    expect(root.querySelector("#close-finalize")?.textContent).toBe("Finalize all and close");
    click(root.querySelector("#close-leave"));
    await settle();
    expect(calls.filter((c) => c.cmd === "window_close").map((c) => c.args.choice)).toEqual(["cancel", "leave_running"]);
  });
});
