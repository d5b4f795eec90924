// Shared by the desktop end-to-end test and the desktop benchmark: Xvfb, tauri-driver, the
// app's environment on free ports, polling waits (no sleeps as synchronization).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
/** Which build: `debug` (the tests) or `release` (the benchmark: STACKPERF_PROFILE=release). */
export const profile = process.env.STACKPERF_PROFILE ?? "debug";
export const bin = path.join(root, `target/${profile}/stackperf-desktop`);
export const cliBin = path.join(root, `target/${profile}/stackperf`);
export const driverBin = process.env.TAURI_DRIVER ?? path.join(root, "target/tools/bin/tauri-driver");
export const artifacts = path.join(root, "target/test-artifacts/ui");
fs.mkdirSync(artifacts, { recursive: true });
export const work = fs.mkdtempSync(path.join(os.tmpdir(), "stackperf-ui-"));
const children = [];

/** `pid` and all its descendants (from /proc). */
export function processTree(pid) {
  const out = [pid];
  for (const p of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(...processTree(Number(p)));
    } catch {}
  }
  return out;
}

/**
 * `n` distinct free loopback ports below the kernel's ephemeral range (32768+): a port bind(0)
 * hands out is an ephemeral one, which any outgoing connection may take before the app binds it
 * (seen in CI: "litellm cannot start: port 41653 … is already in use"). All are held until every
 * one is known, so none is handed out twice.
 */
export async function freePorts(n) {
  const held = [];
  const ports = [];
  while (ports.length < n) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (ports.includes(port)) continue;
    const s = net.createServer();
    const ok = await new Promise((resolve) => {
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) {
      held.push(s);
      ports.push(port);
    }
  }
  await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export function start(cmd, args, env, name, cwd = undefined) {
  const log = fs.openSync(path.join(artifacts, `${name}.log`), "w");
  const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", log, log], detached: true });
  children.push(child);
  return child;
}

let stackEnv = null;
export function setStackEnv(env) {
  stackEnv = env;
}
export function stopAll() {
  if (stackEnv) {
    // The stack outlives the window by design; a failed run must not leave it running.
    try {
      execFileSync(cliBin, ["stack", "down"], { env: stackEnv, stdio: "ignore", timeout: 60000 });
    } catch {}
  }
  for (const c of children.reverse()) {
    try {
      process.kill(-c.pid, "SIGTERM");
    } catch {}
  }
}

// Ctrl-C, a kill, or a hung WebDriver call past the watchdog: clean up (stack included) and fail.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`interrupted (${sig}): cleaning up`);
    stopAll();
    process.exit(130);
  });
}

/** Fail the whole run (cleanly) if it takes longer than `ms`. */
export function watchdog(ms) {
  const t = setTimeout(() => {
    console.error(`watchdog: no result after ${ms / 1000} s; logs in ${artifacts}, work dir ${work}`);
    stopAll();
    process.exit(1);
  }, ms);
  t.unref();
}

export async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** `export NAME='value'` lines (the shell format) into an object. */
export function parseShellEnv(text) {
  const env = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2];
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    env[m[1]] = v;
  }
  return env;
}


/** Start Xvfb on a display of our own; resolves to the DISPLAY value. */
export async function startXvfb() {
  const display = `:${100 + (process.pid % 400)}`;
  start("Xvfb", [display, "-screen", "0", "1280x860x24", "-nolisten", "tcp"], process.env, "xvfb");
  await waitFor("Xvfb", () => fs.existsSync(`/tmp/.X11-unix/X${display.slice(1)}`), 10000);
  return display;
}

/** The app's environment: a private copy of the configs, a fresh data dir, free ports. */
export async function appEnv(display) {
  const configDir = path.join(work, "configs");
  fs.cpSync(path.join(root, "configs"), configDir, { recursive: true });
  // Task cards name repositories relative to the configs' parent (examples/task-repo).
  fs.cpSync(path.join(root, "examples"), path.join(work, "examples"), { recursive: true });
  // A two-variant run of a two-task suite for the Run panel (the real Codex and Gemini CLI on
  // the scripted agent; agent-coin-flip gets half its results wrong).
  fs.writeFileSync(path.join(configDir, "experiments/run-e2e.yaml"), "name: run-e2e\nvariants: [codex-sim-agent, gemini-cli-sim-agent]\nsuite: e2e-suite\n");
  fs.writeFileSync(
    path.join(configDir, "suites/e2e-suite.yaml"),
    "name: e2e-suite\ntasks:\n  - { task_card: agent-quick }\n  - { task_card: agent-coin-flip }\n",
  );
  const [edge, litellm, sim, prometheus] = await freePorts(4);
  return {
    ...process.env,
    // The harness CLIs automated runs launch (tests/harness, pinned).
    PATH: `${path.join(root, "tests/harness/node_modules/.bin")}:${process.env.PATH}`,
    DISPLAY: display,
    STACKPERF_CONFIG_DIR: configDir,
    STACKPERF_DATA_DIR: path.join(work, "data"),
    STACKPERF_CACHE_DIR: process.env.STACKPERF_CACHE_DIR ?? path.join(root, "target/stackperf-cache"),
    STACKPERF_EDGE_PORT: String(edge),
    STACKPERF_LITELLM_PORT: String(litellm),
    STACKPERF_SIM_PORT: String(sim),
    STACKPERF_PROMETHEUS_PORT: String(prometheus),
    STACKPERF_BIN: cliBin,
    NO_AT_BRIDGE: "1",
    // The app's own settings (the remembered window size and place) start fresh, so every run
    // begins at the default window size, and a person's real app state is never touched.
    XDG_CONFIG_HOME: path.join(work, "xdg-config"),
  };
}

/** Start tauri-driver (WebKitWebDriver behind it, and the app it starts) with `env`, in `cwd`;
 * resolves to its port. */
export async function startDriver(env, cwd = undefined) {
  const [port] = await freePorts(1);
  start(driverBin, ["--port", String(port), "--native-driver", "/usr/bin/WebKitWebDriver"], env, "tauri-driver", cwd);
  await waitFor("tauri-driver", () => new Promise((r) => {
    const s = net.connect(port, "127.0.0.1", () => (s.end(), r(true)));
    s.on("error", () => r(false));
  }), 15000);
  return port;
}

/** Save a screenshot of the window. WebKitGTK without its DMA-BUF renderer (the app's default on
 * Linux) answers WebDriver's screenshot only after the page's next rendering update, which an idle
 * page never has (the screenshot hung for minutes): a 1-pixel element keeps changing, invisibly,
 * until the picture is taken. */
export async function screenshot(browser, file) {
  await browser.execute(() => {
    let el = document.getElementById("__repaint");
    if (!el) {
      el = document.createElement("div");
      el.id = "__repaint";
      el.style.cssText = "position:fixed;right:0;bottom:0;width:1px;height:1px;pointer-events:none;z-index:2147483647";
      document.body.appendChild(el);
    }
    window.__repaint = true;
    let n = 0;
    const tick = () => {
      if (!window.__repaint) return el.remove();
      el.style.background = n++ % 2 ? "rgba(128,128,128,0.02)" : "rgba(128,128,128,0.03)";
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  try {
    await browser.saveScreenshot(file);
  } finally {
    await browser.execute(() => {
      window.__repaint = false;
    });
  }
}
