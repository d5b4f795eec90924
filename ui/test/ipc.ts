// Shared by the screen tests: a mocked IPC (no Rust) that records calls, and helpers to let
// Preact and the data layer settle.
import { afterEach, beforeEach, expect } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { resetData, startDataEvents } from "../src/data";

export type Handler = (args: Record<string, unknown>) => unknown;
let stopData: (() => void) | undefined;
export let calls: { cmd: string; args: Record<string, unknown> }[] = [];

export function mock(handlers: Record<string, Handler>) {
  calls = [];
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args });
      const h = handlers[cmd];
      if (!h) throw { code: "not_mocked", message: cmd };
      return h(args);
    },
    { shouldMockEvents: true },
  );
  // The data layer listens to the (mocked) backend events, as the App does at start.
  stopData?.();
  stopData = startDataEvents();
}

/** Stop listening to the mocked events (after each test). */
export function stopEvents() {
  stopData?.();
  stopData = undefined;
}

export async function settle() {
  for (let i = 0; i < 5; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

export function click(el: Element | null) {
  expect(el).toBeTruthy();
  (el as HTMLElement).click();
}

/** The element each test renders into (fresh per test; see `withRoot`). */
export let root: HTMLElement;

/** Give every test of the calling file a fresh root, fresh data, and a clean teardown. */
export function withRoot() {
  beforeEach(() => {
    root = document.createElement("div");
    document.body.appendChild(root);
    resetData();
  });
  afterEach(async () => {
    render(null, root);
    root.remove();
    stopEvents();
    // Unmounting unsubscribes from events asynchronously; let that finish while the mocks exist.
    await settle();
    clearMocks();
  });
}
