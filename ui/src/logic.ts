// Pure helpers behind the screens (unit-tested in test/logic.test.ts).

import { UNIT_FORMATS } from "./bindings";
import type { Choices, ErrorCode, ExportFormat, ExportWhat, PerSuccess, UiError, Unit, Verdict } from "./types";

/** An error as the shell sends it: a stable code (core's `ErrorCode`) and a message that says what to do. */
export function isUiError(e: unknown): e is UiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** Any thrown value as `{code, message}`; a JavaScript exception is an internal error. */
export function toUiError(e: unknown): UiError {
  if (isUiError(e)) return { code: e.code, message: String(e.message) };
  if (e instanceof Error) return { code: "internal", message: e.message };
  return { code: "internal", message: String(e) };
}

/** What the UI suggests for an error code, beyond the message itself. */
export function errorHint(code: ErrorCode): string | null {
  switch (code) {
    case "keychain_unavailable":
      return "Start a Secret Service (gnome-keyring) in your desktop session, or set the key as an environment variable before starting StackPerf.";
    case "port_in_use":
      return "Another program holds that port. Stop it, or start StackPerf with STACKPERF_LITELLM_PORT / STACKPERF_SIM_PORT / STACKPERF_PROMETHEUS_PORT.";
    case "install_failed":
      return "Check that PyPI is reachable, then press Start again (a partial install is redone).";
    case "config_invalid":
      return "Open Experiment setup: every problem is listed on its file and line.";
    case "python_missing":
      return "Install Python 3.10+ with venv (Debian/Ubuntu: apt-get install python3 python3-venv).";
    case "service_failed":
      return "The last lines of the service's log are shown below.";
    case "session_not_active":
      return "This session is finalized: start a new one on the Session screen.";
    case "stack_conflict":
      return "Stop the running stack first (Stop on the Stack screen), then start again.";
    default:
      return null;
  }
}

/** Milliseconds for people: 12.3 ms, 850 ms, 1.23 s (core's table for the unit). */
export function fmtMs(ms: number | null | undefined): string {
  return fmtValue("milliseconds", ms);
}

/** A number with sensible precision. */
export function fmtNum(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  return x.toFixed(digits);
}

/**
 * A value in its unit, written by core's table of unit formats (`UNIT_FORMATS`, a constant of the
 * generated bindings: the CLI and the reports write with the same table).
 */
export function fmtValue(unit: Unit, x: number | null | undefined): string {
  const f = UNIT_FORMATS.find((u) => u.unit === unit) ?? UNIT_FORMATS[0];
  if (x === null || x === undefined || !Number.isFinite(x)) return f.missing;
  const step = [...f.steps].reverse().find((s) => Math.abs(x) >= s.from) ?? f.steps[0];
  return `${step.prefix}${(x * step.scale).toFixed(step.decimals)}${step.suffix}`;
}

/** "[lo, hi]" for a 95 % CI. */
export function fmtCi(unit: Unit, ci: [number | null, number | null] | null | undefined): string {
  if (!ci || ci[0] === null || ci[1] === null) return "–";
  return `[${fmtValue(unit, ci[0])}, ${fmtValue(unit, ci[1])}]`;
}

/** A total per successful task, as core says it ("$0.0123 [$0.0100–$0.0200] (3 of 4 succeeded)"). */
export function fmtPerSuccess(unit: Unit, ps: PerSuccess): string {
  if (!ps.sessions) return "–";
  const value =
    ps.value !== null
      ? ps.ci95
        ? `${fmtValue(unit, ps.value)} [${fmtValue(unit, ps.ci95[0])}–${fmtValue(unit, ps.ci95[1])}]`
        : fmtValue(unit, ps.value)
      : !ps.successes
        ? "no successful task"
        : fmtValue(unit, null);
  return `${value} (${ps.successes ?? 0} of ${ps.sessions} succeeded)`;
}

/** A size for people ("1.5 MB"). */
export function fmtBytes(b: number | null | undefined): string {
  if (b === null || b === undefined || !Number.isFinite(b)) return "–";
  if (b < 1000) return `${b} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(1)} kB`;
  if (b < 1e9) return `${(b / 1e6).toFixed(1)} MB`;
  return `${(b / 1e9).toFixed(2)} GB`;
}

