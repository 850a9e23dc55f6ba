// The web console in a real browser (docs/console.md), run by scripts/test-console: Debian's
// Chromium driven by playwright-core, against a real `turnout serve` (every port 0, the
// addresses read from its log) and a real HTTP backend for its health check.
//
// It walks the incident flow: sign in; create a health check on the backend and a failover
// pair from the console's forms; see both healthy and the primary answering; stop the backend;
// see the check turn unhealthy and the answer move to the secondary without the page
// reloading, within interval x threshold + 2 s; flip a routing control with a reason, see a
// safety rule refuse it, then flip another successfully; see both in the audit view. A token
// with the read scope sees no button that writes. Each view is checked with axe-core (no
// serious or critical violation) and photographed (SCREENSHOTS=dir; docs/console.md shows
// them).
//
//   TURNOUT_BIN=target/debug/turnout node console.test.mjs

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const BIN = process.env.TURNOUT_BIN || "target/debug/turnout";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOTS || "";
const INTERVAL_S = 1;
const THRESHOLD = 1;
// The whole run's bound: nothing here waits longer.
const DEADLINE = setTimeout(() => fail(new Error("the console test took longer than 3 minutes")), 180_000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "turnout-console-"));
let server = null;
let browser = null;
let log = "";

function say(...a) {
  console.log("test-console:", ...a);
}

async function fail(e) {
  console.error("test-console: FAILED:", e && e.stack ? e.stack : e);
  console.error("--- the server's log (last 4,000 characters) ---\n" + log.slice(-4000));
  await cleanup();
  process.exit(1);
}

async function cleanup() {
  clearTimeout(DEADLINE);
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((ok) => {
      const t = setTimeout(() => {
        server.kill("SIGKILL");
        ok();
      }, 10_000);
      server.once("exit", () => {
        clearTimeout(t);
        ok();
      });
    });
  }
  fs.rmSync(work, { recursive: true, force: true });
}

// Polls `f` until it returns a truthy value or `ms` pass.
async function until(what, ms, f) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`${what}: not within ${ms} ms (last: ${last})`);
}

// --- The server and the backend ------------------------------------------------------------

async function startServer() {
  const data = path.join(work, "data");
  server = spawn(BIN, ["serve", "--dns", "127.0.0.1:0", "--api", "127.0.0.1:0", "--controls", "127.0.0.1:0", "--data-dir", data], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.on("data", (d) => (log += d));
  server.stderr.on("data", (d) => (log += d));
  const api = await until("the API's address in the server's log", 30_000, () => {
    if (server.exitCode !== null) throw new Error(`turnout serve exited (${server.exitCode})`);
    const m = /listening for the API on (http:\/\/[0-9.:]+)/.exec(log);
    return m && fs.existsSync(path.join(data, "admin.token")) && m[1];
  });
  const admin = fs.readFileSync(path.join(data, "admin.token"), "utf8").trim();
  return { api, admin };
}

function startBackend() {
  const sockets = new Set();
  const backend = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("OK\n");
  });
  backend.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((ok) =>
    backend.listen(0, "127.0.0.1", () =>
      ok({
        port: backend.address().port,
        stop: () => {
          backend.close();
          for (const s of sockets) s.destroy();
        },
      }),
    ),
  );
}

async function call(api, token, method, p, body) {
  const r = await fetch(api + p, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// --- Checks run on every view ---------------------------------------------------------------

async function accessible(page, view) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `axe-core: serious or critical violations on the ${view} view`);
  const minor = result.filter((v) => !bad.includes(v));
  say(`${view}: axe-core found no serious or critical violation${minor.length ? ` (${minor.length} minor: ${minor.map((v) => v.id).join(", ")})` : ""}`);
}

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// --- The walk -------------------------------------------------------------------------------

