// The installed package, started as a new user would: /usr/bin/stackperf-desktop from the .deb,
// a fresh home directory, no StackPerf environment, a working directory without configs/.
//  1. cold start to first paint (the app's own "first paint" line), 3 launches, figure printed;
//  2. the window through WebDriver: the shipped sim experiment is there (copied on first start
//     to ~/.config/stackperf), screenshots; the window follows the dark preference;
//  3. the installed CLI finds the same configuration from the same home, brings up the stack
//     (its edge, LiteLLM, the simulator, Prometheus) and carries a session's request.
// Run by scripts/test-package.sh (which installs and removes the package).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { remote } from "webdriverio";
import { artifacts, assert, freePorts, parseShellEnv, processTree, screenshot, setStackEnv, startDriver, startXvfb, stopAll, waitFor, watchdog, work } from "./lib.mjs";

const app = process.env.STACKPERF_INSTALLED_APP ?? "/usr/bin/stackperf-desktop";
const cli = path.join(path.dirname(app), "stackperf");
const shipped = "/usr/share/stackperf/configs";
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** A new user's environment: nothing of ours, a fresh home, the display. */
function userEnv(home, display, extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith("STACKPERF_") || k.startsWith("XDG_") || k.startsWith("TAURI_")) delete env[k];
  }
  return { ...env, HOME: home, DISPLAY: display, NO_AT_BRIDGE: "1", ...extra };
}

