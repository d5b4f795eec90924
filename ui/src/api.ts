// The one door to the backend: generated bindings, with `Result`s turned into thrown UiErrors.
import { commands, events } from "./bindings";
import type { UiError } from "./types";

export { commands, events };

type Res<T> = { status: "ok"; data: T } | { status: "error"; error: UiError };

/** Await a command; throw its `{code, message}` on error. */
export async function call<T>(p: Promise<Res<T>>): Promise<T> {
  const r = await p;
  if (r.status === "ok") return r.data;
  throw r.error;
}
