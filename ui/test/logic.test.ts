import { describe, expect, it } from "vitest";
import {
  errorHint,
  filterPairs,
  fileNameFor,
  fmtCi,
  fmtPerSuccess,
  fmtValue,
  fmtMs,
  fmtP,
  formatsFor,
  lagMs,
  problemsByLine,
  screenForKey,
  template,
  toUiError,
  verdictTone,
} from "../src/logic";

describe("formatting", () => {
  it("prints milliseconds and seconds with sensible precision", () => {
    expect(fmtMs(12.345)).toBe("12.3 ms");
    expect(fmtMs(850)).toBe("850 ms");
    expect(fmtMs(1234)).toBe("1.23 s");
    expect(fmtMs(null)).toBe("–");
    expect(fmtMs(Number.NaN)).toBe("–");
  });
  it("prints each value in the unit core gives its metric", () => {
    expect(fmtValue("milliseconds", 240)).toBe("240 ms");
    expect(fmtValue("ratio", 0.125)).toBe("12.5 %");
    // An unknown cost is "n/a", never a free session; other missing values are a dash.
    expect(fmtValue("usd", null)).toBe("n/a");
    expect(fmtValue("usd", 0.0123)).toBe("$0.0123");
    expect(fmtValue("count", null)).toBe("–");
    expect(fmtValue("tokens_per_second", 41.27)).toBe("41.3 tok/s");
    expect(fmtValue("seconds", 61)).toBe("61.0 s");
    expect(fmtValue("count", 3)).toBe("3");
    expect(fmtCi("milliseconds", [50, 60])).toBe("[50.0 ms, 60.0 ms]");
    // Core's own examples (crates/core/src/analysis/units.rs): one table, the same words.
    expect(fmtValue("milliseconds", 99.94)).toBe("99.9 ms");
    expect(fmtValue("milliseconds", -1500)).toBe("-1.50 s");
    expect(fmtValue("seconds", 61.26)).toBe("61.3 s");
    expect(fmtValue("tokens_per_second", 88.88)).toBe("88.9 tok/s");
    expect(fmtValue("usd", 12.345)).toBe("$12.35");
    expect(fmtCi("milliseconds", null)).toBe("–");
  });
  it("says a total per successful task the way core does", () => {
    const ps = (value: number | null, successes: number, sessions: number, ci95: [number, number] | null = null) => ({ value, ci95, successes, sessions });
    expect(fmtPerSuccess("usd", ps(10 / 3, 3, 4, [1, 4]))).toBe("$3.33 [$1.00–$4.00] (3 of 4 succeeded)");
    expect(fmtPerSuccess("usd", ps(null, 2, 2))).toBe("n/a (2 of 2 succeeded)");
    expect(fmtPerSuccess("seconds", ps(null, 0, 2))).toBe("no successful task (0 of 2 succeeded)");
    expect(fmtPerSuccess("usd", ps(null, 0, 0))).toBe("–");
  });
  it("prints p-values like a paper", () => {
    expect(fmtP(0.0004)).toBe("p < 0.001");
    expect(fmtP(0.0312)).toBe("p = 0.031");
    expect(fmtP(null)).toBe("–");
  });
});

describe("verdicts", () => {
  it("tells significant, none and insufficient apart by the verdict's kind", () => {
    expect(verdictTone({ kind: "better", winner: "a", loser: "b", p: 0.008, indicative_below: null })).toBe("significant");
    expect(verdictTone({ kind: "no_difference", p: 0.412, indicative_below: 5 })).toBe("none");
    expect(verdictTone({ kind: "insufficient", need: 3, have_a: 1, have_b: 2 })).toBe("insufficient");
    expect(verdictTone({ kind: "no_data" })).toBe("insufficient");
  });
});

