import type { RequestBrief } from "../../types";
import { RequestsTable } from "../../components";
import { fmtMs, fmtValue } from "../../logic";
import type { Live } from "../../data";

const W = 460;
const H = 200;
const PAD = { l: 64, r: 12, t: 28, b: 22 };

/** A per-request line chart drawn here from the rows (no round trip per update); hover a point
 * for its value. */
export function LineChart({ title, values, format, testid }: { title: string; values: (number | null)[]; format: (x: number) => string; testid: string }) {
  const pts = values.map((v, i) => [i, v] as const).filter((p): p is readonly [number, number] => p[1] !== null && Number.isFinite(p[1]));
  const max = Math.max(1, ...pts.map((p) => p[1]));
  const n = Math.max(1, values.length - 1);
  const x = (i: number) => PAD.l + (i / n) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  return (
    <figure class="chart" role="img" aria-label={`${title} per request`} data-testid={testid} data-points={pts.length}>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H}>
        <title>{`${title} per request`}</title>
        <text x={PAD.l} y={14} class="chart-title">
          {title}
        </text>
        <line x1={PAD.l} y1={H - PAD.b} x2={W - PAD.r} y2={H - PAD.b} class="axis" />
        <line x1={PAD.l} y1={PAD.t} x2={PAD.l} y2={H - PAD.b} class="axis" />
        <text x={PAD.l - 4} y={PAD.t + 4} text-anchor="end" class="tick">
          {format(max)}
        </text>
        <text x={PAD.l - 4} y={H - PAD.b} text-anchor="end" class="tick">
          0
        </text>
        <text x={W - PAD.r} y={H - 6} text-anchor="end" class="tick">
          request {values.length}
        </text>
        {pts.length > 1 && <polyline class="series" fill="none" points={pts.map(([i, v]) => `${x(i)},${y(v)}`).join(" ")} />}
        {pts.map(([i, v]) => (
          <circle key={i} cx={x(i)} cy={y(v)} r={3} class="point">
            <title>{`request ${i + 1}: ${format(v)}`}</title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}

/** The live panel: counts, per-request charts and the latest requests of one session. */
export function LivePanel({ live, active }: { live: Live; active: boolean }) {
  const rows: RequestBrief[] = live.rows;
  const errors = rows.filter((r) => r.status !== "success").length;
  return (
    <div class="panel" data-testid="live" data-requests={rows.length} data-lag-ms={live.lag ?? ""}>
      <div class="stats">
        <div>
          <span class="big" data-testid="live-requests">
            {rows.length}
          </span>{" "}
          requests
        </div>
        <div>
          <span class="big">{errors}</span> errors
        </div>
        <div>
          last shown <span class="big">{live.lag === null ? "–" : fmtMs(live.lag)}</span> after it finished
        </div>
      </div>
      {live.edge?.summary && (
        <p class="warn" role="status" data-testid="edge-health" data-lost={live.edge.lost_requests} data-outages={live.edge.outages.length}>
          {live.edge.summary}. Compare leaves this session out (lost telemetry).
        </p>
      )}
      {rows.length > 0 ? (
        <>
          <div class="charts3">
            <LineChart title="Time to first token" values={rows.map((r) => r.ttft_ms)} format={fmtMs} testid="chart-ttft" />
            <LineChart title="Latency" values={rows.map((r) => r.latency_ms)} format={fmtMs} testid="chart-latency" />
            <LineChart
              title="Output tokens/s"
              values={rows.map((r) => r.output_tokens_per_s)}
              format={(v) => fmtValue("tokens_per_second", v)}
              testid="chart-tps"
            />
          </div>
          <RequestsTable rows={rows.slice(-20).reverse()} />
        </>
      ) : (
        <p class="muted">No requests yet. {active ? "Paste the environment into a terminal and start the harness, or press Generate sample traffic." : ""}</p>
      )}
    </div>
  );
}
