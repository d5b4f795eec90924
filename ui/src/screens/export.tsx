import { useEffect, useRef, useState } from "preact/hooks";
import { save } from "@tauri-apps/plugin-dialog";
import { call, commands } from "../api";
import { METRICS } from "../bindings";
import type { Choices, ExportFormat, ExportWhat, SessionRow, Written } from "../types";
import { ErrorBox } from "../components";
import { formatsFor } from "../logic";
import { useChoices, useSessions } from "../data";

const WHATS: { what: ExportWhat; label: string }[] = [
  { what: "sessions", label: "Sessions" },
  { what: "requests", label: "Requests" },
  { what: "comparison", label: "Comparison" },
  { what: "tasks", label: "Per task (a suite)" },
  { what: "chart", label: "Chart" },
  { what: "report", label: "Full report (HTML)" },
];

/** The metrics a distribution chart can show (core's registry, in its order). */
const CHARTABLE = METRICS.filter((m) => m.chartable);

export function ExportDialog({ experiment, onClose }: { experiment: string; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const choicesQ = useChoices();
  const choices: Choices | null = choicesQ.data ?? null;
  const [what, setWhat] = useState<ExportWhat>("requests");
  const [format, setFormat] = useState<ExportFormat>("csv");
  const [exp, setExp] = useState(experiment);
  const [metric, setMetric] = useState<string>(CHARTABLE[0]?.short ?? "");
  const [session, setSession] = useState("");
  const [internal, setInternal] = useState(false);
  const sessions: SessionRow[] = useSessions(exp || null).data ?? [];
  const [path, setPath] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [written, setWritten] = useState<Written | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    ref.current?.showModal();
  }, []);
  useEffect(() => {
    if (!exp && choices?.experiments[0]) setExp(choices.experiments[0].name);
  }, [choices]);
  useEffect(() => setSession(""), [exp]);
  useEffect(() => {
    const fmts = formatsFor(choices, what);
    if (fmts.length > 0 && !fmts.includes(format)) setFormat(fmts[0]);
  }, [what, choices]);

  const browse = async () => {
    try {
      const p = await save({ defaultPath: `stackperf-${what}.${format}`, filters: [{ name: format.toUpperCase(), extensions: [format] }] });
      if (p) setPath(p);
    } catch (e) {
      setError(e);
    }
  };
  const run = async () => {
    setBusy(true);
    setError(null);
    setWritten(null);
    try {
      setWritten(
        await call(commands.exportData({ what, format, experiment: exp || null, session: session || null, metric, path, include_internal: internal })),
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} class="dialog" aria-labelledby="export-title" onClose={onClose} onCancel={onClose}>
      <h2 id="export-title">Export</h2>
      <div class="form">
        <label>
          What
          <select id="export-what" value={what} onChange={(e) => setWhat((e.target as HTMLSelectElement).value as ExportWhat)}>
            {WHATS.map((w) => (
              <option key={w.what} value={w.what}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Format
          <select id="export-format" value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value as ExportFormat)}>
            {formatsFor(choices, what).map((f) => (
              <option key={f} value={f}>
                {f.toUpperCase()}
              </option>
            ))}
          </select>
        </label>
        <label>
          Experiment
          <select id="export-experiment" value={exp} onChange={(e) => setExp((e.target as HTMLSelectElement).value)}>
            {(what === "sessions" || what === "requests") && <option value="">all experiments</option>}
            {choices?.experiments.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        {(what === "sessions" || what === "requests") && (
          <label>
            Session
            <select id="export-session" value={session} onChange={(e) => setSession((e.target as HTMLSelectElement).value)}>
              <option value="">all sessions</option>
              {sessions.map((s) => (
                <option key={s.session_id} value={s.session_id}>
                  {s.session_id} · {s.variant} · {s.status}
                </option>
              ))}
            </select>
          </label>
        )}
        {what === "requests" && !exp && !session && (
          <label class="check">
            <input id="export-internal" type="checkbox" checked={internal} onChange={(e) => setInternal((e.target as HTMLInputElement).checked)} /> Include
            StackPerf's own traffic (the proxy warm-up)
          </label>
        )}
        {what === "chart" && (
          <label>
            Metric
            <select value={metric} onChange={(e) => setMetric((e.target as HTMLSelectElement).value)}>
              {CHARTABLE.map((m) => (
                <option key={m.short} value={m.short}>
                  {m.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Save to
          <div class="row gap">
            <input id="export-path" value={path} placeholder="/path/to/file" onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
            <button type="button" onClick={browse}>
              Choose…
            </button>
          </div>
        </label>
      </div>
      <ErrorBox error={error} />
      {written && (
        <p class="note" role="status" data-testid="export-written" data-path={written.path}>
          Wrote <code>{written.path}</code> ({written.rows} {what === "chart" ? "points" : "rows"}, {(written.bytes / 1024).toFixed(1)} KiB)
        </p>
      )}
      <div class="row gap end">
        <button type="button" id="export-close" onClick={onClose}>
          Close
        </button>
        <button type="button" id="export-run" class="primary" disabled={busy || !path} onClick={run}>
          {busy ? "Exporting…" : "Export"}
        </button>
      </div>
    </dialog>
  );
}