describe("errors", () => {
  it("keeps the shell's {code, message} and wraps anything else", () => {
    expect(toUiError({ code: "port_in_use", message: "x" })).toEqual({ code: "port_in_use", message: "x" });
    expect(toUiError(new Error("boom"))).toEqual({ code: "internal", message: "boom" });
    expect(toUiError("plain")).toEqual({ code: "internal", message: "plain" });
  });
  it("has a next step for the codes a user can fix", () => {
    for (const code of ["keychain_unavailable", "port_in_use", "install_failed", "config_invalid", "python_missing"] as const) {
      expect(errorHint(code)).toBeTruthy();
    }
    expect(errorHint("io")).toBeNull();
  });
});

describe("setup editor", () => {
  it("groups problems by line, line-less ones under 0", () => {
    const m = problemsByLine([
      { line: 3, message: "a" },
      { line: null, message: "b" },
      { line: 3, message: "c" },
    ]);
    expect(m.get(3)?.map((p) => p.message)).toEqual(["a", "c"]);
    expect(m.get(0)?.length).toBe(1);
  });
  it("makes safe file names and valid-shaped templates", () => {
    expect(fileNameFor("My Experiment!")).toBe("my-experiment.yaml");
    expect(fileNameFor("../../etc")).toBe("etc.yaml");
    expect(fileNameFor("  ")).toBe("untitled.yaml");
    for (const kind of ["providers", "harnesses", "variants", "experiments", "task-cards"]) {
      expect(template(kind, "x")).toMatch(/^name: x\n/);
    }
  });
});

describe("shell", () => {
  it("maps Alt+digit to a screen", () => {
    const s = ["stack", "secrets", "setup", "session", "compare"];
    expect(screenForKey({ altKey: true, key: "4" }, s)).toBe("session");
    expect(screenForKey({ altKey: false, key: "4" }, s)).toBeNull();
    expect(screenForKey({ altKey: true, key: "9" }, s)).toBeNull();
  });
  it("offers the formats core says fit each export", () => {
    const choices = {
      experiments: [],
      suites: [],
      task_cards: [],
      problems: [],
      isolation: [],
      export_formats: [
        { what: "requests", formats: ["csv", "json", "parquet"] },
        { what: "chart", formats: ["png", "svg"] },
      ],
    } as Parameters<typeof formatsFor>[0];
    expect(formatsFor(choices, "requests")).toEqual(["csv", "json", "parquet"]);
    expect(formatsFor(choices, "chart")).toEqual(["png", "svg"]);
    expect(formatsFor(choices, "report")).toEqual([]);
    expect(formatsFor(null, "chart")).toEqual([]);
  });
  it("measures live-chart lag from the request's finish", () => {
    expect(lagMs(1000, 1250)).toBe(250);
    expect(lagMs(null, 1250)).toBeNull();
    expect(lagMs(2000, 1000)).toBe(0);
  });
});

describe("yaml field", () => {
  it("replaces a top-level field or appends it, quoting what needs it", async () => {
    const { setYamlField } = await import("../src/logic");
    expect(setYamlField("name: t\nrepo_path: .\ngoal: g\n", "repo_path", "/home/me/repo")).toBe("name: t\nrepo_path: /home/me/repo\ngoal: g\n");
    expect(setYamlField("name: t", "repo_path", "/a b")).toBe('name: t\nrepo_path: "/a b"\n');
    expect(setYamlField("name: t\n  repo_path: nested\n", "repo_path", "x")).toBe("name: t\n  repo_path: nested\nrepo_path: x\n");
  });
});

describe("filterPairs", () => {
  const better = { kind: "better", winner: "a", loser: "b", p: 0.01, indicative_below: null } as const;
  const none = { kind: "no_difference", p: 0.5, indicative_below: null } as const;
  const pairs = [
    { a: "a", b: "b", verdict: better },
    { a: "a", b: "c", verdict: none },
    { a: "b", b: "c", verdict: none },
  ];
  it("shows significant pairs, all, or one pair in either order", () => {
    expect(filterPairs(pairs, { kind: "significant" })).toEqual([pairs[0]]);
    expect(filterPairs(pairs, { kind: "all" })).toHaveLength(3);
    expect(filterPairs(pairs, { kind: "pair", a: "c", b: "a" })).toEqual([pairs[1]]);
    expect(filterPairs(pairs, { kind: "pair", a: "a", b: "a" })).toEqual([]);
  });
});