async function main() {
  const { api, admin } = await startServer();
  say(`turnout serve: API on ${api}`);
  const backend = await startBackend();
  say(`backend on 127.0.0.1:${backend.port}`);

  // What an operator set up before the incident: the zone, a control panel with a safety rule
  // (at least one of east and west on; east on), and the tokens people sign in with.
  await call(api, admin, "POST", "/v1/zones", { name: "example.test" });
  await call(api, admin, "PUT", "/v1/panels/main", {
    controls: ["east", "west"],
    rules: [{ name: "keep-one", type: "assertion", controls: ["east", "west"], rule: { kind: "atleast", threshold: 1 }, wait_period: "0s" }],
  });
  await call(api, admin, "PUT", "/v1/controls/main/east", { state: "On", reason: "initial state" });
  // app answers from east while east is on: a flip of east changes an answer.
  await call(api, admin, "PUT", "/v1/checks/east-switch", { type: "control", control: "main/east" });
  await call(api, admin, "POST", "/v1/zones/example.test/changes", {
    changes: [
      { action: "CREATE", record_set: { name: "app", type: "A", ttl: 60, set_id: "east", failover: "primary", health_check: "east-switch", values: ["192.0.2.30"] } },
      { action: "CREATE", record_set: { name: "app", type: "A", ttl: 60, set_id: "west", failover: "secondary", values: ["192.0.2.40"] } },
    ],
  });
  const oncall = (await call(api, admin, "POST", "/v1/tokens", { name: "oncall", scopes: ["config", "controls"] })).token;
  const viewer = (await call(api, admin, "POST", "/v1/tokens", { name: "viewer", scopes: ["read"] })).token;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  let navigations = 0;
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) navigations += 1;
  });

  // Sign in: a wrong token is refused at the field; the right one opens the overview.
  await page.goto(`${api}/console/`);
  await page.getByLabel("API token").fill("not-a-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await until("the refusal of a wrong token", 5_000, async () => /Unauthorized/.test(await page.locator("#token-error").textContent()));
  await accessible(page, "sign-in");
  await shot(page, "sign-in");
  await page.getByLabel("API token").fill(oncall);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await until("the event stream", 10_000, async () => (await page.locator("#live").textContent()) === "Live");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("turnout.token") !== null), true);
  assert.equal(await page.evaluate(() => localStorage.length), 0, "the token must not be in local storage");

  // The health check and the failover pair, from the console's forms.
  await page.getByRole("link", { name: "Records and checks" }).click();
  const checkForm = page.locator("#check-form");
  await checkForm.getByLabel("Name").fill("web-primary");
  await checkForm.getByLabel("IP address").fill("127.0.0.1");
  // A bad value first: the API's error is shown at the field it names, nothing is created.
  await checkForm.getByLabel("Port").fill("99999");
  await checkForm.getByLabel("Path (HTTP and HTTPS)").fill("/health");
  await checkForm.getByLabel("Text the body must contain (optional)").fill("OK");
  await checkForm.getByLabel("Interval").fill(`${INTERVAL_S}s`);
  await checkForm.getByLabel("Failure threshold").fill(String(THRESHOLD));
  await checkForm.getByRole("button", { name: "Save the check" }).click();
  await until("the port's error at the port field", 5_000, async () => /port/i.test(await page.locator("#check-port-error").textContent()));
  assert.equal(await checkForm.getByLabel("Port").getAttribute("aria-invalid"), "true");
  assert.deepEqual((await call(api, admin, "GET", "/v1/checks")).checks.map((c) => c.name), ["east-switch"]);
  await checkForm.getByLabel("Port").fill(String(backend.port));
  await checkForm.getByRole("button", { name: "Save the check" }).click();
  await until("the check's creation", 5_000, async () => /Saved the check web-primary/.test(await checkForm.locator(".status-line").textContent()));

  const fo = page.locator("#failover-form");
  await fo.getByLabel("Name (relative to the zone, or absolute)").fill("www");
  await fo.getByLabel("Primary's value").fill("192.0.2.10");
  await fo.getByLabel("Primary's health check").fill("web-primary");
  await fo.getByLabel("Secondary's value").fill("192.0.2.20");
  await fo.getByRole("button", { name: "Submit the change batch" }).click();
  await until("the change batch INSYNC", 15_000, async () => /: INSYNC$/.test(await page.locator("#fo-status").textContent()));
  assert.match(await fo.locator("pre").textContent(), /"failover": "secondary"/);
  await accessible(page, "records");
  await shot(page, "records");

  // Both healthy, the primary answering.
  await page.getByRole("link", { name: "Overview" }).click();
  const check = page.locator('tr[data-check="web-primary"] td[data-status]');
  const answer = page.locator('tr[data-group="www.example.test. A"] td[data-answer]');
  await until("the check healthy", 15_000, async () => (await check.getAttribute("data-status")) === "healthy");
  await until("the primary answering", 10_000, async () => /192\.0\.2\.10/.test(await answer.textContent()));
  await accessible(page, "overview");
  await shot(page, "overview-healthy");

  // The backend stops: the page follows without reloading.
  const before = navigations;
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const stopped = Date.now();
  backend.stop();
  const bound = (INTERVAL_S * THRESHOLD + 2) * 1000;
  await until("the check unhealthy on the page", bound, async () => (await check.getAttribute("data-status")) === "unhealthy");
  await until("the secondary answering on the page", Math.max(1, bound - (Date.now() - stopped)), async () => /192\.0\.2\.20/.test(await answer.textContent()));
  const took = Date.now() - stopped;
  assert.equal(navigations, before, "the page reloaded");
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
  say(`backend stopped: the page showed the check unhealthy and the secondary answering after ${took} ms (bound ${bound} ms)`);
  await shot(page, "overview-failed-over");

  // Explain on click: the decision behind the answer.
  await page.getByRole("link", { name: "Explain" }).click();
  await page.getByLabel("Name").fill("www.example.test");
  await page.getByRole("button", { name: "Explain" }).click();
  await until("the explanation", 5_000, async () => /chosen: secondary/.test(await page.locator("#explain-out").textContent()));
  await accessible(page, "explain");
  await shot(page, "explain");

  // Routing controls: a flip a safety rule refuses, then one it lets through.
  await page.getByRole("link", { name: "Routing controls" }).click();
  await page.getByRole("button", { name: "Turn east off" }).click();
  const dialog = page.locator("#flip-dialog");
  await dialog.getByLabel("Reason (required, kept in the audit trail)").fill("drain east for the incident");
  await dialog.getByRole("button", { name: "Preview the answers" }).click();
  await until("the dry run's refusal", 5_000, async () => /would be refused/.test(await dialog.locator("#flip-outcome").textContent()));
  // The answers that would change, before and after.
  const diff = await dialog.locator("#flip-preview table").textContent();
  assert.match(diff, /app\.example\.test\.? A/, diff);
  assert.match(diff, /192\.0\.2\.30.*192\.0\.2\.40/s, diff);
  // Override is offered for the refusing rule only.
  assert.deepEqual(await dialog.locator("[data-rule]").evaluateAll((n) => n.map((x) => x.dataset.rule)), ["keep-one"]);
  await accessible(page, "flip dialog");
  await shot(page, "flip-refused");
  await dialog.getByRole("button", { name: "Turn off" }).click();
  await until("the refusal by keep-one", 5_000, async () => /Refused: keep-one/.test(await dialog.locator(".error.form").textContent()));
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await call(api, admin, "GET", "/v1/controls/main/east")).state, "On");

  await page.getByRole("button", { name: "Turn west on" }).click();
  await dialog.getByLabel("Reason (required, kept in the audit trail)").fill("bring west in");
  await dialog.getByRole("button", { name: "Preview the answers" }).click();
  await until("the dry run", 5_000, async () => /would apply/.test(await dialog.locator("#flip-outcome").textContent()));
  await dialog.getByRole("button", { name: "Turn on" }).click();
  await until("west on", 5_000, async () => /On/.test(await page.locator('tr[data-control="main/west"]').textContent()));
  assert.equal((await call(api, admin, "GET", "/v1/controls/main/west")).state, "On");
  await accessible(page, "controls");
  await shot(page, "controls");

  // The audit view: the refusal and the flip, with their reasons.
  await page.getByRole("link", { name: "Audit" }).click();
  await until("both updates in the audit view", 5_000, async () => {
    const text = await page.locator("#content").textContent();
    return /drain east for the incident/.test(text) && /refused by keep-one/.test(text) && /bring west in/.test(text);
  });
  await accessible(page, "audit");
  await shot(page, "audit");

  // On a phone: the overview fits the width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow} px wider than a phone's screen`);
  await shot(page, "phone");
  assert.deepEqual(pageErrors, [], "errors in the page");

  // A read-scoped token sees everything and no button that writes.
  const viewerPage = await (await browser.newContext({ bypassCSP: true })).newPage();
  await viewerPage.goto(`${api}/console/`);
  await viewerPage.getByLabel("API token").fill(viewer);
  await viewerPage.getByRole("button", { name: "Sign in" }).click();
  await viewerPage.getByRole("heading", { name: "Overview" }).waitFor();
  await until("the viewer's overview", 5_000, async () => (await viewerPage.locator('tr[data-check="web-primary"]').count()) === 1);
  for (const view of ["Routing controls", "Records and checks", "Explain", "Audit", "Overview"]) {
    await viewerPage.getByRole("link", { name: view }).click();
    await viewerPage.getByRole("heading", { name: view === "Explain" ? "Explain an answer" : view, exact: true }).waitFor();
    await viewerPage.waitForTimeout(300);
    const writes = await viewerPage.locator("#content button.primary, #content button.danger, #content form#check-form, #content form#failover-form, #content button:has-text('Turn ')").count();
    const allowed = view === "Explain" ? 1 : 0; // the Explain button only reads
    assert.equal(writes, allowed, `the viewer sees a button that writes on ${view}`);
  }
  assert.match(await viewerPage.locator("#content").textContent(), /web-primary/);
  say("a read-scoped token sees no button that writes");

  await cleanup();
  say("passed");
}

main().catch(fail);
