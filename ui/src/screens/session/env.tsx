import { useEffect, useState } from "preact/hooks";
import { call, commands, events } from "../../api";
import type { EnvView, RenderFormat, TrafficReport } from "../../types";
import { fmtMs } from "../../logic";

const FORMATS: RenderFormat[] = ["shell", "dotenv", "json", "toml"];

/** The harness environment of an active session: format, copy (the key goes to the clipboard
 * from the Rust side), files, launch checks, and sample traffic. */
export function EnvPanel({ id, env, onEnv, onError }: { id: string; env: EnvView; onEnv: (e: EnvView) => void; onError: (e: unknown) => void }) {
  const [copied, setCopied] = useState("");
  const [checked, setChecked] = useState<Record<number, boolean>>({});
  const [traffic, setTraffic] = useState<{ done: number; total: number } | null>(null);
  const [report, setReport] = useState<TrafficReport | null>(null);

  useEffect(() => {
    const prog = events.trafficProgress.listen((e) => {
      if (e.payload.session_id === id) setTraffic({ done: e.payload.done, total: e.payload.total });
    });
    return () => {
      prog.then((f) => f());
    };
  }, [id]);

  const setFormat = (f: RenderFormat) => call(commands.sessionEnv(id, f)).then(onEnv, onError);
  const copy = async () => {
    try {
      const lines = await call(commands.sessionCopyEnv(id, env.format));
      setCopied(`Copied ${lines} lines (with the key) — paste them into the terminal where you start the harness.`);
    } catch (e) {
      onError(e);
    }
  };
  const sendTraffic = async () => {
    setTraffic({ done: 0, total: 10 });
    setReport(null);
    try {
      setReport(await call(commands.sessionTraffic(id, 10)));
    } catch (e) {
      onError(e);
    } finally {
      setTraffic(null);
    }
  };

  return (
    <div class="panel">
      <div class="row gap">
        <h3>Harness environment</h3>
        <div role="group" aria-label="Format" class="toggle">
          {FORMATS.map((f) => (
            <button type="button" key={f} class={env.format === f ? "on" : ""} aria-pressed={env.format === f} onClick={() => setFormat(f)}>
              {f}
            </button>
          ))}
        </div>
        <div class="spacer" />
        <button type="button" id="copy-env" class="primary" onClick={copy}>
          Copy
        </button>
      </div>
      <pre class="env" data-testid="env-text">
        {env.text}
      </pre>
      {copied && (
        <p class="note" role="status">
          {copied}
        </p>
      )}
      <p class="muted small">
        The key ({env.api_key_env}) is shown redacted; Copy puts the real value on the clipboard. It stops working when the session is finalized.
      </p>
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
        <button type="button" id="sample-traffic" onClick={sendTraffic} disabled={!!traffic}>
          {traffic ? `Sending ${traffic.done}/${traffic.total}…` : "Generate sample traffic (10 requests)"}
        </button>
        {report && (
          <span class="muted">
            {report.ok} ok, {report.failed} failed in {fmtMs(report.elapsed_ms)}
            {report.first_error && ` — ${report.first_error}`}
          </span>
        )}
      </div>
    </div>
  );
}
