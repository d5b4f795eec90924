import { useEffect, useState } from "preact/hooks";
import type { Choices, StartSession } from "../../types";

/** Pick experiment, variant, task card (and a label) and start a session. */
export function Picker({ choices, busy, onStart }: { choices: Choices | undefined; busy: boolean; onStart: (req: StartSession) => void }) {
  const [experiment, setExperiment] = useState("");
  const [variant, setVariant] = useState("");
  const [taskCard, setTaskCard] = useState("");
  const [label, setLabel] = useState("");
  const [exploratory, setExploratory] = useState(false);
  const [isolate, setIsolate] = useState(false);

  useEffect(() => {
    if (!choices || experiment) return;
    const first = choices.experiments.find((e) => e.name === "sim-profiles") ?? choices.experiments[0];
    if (first) {
      setExperiment(first.name);
      setVariant(first.variants[0] ?? "");
    }
    setTaskCard(choices.task_cards.includes("sample-traffic") ? "sample-traffic" : (choices.task_cards[0] ?? ""));
  }, [choices]);

  const exp = choices?.experiments.find((e) => e.name === experiment);
  const isolation = choices?.isolation?.find((i) => i.variant === variant);
  return (
    <>
      <form
        class="picker"
        onSubmit={(e) => {
          e.preventDefault();
          onStart({ experiment, variant, task_card: taskCard, label: label || null, exploratory, isolate: isolate && !!isolation });
        }}
      >
        <label>
          Experiment
          <select
            id="pick-experiment"
            value={experiment}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              setExperiment(v);
              setVariant(choices?.experiments.find((x) => x.name === v)?.variants[0] ?? "");
            }}
          >
            {choices?.experiments.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Variant
          <select id="pick-variant" value={variant} onChange={(e) => setVariant((e.target as HTMLSelectElement).value)}>
            {exp?.variants.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label>
          Task card
          <select id="pick-task" value={taskCard} onChange={(e) => setTaskCard((e.target as HTMLSelectElement).value)}>
            {choices?.task_cards.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label
          <input value={label} placeholder="optional" onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={exploratory} onChange={(e) => setExploratory((e.target as HTMLInputElement).checked)} /> Exploratory
        </label>
        {isolation && (
          <label class="check" title={`${isolation.effect} You give up: ${isolation.gives_up}`}>
            <input id="pick-isolate" type="checkbox" checked={isolate} onChange={(e) => setIsolate((e.target as HTMLInputElement).checked)} /> Isolate harness
            state
          </label>
        )}
        <button id="session-start" class="primary" type="submit" disabled={busy || !variant || !taskCard}>
          Start session
        </button>
      </form>
      {exp?.description && <p class="muted small">{exp.description}</p>}
      {isolation && isolate && (
        <p class="muted small">
          {isolation.effect} You give up: {isolation.gives_up}
        </p>
      )}
    </>
  );
}
