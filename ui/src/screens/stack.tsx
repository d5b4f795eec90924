import { useEffect, useRef, useState } from "preact/hooks";
import { call, commands, events } from "../api";
import type { Check, Service, StackProgress, StackView } from "../types";
import { Badge, ErrorBox } from "../components";
import { toUiError } from "../logic";
import { invalidate, keys, useQuery } from "../data";
import { DataPanel } from "./data";
import { OtlpPanel } from "./otlp";

function stateTone(state: string, healthy: boolean): "ok" | "bad" | "warn" | "muted" {
  if (state === "running" && healthy) return "ok";
  if (state === "unhealthy" || state === "stale") return "bad";
  if (state === "absent") return "warn";
  return "muted";
}

export function StackScreen() {
  const stack = useQuery(keys.stack, () => call(commands.stackStatus()));
  const view: StackView | null = stack.data ?? null;
  const [busy, setBusy] = useState<"" | "up" | "down">("");
  const [steps, setSteps] = useState<StackProgress[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [logTail, setLogTail] = useState<string[]>([]);
  const [checks, setChecks] = useState<Check[] | null>(null);
  const [checking, setChecking] = useState(false);
  const [runtime, setRuntime] = useState<"native" | "compose">("native");
  const started = useRef(0);
  const lastService = useRef<Service | null>(null);
  const [elapsed, setElapsed] = useState(0);

  const refresh = () => invalidate(keys.stack);
  useEffect(() => {
    if (view?.services.some((s) => s.state === "running")) setRuntime(view.runtime);
  }, [view]);
  const runDoctor = () => {
    setChecking(true);
    call(commands.doctor())
      .then(setChecks, setError)
      .finally(() => setChecking(false));
  };

  useEffect(() => {
    const un = events.stackProgress.listen((e) => {
      if (e.payload.service) lastService.current = e.payload.service;
      setSteps((s) => [...s.slice(-199), e.payload]);
    });
    return () => {
      un.then((f) => f());
    };
  }, []);

  useEffect(() => {
    if (!busy) return;
    const t = setInterval(() => setElapsed(Date.now() - started.current), 250);
    return () => clearInterval(t);
  }, [busy]);

  const act = async (what: "up" | "down") => {
    setBusy(what);
    setSteps([]);
    setError(null);
    setLogTail([]);
    lastService.current = null;
    started.current = Date.now();
    setElapsed(0);
    try {
      if (what === "up") await call(commands.stackUp(runtime));
      else await call(commands.stackDown());
    } catch (e) {
      setError(e);
      const code = toUiError(e).code;
      if (code === "service_failed" || code === "install_failed") {
        // The service the progress events named last is the one that failed.
        call(commands.stackLogTail(lastService.current ?? "litellm", 30)).then(setLogTail, () => {});
      }
    } finally {
      setBusy("");
      refresh();
      invalidate("data-usage");
    }
  };

  const running = view?.services.some((s) => s.state === "running") ?? false;
  const allUp = view ? view.services.every((s) => s.state === "running" && s.healthy) : false;

  return (
    <section aria-labelledby="stack-title">
      <header class="screen-head">
        <h1 id="stack-title">Stack</h1>
        <p class="sub">StackPerf's edge, the LiteLLM proxy behind it, the simulated provider and Prometheus on this machine.</p>
      </header>

      <div class="row gap">
        <fieldset class="runtime">
          <legend>Runtime</legend>
          <label>
            <input type="radio" name="runtime" checked={runtime === "native"} onChange={() => setRuntime("native")} /> Native processes (no Docker)
          </label>
          <label title={view?.compose_available ? "" : "Docker with the compose plugin was not found"}>
            <input type="radio" name="runtime" disabled={!view?.compose_available} checked={runtime === "compose"} onChange={() => setRuntime("compose")} />{" "}
            Docker Compose {view && !view.compose_available && <span class="muted">(Docker not found)</span>}
          </label>
        </fieldset>
        <div class="actions">
          <button type="button" id="stack-start" class="primary" disabled={!!busy || allUp} onClick={() => act("up")}>
            {busy === "up" ? `Starting… ${(elapsed / 1000).toFixed(0)} s` : allUp ? "Running" : "Start stack"}
          </button>
          <button type="button" id="stack-stop" disabled={!!busy || !running} onClick={() => act("down")}>
            {busy === "down" ? "Stopping…" : "Stop"}
          </button>
        </div>
      </div>

      {runtime === "compose" && (
        <p class="hint">
          Compose runs LiteLLM with PostgreSQL, Prometheus and Grafana (http://127.0.0.1:3000, user admin, password in the keychain as GRAFANA_ADMIN_PASSWORD).
          The first start pulls the images.
        </p>
      )}
      {busy === "up" && runtime === "native" && !view?.litellm_installed && (
        <p class="hint">First start installs LiteLLM {view?.litellm_pinned} into a private virtualenv (hash-checked); later starts take about 10 s.</p>
      )}

      {steps.length > 0 && (
        <ol class="steps" aria-live="polite" data-testid="stack-steps">
          {steps
            // Unserved providers are listed once, below the services table.
            .filter((s) => s.kind !== "output" && s.kind !== "not_served")
            .map((s, i) => (
              <li key={i} class={s.kind}>
                {s.service && <b>{s.service}</b>} {s.message}
              </li>
            ))}
          {steps.length > 0 && steps[steps.length - 1].kind === "output" && (
            <li class="output">
              <code>{steps[steps.length - 1].message}</code>
            </li>
          )}
        </ol>
      )}

      <ErrorBox error={error ?? stack.error} onDismiss={() => setError(null)} />
      {logTail.length > 0 && (
        <details open>
          <summary>Last log lines</summary>
          <pre class="log">{logTail.join("\n")}</pre>
        </details>
      )}

      {view?.problem && (
        <p class="error" data-testid="services-problem">
          The Compose services cannot be listed: {view.problem}
        </p>
      )}
      <table class="grid" data-testid="services">
        <thead>
          <tr>
            <th>Service</th>
            <th>State</th>
            <th>URL</th>
            <th>Version</th>
            <th>PID</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {view?.services.map((s) => (
            <tr key={s.name} data-service={s.name} data-state={s.state}>
              <td>{s.name}</td>
              <td>
                <Badge tone={stateTone(s.state, s.healthy)}>{s.state === "running" ? (s.healthy ? "healthy" : "unhealthy") : s.state}</Badge>
              </td>
              <td>{s.url ?? "–"}</td>
              <td>{s.version ?? "–"}</td>
              <td>{s.pid ?? "–"}</td>
              <td class="muted">{s.state === "stopped" ? "" : (s.detail ?? "")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {view?.proxy_url && (
        <p>
          Harnesses talk to: <code data-testid="proxy-url">{view.proxy_url}</code> (StackPerf's edge) — start a session on the Session screen.
        </p>
      )}
      {view && view.skipped.length > 0 && (
        <details>
          <summary>{view.skipped.length} provider(s) not served</summary>
          <ul>
            {view.skipped.map((s) => (
              <li key={s.provider}>
                <b>{s.provider}</b> ({s.models.join(", ")}): {s.reason}. Set the key on the Secrets screen, then restart the stack.
              </li>
            ))}
          </ul>
        </details>
      )}

      <h2>Checks</h2>
      <button type="button" id="run-doctor" onClick={runDoctor} disabled={checking}>
        {checking ? "Checking…" : checks ? "Check again" : "Run checks"}
      </button>
      {checks && (
        <table class="grid" data-testid="doctor">
          <tbody>
            {checks.map((c) => (
              <tr key={c.name}>
                <td>
                  <Badge tone={c.ok ? "ok" : "bad"}>{c.ok ? "ok" : "fail"}</Badge>
                </td>
                <td>{c.name}</td>
                <td>{c.detail}</td>
                <td class="fix">{c.fix}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <DataPanel />
      <OtlpPanel />
      {view && (
        <p class="muted small">
          Config: {view.config_dir} · Data: {view.data_dir}
        </p>
      )}
    </section>
  );
}