/** p-values the way papers print them. */
export function fmtP(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return "–";
  if (p < 0.001) return "p < 0.001";
  return `p = ${p.toFixed(3)}`;
}

/** Verdict tone for styling, from the verdict's kind (never its words). */
export function verdictTone(v: Verdict): "significant" | "none" | "insufficient" {
  switch (v.kind) {
    case "better":
      return "significant";
    case "no_difference":
      return "none";
    case "insufficient":
    case "no_data":
    case "not_measured":
      return "insufficient";
  }
}

/** Problems by 1-based line, for the editor's gutter; problems without a line go under 0. */
export function problemsByLine<T extends { line: number | null }>(problems: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const p of problems) {
    const k = p.line ?? 0;
    const list = out.get(k) ?? [];
    list.push(p);
    out.set(k, list);
  }
  return out;
}

/** A config file name for a new document. */
export function fileNameFor(name: string): string {
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `${slug || "untitled"}.yaml`;
}

/** A starting document for each config kind, so "New" opens something valid-shaped. */
export function template(kind: string, name: string): string {
  switch (kind) {
    case "experiments":
      return `name: ${name}\ndescription: \nvariants: [sim-fast-oai, sim-slow-oai]\n`;
    case "task-cards":
      return `name: ${name}\nrepo_path: .\ngoal: \nstarting_prompt: \nstop_condition: \nsession_timebox_minutes: 30\n`;
    case "variants":
      return `name: ${name}\nprovider: sim\nprovider_route: sim\nmodel_alias: sim-fast\nharness_profile: openai-compatible\nbenchmark_tags:\n  harness: openai-compatible\n`;
    case "harnesses":
      return `name: ${name}\nprotocol_surface: openai_chat\nbase_url_env: OPENAI_BASE_URL\nbase_url_path: /v1\napi_key_env: OPENAI_API_KEY\nmodel_env: OPENAI_MODEL\n`;
    default:
      return `name: ${name}\nroute_name: ${name}\nprotocol_surface: openai_chat\nlitellm_provider: openai\nupstream_base_url: https://api.example.com/v1\napi_key_env: EXAMPLE_API_KEY\nmodels:\n  - alias: ${name}-model\n    upstream_model: model-name\n`;
  }
}

/** Live-chart freshness: ms from a request finishing to the panel showing it. */
export function lagMs(finishedAt: number | null | undefined, shownAt: number): number | null {
  if (finishedAt === null || finishedAt === undefined) return null;
  return Math.max(0, shownAt - finishedAt);
}

/** Keyboard shortcut for screens: Alt+1 … Alt+5. */
export function screenForKey(e: { altKey: boolean; key: string }, screens: readonly string[]): string | null {
  if (!e.altKey) return null;
  const n = Number(e.key);
  if (Number.isInteger(n) && n >= 1 && n <= screens.length) return screens[n - 1];
  return null;
}

/** The formats each export offers (first is the default). */
/** The formats core offers for an export (from `Choices.export_formats`; first = default). */
export function formatsFor(choices: Choices | null, what: ExportWhat): ExportFormat[] {
  return choices?.export_formats.find((f) => f.what === what)?.formats ?? [];
}

/** Set a top-level `key: value` line in a YAML document (replacing it, or appending it). */
export function setYamlField(text: string, key: string, value: string): string {
  const quoted = /^[\w./-]+$/.test(value) ? value : JSON.stringify(value);
  const line = `${key}: ${quoted}`;
  const re = new RegExp(`^${key}:.*$`, "m");
  if (re.test(text)) return text.replace(re, line);
  return text.endsWith("\n") || text === "" ? `${text}${line}\n` : `${text}\n${line}\n`;
}

/** Which pairwise rows Compare shows: the significant ones (default), all, or one chosen pair. */
export type PairView = { kind: "significant" } | { kind: "all" } | { kind: "pair"; a: string; b: string };

/** The pairwise rows a view shows (a chosen pair matches in either direction). */
export function filterPairs<P extends { a: string; b: string; verdict: Verdict }>(pairs: P[], view: PairView): P[] {
  switch (view.kind) {
    case "all":
      return pairs;
    case "significant":
      return pairs.filter((p) => verdictTone(p.verdict) === "significant");
    case "pair":
      return pairs.filter((p) => (p.a === view.a && p.b === view.b) || (p.a === view.b && p.b === view.a));
  }
}
