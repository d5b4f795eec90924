import type { SessionRow } from "../../types";

export function RecentList({ recent, onSelect }: { recent: SessionRow[]; onSelect: (s: SessionRow) => void }) {
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
          </li>
        ))}
      </ul>
    </details>
  );
}
