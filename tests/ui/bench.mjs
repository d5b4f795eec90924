// Desktop benchmark (prints figures; asserts nothing about time):
//  1. cold start to first paint: from spawning the app to its "first paint" line (the UI reports
//     its first frame through the `ui_ready` command), 5 launches;
//  2. idle memory: proportional set size (PSS) of the app and its WebKit processes after 5 s idle,
//     after each of the 5 launches (median and range), stack not running (so without LiteLLM);
//  3. live-chart latency: with the real stack, 30 requests sent with a session's copied env; for
//     each, the time from the proxy recording the request as finished to the Session screen
//     rendering it (the page's own clock, `data-lag-ms`);
//  4. frame times under load: 20 concurrent streaming clients for 10 s on the open session while
//     the page records the interval between its animation frames (requestAnimationFrame), until
//     the live panel has shown every request.
// Run: scripts/bench-desktop.sh (builds what it needs, runs inside a private Secret Service).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import { remote } from "webdriverio";
import { appEnv, assert, bin, parseShellEnv, processTree, profile, setStackEnv, startDriver, startXvfb, stopAll, waitFor, watchdog } from "./lib.mjs";

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (v, p) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];

function memoryKiB(pid) {
  let pss = 0;
  let rss = 0;
  let anon = 0;
  const names = [];
  for (const p of processTree(pid)) {
    try {
      const roll = fs.readFileSync(`/proc/${p}/smaps_rollup`, "utf8");
      pss += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
      rss += Number(/^Rss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
      anon += Number(/^Pss_Anon:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
      names.push(fs.readFileSync(`/proc/${p}/comm`, "utf8").trim());
    } catch {}
  }
  return { pss, rss, anon, names };
}

async function coldStarts(env, n) {
  const paints = [];
  const mems = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const child = spawn(bin, [], { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const painted = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no first paint within 30 s:\n${err}`)), 30000);
      child.stderr.on("data", (d) => {
        err += d;
        if (/first paint \d+ ms after start/.test(err)) {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        }
      });
      child.on("exit", (c) => reject(new Error(`the app exited (${c}):\n${err}`)));
    });
    paints.push(painted);
    await new Promise((r) => setTimeout(r, 5000)); // idle: nothing runs, measure what stays
    mems.push(memoryKiB(child.pid));
    child.removeAllListeners("exit");
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  // PSS moves by a few MiB from start to start (which library pages the kernel maps around each
  // page touched depends on the page cache): the start with the median PSS, and the range.
  const byPss = [...mems].sort((a, b) => a.pss - b.pss);
  const mem = { ...byPss[Math.floor(byPss.length / 2)], all: mems.map((m) => m.pss) };
  return { paints, mem };
}

/** `streams` clients each sending streamed requests back to back for `ms`, while the page logs
 * its frame intervals; resolves once the live panel shows every request. */
async function frameTimes(browser, s, streams, ms) {
  const shown = () => browser.execute(() => Number(document.querySelector("[data-testid=live]")?.getAttribute("data-requests")));
  const before = await shown();
  await browser.execute(() => {
    window.__frames = [];
    window.__recording = true;
    let last = null;
    const frame = (t) => {
      if (last !== null) window.__frames.push(t - last);
      last = t;
      if (window.__recording) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  const t0 = Date.now();
  let sent = 0;
  await Promise.all(
    Array.from({ length: streams }, async (_, k) => {
      while (Date.now() - t0 < ms) {
        const r = await fetch(`${s.OPENAI_BASE_URL}/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${s.OPENAI_API_KEY}`, "content-type": "application/json" },
          body: JSON.stringify({ model: s.OPENAI_MODEL, stream: true, messages: [{ role: "user", content: `load ${k} ${sent}` }] }),
        });
        assert(r.ok, `HTTP ${r.status}`);
        await r.text();
        sent++;
      }
    }),
  );
  await waitFor(`all ${sent} load requests in the live panel`, async () => (await shown()) >= before + sent, 60000);
  const frames = await browser.execute(() => {
    window.__recording = false;
    return window.__frames;
  });
  assert(frames.length > 10, `the page drew ${frames.length} frames under load`);
  return { streams, seconds: ms / 1000, requests: sent, frames };
}

async function liveLag(env, driverPort, requests) {
  const browser = await remote({ hostname: "127.0.0.1", port: driverPort, logLevel: "warn", capabilities: { "tauri:options": { application: bin } } });
  const $ = (s) => browser.$(s);
  try {
    await waitFor("first paint", () => browser.execute(() => document.body.getAttribute("data-painted")), 15000);
    await (await $("#stack-start")).click();
    await waitFor("the stack", async () => {
      const st = await browser.execute(() => [...document.querySelectorAll("tr[data-service]")].map((r) => r.getAttribute("data-state")));
      return st.length >= 3 && st.every((s) => s === "running");
    }, 240000);
    await (await $("#nav-session")).click();
    await waitFor("pickers", async () => (await (await $("#pick-variant")).getValue()) === "sim-fast-oai", 10000);
    await (await $("#session-start")).click();
    await waitFor("env", async () => (await $("[data-testid=env-text]")).isExisting(), 15000);
    await (await $("#copy-env")).click();
    const env2 = await waitFor("clipboard", () => {
      try {
        const t = execFileSync("xclip", ["-o", "-selection", "clipboard"], { env, timeout: 3000, stdio: ["ignore", "pipe", "ignore"] }).toString();
        return t.includes("OPENAI_API_KEY") ? parseShellEnv(t) : null;
      } catch {
        return null;
      }
    }, 5000);
    const lags = [];
    for (let i = 0; i < requests; i++) {
      const r = await fetch(`${env2.OPENAI_BASE_URL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${env2.OPENAI_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: env2.OPENAI_MODEL, stream: true, messages: [{ role: "user", content: `bench ${i}` }] }),
      });
      assert(r.ok, `HTTP ${r.status}`);
      await r.text();
      const lag = await waitFor(`request ${i + 1} in the chart`, async () => {
        const [n, l] = await browser.execute(() => {
          const el = document.querySelector("[data-testid=live]");
          return [Number(el?.getAttribute("data-requests")), el?.getAttribute("data-lag-ms")];
        });
        return n >= i + 1 && l !== "" ? Number(l) : null;
      }, 10000);
      lags.push(lag);
    }
    const load = await frameTimes(browser, env2, 20, 10000);
    await (await $("#session-finalize")).click();
    await waitFor("completed", async () => (await (await $("[data-testid=session-head]")).getAttribute("data-status")) === "completed", 20000);
    await (await $("#nav-stack")).click();
    await waitFor("Stop to be enabled", async () => (await $("#stack-stop")).isEnabled(), 15000);
    await (await $("#stack-stop")).click();
    await waitFor("stack stopped", async () => {
      const st = await browser.execute(() => [...document.querySelectorAll("tr[data-service]")].map((r) => r.getAttribute("data-state")));
      return st.length >= 3 && st.every((s) => s !== "running");
    }, 60000);
    return { lags, load };
  } finally {
    await browser.deleteSession().catch(() => {});
  }
}