/** Start the app, wait for its first paint, run `then(pid)`, stop it; resolves to the first-paint time. */
async function firstPaint(env, cwd, then = async () => {}) {
  const t0 = performance.now();
  const child = spawn(app, [], { env, cwd, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no first paint within 30 s:\n${err}`)), 30000);
      child.stderr.on("data", (d) => {
        err += d;
        if (/first paint \d+ ms after start/.test(err)) {
          clearTimeout(timer);
          const ms = performance.now() - t0;
          then(child.pid).then(() => resolve(ms), reject);
        }
      });
      child.on("exit", (c) => reject(new Error(`the installed app exited (${c}) before its first paint:\n${err}`)));
    });
  } finally {
    child.removeAllListeners("exit");
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r()));
  }
}

/** The GL drivers the app and its WebKit web process loaded (EGL vendor libraries, Mesa's DRI
 * drivers and the libLLVM they link): the app's own process needs none (it shows what the web
 * process paints; StackPerf keeps them out, ~18 MiB with Mesa's software driver), the web
 * process paints with EGL and must still have found its driver. */
function glDrivers(pid) {
  const gl = /\/(libEGL_\w+|\w+_dri|libGLX_\w+|libLLVM)[^/]*\.so[^/]*$/;
  const loaded = (p) => [...new Set(fs.readFileSync(`/proc/${p}/maps`, "utf8").split("\n").filter((l) => gl.test(l)).map((l) => path.basename(l.trim().split(/\s+/).pop())))];
  const web = processTree(pid).find((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, "utf8").startsWith("WebKitWebProces");
    } catch {
      return false;
    }
  });
  assert(web, "the app's WebKit web process is running at its first paint");
  const app = loaded(pid);
  const webGl = loaded(web);
  assert(app.length === 0, `the app's own process loaded no GL driver, found: ${app.join(", ")}`);
  assert(webGl.some((l) => l.startsWith("libEGL_")), `the web process paints with an EGL driver, found: ${webGl.join(", ") || "none"}`);
  return webGl;
}

async function windowChecks(env, home) {
  const driverPort = await startDriver(env, home);
  const browser = await remote({
    hostname: "127.0.0.1",
    port: driverPort,
    logLevel: "warn",
    capabilities: { "tauri:options": { application: app } },
  });
  try {
    await waitFor("first paint", () => browser.execute(() => document.body.getAttribute("data-painted")), 20000);
    await (await browser.$("#nav-setup")).click();
    await waitFor("the shipped sim-profiles experiment", async () => (await browser.$("button.doc=sim-profiles")).isExisting(), 15000);
    const where = await browser.execute(() => document.body.innerText);
    const userDir = path.join(home, ".config/stackperf");
    assert(where.includes(userDir), `the Setup screen names the user's config dir ${userDir}:\n${where.slice(0, 1500)}`);
    await (await browser.$("button.doc=sim-profiles")).click();
    await browser.pause(300);
    await screenshot(browser, path.join(artifacts, "install-setup.png"));
    await (await browser.$("#nav-stack")).click();
    await waitFor("the Stack screen", async () => (await browser.$("#stack-start")).isExisting(), 10000);
    await browser.pause(300);
    await screenshot(browser, path.join(artifacts, "install-stack-light.png"));
  } finally {
    await browser.deleteSession().catch(() => {});
  }
}

/** The installed CLI's stack on free ports: a session's request through the edge is recorded. */
async function installedStack(userEnvironment, home) {
  const [edge, litellm, sim, prometheus] = await freePorts(4);
  const env = {
    ...userEnvironment,
    // The LiteLLM virtualenv the other tests installed (a new user's first start installs it).
    STACKPERF_CACHE_DIR: process.env.STACKPERF_CACHE_DIR ?? path.join(home, ".cache/stackperf"),
    STACKPERF_EDGE_PORT: String(edge),
    STACKPERF_LITELLM_PORT: String(litellm),
    STACKPERF_SIM_PORT: String(sim),
    STACKPERF_PROMETHEUS_PORT: String(prometheus),
  };
  const run = (args) => execFileSync(cli, args, { env, cwd: home, timeout: 300000 }).toString();
  setStackEnv(env);
  try {
    run(["stack", "up"]);
    const created = run(["session", "create", "--experiment", "sim-profiles", "--variant", "sim-fast-oai", "--task-card", "sample-traffic", "--format", "shell"]);
    const s = parseShellEnv(created);
    assert(s.OPENAI_BASE_URL?.includes(`:${edge}/`), `the session's base URL is the installed stack's edge: ${created}`);
    const r = await fetch(`${s.OPENAI_BASE_URL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${s.OPENAI_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: s.OPENAI_MODEL, messages: [{ role: "user", content: "hello" }] }),
    });
    assert(r.status === 200, `a session request through the installed stack: HTTP ${r.status} ${await r.text()}`);
    const collected = JSON.parse(run(["collect", "--json"]));
    const c = collected.report;
    const sessionRows = c.inserted - c.internal - c.usage - c.unattributed;
    assert(sessionRows === 1 && c.malformed === 0, `the session's one request was recorded: ${JSON.stringify(c)}`);
  } finally {
    run(["stack", "down"]);
    setStackEnv(null);
  }
}

async function main() {
  watchdog(300000);
  assert(fs.existsSync(app), `${app} is not installed`);
  const display = await startXvfb();
  const home = path.join(work, "home");
  fs.mkdirSync(home, { recursive: true });
  const env = userEnv(home, display);

  const paints = [];
  let webGl = [];
  for (let i = 0; i < 3; i++) paints.push(await firstPaint(env, home, async (pid) => (webGl = glDrivers(pid))));
  const shippedText = fs.readFileSync(path.join(shipped, "experiments/sim-profiles.yaml"), "utf8");
  const copied = path.join(home, ".config/stackperf/experiments/sim-profiles.yaml");
  assert(fs.existsSync(copied), `the first start copied the shipped configuration to ${copied}`);
  assert(fs.readFileSync(copied, "utf8") === shippedText, "the copy equals the shipped file");

  await windowChecks(env, home);
  // Dark: the system preference (GTK_THEME) on a window started directly (a WebDriver session
  // keeps WebKit's light scheme), captured from the X display.
  const darkShot = path.join(artifacts, "install-stack-dark.png");
  await firstPaint(userEnv(home, display, { GTK_THEME: "Adwaita:dark" }), home, async () => {
    await new Promise((r) => setTimeout(r, 1500)); // the data sizes arrive after the first frame: for the picture only
    execFileSync("import", ["-window", "root", darkShot], { env: { ...process.env, DISPLAY: display } });
  });
  const mean = Number(execFileSync("convert", [darkShot, "-colorspace", "Gray", "-format", "%[fx:mean]", "info:"]).toString());
  assert(mean < 0.35, `the window follows the system's dark preference (mean brightness ${mean.toFixed(2)})`);

  const validate = execFileSync(cli, ["config", "validate"], { env, cwd: home }).toString();
  assert(validate.includes(path.join(home, ".config/stackperf")), `the installed CLI validates the user's configuration: ${validate}`);
  await installedStack(env, home);
  console.log(`installed app: first paint median ${median(paints).toFixed(0)} ms (${paints.map((p) => p.toFixed(0)).join(", ")} ms over 3 cold starts)`);
  console.log(`installed app: shipped sim-profiles experiment present; ${validate.trim()}`);
  console.log(`installed app: no GL driver in the app's process; its web process paints with ${webGl.join(", ")}`);
}

main()
  .then(() => {
    stopAll();
    process.exit(0);
  })
  .catch((e) => {
    console.error(e);
    stopAll();
    process.exit(1);
  });
