import type { SessionRow } from "../../types";

export function RecentList({ recent, onSelect }: { recent: SessionRow[]; onSelect: (s: SessionRow) => void }) {
  // On a store several machines share, say where each session ran.
  const machines = new Set(recent.map((s) => s.machine_id).filter((m) => m));
  return (
    <details class="recent">
      <summary>Recent sessions</summary>
      <ul>
        {recent.map((s) => (
          <li key={s.session_id}>
            <button type="button" class="link" onClick={() => onSelect(s)}>
              <code>{s.session_id}</code>
            </button>{" "}
            {s.variant} · {s.status} · {s.request_count} requests
            {machines.size > 1 && s.hostname ? ` · on ${s.hostname}` : ""}
          </li>
        ))}
      </ul>
    </details>
  );
}
