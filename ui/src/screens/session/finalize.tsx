import { useState } from "preact/hooks";
import type { FinalStatus } from "../../types";

/** Finalize an active session: status, outcome, notes. */
export function FinalizePanel({ busy, onFinalize }: { busy: boolean; onFinalize: (status: FinalStatus, outcome: string, notes: string) => void }) {
  const [status, setStatus] = useState<FinalStatus>("completed");
  const [outcome, setOutcome] = useState("");
  const [notes, setNotes] = useState("");
  return (
    <div class="panel">
      <h3>Finalize</h3>
      <div class="row gap">
        <label>
          Status
          <select id="final-status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value as FinalStatus)}>
            <option value="completed">completed</option>
            <option value="aborted">aborted</option>
            <option value="invalid">invalid</option>
          </select>
        </label>
        <label>
          Outcome
          <input id="final-outcome" value={outcome} placeholder="e.g. tests pass" onInput={(e) => setOutcome((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <label class="block">
        Notes
        <textarea id="final-notes" rows={2} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
      </label>
      <button type="button" id="session-finalize" class="primary" disabled={busy} onClick={() => onFinalize(status, outcome, notes)}>
        Finalize session
      </button>
      <span class="muted small"> Finalizing collects the last requests and revokes the key.</span>
    </div>
  );
}
