import { useEffect, useState } from "preact/hooks";
import { call, commands } from "../api";
import { METRICS } from "../bindings";
import type { Comparison, GroupBy, RequestBrief, SessionStats } from "../types";
import { invalidate, keys, useChoices, useQuery } from "../data";
import { Badge, Chart, Empty, ErrorBox, RequestsTable } from "../components";
import { type PairView, filterPairs, fmtCi, fmtP, fmtPerSuccess, fmtValue, verdictTone } from "../logic";
import { SuitePanel } from "./suite";

/** What a comparison's rows can be: an experiment's variants, or sessions pooled across experiments. */
const ROWS: [GroupBy, string][] = [
  ["variant", "Variants of the experiment"],
  ["harness", "Harnesses, all experiments"],
  ["provider", "Providers, all experiments"],
  ["model", "Models, all experiments"],
];

export function CompareScreen({ experiment, onExperiment }: { experiment: string; onExperiment: (e: string) => void }) {
  const choices = useChoices();
  // The registry's first chartable metric (core's order: headline first).
  const [chart, setChart] = useState(METRICS.find((m) => m.chartable)?.name ?? "");
  const [error, setError] = useState<unknown>(null);
  const [drill, setDrill] = useState<{ id: string; rows: RequestBrief[] } | null>(null);
  const [by, setBy] = useState<GroupBy>("variant");
  const [pairView, setPairView] = useState<PairView>({ kind: "significant" });
  const grouped = by !== "variant";
  const exp = experiment || null;
  const cmpQ = useQuery(grouped ? keys.compareBy(by) : exp && keys.compare(exp), () =>
    call(grouped ? commands.compareGrouped(by, []) : commands.compare(experiment)),
  );
  // The session list and the distribution charts are per experiment.
  const perExp = grouped ? null : exp;
  const sessionsQ = useQuery(perExp && keys.compareSessions(perExp), () => call(commands.compareSessions(experiment)));
  const cmp: Comparison | null = cmpQ.data ?? null;
  const sessions: SessionStats[] = sessionsQ.data ?? [];
  const chartQ = useQuery(perExp && cmp ? keys.chart(perExp, chart) : null, () => call(commands.compareChart(experiment, chart)));
  const svg = chartQ.data ?? "";
  const loading = cmpQ.loading || sessionsQ.loading;

  useEffect(() => {
    const c = choices.data;
    if (!experiment && c?.experiments.length) onExperiment(c.experiments.find((e) => e.name === "sim-profiles")?.name ?? c.experiments[0].name);
  }, [choices.data]);

  const load = () => {
    setDrill(null);
    if (grouped) invalidate(keys.compareBy(by));
    else if (exp) {
      invalidate(keys.compare(exp));
      invalidate(keys.compareSessions(exp));
      invalidate(`chart:${exp}:`);
    }
  };

  const openSession = async (id: string) => {
    try {
      setDrill({ id, rows: await call(commands.sessionRequests(id)) });
    } catch (e) {
      setError(e);
    }
  };

  const metrics = cmp?.metrics ?? [];
  const byName = new Map(metrics.map((m) => [m.name, m]));
  const charts = metrics.filter((m) => m.chartable);
  const sessionColumns = metrics.filter((m) => m.session_column);
  const hasData = cmp ? cmp.variants.some((v) => (v.sessions ?? 0) > 0) : false;

  return (
    <section aria-labelledby="compare-title">
      <header class="screen-head">
        <h1 id="compare-title">Compare</h1>
        <p class="sub">
          Each session counts once: medians and 95 % bootstrap intervals are across sessions, differences are tested with permutation tests (success rates:
          Fisher's exact test), adjusted for the number of pairs.
        </p>
      </header>
      <div class="row gap">
        <label>
          Experiment{" "}
          <select id="compare-experiment" value={experiment} disabled={grouped} onChange={(e) => onExperiment((e.target as HTMLSelectElement).value)}>
            {choices.data?.experiments.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rows{" "}
          <select id="compare-by" value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value as GroupBy)}>
            {ROWS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={load} disabled={loading}>
          {loading ? "Loading…" : "Refresh"}
        </button>
      </div>
      <ErrorBox error={error ?? cmpQ.error ?? sessionsQ.error ?? chartQ.error ?? choices.error} onDismiss={() => setError(null)} />
      {cmp && !hasData && (
        <Empty title="No finished sessions in this experiment yet">
          <p>
            Run and finalize sessions for at least two variants on the Session screen, or let the Run screen do it; each needs 3 sessions (5 for latency claims)
            before StackPerf states a difference, and five variants need about 15 each to find a 20 % difference.
          </p>
          {cmp.excluded.length > 0 && (
            <ul data-testid="excluded">
              {cmp.excluded.map((s) => (
                <li key={s.session_id}>
                  <code>{s.session_id}</code> ({s.variant}) is left out: {s.excluded}
                </li>
              ))}
            </ul>
          )}
        </Empty>
      )}
      {cmp && hasData && (
        <>
          <ul class="headlines" data-testid="headlines">
            {(cmp.headlines ?? []).map((h) => (
              <li key={h.question} data-settled={h.settled ? "yes" : "no"}>
                <Badge tone={h.settled ? "ok" : "muted"}>{h.question.replace("_", " ")}</Badge> {h.text}
              </li>
            ))}
          </ul>
          <p class="muted small">
            Task cards: {cmp.task_cards.join(", ") || "–"} · LiteLLM {cmp.litellm_versions.join(", ") || "–"} · commits{" "}
            {cmp.repo_commits.map((c) => c.slice(0, 8)).join(", ") || "–"}
          </p>
          {cmp.environment_notes.length > 0 && (
            <div class="warn-box" role="note" data-testid="environment-notes">
              <b>Conditions differed between the compared variants</b>
              <ul>
                {cmp.environment_notes.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            </div>
          )}
          <SuitePanel cmp={cmp} experiment={experiment} grouped={grouped} />
          {cmp.suite && <h2>Pooled across tasks (for reference)</h2>}
          <div class="scroll-x">
            <table class="grid compare" data-testid="compare-table">
              <thead>
                <tr>
                  <th>Metric</th>
                  {cmp.variants.map((v) => (
                    <th key={v.variant} data-variant={v.variant}>
                      {v.variant}
                      <div class="muted small">
                        {v.sessions} sessions · {v.requests} requests
                        {(v.infra_errors ?? 0) > 0 && <span data-testid="infra-errors"> · {v.infra_errors} infrastructure errors (left out)</span>}
                      </div>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {cmp.variants.some((v) => (v.cost_per_success.sessions ?? 0) > 0) &&
                  (
                    [
                      ["Cost per successful task", "usd", "cost_per_success"],
                      ["Wall time per successful task", "seconds", "wall_per_success"],
                    ] as const
                  ).map(([label, unit, key]) => (
                    <tr key={key} data-testid={key}>
                      <td title="All sessions' total (failures included) divided by the successful ones">{label}</td>
                      {cmp.variants.map((v) => (
                        <td key={v.variant}>{fmtPerSuccess(unit, v[key])}</td>
                      ))}
                    </tr>
                  ))}
                {metrics.map((m) => (
                  <tr key={m.name} data-metric={m.name}>
                    <td>{m.label}</td>
                    {cmp.variants.map((v) => {
                      const s = v.metrics[m.name];
                      return (
                        <td key={v.variant}>
                          {s && s.median !== null ? (
                            <>
                              <b>{fmtValue(m.unit, s.median)}</b>
                              <div class="muted small">p95 {fmtValue(m.unit, s.p95)}</div>
                              <div class="muted small">CI {fmtCi(m.unit, s.ci95)}</div>
                            </>
                          ) : (
                            "–"
                          )}
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>

          <h2>Differences</h2>
          <p class="muted small">
            Pairs are tested only where a metric differs across all variants at all (an omnibus permutation test); their p-values are adjusted for the number of
            pairs with Holm's method. Success rates use Fisher's exact test and Wilson intervals.
          </p>
          <PairPicker cmp={cmp} view={pairView} onView={setPairView} />
          {filterPairs(cmp.pairs, pairView).length === 0 ? (
            <p data-testid="pairs-none">
              {pairView.kind === "significant"
                ? `No pair differs significantly on any metric (${cmp.pairs.length} comparisons): the data cannot tell the variants apart yet.`
                : "No comparison for this choice."}
            </p>
          ) : (
            <table class="grid" data-testid="pairs">
              <thead>
                <tr>
                  <th>A → B</th>
                  <th>Metric</th>
                  <th>B − A</th>
                  <th title="The pairwise test's own p-value">p</th>
                  <th title="Adjusted for the number of pairs (Holm, within each metric) and gated by the omnibus test across all variants: the p-value the verdict uses">
                    p (adjusted)
                  </th>
                  <th>Verdict</th>
                </tr>
              </thead>
              <tbody>
                {filterPairs(cmp.pairs, pairView).map((p, i) => {
                  const m = byName.get(p.metric);
                  const tone = verdictTone(p.verdict);
                  return (
                    <tr key={i}>
                      <td>
                        {p.a} → {p.b}
                      </td>
                      <td>{m?.label ?? p.metric}</td>
                      <td>{m ? fmtValue(m.unit, p.difference) : "–"}</td>
                      <td>{fmtP(p.p_value)}</td>
                      <td>{fmtP(p.p_adjusted)}</td>
                      <td>
                        <Badge tone={tone === "significant" ? "ok" : tone === "none" ? "muted" : "warn"}>{p.verdict_text}</Badge>
                        {p.stack_tax_note && (
                          <div class="small warn-text" data-testid="stack-tax-note">
                            {p.stack_tax_note}
                          </div>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}

          {grouped && (
            <p class="muted small" data-testid="grouped-note">
              Sessions of {cmp.experiment || "no experiment"} pooled by {by}
              {cmp.task_cards.length > 1 && !cmp.suite ? " — they ran different task cards, so compare like with like" : ""}. Distributions and the session list
              are per experiment: choose "Variants of the experiment" to see them.
            </p>
          )}
          {!grouped && <h2>Distributions</h2>}
          {!grouped && (
            <div role="tablist" class="toggle">
              {charts.map((c) => (
                <button
                  type="button"
                  key={c.name}
                  role="tab"
                  aria-selected={chart === c.name}
                  class={chart === c.name ? "on" : ""}
                  onClick={() => setChart(c.name)}
                >
                  {c.label}
                </button>
              ))}
            </div>
          )}
          {!grouped && svg && <Chart svg={svg} label={`${chart} distribution per variant`} testid="compare-chart" />}

          {!grouped && <h2>Sessions</h2>}
          {!grouped && (
            <table class="grid small" data-testid="compare-sessions">
              <thead>
                <tr>
                  <th>Session</th>
                  <th>Variant</th>
                  <th>Status</th>
                  <th>Requests</th>
                  <th>Errors</th>
                  {sessionColumns.map((m) => (
                    <th key={m.name}>{m.label}</th>
                  ))}
                  <th>Included</th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((s) => (
                  <tr key={s.session_id}>
                    <td>
                      <button type="button" class="link" onClick={() => openSession(s.session_id)}>
                        <code>{s.session_id}</code>
                      </button>
                    </td>
                    <td>{s.variant}</td>
                    <td>{s.status}</td>
                    <td>{s.requests}</td>
                    <td>{s.errors}</td>
                    {sessionColumns.map((m) => (
                      <td key={m.name}>{fmtValue(m.unit, s.metrics[m.name])}</td>
                    ))}
                    <td>{s.excluded ? <span class="muted">no: {s.excluded}</span> : "yes"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {drill && (
            <div class="panel">
              <div class="row gap">
                <h3>
                  Requests of <code>{drill.id}</code>
                </h3>
                <div class="spacer" />
                <button type="button" class="link" onClick={() => setDrill(null)}>
                  Close
                </button>
              </div>
              <RequestsTable rows={drill.rows} numbered />
            </div>
          )}
          <h2>Excluded sessions</h2>
          {cmp.excluded.length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <ul data-testid="excluded">
              {cmp.excluded.map((s) => (
                <li key={s.session_id}>
                  <code>{s.session_id}</code> ({s.variant}): {s.excluded}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

/** Which pairwise rows to show: significant ones, all, or the pair the user picks. */
function PairPicker({ cmp, view, onView }: { cmp: Comparison; view: PairView; onView: (v: PairView) => void }) {
  const names = cmp.variants.map((v) => v.variant);
  const significant = filterPairs(cmp.pairs, { kind: "significant" }).length;
  const pick = view.kind === "pair" ? view : { a: names[0] ?? "", b: names[1] ?? "" };
  return (
    <div class="row gap" data-testid="pair-picker">
      <div role="tablist" class="toggle">
        <button
          type="button"
          role="tab"
          id="pairs-significant"
          aria-selected={view.kind === "significant"}
          class={view.kind === "significant" ? "on" : ""}
          onClick={() => onView({ kind: "significant" })}
        >
          Significant ({significant})
        </button>
        <button
          type="button"
          role="tab"
          id="pairs-all"
          aria-selected={view.kind === "all"}
          class={view.kind === "all" ? "on" : ""}
          onClick={() => onView({ kind: "all" })}
        >
          All ({cmp.pairs.length})
        </button>
        <button
          type="button"
          role="tab"
          id="pairs-pick"
          aria-selected={view.kind === "pair"}
          class={view.kind === "pair" ? "on" : ""}
          onClick={() => onView({ kind: "pair", ...pick })}
        >
          One pair
        </button>
      </div>
      {view.kind === "pair" && (
        <>
          <NameSelect id="pair-a" label="first variant" names={names} value={view.a} onPick={(a) => onView({ ...view, a })} />
          <span>vs</span>
          <NameSelect id="pair-b" label="second variant" names={names} value={view.b} onPick={(b) => onView({ ...view, b })} />
        </>
      )}
    </div>
  );
}

function NameSelect({ id, label, names, value, onPick }: { id: string; label: string; names: string[]; value: string; onPick: (v: string) => void }) {
  return (
    <select id={id} aria-label={label} value={value} onChange={(e) => onPick(e.currentTarget.value)}>
      {names.map((n) => (
        <option key={n} value={n}>
          {n}
        </option>
      ))}
    </select>
  );
}
