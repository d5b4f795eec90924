import { useEffect, useRef, useState } from "preact/hooks";
import { call, commands, events } from "../api";
import type { Choices, EnvView, FinalStatus, LiveView, RenderFormat, SessionRow, TrafficReport } from "../types";
import { Badge, Chart, Empty, ErrorBox, RequestsTable } from "../components";
import { fmtMs, lagMs } from "../logic";

const FORMATS: RenderFormat[] = ["shell", "dotenv", "json", "toml"];

export function SessionScreen({ onExperiment }: { onExperiment: (e: string) => void }) {
  const [choices, setChoices] = useState<Choices | null>(null);
  const [experiment, setExperiment] = useState("");
  const [variant, setVariant] = useState("");
  const [taskCard, setTaskCard] = useState("");
  const [label, setLabel] = useState("");
  const [exploratory, setExploratory] = useState(false);
  const [session, setSession] = useState<SessionRow | null>(null);
  const [env, setEnv] = useState<EnvView | null>(null);
  const [live, setLive] = useState<LiveView | null>(null);
  const [lag, setLag] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [copied, setCopied] = useState("");
  const [checked, setChecked] = useState<Record<number, boolean>>({});
  const [traffic, setTraffic] = useState<{ done: number; total: number } | null>(null);
  const [trafficReport, setTrafficReport] = useState<TrafficReport | null>(null);
  const [recent, setRecent] = useState<SessionRow[]>([]);
  const [finStatus, setFinStatus] = useState<FinalStatus>("completed");
  const [outcome, setOutcome] = useState("");
  const [notes, setNotes] = useState("");
  const [busy, setBusy] = useState(false);
  const current = useRef<string | null>(null);

  const loadRecent = () => call(commands.sessionsList(null)).then((l) => setRecent(l.slice(0, 12)), setError);

  useEffect(() => {
    call(commands.choices()).then((c) => {
      setChoices(c);
      const first = c.experiments.find((e) => e.name === "sim-profiles") ?? c.experiments[0];
      if (first) {
        setExperiment(first.name);
        setVariant(first.variants[0] ?? "");
      }
      setTaskCard(c.task_cards.includes("sample-traffic") ? "sample-traffic" : (c.task_cards[0] ?? ""));
    }, setError);
    loadRecent();
    const capture = events.captureUpdate.listen((e) => {
      const id = current.current;
      if (id && e.payload.sessions.includes(id)) refreshLive(id);
    });
    const captureErr = events.captureError.listen((e) =>
      setError({ code: e.payload.code, message: `Capturing requests failed: ${e.payload.message}. StackPerf retries every 2 s; nothing already captured is lost.` }),
    );
    const prog = events.trafficProgress.listen((e) => {
      if (e.payload.session_id === current.current) setTraffic({ done: e.payload.done, total: e.payload.total });
    });
    return () => {
      capture.then((f) => f());
      captureErr.then((f) => f());
      prog.then((f) => f());
    };
  }, []);

  const refreshLive = async (id: string) => {
    try {
      const v = await call(commands.sessionLive(id));
      if (current.current !== id) return;
      setLive(v);
      setLag(lagMs(v.last_finished_at, Date.now()));
    } catch (e) {
      setError(e);
    }
  };

  const select = async (s: SessionRow) => {
    current.current = s.session_id;
    setSession(s);
    setLive(null);
    setTrafficReport(null);
    setCopied("");
    setChecked({});
    setEnv(null);
    setError(null);
    if (s.status === "active") {
      call(commands.sessionEnv(s.session_id, null)).then(setEnv, setError);
    }
    refreshLive(s.session_id);
  };

  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const started = await call(
        commands.sessionStart({ experiment, variant, task_card: taskCard, label: label || null, exploratory }),
      );
      onExperiment(experiment);
      current.current = started.session.session_id;
      setSession(started.session);
      setEnv(started.env);
      setLive(null);
      setCopied("");
      setChecked({});
      setTrafficReport(null);
      setOutcome("");
      setNotes("");
      refreshLive(started.session.session_id);
      loadRecent();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const setFormat = (f: RenderFormat) => {
    if (!session) return;
    call(commands.sessionEnv(session.session_id, f)).then(setEnv, setError);
  };

  const copy = async () => {
    if (!session || !env) return;
    try {
      const lines = await call(commands.sessionCopyEnv(session.session_id, env.format));
      setCopied(`Copied ${lines} lines (with the key) — paste them into the terminal where you start the harness.`);
    } catch (e) {
      setError(e);
    }
  };

  const sendTraffic = async () => {
    if (!session) return;
    setTraffic({ done: 0, total: 10 });
    setTrafficReport(null);
    try {
      setTrafficReport(await call(commands.sessionTraffic(session.session_id, 10)));
    } catch (e) {
      setError(e);
    } finally {
      setTraffic(null);
    }
  };

  const finalize = async () => {
    if (!session) return;
    setBusy(true);
    try {
      const s = await call(commands.sessionFinalize(session.session_id, finStatus, outcome || null, notes || null));
      setSession(s);
      setEnv(null);
      refreshLive(s.session_id);
      loadRecent();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const exp = choices?.experiments.find((e) => e.name === experiment);
  const active = session?.status === "active";

  return (
    <section aria-labelledby="session-title">
      <header class="screen-head">
        <h1 id="session-title">Session</h1>
        <p class="sub">One session = one run of a task card with one variant. StackPerf issues its proxy key and captures every request it makes.</p>
      </header>
      <ErrorBox error={error} onDismiss={() => setError(null)} />

      <form
        class="picker"
        onSubmit={(e) => {
          e.preventDefault();
          start();
        }}
      >
        <label>
          Experiment
          <select id="pick-experiment" value={experiment} onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            setExperiment(v);
            setVariant(choices?.experiments.find((x) => x.name === v)?.variants[0] ?? "");
          }}>
            {choices?.experiments.map((e) => <option key={e.name} value={e.name}>{e.name}</option>)}
          </select>
        </label>
        <label>
          Variant
          <select id="pick-variant" value={variant} onChange={(e) => setVariant((e.target as HTMLSelectElement).value)}>
            {exp?.variants.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </label>
        <label>
          Task card
          <select id="pick-task" value={taskCard} onChange={(e) => setTaskCard((e.target as HTMLSelectElement).value)}>
            {choices?.task_cards.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </label>
        <label>
          Label
          <input value={label} placeholder="optional" onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={exploratory} onChange={(e) => setExploratory((e.target as HTMLInputElement).checked)} /> Exploratory
        </label>
        <button id="session-start" class="primary" type="submit" disabled={busy || !variant || !taskCard}>
          Start session
        </button>
      </form>
      {exp?.description && <p class="muted small">{exp.description}</p>}

      {!session ? (
        <Empty title="No session open">
          <p>Pick a variant and a task card, then press <b>Start session</b>. With the shipped <code>sim-profiles</code> experiment no API key is needed; start the stack first on the Stack screen.</p>
          {recent.length > 0 && <RecentList recent={recent} onSelect={select} />}
        </Empty>
      ) : (
        <>
          <div class="session-head" data-testid="session-head" data-session={session.session_id} data-status={session.status}>
            <h2>
              <code>{session.session_id}</code> <Badge tone={active ? "ok" : "muted"}>{session.status}</Badge>
            </h2>
            <span>
              {session.variant} · {session.task_card} · {session.harness_profile}
              {session.mode === "exploratory" && " · exploratory"}
            </span>
          </div>

          {env && (
            <div class="panel">
              <div class="row gap">
                <h3>Harness environment</h3>
                <div role="group" aria-label="Format" class="toggle">
                  {FORMATS.map((f) => (
                    <button key={f} class={env.format === f ? "on" : ""} aria-pressed={env.format === f} onClick={() => setFormat(f)}>
                      {f}
                    </button>
                  ))}
                </div>
                <div class="spacer" />
                <button id="copy-env" class="primary" onClick={copy}>
                  Copy
                </button>
              </div>
              <pre class="env" data-testid="env-text">{env.text}</pre>
              {copied && <p class="note" role="status">{copied}</p>}
              <p class="muted small">The key ({env.api_key_env}) is shown redacted; Copy puts the real value on the clipboard. It stops working when the session is finalized.</p>
              {env.files.length > 0 && (
                <details>
                  <summary>{env.files.length} config file(s) written for the harness</summary>
                  {env.files.map(([path, content]) => (
                    <div key={path}>
                      <code>{path}</code>
                      <pre class="env">{content}</pre>
                    </div>
                  ))}
                </details>
              )}
              {env.launch_checks.length > 0 && (
                <fieldset class="checks">
                  <legend>Before you launch</legend>
                  {env.launch_checks.map((c, i) => (
                    <label key={i}>
                      <input type="checkbox" checked={!!checked[i]} onChange={(e) => setChecked({ ...checked, [i]: (e.target as HTMLInputElement).checked })} /> {c}
                    </label>
                  ))}
                </fieldset>
              )}
              {env.launch_command && (
                <p>
                  Then run: <code>{env.launch_command}</code>
                </p>
              )}
              <div class="row gap">
                <button id="sample-traffic" onClick={sendTraffic} disabled={!!traffic}>
                  {traffic ? `Sending ${traffic.done}/${traffic.total}…` : "Generate sample traffic (10 requests)"}
                </button>
                {trafficReport && (
                  <span class="muted">
                    {trafficReport.ok} ok, {trafficReport.failed} failed in {fmtMs(trafficReport.elapsed_ms)}
                    {trafficReport.first_error && ` — ${trafficReport.first_error}`}
                  </span>
                )}
              </div>
            </div>
          )}

          <div class="panel" data-testid="live" data-requests={live?.requests ?? 0} data-lag-ms={lag ?? ""}>
            <div class="stats">
              <div>
                <span class="big" data-testid="live-requests">{live?.requests ?? 0}</span> requests
              </div>
              <div>
                <span class="big">{live?.errors ?? 0}</span> errors
              </div>
              <div>
                last shown <span class="big">{lag === null ? "–" : fmtMs(lag)}</span> after it finished
              </div>
            </div>
            {live && (live.requests ?? 0) > 0 ? (
              <>
                <div class="charts3">
                  <Chart svg={live.ttft_svg} label="Time to first token per request" testid="chart-ttft" />
                  <Chart svg={live.latency_svg} label="Latency per request" testid="chart-latency" />
                  <Chart svg={live.tokens_per_s_svg} label="Output tokens per second per request" testid="chart-tps" />
                </div>
                <RequestsTable rows={live.recent} />
              </>
            ) : (
              <p class="muted">
                No requests yet. {active ? "Paste the environment into a terminal and start the harness, or press Generate sample traffic." : ""}
              </p>
            )}
          </div>

          {active && (
            <div class="panel">
              <h3>Finalize</h3>
              <div class="row gap">
                <label>
                  Status
                  <select id="final-status" value={finStatus} onChange={(e) => setFinStatus((e.target as HTMLSelectElement).value as FinalStatus)}>
                    <option value="completed">completed</option>
                    <option value="aborted">aborted</option>
                    <option value="invalid">invalid</option>
                  </select>
                </label>
                <label>
                  Outcome
                  <input id="final-outcome" value={outcome} placeholder="e.g. tests pass" onInput={(e) => setOutcome((e.target as HTMLInputElement).value)} />
                </label>
              </div>
              <label class="block">
                Notes
                <textarea id="final-notes" rows={2} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
              </label>
              <button id="session-finalize" class="primary" disabled={busy} onClick={finalize}>
                Finalize session
              </button>
              <span class="muted small"> Finalizing collects the last requests and revokes the key.</span>
            </div>
          )}
          <RecentList recent={recent} onSelect={select} />
        </>
      )}
    </section>
  );
}

function RecentList({ recent, onSelect }: { recent: SessionRow[]; onSelect: (s: SessionRow) => void }) {
  return (
    <details class="recent">
      <summary>Recent sessions</summary>
      <ul>
        {recent.map((s) => (
          <li key={s.session_id}>
            <button class="link" onClick={() => onSelect(s)}>
              <code>{s.session_id}</code>
            </button>{" "}
            {s.variant} · {s.status} · {s.request_count} requests
          </li>
        ))}
      </ul>
    </details>
  );
}
