import { useEffect, useState } from "preact/hooks";
import { call, commands, events } from "../../api";
import type { FinalStatus, SessionRow, StartSession } from "../../types";
import { Badge, Empty, ErrorBox } from "../../components";
import { current, invalidate, keys, pullLive, useChoices, useLive, useSessions, useStore } from "../../data";
import { EnvPanel } from "./env";
import { FinalizePanel } from "./finalize";
import { LivePanel } from "./live";
import { Picker } from "./picker";
import { RecentList } from "./recent";

/** One session = one run of a task card with one variant. The open session lives in the data
 * layer (`current`), so visiting another screen and coming back keeps it. */
export function SessionScreen({ onExperiment }: { onExperiment: (e: string) => void }) {
  const choices = useChoices();
  const sessions = useSessions(null);
  const open = useStore(current);
  const session = open?.session ?? null;
  const live = useLive(session?.session_id ?? null);
  const [error, setError] = useState<unknown>(choices.error ?? null);
  const [busy, setBusy] = useState(false);
  const recent = (sessions.data ?? []).slice(0, 12);

  useEffect(() => {
    const captureErr = events.captureError.listen((e) =>
      setError({
        code: e.payload.code,
        message: `Capturing requests failed: ${e.payload.message}. StackPerf retries every 2 s; nothing already captured is lost.`,
      }),
    );
    return () => {
      captureErr.then((f) => f());
    };
  }, []);

  const select = async (s: SessionRow) => {
    setError(null);
    current.set({ session: s, env: null });
    if (s.status === "active")
      call(commands.sessionEnv(s.session_id, null)).then(
        (env) => current.set((o) => (o && o.session.session_id === s.session_id ? { ...o, env } : o)),
        setError,
      );
  };

  const start = async (req: StartSession) => {
    setBusy(true);
    setError(null);
    try {
      const started = await call(commands.sessionStart(req));
      onExperiment(req.experiment);
      current.set({ session: started.session, env: started.env });
      invalidate(keys.sessions(null));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const finalize = async (status: FinalStatus, outcome: string, notes: string) => {
    if (!session) return;
    setBusy(true);
    try {
      const s = await call(commands.sessionFinalize(session.session_id, status, outcome || null, notes || null));
      current.set({ session: s, env: null });
      pullLive(s.session_id);
      invalidate(keys.sessions(null));
      invalidate("compare");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const active = session?.status === "active";
  return (
    <section aria-labelledby="session-title">
      <header class="screen-head">
        <h1 id="session-title">Session</h1>
        <p class="sub">One session = one run of a task card with one variant. StackPerf issues its proxy key and captures every request it makes.</p>
      </header>
      <ErrorBox error={error ?? choices.error} onDismiss={() => setError(null)} />
      <Picker choices={choices.data} busy={busy} onStart={start} />

      {!session ? (
        <Empty title="No session open">
          <p>
            Pick a variant and a task card, then press <b>Start session</b>. With the shipped <code>sim-profiles</code> experiment no API key is needed; start
            the stack first on the Stack screen.
          </p>
          {recent.length > 0 && <RecentList recent={recent} onSelect={select} />}
        </Empty>
      ) : (
        <>
          <div class="session-head" data-testid="session-head" data-session={session.session_id} data-status={session.status}>
            <h2>
              <code>{session.session_id}</code> <Badge tone={active ? "ok" : "muted"}>{session.status}</Badge>
            </h2>
            <span>
              {session.variant} · {session.task_card} · {session.harness_profile}
              {session.mode === "exploratory" && " · exploratory"}
            </span>
          </div>
          {open?.env && active && (
            <EnvPanel id={session.session_id} env={open.env} onEnv={(env) => current.set((o) => (o ? { ...o, env } : o))} onError={setError} />
          )}
          <LivePanel live={live} active={active} />
          {active && <FinalizePanel busy={busy} onFinalize={finalize} />}
          <RecentList recent={recent} onSelect={select} />
        </>
      )}
    </section>
  );
}
