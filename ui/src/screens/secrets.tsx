import { useEffect, useState } from "preact/hooks";
import { call, commands } from "../api";
import type { SecretInfo } from "../types";
import { Badge, ErrorBox } from "../components";
import { invalidate, keys, useQuery } from "../data";

export function SecretsScreen() {
  const secrets = useQuery(keys.secrets, () => call(commands.secretsList()));
  const list: SecretInfo[] | null = secrets.data ?? null;
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [value, setValue] = useState("");
  const [newName, setNewName] = useState("");
  const [nameProblem, setNameProblem] = useState<string | null>(null);
  const [note, setNote] = useState("");

  // Core's rule for secret names, asked as the user types (the UI keeps no copy of it).
  useEffect(() => {
    if (newName === "") return setNameProblem(null);
    let current = true;
    call(commands.secretNameCheck(newName)).then((p) => current && setNameProblem(p), setError);
    return () => {
      current = false;
    };
  }, [newName]);

  const refresh = () => invalidate(keys.secrets);

  const save = async (name: string) => {
    setError(null);
    try {
      await call(commands.secretSet(name, value));
      setNote(`${name} saved to the OS keychain.`);
      setEditing(null);
      setValue("");
      setNewName("");
      refresh();
    } catch (e) {
      setError(e);
    }
  };
  const remove = async (name: string) => {
    setError(null);
    try {
      const removed = await call(commands.secretDelete(name));
      setNote(removed ? `${name} removed from the keychain.` : `${name} was not in the keychain.`);
      refresh();
    } catch (e) {
      setError(e);
    }
  };

  const editor = (name: string) => (
    <form
      class="row gap"
      onSubmit={(e) => {
        e.preventDefault();
        save(name);
      }}
    >
      <input
        type="password"
        autoComplete="off"
        aria-label={`Value for ${name}`}
        placeholder="paste the key"
        value={value}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        // biome-ignore lint/a11y/noAutofocus: the user just pressed Set/Replace for this secret; typing goes here.
        autoFocus
      />
      <button class="primary" type="submit" disabled={!value}>
        Save
      </button>
      <button
        type="button"
        onClick={() => {
          setEditing(null);
          setValue("");
        }}
      >
        Cancel
      </button>
    </form>
  );

  return (
    <section aria-labelledby="secrets-title">
      <header class="screen-head">
        <h1 id="secrets-title">Secrets</h1>
        <p class="sub">Provider keys live in the OS keychain; StackPerf never shows or stores their values anywhere else. The simulator needs none.</p>
      </header>
      <ErrorBox error={error ?? secrets.error} onDismiss={() => setError(null)} />
      {note && (
        <p class="note" role="status">
          {note}
        </p>
      )}
      <table class="grid" data-testid="secrets">
        <thead>
          <tr>
            <th>Name</th>
            <th>Used by</th>
            <th>Keychain</th>
            <th>Environment</th>
            <th>In use</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list?.map((s) => (
            <tr key={s.name}>
              <td>
                <code>{s.name}</code>
              </td>
              <td>{s.used_by.join(", ")}</td>
              <td>{s.in_keychain ? <Badge tone="ok">set</Badge> : <Badge tone="muted">not set</Badge>}</td>
              <td>{s.in_environment ? <Badge tone="warn">set (overrides)</Badge> : "–"}</td>
              <td>{s.effective ?? "–"}</td>
              <td>
                {editing === s.name ? (
                  editor(s.name)
                ) : (
                  <div class="row gap">
                    <button
                      type="button"
                      onClick={() => {
                        setEditing(s.name);
                        setValue("");
                      }}
                    >
                      {s.in_keychain ? "Replace" : "Set"}
                    </button>
                    {s.in_keychain && (
                      <button type="button" onClick={() => remove(s.name)}>
                        Delete
                      </button>
                    )}
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Another secret</h2>
      <div class="row gap">
        <input
          aria-label="Secret name"
          placeholder="NAME_OF_VARIABLE"
          value={newName}
          onInput={(e) => setNewName((e.target as HTMLInputElement).value.trim())}
          aria-invalid={nameProblem !== null}
        />
        <button
          type="button"
          disabled={newName === "" || nameProblem !== null}
          onClick={() => {
            setEditing(newName);
            setValue("");
          }}
        >
          Set…
        </button>
        {nameProblem && <span class="field-error">{nameProblem}</span>}
      </div>
      {editing && !list?.some((s) => s.name === editing) && editor(editing)}
    </section>
  );
}
