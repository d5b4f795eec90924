import { useEffect, useState } from "preact/hooks";
import { call, commands, events } from "../api";
import { MAX_PARALLEL } from "../bindings";
import type { Choices, RunEvent, RunOrder, RunPlan, RunSummary, TaskOutcome } from "../types";
import { Badge, ErrorBox } from "../components";
import { useChoices, useWatchedLive } from "../data";
import { LivePanel } from "./session/live";

/** One session of the run as the panel lists it. */
type Row = {
  index: number;
  variant: string;
  task: string;
  repetition: number;
  session: string;
  outcome: TaskOutcome | null;
  wall: number | null;
  step: string;
};

/** Outcomes that are the infrastructure's failure, not the task's (retried, never counted as failures). */
export const INFRA: TaskOutcome[] = ["setup_failed", "harness_not_started", "proxy_unavailable", "killed_by_machine", "worker_lost"];

export function tone(o: TaskOutcome | null): "ok" | "bad" | "warn" | "muted" {
  if (o === null) return "muted";
  if (o === "success") return "ok";
  if (o === "unverified" || o === "cancelled" || INFRA.includes(o)) return "warn";
  return "bad";
}

/** What the run repeats: `suite:NAME` or `task:NAME`, as the request needs it. */
export function workOf(work: string): { suite: string | null; task_cards: string[] } {
  if (work.startsWith("suite:")) return { suite: work.slice(6), task_cards: [] };
  return { suite: null, task_cards: work.startsWith("task:") ? [work.slice(5)] : [] };
}

/** Every worker of a run (machine, process, slot) with its items done and the one it holds now. */
export type WorkerLine = { worker: string; done: number; running: number | null };

export function workersOf(items: RunSummary["items"]): WorkerLine[] {
  const by = new Map<string, WorkerLine>();
  for (const it of items) {
    if (!it.worker) continue;
    const w = it.worker;
    const key = `${w.hostname} · pid ${w.pid} · slot ${(w.slot ?? 0) + 1}`;
    const line = by.get(key) ?? { worker: key, done: 0, running: null };
    if (it.state === "done") line.done += 1;
    if (it.state === "running") line.running = (it.index ?? 0) + 1;
    by.set(key, line);
  }
  return [...by.values()].sort((a, b) => a.worker.localeCompare(b.worker));
}