async function main() {
  watchdog(15 * 60 * 1000);
  assert(fs.existsSync(bin), `${bin} is missing`);
  const display = await startXvfb();
  const env = await appEnv(display);
  setStackEnv(env);
  const { paints, mem } = await coldStarts(env, 5);
  const driverPort = await startDriver(env);
  const { lags, load } = await liveLag(env, driverPort, 30);
  const fmt = (x) => x.toFixed(0);
  console.log(`StackPerf desktop benchmark (${profile} build, this machine)`);
  console.log(`  start to first paint   first (coldest) ${fmt(paints[0])} ms; median of ${paints.length} ${fmt(median(paints))} ms; all ${paints.map(fmt).join(", ")} ms   (goal ≤ 1500 ms)`);
  const mb = (kib) => ((kib * 1024) / 1e6).toFixed(0);
  console.log(`  idle memory            PSS median of ${mem.all.length} starts ${(mem.pss / 1024).toFixed(0)} MiB = ${mb(mem.pss)} MB (range ${mb(Math.min(...mem.all))}–${mb(Math.max(...mem.all))} MB; of it private/anonymous ${(mem.anon / 1024).toFixed(0)} MiB, the rest shared library pages; RSS sum ${(mem.rss / 1024).toFixed(0)} MiB) over ${mem.names.join(", ")}, no stack running   (goal ≤ 200 MB)`);
  console.log(`  request → live chart   median ${fmt(median(lags))} ms, p95 ${fmt(pct(lags, 95))} ms, max ${fmt(Math.max(...lags))} ms over ${lags.length} requests   (goal ≤ 1000 ms)`);
  const f = load.frames;
  console.log(`  frames under load      ${load.streams} streams for ${load.seconds} s (${load.requests} requests, all shown): frame interval median ${median(f).toFixed(1)} ms, p95 ${pct(f, 95).toFixed(1)} ms, p99 ${pct(f, 99).toFixed(1)} ms, max ${Math.max(...f).toFixed(0)} ms; ${f.filter((x) => x > 50).length} of ${f.length} frames over 50 ms`);
  console.log(JSON.stringify({ frame_interval_ms: { median: median(f), p95: pct(f, 95), p99: pct(f, 99), max: Math.max(...f), over_50ms: f.filter((x) => x > 50).length, frames: f.length }, load_requests: load.requests }));
  console.log(JSON.stringify({ first_paint_ms: paints, idle_pss_kib: mem.pss, idle_pss_kib_all: mem.all, idle_rss_kib: mem.rss, idle_anon_kib: mem.anon, live_lag_ms: lags }));
}

main()
  .then(() => {
    stopAll();
    process.exit(0);
  })
  .catch((e) => {
    console.error(`benchmark failed: ${e.stack ?? e}`);
    stopAll();
    process.exit(1);
  });
