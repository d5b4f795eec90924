import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { open as openDialog } from "@tauri-apps/plugin-dialog";
import { call, commands } from "../api";
import { invalidate, keys } from "../data";
import type { Catalog, ConfigDoc, ConfigKind, Problem } from "../types";
import { Badge, ErrorBox } from "../components";
import { fileNameFor, problemsByLine, setYamlField, template } from "../logic";

const KINDS: { kind: ConfigKind; label: string }[] = [
  { kind: "providers", label: "Providers" },
  { kind: "harnesses", label: "Harness profiles" },
  { kind: "variants", label: "Variants" },
  { kind: "experiments", label: "Experiments" },
  { kind: "task-cards", label: "Task cards" },
];

interface Draft {
  kind: ConfigKind;
  file: string;
  text: string;
  isNew: boolean;
}

export function SetupScreen() {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [elsewhere, setElsewhere] = useState<Problem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const [dirty, setDirty] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const seq = useRef(0);

  const load = () => call(commands.configCatalog()).then(setCatalog, setError);
  useEffect(() => {
    load();
  }, []);

  // Validate while typing (debounced; stale answers are dropped).
  useEffect(() => {
    if (!draft) return;
    const mine = ++seq.current;
    const t = setTimeout(() => {
      call(commands.configCheck(draft.kind, draft.file, draft.text)).then(
        (c) => {
          if (mine !== seq.current) return;
          setProblems(c.problems);
          setElsewhere(c.elsewhere);
        },
        (e) => mine === seq.current && setError(e),
      );
    }, 150);
    return () => clearTimeout(t);
  }, [draft?.kind, draft?.file, draft?.text]);

  const open = (d: ConfigDoc) => {
    setDraft({ kind: d.kind, file: d.file, text: d.text, isNew: false });
    setProblems(d.problems);
    setSaved("");
    setDirty(false);
  };
  const create = (kind: ConfigKind) => {
    const name = `new-${kind.replace(/s$/, "").replace("-card", "")}`;
    setDraft({ kind, file: fileNameFor(name), text: template(kind, name), isNew: true });
    setSaved("");
    setDirty(true);
  };
  const save = async () => {
    if (!draft) return;
    setError(null);
    try {
      await call(commands.configSave(draft.kind, draft.file, draft.text));
      setSaved(`Saved ${draft.kind}/${draft.file}`);
      setDirty(false);
      setDraft({ ...draft, isNew: false });
      load();
      // What can be picked elsewhere changed.
      invalidate(keys.choices);
    } catch (e) {
      setError(e);
    }
  };
  const pickRepo = async () => {
    if (!draft) return;
    try {
      const dir = await openDialog({ directory: true, title: "The repository this task card works on" });
      if (typeof dir === "string") {
        setDraft({ ...draft, text: setYamlField(draft.text, "repo_path", dir) });
        setDirty(true);
      }
    } catch (e) {
      setError(e);
    }
  };
  const goToLine = (line: number | null) => {
    const el = area.current;
    if (!el || !line) return;
    const lines = el.value.split("\n");
    const pos = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(pos, pos + (lines[line - 1]?.length ?? 0));
  };

  const byLine = useMemo(() => problemsByLine(problems), [problems]);
  const lineCount = draft ? draft.text.split("\n").length : 0;

  return (
    <section aria-labelledby="setup-title" class="setup">
      <header class="screen-head">
        <h1 id="setup-title">Experiment setup</h1>
        <p class="sub">
          Providers, harness profiles, variants, experiments and task cards are YAML files in <code>{catalog?.config_dir ?? "configs/"}</code>. Edits are
          checked against the whole set as you type.
        </p>
      </header>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      <div class="split">
        <aside class="doclist" aria-label="Configuration files">
          {KINDS.map(({ kind, label }) => {
            const docs = catalog?.docs.filter((d) => d.kind === kind) ?? [];
            return (
              <div key={kind} class="kind">
                <div class="kind-head">
                  <h3>{label}</h3>
                  <button type="button" class="link" onClick={() => create(kind)} aria-label={`New ${label}`}>
                    + New
                  </button>
                </div>
                <ul>
                  {docs.map((d) => (
                    <li key={d.file}>
                      <button type="button" class={draft?.kind === d.kind && draft.file === d.file ? "doc active" : "doc"} onClick={() => open(d)}>
                        {d.name ?? d.file}
                        {d.problems.length > 0 && <Badge tone="bad">{d.problems.length}</Badge>}
                      </button>
                    </li>
                  ))}
                </ul>
              </div>
            );
          })}
        </aside>
        <div class="editor-pane">
          {!draft ? (
            <div class="empty">
              <h3>Pick a file, or create one</h3>
              <p>Start with an experiment: it names the variants you want to compare. Each variant is a provider × model × harness profile.</p>
            </div>
          ) : (
            <>
              <div class="row gap">
                <label>
                  File{" "}
                  <input
                    value={draft.file}
                    disabled={!draft.isNew}
                    aria-label="File name"
                    onInput={(e) => setDraft({ ...draft, file: (e.target as HTMLInputElement).value })}
                  />
                </label>
                <span class="muted">{draft.kind}/</span>
                <div class="spacer" />
                {draft.kind === "task-cards" && (
                  <button type="button" onClick={pickRepo}>
                    Pick repository folder…
                  </button>
                )}
                {saved && !dirty && <span class="note">{saved}</span>}
                <button type="button" id="config-save" class="primary" disabled={problems.length > 0 || !dirty} onClick={save}>
                  Save
                </button>
              </div>
              <div class="editor">
                <div class="gutter" ref={gutter} aria-hidden="true">
                  {Array.from({ length: lineCount }, (_, i) => (
                    <div
                      key={i}
                      class={byLine.has(i + 1) ? "ln bad" : "ln"}
                      title={byLine
                        .get(i + 1)
                        ?.map((p) => p.message)
                        .join("\n")}
                    >
                      {i + 1}
                    </div>
                  ))}
                </div>
                <textarea
                  ref={area}
                  spellcheck={false}
                  aria-label="YAML document"
                  value={draft.text}
                  onScroll={(e) => {
                    if (gutter.current) gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop;
                  }}
                  onInput={(e) => {
                    setDraft({ ...draft, text: (e.target as HTMLTextAreaElement).value });
                    setDirty(true);
                  }}
                />
              </div>
              <ul class="problems" aria-live="polite" data-testid="draft-problems">
                {problems.length === 0 && <li class="ok">No problems.</li>}
                {problems.map((p, i) => (
                  <li key={i}>
                    <button type="button" class="link" onClick={() => goToLine(p.line)}>
                      {p.line ? `line ${p.line}` : "file"}
                    </button>
                    {p.field && <code>{p.field}</code>}: {p.message}
                    {p.fix && <span class="fix"> — {p.fix}</span>}
                  </li>
                ))}
              </ul>
              {elsewhere.length > 0 && (
                <details>
                  <summary>{elsewhere.length} problem(s) in other files</summary>
                  <ul class="problems">
                    {elsewhere.map((p, i) => (
                      <li key={i}>
                        {p.file}
                        {p.line ? `:${p.line}` : ""} {p.field && <code>{p.field}</code>}: {p.message}
                      </li>
                    ))}
                  </ul>
                </details>
              )}
            </>
          )}
        </div>
      </div>
    </section>
  );
}