/** Automated runs: every variant of an experiment, repeated, launched headless and verified. */
export function RunScreen({ onCompare }: { onCompare: (experiment: string) => void }) {
  const choices: Choices | undefined = useChoices().data;
  const [experiment, setExperiment] = useState("");
  const [work, setWork] = useState("");
  const [repeat, setRepeat] = useState(2);
  // Sessions this machine runs at a time, for a run it starts or joins (core checks 1 to MAX_PARALLEL).
  const [parallel, setParallel] = useState(1);
  const [order, setOrder] = useState<RunOrder>("blocks");
  const [plan, setPlan] = useState<RunPlan | null>(null);
  const [busy, setBusy] = useState(false);
  const [rows, setRows] = useState<Row[]>([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [summary, setSummary] = useState<RunSummary | null>(null);
  const [runId, setRunId] = useState<string | null>(null);
  const [joinId, setJoinId] = useState("");
  const [shown, setShown] = useState<RunSummary["items"] | null>(null);

  useEffect(() => {
    if (!choices || experiment) return;
    const first = choices.experiments.find((e) => e.name === "agent-shootout") ?? choices.experiments[0];
    if (first) setExperiment(first.name);
  }, [choices]);

  // The experiment's own suite when it has one, else the first task card.
  useEffect(() => {
    if (!choices || !experiment) return;
    const suite = choices.experiments.find((e) => e.name === experiment)?.suite;
    setWork(suite ? `suite:${suite}` : `task:${choices.task_cards.includes("write-marker") ? "write-marker" : (choices.task_cards[0] ?? "")}`);
  }, [choices, experiment]);

  const request = () => ({ experiment, ...workOf(work), retry_infra: null, parallel, repeat, order, seed: null, timeout_s: null });

  // The plan, before starting: how long, and what the run can detect.
  useEffect(() => {
    if (!experiment || !work) return;
    let live = true;
    call(commands.runPlan(request()))
      .then((p) => live && setPlan(p))
      .catch(() => live && setPlan(null));
    return () => {
      live = false;
    };
  }, [experiment, work, repeat]);

  useEffect(() => {
    const un = events.runProgress.listen((e) => apply(e.payload.event as RunEvent));
    return () => {
      un.then((f) => f());
    };
  }, []);

  const apply = (e: RunEvent) => {
    if (e.kind === "planned") {
      setTotal(e.total ?? 0);
      setRunId(e.run_id);
    }
    if (e.kind === "item_started")
      setRows((r) => [
        ...r,
        {
          index: e.index ?? 0,
          variant: e.variant,
          task: e.task_card,
          repetition: e.repetition ?? 0,
          session: e.session_id,
          outcome: null,
          wall: null,
          step: "starting",
        },
      ]);
    if (e.kind === "step") setRows((r) => r.map((x) => (x.index === e.index ? { ...x, step: e.message } : x)));
    if (e.kind === "item_finished") setRows((r) => r.map((x) => (x.index === e.index ? { ...x, outcome: e.outcome, wall: e.wall_s ?? null, step: "" } : x)));
  };

  // Every worker's progress (other machines' too), read from the store while the run goes on.
  useEffect(() => {
    if (!busy || !runId) return;
    let live = true;
    const look = () =>
      call(commands.runItems(runId))
        .then((r) => live && setShown(r))
        .catch(() => {});
    look();
    const timer = setInterval(look, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [busy, runId]);

  const go = async (what: () => Promise<RunSummary>) => {
    setBusy(true);
    setError(null);
    setRows([]);
    setSummary(null);
    setShown(null);
    setRunId(null);
    try {
      setSummary(await what());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const start = () => go(() => call(commands.runStart(request())));
  const join = () => go(() => call(commands.runJoin(joinId.trim(), parallel)));
  const workers = workersOf(summary?.items ?? shown ?? []);
  const done = rows.filter((r) => r.outcome !== null).length;
  // The session running now, followed live as its requests are captured.
  const running = busy ? (rows.find((r) => r.outcome === null) ?? null) : null;
  const live = useWatchedLive(running?.session ?? null);

  return (
    <section aria-labelledby="run-title">
      <header class="screen-head">
        <h1 id="run-title">Run</h1>
        <p class="sub">Every variant of an experiment, repeated, each session launched headless in a fresh copy of the task's repository and verified.</p>
      </header>
      <form
        class="picker"
        onSubmit={(e) => {
          e.preventDefault();
          start();
        }}
      >
        <label>
          Experiment
          <select id="run-experiment" value={experiment} onChange={(e) => setExperiment((e.target as HTMLSelectElement).value)}>
            {choices?.experiments.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Suite or task card
          <select id="run-task" value={work} onChange={(e) => setWork((e.target as HTMLSelectElement).value)}>
            {(choices?.suites.length ?? 0) > 0 && (
              <optgroup label="Suites (every task card, compared within each)">
                {choices?.suites.map((t) => (
                  <option key={t} value={`suite:${t}`}>
                    {t}
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="One task card">
              {choices?.task_cards.map((t) => (
                <option key={t} value={`task:${t}`}>
                  {t}
                </option>
              ))}
            </optgroup>
          </select>
        </label>
        <label>
          Repetitions
          <input id="run-repeat" type="number" min={1} max={100} value={repeat} onInput={(e) => setRepeat(Number((e.target as HTMLInputElement).value) || 1)} />
        </label>
        <label title="Each session stays isolated, but they share this machine, which slows timings: sessions record it, and Compare says when variants ran under different concurrency">
          Sessions at once
          <input
            id="run-parallel"
            type="number"
            min={1}
            max={MAX_PARALLEL}
            value={parallel}
            onInput={(e) => setParallel(Math.min(MAX_PARALLEL, Math.max(1, Math.trunc(Number((e.target as HTMLInputElement).value)) || 1)))}
          />
        </label>
        <label>
          Order
          <select id="run-order" value={order} onChange={(e) => setOrder((e.target as HTMLSelectElement).value as RunOrder)}>
            <option value="blocks">blocks (each task × every variant, shuffled)</option>
            <option value="interleaved">interleaved (A B A B …)</option>
            <option value="random">random (recorded seed)</option>
            <option value="blocked">blocked (A A B B …)</option>
          </select>
        </label>
        <button id="run-start" class="primary" type="submit" disabled={busy || !experiment || !work}>
          Start run
        </button>
        {busy && (
          <button id="run-cancel" type="button" onClick={() => call(commands.runCancel()).catch(setError)}>
            Cancel
          </button>
        )}
      </form>
      <form
        class="picker"
        onSubmit={(e) => {
          e.preventDefault();
          join();
        }}
      >
        <label>
          Run started on another machine (same PostgreSQL store)
          <input id="run-join-id" placeholder="run_…" value={joinId} onInput={(e) => setJoinId((e.target as HTMLInputElement).value)} />
        </label>
        <button id="run-join" type="submit" disabled={busy || !joinId.trim().startsWith("run_")}>
          Join run
        </button>
      </form>
      {plan && !busy && (
        <div class="panel" id="run-plan" data-sessions={plan.sessions} data-detectable={plan.detectable_ratio ?? ""}>
          <h3>Plan{plan.suite ? `: suite ${plan.suite}` : ""}</h3>
          {plan.text.map((t) => (
            <p key={t} class="small">
              {t}
            </p>
          ))}
        </div>
      )}
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      {(busy || rows.length > 0) && (
        <p id="run-progress" class="muted" data-done={done} data-total={total}>
          {done} of {total} sessions done
        </p>
      )}
      {rows.length > 0 && (
        <table class="grid" data-testid="run-items">
          <thead>
            <tr>
              <th>#</th>
              <th>Variant</th>
              <th>Task</th>
              <th>Repetition</th>
              <th>Session</th>
              <th>Outcome</th>
              <th>Wall time</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.index} data-outcome={r.outcome ?? ""}>
                <td>{r.index + 1}</td>
                <td>{r.variant}</td>
                <td>{r.task}</td>
                <td>{r.repetition + 1}</td>
                <td>{r.session}</td>
                <td>
                  {r.outcome ? (
                    <Badge tone={tone(r.outcome)}>{`${INFRA.includes(r.outcome) ? "infrastructure: " : ""}${r.outcome.replaceAll("_", " ")}`}</Badge>
                  ) : (
                    <span class="muted small">{r.step}</span>
                  )}
                </td>
                <td>{r.wall !== null ? `${r.wall.toFixed(1)} s` : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {workers.length > 0 && (
        <table class="grid" data-testid="run-workers">
          <thead>
            <tr>
              <th>Worker</th>
              <th>Items done</th>
              <th>Working on</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr key={w.worker}>
                <td>{w.worker}</td>
                <td>{w.done}</td>
                <td>{w.running !== null ? `#${w.running}` : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {running && (
        <div class="panel" data-testid="run-live" data-session={running.session}>
          <h3>
            Now: {running.variant}, repetition {running.repetition + 1} <span class="muted small">{running.step}</span>
          </h3>
          <LivePanel live={live} active />
        </div>
      )}
      {summary && (
        <p id="run-done">
          Run {summary.run.run_id} {summary.run.status} ({summary.run.order}, seed {summary.run.seed}).{" "}
          <button id="run-compare" type="button" class="primary" onClick={() => onCompare(summary.run.experiment)}>
            Open the comparison
          </button>
        </p>
      )}
    </section>
  );
}
