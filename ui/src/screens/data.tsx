import { useState } from "preact/hooks";
import { call, commands } from "../api";
import type { DataUsage, PruneReport } from "../types";
import { ErrorBox } from "../components";
import { fmtBytes } from "../logic";
import { invalidate, useQuery } from "../data";

/** What StackPerf keeps on this machine, and the retention clean-up (say what, confirm, delete). */
export function DataPanel() {
  const usage = useQuery("data-usage", () => call(commands.dataUsage()));
  const u: DataUsage | null = usage.data ?? null;
  const [plan, setPlan] = useState<PruneReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const look = async () => {
    setError(null);
    setBusy(true);
    invalidate("data-usage");
    try {
      setPlan(await call(commands.prunePlan()));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const apply = async () => {
    if (!plan) return;
    setBusy(true);
    try {
      setPlan(await call(commands.pruneApply(plan)));
      invalidate("data-usage");
      invalidate("sessions:");
      invalidate("compare");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const p = plan?.plan;
  const nothing = !!plan && !!p && p.sessions.length === 0 && p.requests_of.length === 0 && (p.requests ?? 0) === 0 && plan.spools.length === 0;

  return (
    <div data-testid="data-panel">
      <h2>Data</h2>
      {u && (
        <p data-testid="data-usage">
          Database {fmtBytes(u.database)} · sessions {fmtBytes(u.sessions)} · capture spools {fmtBytes(u.capture)} · logs {fmtBytes(u.logs)}{" "}
          <span class="muted small">in {u.data_dir}</span>
        </p>
      )}
      <ErrorBox error={error ?? usage.error} onDismiss={() => setError(null)} />
      {!plan && (
        <button type="button" id="prune-look" onClick={look} disabled={busy}>
          {busy ? "Looking…" : "Clean up…"}
        </button>
      )}
      {plan && p && (
        <div class="panel" data-testid="prune-plan" data-applied={plan.applied ? "yes" : "no"}>
          <p>
            Retention (configs/retention.yaml): sessions {plan.retention.sessions_days} days, requests {plan.retention.requests_days} days, raw capture{" "}
            {plan.retention.raw_days} days.
          </p>
          {nothing ? (
            <p>Nothing is old enough to delete.</p>
          ) : (
            <ul>
              <li>
                {p.sessions.length} session(s) deleted whole ({plan.folders ?? 0} folder(s), {fmtBytes(plan.folder_bytes)})
              </li>
              <li>{p.requests_of.length} session(s) lose their request rows but stay in comparisons</li>
              <li>
                {p.requests ?? 0} request row(s) in all ({p.unattributed ?? 0} without a session)
              </li>
              <li>
                {plan.spools.length} rotated capture spool(s) ({fmtBytes(plan.spool_bytes)})
              </li>
            </ul>
          )}
          {plan.old_exports.length > 0 && (
            <p class="muted small">{plan.old_exports.length} old export file(s) are listed by `stackperf prune` and never deleted.</p>
          )}
          {plan.applied ? (
            <p data-testid="prune-done">
              Deleted. Database compacted: {fmtBytes(plan.db_bytes)} → {fmtBytes(plan.db_bytes_after)}.{" "}
              <button type="button" class="link" onClick={() => setPlan(null)}>
                Close
              </button>
            </p>
          ) : (
            <div class="row gap">
              {!nothing && (
                <button type="button" id="prune-apply" class="danger" onClick={apply} disabled={busy}>
                  {busy ? "Deleting…" : "Delete"}
                </button>
              )}
              <button type="button" id="prune-cancel" onClick={() => setPlan(null)} disabled={busy}>
                {nothing ? "Close" : "Cancel"}
              </button>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
