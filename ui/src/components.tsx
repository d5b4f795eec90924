import type { ComponentChildren } from "preact";
import { errorHint, fmtMs, fmtNum, toUiError } from "./logic";
import type { RequestBrief } from "./types";

export function ErrorBox({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  if (!error) return null;
  const e = toUiError(error);
  const hint = errorHint(e.code);
  return (
    <div class="error" role="alert" data-code={e.code}>
      <div class="error-head">
        <strong>{e.code.replace(/_/g, " ")}</strong>
        {onDismiss && (
          <button type="button" class="link" onClick={onDismiss} aria-label="Dismiss error">
            Dismiss
          </button>
        )}
      </div>
      <pre class="error-msg">{e.message}</pre>
      {hint && <p class="hint">{hint}</p>}
    </div>
  );
}

/** An SVG produced by our own Rust chart code (plotters). */
export function Chart({ svg, label, testid }: { svg: string; label: string; testid?: string }) {
  return <figure class="chart" role="img" aria-label={label} data-testid={testid} dangerouslySetInnerHTML={{ __html: svg }} />;
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <h3>{title}</h3>
      <div>{children}</div>
    </div>
  );
}

export function Badge({ tone, children }: { tone: "ok" | "bad" | "warn" | "muted"; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

/** Requests of a session: the live panel's latest and the Compare drill-down. */
export function RequestsTable({ rows, numbered }: { rows: RequestBrief[]; numbered?: boolean }) {
  return (
    <table class="grid small">
      <thead>
        <tr>
          <th>{numbered ? "#" : "finished"}</th>
          <th>model</th>
          <th>type</th>
          <th>status</th>
          <th title="first content delta (reasoning included)">TTFT</th>
          <th title="first answer text or tool call (reasoning excluded)">first text</th>
          <th title="mean time per delta after the first">ITL</th>
          <th title="gaps between deltas longer than 1 s">stalls</th>
          <th>latency</th>
          <th>tok/s</th>
          <th>in/out tokens</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={r.request_id}>
            <td>{numbered ? i + 1 : new Date(r.finished_at ?? 0).toLocaleTimeString()}</td>
            <td>{r.model}</td>
            <td>{r.kind}</td>
            <td>{r.status === "success" ? <Badge tone="ok">ok</Badge> : <Badge tone="bad">{`${r.error_class ?? r.status} ${r.http_status ?? ""}`}</Badge>}</td>
            <td>{fmtMs(r.ttft_ms)}</td>
            <td>{fmtMs(r.ttft_visible_ms)}</td>
            <td>{fmtMs(r.itl_ms)}</td>
            <td>{r.stall_count ?? "–"}</td>
            <td>{fmtMs(r.latency_ms)}</td>
            <td>{fmtNum(r.output_tokens_per_s)}</td>
            <td>
              {r.input_tokens ?? "–"}/{r.output_tokens ?? "–"}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
