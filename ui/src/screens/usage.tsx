import { useState } from "preact/hooks";
import { call, commands } from "../api";
import type { UsageBy, UsageFilter, UsageKey, UsageMetric, UsageRow } from "../types";
import { Badge, Chart, Empty, ErrorBox } from "../components";
import { invalidate, useQuery } from "../data";
import { fmtMs } from "../logic";

const BY: [UsageBy, string][] = [
  ["owner", "Owner"],
  ["team", "Team"],
  ["model", "Model"],
  ["key", "Key"],
  ["day", "Day"],
];
const METRICS: [UsageMetric, string][] = [
  ["requests", "Requests"],
  ["tokens", "Tokens"],
  ["cost", "Cost"],
];
const WINDOWS = [7, 30, 90];

/** The filter for the last `days` UTC days (today included). */
export function lastDays(days: number, nowMs: number = Date.now()): UsageFilter {
  const today = Math.floor(nowMs / 86_400_000);
  return { since_day: today - (days - 1), until_day: today, key: null, owner: null, team: null, model: null };
}

const int = (x: number | null | undefined) => (x === null || x === undefined ? "–" : Math.round(x).toLocaleString("en-US"));
const usd = (x: number | null | undefined) => (x === null || x === undefined ? "n/a" : `$${x.toFixed(x >= 100 ? 0 : 4)}`);
const day = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().slice(0, 10) : "never");

function KeyForm({ onCreated }: { onCreated: (alias: string) => void }) {
  const [owner, setOwner] = useState("");
  const [team, setTeam] = useState("");
  const [purpose, setPurpose] = useState("");
  const [models, setModels] = useState("");
  const [expires, setExpires] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const list = models
        .split(",")
        .map((m) => m.trim())
        .filter(Boolean);
      const created = await call(
        commands.usageKeyCreate({
          owner,
          team: team.trim() || null,
          purpose: purpose.trim() || null,
          models: list.length ? list : null,
          expires_days: expires.trim() ? Number(expires) : null,
        }),
      );
      setOwner("");
      setTeam("");
      setPurpose("");
      setModels("");
      setExpires("");
      onCreated(created.key.alias);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={create} data-testid="usage-key-form">
      <div class="row gap wrap">
        <label>
          Owner <input id="usage-owner" value={owner} onInput={(e) => setOwner(e.currentTarget.value)} placeholder="who uses it" required />
        </label>
        <label>
          Team <input id="usage-team" value={team} onInput={(e) => setTeam(e.currentTarget.value)} placeholder="optional" />
        </label>
        <label>
          Purpose <input value={purpose} onInput={(e) => setPurpose(e.currentTarget.value)} placeholder="optional" />
        </label>
        <label>
          Models <input id="usage-models" value={models} onInput={(e) => setModels(e.currentTarget.value)} placeholder="all (or a,b)" />
        </label>
        <label>
          Expires in days <input value={expires} onInput={(e) => setExpires(e.currentTarget.value)} placeholder="never" inputMode="numeric" size={6} />
        </label>
        <button type="submit" id="usage-create" disabled={busy || !owner.trim()}>
          {busy ? "Creating…" : "Create key"}
        </button>
      </div>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
    </form>
  );
}

