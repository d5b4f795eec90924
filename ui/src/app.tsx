import { useEffect, useState } from "preact/hooks";
import { call, commands } from "./api";
import type { AppInfo } from "./types";
import { ErrorBox } from "./components";
import { screenForKey } from "./logic";
import { StackScreen } from "./screens/stack";
import { SecretsScreen } from "./screens/secrets";
import { SetupScreen } from "./screens/setup";
import { SessionScreen } from "./screens/session";
import { CompareScreen } from "./screens/compare";
import { RunScreen } from "./screens/run";
import { ExportDialog } from "./screens/export";
import { UsageScreen } from "./screens/usage";
import { CloseDialog } from "./screens/close";
import { startDataEvents } from "./data";

const SCREENS = ["stack", "secrets", "setup", "session", "run", "compare", "usage"] as const;
type Screen = (typeof SCREENS)[number];
const LABELS: Record<Screen, string> = {
  stack: "Stack",
  secrets: "Secrets",
  setup: "Experiment setup",
  session: "Session",
  run: "Run",
  compare: "Compare",
  usage: "Usage",
};

export function App() {
  const [screen, setScreen] = useState<Screen>("stack");
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [fatal, setFatal] = useState<unknown>(null);
  const [exportOpen, setExportOpen] = useState(false);
  const [experiment, setExperiment] = useState<string>("");

  useEffect(() => startDataEvents(), []);
  useEffect(() => {
    call(commands.appInfo()).then(setInfo, setFatal);
    const onKey = (e: KeyboardEvent) => {
      const s = screenForKey(e, SCREENS);
      if (s) {
        e.preventDefault();
        setScreen(s as Screen);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  return (
    <div class="shell">
      <nav class="sidebar" aria-label="Screens">
        <div class="brand">StackPerf</div>
        {SCREENS.map((s, i) => (
          <button
            type="button"
            key={s}
            id={`nav-${s}`}
            class={screen === s ? "nav active" : "nav"}
            aria-current={screen === s ? "page" : undefined}
            title={`Alt+${i + 1}`}
            onClick={() => setScreen(s)}
          >
            {LABELS[s]}
          </button>
        ))}
        <div class="spacer" />
        <button type="button" id="open-export" class="nav" onClick={() => setExportOpen(true)}>
          Export…
        </button>
        {info && (
          <div class="paths" title={`config: ${info.config_dir}\ndata: ${info.data_dir}\ndatabase: ${info.db_path}`}>
            v{info.version}
          </div>
        )}
      </nav>
      <main class="content">
        {fatal ? (
          <ErrorBox error={fatal} />
        ) : (
          <>
            {screen === "stack" && <StackScreen />}
            {screen === "secrets" && <SecretsScreen />}
            {screen === "setup" && <SetupScreen />}
            {screen === "session" && <SessionScreen onExperiment={setExperiment} />}
            {screen === "run" && (
              <RunScreen
                onCompare={(e) => {
                  setExperiment(e);
                  setScreen("compare");
                }}
              />
            )}
            {screen === "compare" && <CompareScreen experiment={experiment} onExperiment={setExperiment} />}
            {screen === "usage" && <UsageScreen />}
          </>
        )}
      </main>
      {exportOpen && <ExportDialog experiment={experiment} onClose={() => setExportOpen(false)} />}
      <CloseDialog />
    </div>
  );
}
