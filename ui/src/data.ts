// The UI's data layer: one query per resource, cached across screens (a screen that unmounts
// keeps its data), invalidated by the backend's events in one place; the open session and its
// live requests held at app level, the live requests grown by pages instead of reloaded.
import { useEffect, useState } from "preact/hooks";
import { call, commands, events } from "./api";
import type { EdgeHealth, EnvView, RequestBrief, SessionRow } from "./types";
import { lagMs } from "./logic";

// ---- a tiny observable ----------------------------------------------------------------------

export interface Store<T> {
  get(): T;
  set(v: T | ((prev: T) => T)): void;
  subscribe(f: () => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const subs = new Set<() => void>();
  return {
    get: () => value,
    set(v) {
      value = typeof v === "function" ? (v as (p: T) => T)(value) : v;
      for (const f of subs) f();
    },
    subscribe(f) {
      subs.add(f);
      return () => subs.delete(f);
    },
  };
}

export function useStore<T>(store: Store<T>): T {
  const [, tick] = useState(0);
  useEffect(() => store.subscribe(() => tick((n) => n + 1)), [store]);
  return store.get();
}

// ---- queries ----------------------------------------------------------------------------------

interface Entry {
  data?: unknown;
  error?: unknown;
  loading: boolean;
  fetch: () => Promise<unknown>;
  generation: number;
  /** Mounted components using it: an invalidated resource nobody shows is fetched when next shown. */
  users: number;
  stale: boolean;
}

const queries = createStore<Map<string, Entry>>(new Map());

function load(key: string) {
  const map = queries.get();
  const e = map.get(key);
  if (!e) return;
  const generation = e.generation + 1;
  map.set(key, { ...e, loading: true, stale: false, generation });
  queries.set(new Map(map));
  e.fetch().then(
    (data) => settle(key, generation, { data, error: undefined }),
    (error) => settle(key, generation, { error }),
  );
}

function settle(key: string, generation: number, result: { data?: unknown; error?: unknown }) {
  const map = queries.get();
  const e = map.get(key);
  // A newer fetch of the same key started meanwhile: its answer wins.
  if (!e || e.generation !== generation) return;
  map.set(key, { ...e, ...result, data: "data" in result ? result.data : e.data, loading: false });
  queries.set(new Map(map));
}

/** One resource, fetched once and shared by every screen that asks for the same key. */
export function useQuery<T>(key: string | null, fetch: () => Promise<T>): { data: T | undefined; error: unknown; loading: boolean; refetch: () => void } {
  const map = useStore(queries);
  useEffect(() => {
    if (key === null) return;
    const map = queries.get();
    const e = map.get(key);
    if (!e) map.set(key, { loading: false, fetch, generation: 0, users: 1, stale: true });
    else e.users += 1;
    if (map.get(key)?.stale) load(key);
    return () => {
      const mine = queries.get().get(key);
      if (mine) mine.users -= 1;
    };
  }, [key]);
  const e = key === null ? undefined : map.get(key);
  return {
    data: e?.data as T | undefined,
    error: e?.error,
    loading: e?.loading ?? key !== null,
    refetch: () => key !== null && load(key),
  };
}

/** Every cached resource whose key starts with `prefix` is out of date: fetched again now where
 * a screen shows it, else when one next does. */
export function invalidate(prefix: string) {
  for (const [key, e] of queries.get()) {
    if (!key.startsWith(prefix)) continue;
    if (e.users > 0) load(key);
    else e.stale = true;
  }
}

/** Forget every cached resource (tests start from nothing). */
export function resetData() {
  queries.set(new Map());
  current.set(null);
  live.set(new Map());
}

export const keys = {
  choices: "choices",
  stack: "stack",
  secrets: "secrets",
  sessions: (experiment: string | null) => `sessions:${experiment ?? ""}`,
  compare: (experiment: string) => `compare:${experiment}`,
  compareBy: (by: string) => `compare-by:${by}`,
  compareSessions: (experiment: string) => `compare-sessions:${experiment}`,
  chart: (experiment: string, metric: string) => `chart:${experiment}:${metric}`,
  cd: (experiment: string) => `chart:${experiment}:cd`,
};

export const useChoices = () => useQuery(keys.choices, () => call(commands.choices()));
export const useSessions = (experiment: string | null) => useQuery(keys.sessions(experiment), () => call(commands.sessionsList(experiment)));

// ---- the open session, at app level -----------------------------------------------------------

export interface OpenSession {
  session: SessionRow;
  /** The redacted environment (active sessions only). */
  env: EnvView | null;
}

/** The session the Session screen shows; kept while the user visits other screens. */
export const current = createStore<OpenSession | null>(null);

// ---- live requests, grown page by page --------------------------------------------------------

export interface Live {
  rows: RequestBrief[];
  cursor: number | null;
  /** The edge's outages during the session and the requests they cost. */
  edge: EdgeHealth | null;
  /** How long after the newest request finished it was shown (ms). */
  lag: number | null;
  loaded: boolean;
}

export const live = createStore<Map<string, Live>>(new Map());
const inflight = new Set<string>();

/** Ask for what changed since the session's cursor and merge it in (rows replaced by id). */
export async function pullLive(id: string): Promise<void> {
  if (inflight.has(id)) {
    inflight.add(`${id}:again`);
    return;
  }
  inflight.add(id);
  try {
    const before = live.get().get(id);
    const page = await call(commands.sessionRequestsSince(id, before?.cursor ?? null));
    const now = Date.now();
    live.set((m) => {
      const prev = m.get(id) ?? { rows: [], cursor: null, edge: null, lag: null, loaded: false };
      const byId = new Map(prev.rows.map((r, i) => [r.request_id, i]));
      const rows = prev.rows.slice();
      for (const r of page.rows) {
        const i = byId.get(r.request_id);
        if (i === undefined) byId.set(r.request_id, rows.push(r) - 1);
        else rows[i] = r;
      }
      const newest = page.rows.reduce<number | null>((t, r) => (t === null || (r.finished_at ?? 0) > t ? (r.finished_at ?? 0) : t), null);
      const next = new Map(m);
      next.set(id, { rows, cursor: page.cursor ?? prev.cursor, edge: page.edge, lag: newest === null ? prev.lag : lagMs(newest, now), loaded: true });
      return next;
    });
  } finally {
    inflight.delete(id);
    if (inflight.delete(`${id}:again`)) await pullLive(id);
  }
}

/** Sessions whose live requests other screens follow besides the open one (the Run panel's
 * current session). */
const watched = new Set<string>();

/** Follow a session's requests as they are captured, while `id` is set. */
export function useWatchedLive(id: string | null): Live {
  useEffect(() => {
    if (!id) return;
    watched.add(id);
    return () => {
      watched.delete(id);
    };
  }, [id]);
  return useLive(id);
}

export function useLive(id: string | null): Live {
  const m = useStore(live);
  useEffect(() => {
    if (id && !live.get().get(id)?.loaded) pullLive(id);
  }, [id]);
  return (id && m.get(id)) || { rows: [], cursor: null, edge: null, lag: null, loaded: false };
}

// ---- event-driven invalidation, in one place -------------------------------------------------

/** Subscribe the data layer to the backend's events; returns the unsubscribe. */
export function startDataEvents(): () => void {
  const capture = events.captureUpdate.listen((e) => {
    const open = current.get()?.session.session_id;
    for (const id of e.payload.sessions) if (id === open || watched.has(id)) pullLive(id);
    // Request counts and comparisons changed; a session not followed is reloaded when opened.
    for (const id of e.payload.sessions)
      if (id !== open && !watched.has(id) && live.get().has(id))
        live.set((m) => {
          const next = new Map(m);
          next.delete(id);
          return next;
        });
    invalidate("sessions:");
    invalidate("compare");
    invalidate("chart:");
  });
  return () => {
    capture.then((f) => f());
  };
}