function KeysTable({ keys, onChange }: { keys: UsageKey[]; onChange: (msg: string) => void }) {
  const [confirm, setConfirm] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const act = async (f: () => Promise<unknown>, msg: string) => {
    setError(null);
    try {
      await f();
      onChange(msg);
    } catch (e) {
      setError(e);
    }
  };
  if (keys.length === 0) {
    return (
      <Empty title="No usage keys yet">
        Create one above for everyday use through the proxy: its traffic is reported here by owner, team and model, and never counts into a benchmark session.
      </Empty>
    );
  }
  return (
    <>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      <table class="grid" data-testid="usage-keys">
        <thead>
          <tr>
            <th>Key</th>
            <th>Owner</th>
            <th>Team</th>
            <th>State</th>
            <th>Models</th>
            <th>Created</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.alias} data-alias={k.alias} title={k.purpose ?? undefined}>
              <td class="code small">{k.alias}</td>
              <td>{k.owner}</td>
              <td>{k.team ?? "–"}</td>
              <td>
                <Badge tone={k.state === "active" ? "ok" : "muted"}>{k.state}</Badge>
              </td>
              <td>{k.models?.join(", ") ?? "all"}</td>
              <td>{day(k.created_at)}</td>
              <td>{day(k.expires_at)}</td>
              <td>
                <div class="row gap">
                  {k.state === "active" && confirm !== k.alias && (
                    <>
                      <button
                        type="button"
                        class="link"
                        onClick={() => act(() => call(commands.usageKeyCopy(k.alias)), `The environment of ${k.alias} is on the clipboard.`)}
                      >
                        Copy env
                      </button>
                      <button type="button" class="link danger" onClick={() => setConfirm(k.alias)}>
                        Revoke…
                      </button>
                    </>
                  )}
                  {confirm === k.alias && (
                    <>
                      <span class="small">Clients using it get 401 from the next request.</span>
                      <button
                        type="button"
                        class="danger"
                        data-testid="usage-revoke-confirm"
                        onClick={() => act(() => call(commands.usageKeyRevoke(k.alias)), `${k.alias} is revoked.`).then(() => setConfirm(null))}
                      >
                        Revoke
                      </button>
                      <button type="button" onClick={() => setConfirm(null)}>
                        Cancel
                      </button>
                    </>
                  )}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function ReportTable({ rows, total, by }: { rows: UsageRow[]; total: UsageRow; by: UsageBy }) {
  return (
    <table class="grid" data-testid="usage-table">
      <thead>
        <tr>
          <th>{BY.find(([b]) => b === by)?.[1]}</th>
          <th class="num">Requests</th>
          <th class="num">Errors</th>
          <th class="num">Input tok</th>
          <th class="num">Output tok</th>
          <th class="num">Cached</th>
          <th class="num">Cost</th>
          <th class="num">Latency p50 / p95 / p99</th>
          <th class="num">TTFT p50</th>
        </tr>
      </thead>
      <tbody>
        {[...rows, total].map((r) => (
          <tr key={r.group} class={r === total ? "total" : undefined}>
            <td>{r === total ? <strong>Total</strong> : r.group}</td>
            <td class="num">{int(r.requests)}</td>
            <td class="num">{((r.error_rate ?? 0) * 100).toFixed(1)} %</td>
            <td class="num">{int(r.input_tokens)}</td>
            <td class="num">{int(r.output_tokens)}</td>
            <td class="num">{int(r.cached_input_tokens)}</td>
            <td class="num" title={r.unpriced ? `${r.unpriced} request(s) without a price are not in this cost` : undefined}>
              {usd(r.cost_usd)}
            </td>
            <td class="num">
              {fmtMs(r.latency_p50_ms)} / {fmtMs(r.latency_p95_ms)} / {fmtMs(r.latency_p99_ms)}
            </td>
            <td class="num">{fmtMs(r.ttft_p50_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Usage mode: long-lived keys for everyday use through the proxy, and who used what. */
export function UsageScreen() {
  const [by, setBy] = useState<UsageBy>("owner");
  const [metric, setMetric] = useState<UsageMetric>("requests");
  const [days, setDays] = useState(30);
  const [note, setNote] = useState<string | null>(null);
  const filter = lastDays(days);
  const keysQ = useQuery("usage-keys", () => call(commands.usageKeys()));
  const reportQ = useQuery(`usage-report:${by}:${days}`, () => call(commands.usageReport(by, filter)));
  const chartQ = useQuery(`usage-chart:${by}:${days}:${metric}`, () => call(commands.usageChart(by, filter, metric)));
  const refresh = () => {
    invalidate("usage-");
  };
  const changed = (msg: string) => {
    setNote(msg);
    refresh();
  };
  const r = reportQ.data ?? null;
  return (
    <section data-testid="usage-screen">
      <h1>Usage</h1>
      <p class="muted">
        Usage keys are for everyday work through the same proxy (any OpenAI-compatible client). Their traffic is attributed to an owner and team and reported
        here — never mixed with benchmark sessions.
      </p>
      <h2>Keys</h2>
      <KeyForm onCreated={(alias) => changed(`Created ${alias}. OPENAI_BASE_URL and OPENAI_API_KEY are on the clipboard (the key is shown nowhere).`)} />
      {note && (
        <p class="note" data-testid="usage-note">
          {note}
        </p>
      )}
      <ErrorBox error={keysQ.error} />
      <KeysTable keys={keysQ.data ?? []} onChange={changed} />
      <h2>Report</h2>
      <div class="row gap wrap">
        <label>
          Group by{" "}
          <select id="usage-by" value={by} onChange={(e) => setBy(e.currentTarget.value as UsageBy)}>
            {BY.map(([b, l]) => (
              <option key={b} value={b}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Chart{" "}
          <select id="usage-metric" value={metric} onChange={(e) => setMetric(e.currentTarget.value as UsageMetric)}>
            {METRICS.map(([m, l]) => (
              <option key={m} value={m}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Last{" "}
          <select value={String(days)} onChange={(e) => setDays(Number(e.currentTarget.value))}>
            {WINDOWS.map((d) => (
              <option key={d} value={String(d)}>
                {d} days
              </option>
            ))}
          </select>
        </label>
        <button type="button" id="usage-refresh" onClick={refresh}>
          Refresh
        </button>
      </div>
      <ErrorBox error={reportQ.error ?? chartQ.error} />
      {reportQ.loading && !r && <p class="muted">Loading…</p>}
      {r && (r.total.requests ?? 0) === 0 && (
        <Empty title="No usage traffic in this window">
          Create a key, paste its environment into a shell, and send requests with any OpenAI-compatible client; then press Refresh.
        </Empty>
      )}
      {r && (r.total.requests ?? 0) > 0 && (
        <>
          {chartQ.data && <Chart svg={chartQ.data} label={`usage per day by ${by}`} testid="usage-chart" />}
          <ReportTable rows={r.rows} total={r.total} by={by} />
          <p class="muted small">{r.note}.</p>
        </>
      )}
    </section>
  );
}
