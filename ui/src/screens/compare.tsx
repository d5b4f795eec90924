import { useEffect, useState } from "preact/hooks";
import { call, commands } from "../api";
import type { Choices, Comparison, RequestBrief, SessionStats } from "../types";
import { Badge, Chart, Empty, ErrorBox, RequestsTable } from "../components";
import { fmtCi, fmtMetric, fmtMs, fmtNum, fmtP, metricLabel, verdictTone } from "../logic";

const CHARTS = [
  { metric: "ttft", label: "Time to first token" },
  { metric: "latency", label: "Latency" },
  { metric: "tokens_per_s", label: "Output tokens/s" },
];

export function CompareScreen({ experiment, onExperiment }: { experiment: string; onExperiment: (e: string) => void }) {
  const [choices, setChoices] = useState<Choices | null>(null);
  const [cmp, setCmp] = useState<Comparison | null>(null);
  const [sessions, setSessions] = useState<SessionStats[]>([]);
  const [chart, setChart] = useState("ttft");
  const [svg, setSvg] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [drill, setDrill] = useState<{ id: string; rows: RequestBrief[] } | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    call(commands.choices()).then((c) => {
      setChoices(c);
      if (!experiment && c.experiments.length) onExperiment(c.experiments.find((e) => e.name === "sim-profiles")?.name ?? c.experiments[0].name);
    }, setError);
  }, []);

  const load = async () => {
    if (!experiment) return;
    setLoading(true);
    setError(null);
    setDrill(null);
    try {
      const [c, s] = await Promise.all([call(commands.compare(experiment)), call(commands.compareSessions(experiment))]);
      setCmp(c);
      setSessions(s);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    load();
  }, [experiment]);
  useEffect(() => {
    if (!experiment || !cmp) return;
    call(commands.compareChart(experiment, chart)).then(setSvg, setError);
  }, [experiment, chart, cmp]);

  const openSession = async (id: string) => {
    try {
      setDrill({ id, rows: await call(commands.sessionRequests(id)) });
    } catch (e) {
      setError(e);
    }
  };

  const metrics = cmp ? Array.from(new Set(cmp.variants.flatMap((v) => Object.keys(v.metrics)))) : [];
  const hasData = cmp ? cmp.variants.some((v) => (v.sessions ?? 0) > 0) : false;

  return (
    <section aria-labelledby="compare-title">
      <header class="screen-head">
        <h1 id="compare-title">Compare</h1>
        <p class="sub">Each session counts once: medians and 95 % bootstrap intervals are across sessions, differences are tested with a permutation test.</p>
      </header>
      <div class="row gap">
        <label>
          Experiment{" "}
          <select id="compare-experiment" value={experiment} onChange={(e) => onExperiment((e.target as HTMLSelectElement).value)}>
            {choices?.experiments.map((e) => <option key={e.name} value={e.name}>{e.name}</option>)}
          </select>
        </label>
        <button onClick={load} disabled={loading}>
          {loading ? "Loading…" : "Refresh"}
        </button>
      </div>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      {cmp && !hasData && (
        <Empty title="No finished sessions in this experiment yet">
          <p>Run and finalize sessions for at least two variants on the Session screen; each needs 3 sessions (5 for latency claims) before StackPerf states a difference.</p>
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
          <p class="muted small">
            Task cards: {cmp.task_cards.join(", ") || "–"} · LiteLLM {cmp.litellm_versions.join(", ") || "–"} · commits {cmp.repo_commits.map((c) => c.slice(0, 8)).join(", ") || "–"}
          </p>
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
                      </div>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {metrics.map((m) => (
                  <tr key={m}>
                    <td>{metricLabel(m)}</td>
                    {cmp.variants.map((v) => {
                      const s = v.metrics[m];
                      return (
                        <td key={v.variant}>
                          {s && s.median !== null ? (
                            <>
                              <b>{fmtMetric(m, s.median)}</b>
                              <div class="muted small">p95 {fmtMetric(m, s.p95)}</div>
                              <div class="muted small">CI {fmtCi(m, s.ci95)}</div>
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
          <table class="grid" data-testid="pairs">
            <thead>
              <tr>
                <th>A → B</th>
                <th>Metric</th>
                <th>B − A</th>
                <th>p</th>
                <th>Verdict</th>
              </tr>
            </thead>
            <tbody>
              {cmp.pairs.map((p, i) => (
                <tr key={i}>
                  <td>
                    {p.a} → {p.b}
                  </td>
                  <td>{metricLabel(p.metric)}</td>
                  <td>{fmtMetric(p.metric, p.difference)}</td>
                  <td>{fmtP(p.p_value)}</td>
                  <td>
                    <Badge tone={verdictTone(p.verdict) === "significant" ? "ok" : verdictTone(p.verdict) === "none" ? "muted" : "warn"}>{p.verdict}</Badge>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>

          <h2>Distributions</h2>
          <div role="tablist" class="toggle">
            {CHARTS.map((c) => (
              <button key={c.metric} role="tab" aria-selected={chart === c.metric} class={chart === c.metric ? "on" : ""} onClick={() => setChart(c.metric)}>
                {c.label}
              </button>
            ))}
          </div>
          {svg && <Chart svg={svg} label={`${chart} distribution per variant`} testid="compare-chart" />}

          <h2>Sessions</h2>
          <table class="grid small" data-testid="compare-sessions">
            <thead>
              <tr>
                <th>Session</th>
                <th>Variant</th>
                <th>Status</th>
                <th>Requests</th>
                <th>Errors</th>
                <th>Latency p50</th>
                <th>TTFT p50</th>
                <th>tok/s p50</th>
                <th>Included</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.session_id}>
                  <td>
                    <button class="link" onClick={() => openSession(s.session_id)}>
                      <code>{s.session_id}</code>
                    </button>
                  </td>
                  <td>{s.variant}</td>
                  <td>{s.status}</td>
                  <td>{s.requests}</td>
                  <td>{s.errors}</td>
                  <td>{fmtMs(s.latency_p50_ms)}</td>
                  <td>{fmtMs(s.ttft_p50_ms)}</td>
                  <td>{fmtNum(s.tokens_per_s_p50)}</td>
                  <td>{s.excluded ? <span class="muted">no: {s.excluded}</span> : "yes"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {drill && (
            <div class="panel">
              <div class="row gap">
                <h3>
                  Requests of <code>{drill.id}</code>
                </h3>
                <div class="spacer" />
                <button class="link" onClick={() => setDrill(null)}>
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
