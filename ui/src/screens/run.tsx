import { useEffect, useState } from "preact/hooks";
import { call, commands, events } from "../api";
import type { Choices, RunEvent, RunOrder, RunSummary, TaskOutcome } from "../types";
import { Badge, ErrorBox } from "../components";
import { useChoices, useWatchedLive } from "../data";
import { LivePanel } from "./session/live";

/** One session of the run as the panel lists it. */
type Row = { index: number; variant: string; repetition: number; session: string; outcome: TaskOutcome | null; wall: number | null; step: string };

function tone(o: TaskOutcome | null): "ok" | "bad" | "warn" | "muted" {
  if (o === null) return "muted";
  if (o === "success") return "ok";
  if (o === "unverified" || o === "cancelled") return "warn";
  return "bad";
}

/** Automated runs: every variant of an experiment, repeated, launched headless and verified. */
export function RunScreen({ onCompare }: { onCompare: (experiment: string) => void }) {
  const choices: Choices | undefined = useChoices().data;
  const [experiment, setExperiment] = useState("");
  const [taskCard, setTaskCard] = useState("");
  const [repeat, setRepeat] = useState(2);
  const [order, setOrder] = useState<RunOrder>("interleaved");
  const [busy, setBusy] = useState(false);
  const [rows, setRows] = useState<Row[]>([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [summary, setSummary] = useState<RunSummary | null>(null);

  useEffect(() => {
    if (!choices || experiment) return;
    const first = choices.experiments.find((e) => e.name === "agent-shootout") ?? choices.experiments[0];
    if (first) setExperiment(first.name);
    setTaskCard(choices.task_cards.includes("write-marker") ? "write-marker" : (choices.task_cards[0] ?? ""));
  }, [choices]);

  useEffect(() => {
    const un = events.runProgress.listen((e) => apply(e.payload.event as RunEvent));
    return () => {
      un.then((f) => f());
    };
  }, []);

  const apply = (e: RunEvent) => {
    if (e.kind === "planned") setTotal(e.total ?? 0);
    if (e.kind === "item_started")
      setRows((r) => [
        ...r,
        { index: e.index ?? 0, variant: e.variant, repetition: e.repetition ?? 0, session: e.session_id, outcome: null, wall: null, step: "starting" },
      ]);
    if (e.kind === "step") setRows((r) => r.map((x) => (x.index === e.index ? { ...x, step: e.message } : x)));
    if (e.kind === "item_finished") setRows((r) => r.map((x) => (x.index === e.index ? { ...x, outcome: e.outcome, wall: e.wall_s ?? null, step: "" } : x)));
  };

  const start = async () => {
    setBusy(true);
    setError(null);
    setRows([]);
    setSummary(null);
    try {
      setSummary(await call(commands.runStart({ experiment, task_cards: [taskCard], repeat, order, seed: null, timeout_s: null })));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
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
          Task card
          <select id="run-task" value={taskCard} onChange={(e) => setTaskCard((e.target as HTMLSelectElement).value)}>
            {choices?.task_cards.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Repetitions
          <input id="run-repeat" type="number" min={1} max={100} value={repeat} onInput={(e) => setRepeat(Number((e.target as HTMLInputElement).value) || 1)} />
        </label>
        <label>
          Order
          <select id="run-order" value={order} onChange={(e) => setOrder((e.target as HTMLSelectElement).value as RunOrder)}>
            <option value="interleaved">interleaved (A B A B …)</option>
            <option value="random">random (recorded seed)</option>
            <option value="blocked">blocked (A A B B …)</option>
          </select>
        </label>
        <button id="run-start" class="primary" type="submit" disabled={busy || !experiment || !taskCard}>
          Start run
        </button>
        {busy && (
          <button id="run-cancel" type="button" onClick={() => call(commands.runCancel()).catch(setError)}>
            Cancel
          </button>
        )}
      </form>
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
                <td>{r.repetition + 1}</td>
                <td>{r.session}</td>
                <td>{r.outcome ? <Badge tone={tone(r.outcome)}>{r.outcome.replace("_", " ")}</Badge> : <span class="muted small">{r.step}</span>}</td>
                <td>{r.wall !== null ? `${r.wall.toFixed(1)} s` : "–"}</td>
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
