import { useEffect, useRef, useState } from "preact/hooks";
import { call, commands, events } from "../api";
import type { CloseChoice } from "../types";
import { ErrorBox } from "../components";

/** Asked by the shell when the window is closed while a session is active. */
export function CloseDialog() {
  const [sessions, setSessions] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const ref = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const un = events.closeAsked.listen((e) => {
      setError(null);
      setSessions(e.payload.sessions);
    });
    return () => {
      un.then((f) => f());
    };
  }, []);
  useEffect(() => {
    if (sessions && !ref.current?.open) ref.current?.showModal?.();
  }, [sessions]);

  const answer = async (choice: CloseChoice) => {
    setBusy(true);
    try {
      await call(commands.windowClose(choice));
      if (choice === "cancel") {
        ref.current?.close?.();
        setSessions(null);
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (!sessions) return null;
  const one = sessions.length === 1;
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="close-title" data-testid="close-dialog" onCancel={() => answer("cancel")}>
      <h2 id="close-title">{one ? "A session is still active" : `${sessions.length} sessions are still active`}</h2>
      <p>
        <span class="code">{sessions.join(", ")}</span>
      </p>
      <p class="muted">
        Finalize records it as completed and stops the stack with the app. Leave running keeps the session and the stack going after the window closes (stop the
        stack later with <span class="code">stackperf stack down</span>).
      </p>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      <div class="row gap end">
        <button type="button" id="close-finalize" onClick={() => answer("finalize")} disabled={busy}>
          {busy ? "Finalizing…" : one ? "Finalize and close" : "Finalize all and close"}
        </button>
        <button type="button" id="close-leave" onClick={() => answer("leave_running")} disabled={busy}>
          Leave running and close
        </button>
        <button type="button" id="close-cancel" class="primary" onClick={() => answer("cancel")} disabled={busy}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
