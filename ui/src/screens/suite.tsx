import { call, commands } from "../api";
import type { Comparison, SuiteAnalysis, TaskCell } from "../types";
import { keys, useQuery } from "../data";
import { Badge, Chart } from "../components";
import { fmtP, fmtValue } from "../logic";

/** The shade of a cell: how much slower than the task's fastest variant (0 = the fastest). */
export function shade(ratio: number | null): number {
  if (ratio === null || !Number.isFinite(ratio)) return 0;
  return Math.min(0.6, Math.max(0, (ratio - 1) * 2));
}

function fix(x: number | null, digits: number): string {
  return x === null ? "–" : x.toFixed(digits);
}

function pct(x: number | null): string {
  return x === null ? "–" : `${Math.round(x * 100)} %`;
}

function Cell({ c, k }: { c: TaskCell | undefined; k: number }) {
  if (!c) return <td>–</td>;
  return (
    <td
      style={{ background: `rgba(214, 39, 40, ${shade(c.time_ratio).toFixed(2)})` }}
      data-ratio={c.time_ratio ?? ""}
      title={`pass@${k} ${fmtValue("ratio", c.pass_at_k)} · pass^${k} ${fmtValue("ratio", c.pass_hat_k)} · ${c.trials} trials`}
    >
      <b>{fmtValue("seconds", c.time_s)}</b> <span class="muted small">×{c.time_ratio?.toFixed(2) ?? "–"}</span>
      <div class="small">
        {(c.known ?? 0) > 0 ? `${c.successes}/${c.known} succeeded` : "no outcome"}
        {c.flipped ? (
          <>
            {" "}
            <Badge tone="warn">flips</Badge>
          </>
        ) : null}
        {(c.infra_errors ?? 0) > 0 ? (
          <>
            {" "}
            <Badge tone="bad">{c.infra_errors} infra</Badge>
          </>
        ) : null}
      </div>
    </td>
  );
}

/** A suite's comparison within each task: the per-task grid, the ranking over tasks with its critical-difference diagram, flip rates and infrastructure errors. */
export function SuitePanel({ cmp, experiment, grouped }: { cmp: Comparison; experiment: string; grouped: boolean }) {
  const s: SuiteAnalysis | null = cmp.suite ?? null;
  const cdQ = useQuery(s?.time && !grouped && experiment ? keys.cd(experiment) : null, () => call(commands.compareCd(experiment)));
  if (!s) return null;
  const cell = (t: string, v: string) => s.cells.find((c) => c.task_card === t && c.variant === v);
  return (
    <div class="panel" data-testid="suite">
      <h2>Per task</h2>
      <p class="muted small">
        Each variant is compared within each task, then over the tasks (Friedman's test over {s.time?.blocks ?? 0} blocks, Holm-adjusted pairs): the verdicts
        above come from this, never from medians pooled across tasks of different size. Cells: median wall time, × the task's fastest (shaded), successes; pass@
        {s.k} and pass^{s.k} on hover.
      </p>
      <div class="scroll-x">
        <table class="grid" data-testid="suite-grid">
          <thead>
            <tr>
              <th>Task</th>
              {s.variants.map((v) => (
                <th key={v.variant}>{v.variant}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {s.tasks.map((t) => (
              <tr key={t} data-task={t}>
                <td>{t}</td>
                {s.variants.map((v) => (
                  <Cell key={v.variant} c={cell(t, v.variant)} k={s.k ?? 0} />
                ))}
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr data-testid="suite-flips">
              <td>Flip rate · success</td>
              {s.variants.map((v) => (
                <td key={v.variant}>
                  {pct(v.flip_rate)} · {pct(v.success_rate)}
                </td>
              ))}
            </tr>
            <tr data-testid="suite-infra">
              <td>Infrastructure errors</td>
              {s.variants.map((v) => (
                <td key={v.variant}>{v.infra_flagged ? <Badge tone="bad">{v.infra_errors}: stands out</Badge> : v.infra_errors}</td>
              ))}
            </tr>
          </tfoot>
        </table>
      </div>
      {s.time && (
        <table class="grid small" data-testid="suite-ranks">
          <thead>
            <tr>
              <th>Variant</th>
              <th>Mean rank</th>
              <th>Typical time ratio to the best</th>
              <th>95 % CI (tasks, then trials)</th>
            </tr>
          </thead>
          <tbody>
            {s.time.ranks.map((r) => (
              <tr key={r.variant}>
                <td>{r.variant}</td>
                <td>{fix(r.mean_rank, 2)}</td>
                <td>{r.ratio_to_best === null ? "–" : `${fix(r.ratio_to_best, 3)}×`}</td>
                <td>{r.ratio_ci95 ? `[${fix(r.ratio_ci95[0], 3)}, ${fix(r.ratio_ci95[1], 3)}]` : "–"}</td>
              </tr>
            ))}
          </tbody>
          <caption class="muted small">
            Friedman χ² {fix(s.time.friedman_statistic, 2)}, df {s.time.df}, {fmtP(s.time.friedman_p)}
          </caption>
        </table>
      )}
      {cdQ.data && <Chart svg={cdQ.data} label="critical-difference diagram of the variants' mean ranks" testid="cd-diagram" />}
      {s.notes.length > 0 && (
        <ul class="muted small">
          {s.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
