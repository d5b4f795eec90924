import { useState } from "preact/hooks";
import { call, commands } from "../api";
import type { OtlpSettings } from "../types";
import { ErrorBox } from "../components";
import { invalidate, useQuery } from "../data";

/** OTLP export: each captured request as a span to the team's OpenTelemetry backend. */
export function OtlpPanel() {
  const q = useQuery("otlp-settings", () => call(commands.otlpSettings()));
  const s: OtlpSettings | null = q.data ?? null;
  // null: the field shows the saved endpoint until the user types.
  const [endpoint, setEndpoint] = useState<string | null>(null);
  const [headers, setHeaders] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const save = async (off: boolean) => {
    setError(null);
    setBusy(true);
    try {
      const to = off ? null : (endpoint ?? s?.saved_endpoint ?? null);
      await call(commands.otlpConfigure(to, off || headers === "" ? null : headers));
      setEndpoint(null);
      setHeaders("");
      invalidate("otlp-settings");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const st = s?.status;
  return (
    <section aria-labelledby="otlp-title" data-testid="otlp">
      <h2 id="otlp-title">OTLP export</h2>
      <p class="sub">
        Each captured request as a span (OpenTelemetry GenAI conventions) to your collector: Langfuse, Grafana, any OTLP/HTTP endpoint.{" "}
        <code>OTEL_EXPORTER_OTLP_ENDPOINT</code> in StackPerf's environment wins over this setting.
      </p>
      <ErrorBox error={error ?? q.error} onDismiss={() => setError(null)} />
      <p data-testid="otlp-state" role="status">
        {s?.endpoint ? (
          <>
            Sending to <code>{s.endpoint}</code> ({s.source === "environment" ? "set by the environment" : "set here"})
            {st && ` — ${st.sent} spans sent, ${st.dropped} dropped, ${st.failed} failed, ${st.queued} queued`}
          </>
        ) : (
          "Off: no spans are sent."
        )}
      </p>
      {s?.error && <p class="field-error">{s.error}</p>}
      <form
        class="row gap"
        onSubmit={(e) => {
          e.preventDefault();
          save(false);
        }}
      >
        <input
          id="otlp-endpoint"
          aria-label="OTLP endpoint"
          placeholder="http://localhost:4318"
          value={endpoint ?? s?.saved_endpoint ?? ""}
          onInput={(e) => setEndpoint((e.target as HTMLInputElement).value)}
        />
        <input
          id="otlp-headers"
          type="password"
          autoComplete="off"
          aria-label="OTLP headers"
          placeholder={s?.headers_saved ? "headers saved in the keychain (type to replace)" : "headers: key=value,… (optional; kept in the keychain)"}
          value={headers}
          onInput={(e) => setHeaders((e.target as HTMLInputElement).value)}
        />
        <button class="primary" type="submit" disabled={busy}>
          Save
        </button>
        {s?.saved_endpoint && (
          <button type="button" disabled={busy} onClick={() => save(true)}>
            Turn off
          </button>
        )}
      </form>
    </section>
  );
}
