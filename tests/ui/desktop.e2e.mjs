// End-to-end test of the real StackPerf window: tauri-driver + WebKitWebDriver under Xvfb.
//
// start stack → start session → copy env (read back from the X clipboard) → traffic sent with
// exactly that env → the live chart shows the requests → finalize → a second variant driven by
// the "Generate sample traffic" button → Compare shows both variants → Export writes a Parquet
// file and a PNG → a two-variant automated run from the Run panel, then its comparison → close
// the window, which stops the stack. A screenshot of every screen goes to target/test-artifacts/ui.
//
// Run from the repository root inside a Secret Service (scripts/with-keyring.sh); needs the
// desktop binary (target/debug/stackperf-desktop), the CLI (target/debug/stackperf, it serves the
// simulator), tauri-driver (target/tools/bin) and WebKitWebDriver. Prints a JSON line of figures.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { remote } from "webdriverio";
import { appEnv, artifacts, assert, bin, root, parseShellEnv, screenshot, setStackEnv, startDriver, startXvfb, stopAll, waitFor, watchdog, work } from "./lib.mjs";

const figures = {};
const step = (m) => console.error(`[e2e ${new Date().toISOString().slice(11, 23)}] ${m}`);

async function main() {
  watchdog(Number(process.env.E2E_WATCHDOG_S ?? 900) * 1000);
  assert(fs.existsSync(bin), `${bin} is missing: build it with \`cargo build -p stackperf-desktop\``);
  const display = await startXvfb();

  const env = await appEnv(display);
  const edge = env.STACKPERF_EDGE_PORT;
  setStackEnv(env);
  const driverPort = await startDriver(env);

  const t0 = Date.now();
  const browser = await remote({
    hostname: "127.0.0.1",
    port: driverPort,
    logLevel: "warn",
    capabilities: { "tauri:options": { application: bin } },
  });
  const $ = (sel) => browser.$(sel);
  // innerText through a script: WebKitWebDriver's getText hung on a full table here.
  const text = (sel) => browser.execute((q) => document.querySelector(q)?.innerText ?? "", sel);
  // Type into a field until the field holds the value: WebDriver clears the field and then types, and
  // a render that lands between the two (a reply arriving) can put the old value back, so the typing
  // appends to it ("2" + "1" = "21") — a race a person typing never meets.
  const fill = (sel, value) =>
    waitFor(`${sel} to hold ${value}`, async () => {
      const el = await $(sel);
      if ((await el.getValue()) !== value) await el.setValue(value);
      return (await el.getValue()) === value;
    }, 10000);
  const shot = async (name) => {
    // A screenshot right after a DOM change can show the previous frame; let WebKit paint.
    // (rAF may not fire while WebKit has nothing to composite: bound the wait.)
    await browser.execute(() => new Promise((r) => {
      requestAnimationFrame(() => requestAnimationFrame(() => r(true)));
      setTimeout(() => r(false), 500);
    }));
    await browser.pause(400);
    await screenshot(browser, path.join(artifacts, `${name}.png`));
  };
  try {
    await waitFor("first paint", () => browser.execute(() => document.body.getAttribute("data-painted")), 15000);
    figures.window_to_first_paint_ms = Date.now() - t0;

    step("0. A second launch hands over to the running window and exits.");
    const windowsTitled = () => Number(execFileSync("python3", [path.join(root, "tests/ui/close_window.py"), "--count", "StackPerf"], { env }).toString().trim());
    const before = windowsTitled();
    const second = Date.now();
    execFileSync(bin, [], { env, timeout: 20000, stdio: "ignore" });
    figures.second_launch_exit_ms = Date.now() - second;
    assert(windowsTitled() === before, `still ${before} StackPerf window(s) after a second launch (now ${windowsTitled()})`);

    step('1. Stack: start it and wait for every service to be healthy.');
    // 1. Stack: start it and wait for every service to be healthy.
    await (await $("#stack-start")).click();
    await waitFor("the stack to run", async () => {
      const states = await browser.execute(() => [...document.querySelectorAll("tr[data-service]")].map((r) => r.getAttribute("data-state")));
      return states.length === 4 && states.every((s) => s === "running");
    }, 240000);
    await waitFor("the proxy URL", async () => (await $("[data-testid=proxy-url]")).isExisting(), 10000);
    // The app sets a malloc tunable for WebKit's processes; the services it starts get the
    // user's environment without it (their latency is what StackPerf measures).
    {
      const environ = (p) => fs.readFileSync(`/proc/${p}/environ`, "latin1").split("\0");
      const status = JSON.parse(execFileSync(path.join(root, "target/debug/stackperf"), ["stack", "status", "--json"], { env, timeout: 30000 }).toString());
      const pids = status.services.map((s) => s.pid).filter(Boolean);
      assert(pids.length === 4, `four service pids: ${JSON.stringify(status.services)}`);
      for (const p of pids) {
        const bad = environ(p).filter((v) => v.startsWith("GLIBC_TUNABLES="));
        assert(bad.length === 0, `service ${p} (${fs.readFileSync(`/proc/${p}/comm`, "utf8").trim()}) runs with the user's environment, yet it has the app's ${bad}`);
      }
      const webs = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
        try {
          return fs.readFileSync(`/proc/${d}/comm`, "utf8").startsWith("WebKitWebProces") && environ(d).includes(`STACKPERF_DATA_DIR=${env.STACKPERF_DATA_DIR}`);
        } catch {
          return false;
        }
      });
      assert(webs.length === 1, `the app's web process found: ${webs}`);
      assert(environ(webs[0]).includes("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072"), "the web process has the fixed mmap threshold");
      figures.services_without_webkit_tunable = pids.length;
    }
    await (await $("#run-doctor")).click();
    await waitFor("doctor checks", async () => (await $("[data-testid=doctor]")).isExisting(), 30000);
    step("screenshot 1");
    await shot("1-stack");
    step("1b. Data: what StackPerf keeps, and the clean-up plan (nothing is old enough yet: nothing deleted).");
    await waitFor("data sizes", async () => /Database [0-9.]+ [kMG]?B/.test(await text("[data-testid=data-usage]")), 10000);
    await (await $("#prune-look")).scrollIntoView();
    await (await $("#prune-look")).click();
    await waitFor("the clean-up plan", async () => (await text("[data-testid=prune-plan]")).includes("Nothing is old enough to delete"), 15000);
    await shot("1b-data");
    await (await $("#prune-cancel")).click();
    await waitFor("the plan closed", async () => !(await (await $("[data-testid=prune-plan]")).isExisting()), 5000);
    step("secrets");

    step('2. Secrets: listed, values never shown.');
    // 2. Secrets: listed, values never shown.
    await (await $("#nav-secrets")).click();
    step("clicked secrets");
    await waitFor("the secrets table", async () => (await browser.$$("[data-testid=secrets] tbody tr")).length > 0, 10000);
    step("rows seen");
    const secretsText = await text("[data-testid=secrets]");
    assert(secretsText.includes("LITELLM_MASTER_KEY"), "the master key is listed");
    assert(!secretsText.includes("sk-stackperf-master-"), "no secret value on screen");
    await shot("2-secrets");

    step('3. Experiment setup: a bad field is flagged while typing, and cleared when removed.');
    // 3. Experiment setup: a bad field is flagged while typing, and cleared when removed.
    await (await $("#nav-setup")).click();
    const docBtn = await waitFor("the sim-profiles document", async () => {
      const b = await $("button.doc=sim-profiles");
      return (await b.isExisting()) ? b : null;
    }, 10000);
    await docBtn.click();
    const area = await $("textarea[aria-label='YAML document']");
    const original = await area.getValue();
    await browser.execute((t) => {
      const el = document.querySelector("textarea[aria-label='YAML document']");
      el.value = t;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }, original + "colour: blue\n");
    await waitFor("the inline problem", async () => (await text("[data-testid=draft-problems]")).includes("colour"), 5000);
    assert(!(await (await $("#config-save")).isEnabled()), "Save is disabled while the draft has problems");
    await shot("3-setup");
    await browser.execute((t) => {
      const el = document.querySelector("textarea[aria-label='YAML document']");
      el.value = t;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }, original);
    await waitFor("the problem to clear", async () => (await text("[data-testid=draft-problems]")).includes("No problems"), 5000);

    step('4. Session: start, copy the env, drive it with exactly that env, watch the live chart.');
    // 4. Session: start, copy the env, drive it with exactly that env, watch the live chart.
    await (await $("#nav-session")).click();
    await waitFor("the pickers", async () => (await (await $("#pick-variant")).getValue()) === "sim-fast-oai", 10000);
    await (await $("#session-start")).click();
    const envText = await waitFor("the environment", async () => {
      const e = await $("[data-testid=env-text]");
      return (await e.isExisting()) ? text("[data-testid=env-text]") : null;
    }, 15000);
    assert(envText.includes("OPENAI_BASE_URL") && envText.includes("<session key"), "env shown with the key redacted");
    await (await $("#copy-env")).click();
    const clip = await waitFor("the clipboard", () => {
      try {
        const t = execFileSync("xclip", ["-o", "-selection", "clipboard"], { env, timeout: 3000, stdio: ["ignore", "pipe", "ignore"] }).toString();
        return t.includes("OPENAI_API_KEY") ? t : null;
      } catch {
        return null;
      }
    }, 5000);
    const copied = parseShellEnv(clip);
    assert(copied.OPENAI_API_KEY && !copied.OPENAI_API_KEY.includes("redacted"), "the clipboard holds the real key");
    assert(copied.OPENAI_BASE_URL.includes(String(edge)), "the env points at this test's StackPerf edge");
    const pageText = await browser.execute(() => document.body.innerText);
    assert(!pageText.includes(copied.OPENAI_API_KEY), "the key never appears in the window");

    const N = 6;
    const lags = [];
    for (let i = 0; i < N; i++) {
      const resp = await fetch(`${copied.OPENAI_BASE_URL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${copied.OPENAI_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: copied.OPENAI_MODEL, stream: true, messages: [{ role: "user", content: `request ${i}` }] }),
      });
      assert(resp.ok, `request ${i}: HTTP ${resp.status}`);
      await resp.text();
      const finished = Date.now();
      // The live panel must show request i+1 by itself (the app tails the capture spool).
      await waitFor(`live count ${i + 1}`, async () => Number(await (await $("[data-testid=live]")).getAttribute("data-requests")) >= i + 1, 10000);
      lags.push(Date.now() - finished);
    }
    const circles = await browser.execute(() => document.querySelectorAll("[data-testid=chart-latency] circle").length);
    assert(circles === N, `the latency chart has ${N} points (has ${circles})`);
    figures.live_chart_lag_ms = lags;
    figures.live_chart_lag_max_ms = Math.max(...lags);
    // The tailer stored every pass while the window read and wrote too (no "database is locked").
    const dbError = await browser.execute(() => document.querySelector('.error[data-code="database_unavailable"]')?.textContent ?? null);
    assert(dbError === null, `no database error while capturing: ${dbError}`);
    await shot("4-session-live");

    // Closing with a session active asks first; Cancel keeps the window and the session.
    execFileSync("python3", [path.join(root, "tests/ui/close_window.py"), "StackPerf"], { env });
    await waitFor("the close question", async () => (await $("[data-testid=close-dialog]")).isExisting(), 10000);
    assert((await text("[data-testid=close-dialog]")).includes(await (await $("[data-testid=session-head]")).getAttribute("data-session")), "the question names the active session");
    await shot("4b-close-question");
    await (await $("#close-cancel")).click();
    await waitFor("the question to go", async () => !(await (await $("[data-testid=close-dialog]")).isExisting()), 10000);
    assert((await (await $("[data-testid=session-head]")).getAttribute("data-status")) === "active", "Cancel kept the session active");

    await fill("#final-outcome", "e2e: six requests");
    await (await $("#session-finalize")).click();
    await waitFor("completed", async () => (await (await $("[data-testid=session-head]")).getAttribute("data-status")) === "completed", 20000);

    // A second variant, driven by the sample-traffic button.
    await (await $("#pick-variant")).selectByVisibleText("sim-slow-oai");
    await (await $("#session-start")).click();
    await waitFor("the second session", async () => (await (await $("[data-testid=session-head]")).getAttribute("data-status")) === "active", 15000);
    const secondSession = await (await $("[data-testid=session-head]")).getAttribute("data-session");
    await (await $("#sample-traffic")).click();
    await waitFor("10 live requests", async () => Number(await (await $("[data-testid=live]")).getAttribute("data-requests")) === 10, 120000);
    await (await $("#session-finalize")).click();
    await waitFor("completed", async () => (await (await $("[data-testid=session-head]")).getAttribute("data-status")) === "completed", 20000);

    step('5. Compare: both variants side by side.');
    // 5. Compare: both variants side by side.
    await (await $("#nav-compare")).click();
    await waitFor("both variants", async () => {
      const v = await browser.execute(() => [...document.querySelectorAll("[data-testid=compare-table] th[data-variant]")].map((t) => t.getAttribute("data-variant")));
      return v.includes("sim-fast-oai") && v.includes("sim-slow-oai");
    }, 20000);
    await waitFor("the distribution chart", async () => (await $("[data-testid=compare-chart] svg")).isExisting(), 10000);
    // The stack's tax per variant (edge + LiteLLM before the provider was called), in milliseconds,
    // for both variants that ran (the experiment's third has no session: "–").
    const tax = await browser.execute(() => {
      const heads = [...document.querySelectorAll("[data-testid=compare-table] th[data-variant]")].map((t) => t.getAttribute("data-variant"));
      const cells = [...document.querySelectorAll("[data-testid=compare-table] tr[data-metric=proxy_overhead_ms] td")].map((t) => t.textContent);
      return { label: cells[0] ?? "", byVariant: Object.fromEntries(heads.map((h, i) => [h, cells[i + 1] ?? ""])) };
    });
    assert(
      tax.label.startsWith("Stack tax") && ["sim-fast-oai", "sim-slow-oai"].every((v) => /\d ms/.test(tax.byVariant[v] ?? "")),
      `the stack's tax per variant: ${JSON.stringify(tax)}`,
    );
    figures.stack_tax_shown = tax.byVariant;
    await shot("5-compare");

    // Back to the Session screen: the session left open there is still open, with its requests.
    await (await $("#nav-session")).click();
    await waitFor("the same session after navigating", async () => {
      const head = await $("[data-testid=session-head]");
      return (await head.isExisting()) && (await head.getAttribute("data-session")) === secondSession;
    }, 5000);
    assert(Number(await (await $("[data-testid=live]")).getAttribute("data-requests")) === 10, "its 10 requests are still shown");
    figures.navigation_keeps_session = true;

    step('6. Export: Parquet of the requests and a PNG chart.');
    // 6. Export: Parquet of the requests and a PNG chart.
    await (await $("#open-export")).click();
    const parquet = path.join(work, "requests.parquet");
    await (await $("#export-what")).selectByVisibleText("Requests");
    await (await $("#export-format")).selectByVisibleText("PARQUET");
    await fill("#export-path", parquet);
    await (await $("#export-run")).click();
    await waitFor("the Parquet export", async () => (await (await $("[data-testid=export-written]")).getAttribute("data-path")) === parquet, 15000);
    const pq = fs.readFileSync(parquet);
    assert(pq.subarray(0, 4).toString() === "PAR1" && pq.subarray(-4).toString() === "PAR1", "a Parquet file");
    const png = path.join(work, "ttft.png");
    await (await $("#export-what")).selectByVisibleText("Chart");
    await waitFor("png format", async () => (await (await $("#export-format")).getValue()) === "png", 5000);
    await fill("#export-path", png);
    await (await $("#export-run")).click();
    await waitFor("the PNG export", async () => (await (await $("[data-testid=export-written]")).getAttribute("data-path")) === png, 15000);
    const pngBytes = fs.readFileSync(png);
    assert(pngBytes.subarray(1, 4).toString() === "PNG" && pngBytes.length > 5000, "a PNG chart");
    await shot("6-export");
    await (await $("#export-close")).click();

    step("7. Run: a two-task suite × two variants in blocks, planned first, launched headless, verified, then the comparison per task.");
    await (await $("#nav-run")).click();
    await waitFor("the run form", async () => (await (await $("#run-experiment")).isExisting()), 10000);
    await (await $("#run-experiment")).selectByVisibleText("run-e2e");
    await waitFor("the experiment's suite", async () => (await (await $("#run-task")).getValue()) === "suite:e2e-suite", 10000);
    // The plan at the default repetitions first, so no reply for it lands while the field is typed into.
    await waitFor("the first plan", async () => (await (await $("#run-plan")).getAttribute("data-sessions")) === "8", 15000);
    await fill("#run-repeat", "1");
    await waitFor("the plan", async () => {
      const sessions = await (await $("#run-plan")).getAttribute("data-sessions");
      if (sessions === "4") return true;
      // Said in the timeout's message: what the window showed instead.
      throw new Error(`the plan shows ${sessions} sessions; repetitions field: ${await (await $("#run-repeat")).getValue()}; ${await text("#run-plan")}`);
    }, 15000);
    const planText = await text("#run-plan");
    assert(planText.includes("suite e2e-suite") && planText.includes("4 sessions"), `the plan: ${planText}`);
    assert((await (await $("#run-order")).getValue()) === "blocks", "blocks are the default order");
    await shot("7-run-plan");
    const runStarted = Date.now();
    await (await $("#run-start")).click();
    await waitFor("progress to show", async () => (await (await $("#run-progress")).isExisting()), 30000);
    // The session running now is followed live: its requests appear in the panel's charts.
    let liveSeen = 0;
    await waitFor(
      "the run to finish",
      async () => {
        const pts = await browser.execute(() =>
          Math.max(0, ...[...document.querySelectorAll("[data-testid=run-live] [data-points]")].map((f) => Number(f.getAttribute("data-points")))),
        );
        if (pts > 0 && liveSeen === 0) await shot("7-run-live");
        liveSeen = Math.max(liveSeen, pts);
        return await (await $("#run-done")).isExisting();
      },
      300000,
    );
    assert(liveSeen >= 1, "the running session's requests showed in the Run panel's live charts");
    figures.run_suite_4_sessions_s = Math.round((Date.now() - runStarted) / 100) / 10;
    const outcomes = await browser.execute(() =>
      [...document.querySelectorAll("[data-testid=run-items] tr[data-outcome]")].map((r) => [r.children[2].textContent, r.getAttribute("data-outcome")]),
    );
    assert(outcomes.length === 4, `four sessions: ${outcomes}`);
    assert(
      outcomes.every(([task, o]) => (task === "agent-quick" ? o === "success" : o === "success" || o === "failed_verify")),
      `the quick task always succeeds, the coin flip succeeds or fails verify (never an infrastructure error): ${outcomes}`,
    );
    const progress = await (await $("#run-progress")).getAttribute("data-done");
    assert(progress === "4", `progress counted 4 sessions: ${progress}`);
    const workers = await browser.execute(() =>
      [...document.querySelectorAll("[data-testid=run-workers] tbody tr")].map((r) => [...r.children].map((c) => c.textContent)),
    );
    assert(workers.length === 1 && workers[0][1] === "4", `one worker (this window's) did the four sessions: ${JSON.stringify(workers)}`);
    await shot("7-run");
    await (await $("#run-compare")).click();
    await waitFor("the run's comparison", async () => (await text("main")).includes("codex-sim-agent") && (await text("main")).includes("Task success rate"), 30000);
    await waitFor("the per-task grid", async () => (await $("[data-testid=suite-grid] tr[data-task=agent-coin-flip]")).isExisting(), 15000);
    await waitFor("the critical-difference diagram", async () => (await $("[data-testid=cd-diagram] svg")).isExisting(), 15000);
    const cd = await browser.execute(() => document.querySelector("[data-testid=cd-diagram]")?.textContent ?? "");
    assert(cd.includes("codex-sim-agent") && cd.includes("gemini-cli-sim-agent"), `the CD diagram names both variants: ${cd}`);
    await shot("8-run-compare");
    await browser.execute(() => document.querySelector("[data-testid=suite-ranks]")?.scrollIntoView());
    await shot("8b-run-compare-cd");

    step("9. Usage: a usage key made in the window, used from its clipboard env, reported, revoked.");
    await (await $("#nav-usage")).click();
    await waitFor("the usage screen", async () => (await $("#usage-owner")).isExisting(), 10000);
    await fill("#usage-owner", "e2e owner");
    await fill("#usage-team", "qa");
    await (await $("#usage-create")).click();
    await waitFor("the key's note", async () => (await $("[data-testid=usage-note]")).isExisting(), 15000);
    const usageClip = await waitFor("the usage env on the clipboard", () => {
      try {
        const t = execFileSync("xclip", ["-o", "-selection", "clipboard"], { env, timeout: 3000, stdio: ["ignore", "pipe", "ignore"] }).toString();
        return t.includes("sk-stackperf-usage-") ? t : null;
      } catch {
        return null;
      }
    }, 5000);
    const usage = parseShellEnv(usageClip);
    assert(usage.OPENAI_BASE_URL.includes(String(edge)), "the usage env points at the edge");
    assert(!(await browser.execute(() => document.body.innerText)).includes(usage.OPENAI_API_KEY), "the usage key never appears in the window");
    const usageCall = () =>
      fetch(`${usage.OPENAI_BASE_URL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${usage.OPENAI_API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "sim-fast", messages: [{ role: "user", content: "usage" }] }),
      });
    for (let i = 0; i < 3; i++) {
      const resp = await usageCall();
      assert(resp.ok, `usage request ${i}: HTTP ${resp.status}`);
      await resp.text();
    }
    await waitFor(
      "3 requests for the owner in the report",
      async () => {
        await (await $("#usage-refresh")).click();
        const rows = await browser.execute(() =>
          [...document.querySelectorAll("[data-testid=usage-table] tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent)),
        );
        return rows.some((r) => r[0] === "e2e owner" && r[1] === "3");
      },
      20000,
    );
    assert(await (await $("[data-testid=usage-chart] svg")).isExisting(), "the usage chart is drawn");
    await shot("9-usage");
    await (await $("[data-testid=usage-keys] .danger")).click();
    await (await $("[data-testid=usage-revoke-confirm]")).click();
    await waitFor("the key revoked", async () => (await text("[data-testid=usage-keys]")).includes("revoked"), 10000);
    const afterRevoke = await usageCall();
    assert(afterRevoke.status === 401, `a revoked usage key is refused: HTTP ${afterRevoke.status}`);
    figures.usage_key_revoked_status = afterRevoke.status;

    // Close the window with the stack running: the app itself stops the stack it started
    // (no script's help), and nothing may stay listening.
    step("close the window");
    // As a window manager's close button does (WebDriver's closeWindow makes WebKitWebDriver kill
    // the app outright, which no user does).
    step(execFileSync("python3", [path.join(root, "tests/ui/close_window.py"), "StackPerf"], { env }).toString().trim());
    await waitFor("the stack to stop after the window closed", () => {
      const out = execFileSync(path.join(root, "target/debug/stackperf"), ["stack", "status", "--json"], { env, timeout: 30000 }).toString();
      const services = JSON.parse(out).services;
      return services.length === 4 && services.every((s) => s.state === "stopped" || s.state === "absent");
    }, 60000);
    figures.window_close_stopped_stack = true;
    // The window's size and place were saved for the next start (tauri-plugin-window-state).
    const stateFile = path.join(env.XDG_CONFIG_HOME, "dev.stackperf.desktop/.window-state.json");
    const saved = JSON.parse(fs.readFileSync(stateFile, "utf8")).main;
    assert(saved && saved.width > 0 && saved.height > 0 && fs.statSync(stateFile).mtimeMs >= t0, `the window state was saved: ${JSON.stringify(saved)}`);
    let leaked = "";
    try {
      leaked = execFileSync("grep", ["-rl", "--", copied.OPENAI_API_KEY, path.join(work, "data")], { env }).toString().trim();
    } catch (e) {
      assert(e.status === 1, `grep failed: ${e.message}`); // 1 = no match
    }
    assert(leaked === "", `the session key is written in ${leaked}`);
    try {
      leaked = execFileSync("grep", ["-rl", "--", usage.OPENAI_API_KEY, path.join(work, "data")], { env }).toString().trim();
    } catch (e) {
      assert(e.status === 1, `grep failed: ${e.message}`);
    }
    assert(leaked === "", `the usage key is written in ${leaked}`);
  } catch (e) {
    await screenshot(browser, path.join(artifacts, "failure.png")).catch(() => {});
    throw e;
  } finally {
    await browser.deleteSession().catch(() => {});
  }
}

main()
  .then(() => {
    console.log(JSON.stringify({ ok: true, ...figures }));
    stopAll();
    fs.rmSync(work, { recursive: true, force: true });
    process.exit(0);
  })
  .catch((e) => {
    console.error(`desktop e2e failed: ${e.stack ?? e}`);
    console.error(`logs and screenshots: ${artifacts}; work dir kept: ${work}`);
    stopAll();
    process.exit(1);
  });
