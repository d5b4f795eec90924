// The Secrets screen against a mocked IPC.
import { describe, expect, it } from "vitest";
import { render } from "preact";
import { act } from "preact/test-utils";
import { SecretsScreen } from "../src/screens/secrets";
import { calls, click, mock, root, settle, withRoot } from "./ipc";

withRoot();

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
