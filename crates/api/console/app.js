// Turnout console (docs/console.md). Plain modules, no framework, no build step: the files are
// built into the binary as they are. Everything shown comes from the API with the operator's
// token (session storage only); the page changes nothing the API would refuse, and shows the
// API's own error, at the field it names.

const TOKEN_KEY = "turnout.token";
const SHARE_WINDOW_MS = 5 * 60 * 1000;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  who: null,
  view: "overview",
  overview: null,
  // Member answer counts over time, for recent shares: key -> [[ms, count], ...].
  samples: new Map(),
  events: null,
  explainLast: null,
};

// ---------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "Error";
    this.field = e.field || null;
    this.refusals = e.refusals || [];
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!r.ok) {
    const err = new ApiError(r.status, json);
    if (r.status === 401 && path !== "/v1/whoami") signOut("Your token was refused: sign in again.");
    throw err;
  }
  return json;
}

const scopes = () => (state.who ? state.who.scopes : []);
const has = (...wanted) => scopes().some((s) => wanted.includes(s));
const canReadConfig = () => has("admin", "config", "read") || (state.who && state.who.name === null);
const canWriteConfig = () => has("admin", "config");
const canFlip = () => has("admin", "controls");

// ---------------------------------------------------------------------------------------
// Small DOM helpers (text is always set as text, never as markup)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function statusBadge(status) {
  const cls = status === "healthy" || status === "On" ? "ok" : status === "unhealthy" || status === "Off" ? "bad" : "unknown";
  return el("span", { class: `status ${cls}` }, status);
}

// A table in a region that scrolls sideways on a narrow screen (focusable, so that the
// keyboard can scroll it too).
function table(caption, headers, rows) {
  return el(
    "div",
    { class: "table-wrap", role: "region", tabindex: 0, "aria-label": caption },
    el(
      "table",
      {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    ),
  );
}

function ms(d) {
  if (d === null || d === undefined) return "";
  if (typeof d === "object" && "secs" in d) return `${(d.secs * 1000 + d.nanos / 1e6).toFixed(1)} ms`;
  return String(d);
}

function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function setContent(...nodes) {
  const content = document.getElementById("content");
  content.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined));
}

function clearErrors(form) {
  for (const p of form.querySelectorAll(".error")) p.textContent = "";
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

// Shows an API error at the input for the field it names (the input whose `data-field` is the
// longest prefix of it: `changes[0].record_set.values[0]` is shown at the values input), or
// for the whole form.
function fieldError(form, err) {
  clearErrors(form);
  let field = null;
  if (err.field) {
    for (const input of form.querySelectorAll("[data-field]")) {
      const f = input.dataset.field;
      if ((err.field === f || err.field.startsWith(`${f}.`) || err.field.startsWith(`${f}[`)) && (!field || f.length > field.dataset.field.length)) field = input;
    }
  }
  const out = field ? form.querySelector(`#${CSS.escape(field.id)}-error`) : form.querySelector(".error.form");
  if (field) field.setAttribute("aria-invalid", "true");
  if (out) out.textContent = `${err.code}: ${err.message}${err.field && !field ? ` (at ${err.field})` : ""}`;
  if (field) field.focus();
}

// ---------------------------------------------------------------------------------------
// Signing in

async function signIn(token) {
  state.token = token;
  const who = await api("GET", "/v1/whoami");
  state.who = who;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.who = null;
  stopEvents();
  showSignIn(message);
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  document.getElementById("sign-in").hidden = false;
  setContent();
  document.getElementById("token-error").textContent = message || "";
  document.getElementById("token").focus();
}

function showApp() {
  document.getElementById("sign-in").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  const who = state.who;
  document.getElementById("identity").textContent = who.name
    ? `${who.name} (${who.scopes.join(", ")})`
    : "anonymous (read)";
  startEvents();
  route();
}

// ---------------------------------------------------------------------------------------
// Live updates: the API's event stream (fetch, so the token goes in a header, not the URL)

function stopEvents() {
  if (state.events) state.events.abort();
  state.events = null;
}

function setLive(text) {
  document.getElementById("live").textContent = text;
}

async function startEvents() {
  stopEvents();
  const controller = new AbortController();
  state.events = controller;
  let delay = 500;
  while (!controller.signal.aborted) {
    try {
      const r = await fetch("/v1/events", {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
        signal: controller.signal,
        cache: "no-store",
      });
      if (r.status === 401) return signOut("Your token was refused: sign in again.");
      if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
      setLive("Live");
      delay = 500;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (/^event: change$/m.test(message)) refresh();
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    setLive("Reconnecting");
    await new Promise((ok) => setTimeout(ok, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

let refreshing = null;
let refreshAgain = false;
// Reloads what the current view shows; one load at a time, the last event always honoured.
function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  const views = { overview: loadOverview, controls: loadControls, audit: loadAudit };
  const load = views[state.view];
  if (!load) return;
  refreshing = load()
    .catch((e) => console.warn("refresh failed", e))
    .finally(() => {
      refreshing = null;
      if (refreshAgain) {
        refreshAgain = false;
        refresh();
      }
    });
}

// ---------------------------------------------------------------------------------------
// Views

function route() {
  if (!state.who) return;
  const view = (location.hash || "#overview").slice(1).split("?")[0];
  state.view = ["overview", "explain", "controls", "records", "audit"].includes(view) ? view : "overview";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === state.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const titles = { overview: "Overview", explain: "Explain", controls: "Routing controls", records: "Records and checks", audit: "Audit" };
  document.title = `${titles[state.view]} · Turnout console`;
  setContent(el("h2", { id: "view-title" }, titles[state.view]), el("p", { class: "muted" }, "Loading…"));
  const render = { overview: loadOverview, explain: showExplain, controls: loadControls, records: loadRecords, audit: loadAudit };
  Promise.resolve(render[state.view]()).catch((e) => showError(e));
  document.getElementById("view").focus({ preventScroll: true });
}

function showError(e) {
  setContent(
    el("h2", {}, "Something went wrong"),
    el("p", { class: "error", role: "alert" }, e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)),
  );
}

// --- Overview -------------------------------------------------------------------------

function recordSamples(overview) {
  const now = Date.now();
  for (const g of overview.groups) {
    for (const m of g.members) {
      const key = `${g.name}|${g.type}|${m.set_id}`;
      const list = state.samples.get(key) || [];
      list.push([now, m.answers]);
      while (list.length > 2 && now - list[1][0] > SHARE_WINDOW_MS) list.shift();
      state.samples.set(key, list);
    }
  }
}

function recentAnswers(g, m) {
  const list = state.samples.get(`${g.name}|${g.type}|${m.set_id}`) || [];
  if (list.length < 2) return 0;
  return Math.max(0, list[list.length - 1][1] - list[0][1]);
}

async function loadOverview() {
  if (!canReadConfig()) {
    setContent(el("h2", {}, "Overview"), el("p", {}, "This token may read routing controls only: see Routing controls."));
    return;
  }
  const o = await api("GET", "/v1/overview");
  state.overview = o;
  recordSamples(o);
  if (state.view !== "overview") return;
  renderOverview(o);
}

function renderOverview(o) {
  // What the reader opened stays open across live updates.
  const opened = new Set([...document.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key));
  const n = o.node;
  const unhealthy = o.checks.filter((c) => c.status === "unhealthy").length;
  const summary = el(
    "div",
    { class: "cards" },
    card("Health checks", `${o.checks.length - unhealthy} healthy, ${unhealthy} unhealthy`, "checks-summary"),
    card("Served revision", n.served_revision ?? "not serving yet"),
    card("INSYNC revision", n.insync_revision ?? n.served_revision ?? "none"),
    card("Store", n.store_reachable ? "reachable" : "UNREACHABLE: serving the last configuration"),
    card("This node", n.isolated ? `${n.name} (isolated)` : n.name),
  );
  const checks = table(
    "Every health check, unhealthy first",
    ["Check", "Status", "Target", "Last probe", "Last failure", "Transitions", "Checkers"],
    [...o.checks]
      .sort((a, b) => (a.status === "unhealthy" ? 0 : 1) - (b.status === "unhealthy" ? 0 : 1) || a.name.localeCompare(b.name))
      .map((c) => {
        const last = c.results[0];
        return el(
          "tr",
          { "data-check": c.name },
          el("th", { scope: "row" }, c.name),
          el("td", { "data-status": c.status }, statusBadge(c.status), c.observed !== c.status ? el("div", { class: "muted" }, `probes: ${c.observed}`) : null),
          el("td", {}, el("code", {}, c.target)),
          el("td", {}, last ? [last.reason, el("div", { class: "muted" }, `${ago(last.at)}; connect ${ms(last.connect) || "-"}, TLS ${ms(last.tls) || "-"}, first byte ${ms(last.first_byte) || "-"}`)] : "none yet"),
          el("td", {}, c.last_failure ? [c.last_failure.reason, el("div", { class: "muted" }, ago(c.last_failure.at))] : "none"),
          el(
            "td",
            {},
            c.transitions.length
              ? el("details", { "data-key": c.name, open: opened.has(c.name) }, el("summary", {}, `${c.transitions[0].from} → ${c.transitions[0].to} ${ago(c.transitions[0].at)}`),
                  el("ul", { class: "plain" }, c.transitions.map((t) => el("li", {}, `${t.at}: ${t.from} → ${t.to} (${t.reason})`))))
              : "none",
          ),
          el("td", {}, (c.checkers || []).length ? el("ul", { class: "plain" }, c.checkers.map((k) => el("li", {}, `${k.checker}: ${k.observed}${k.counted ? "" : " (not counted)"}`))) : "this node"),
        );
      }),
  );
  const groups = table(
    o.groups_total > o.groups.length ? `Policy groups (the first ${o.groups.length} of ${o.groups_total})` : "Policy groups and the answer each gives now",
    ["Name", "Policy", "Answer now", "Members (share of answers, last 5 min)"],
    o.groups.map((g) => {
      const total = g.members.reduce((s, m) => s + recentAnswers(g, m), 0);
      return el(
        "tr",
        { "data-group": `${g.name} ${g.type}` },
        el("th", { scope: "row" }, `${g.name} ${g.type}`),
        el("td", {}, g.policy),
        el("td", { "data-answer": "" }, g.answer.length ? el("ul", { class: "plain" }, g.answer.map((a) => el("li", {}, el("code", {}, a)))) : g.rcode),
        el(
          "td",
          {},
          el(
            "ul",
            { class: "plain" },
            g.members.map((m) => {
              const share = total ? Math.round((100 * recentAnswers(g, m)) / total) : null;
              return el(
                "li",
                {},
                el("span", { class: "bar", style: null, "aria-hidden": "true", "data-share": share ?? 0 }),
                `${m.set_id}: `,
                statusBadge(m.healthy ? "healthy" : "unhealthy"),
                share === null ? " no answers yet" : ` ${share} %`,
              );
            }),
          ),
        ),
      );
    }),
  );
  const nodes = o.nodes.length
    ? table(
        "Nodes",
        ["Node", "Region", "Serves revision", "Behind", "Last seen"],
        o.nodes.map((v) => el("tr", {}, el("th", { scope: "row" }, v.name), el("td", {}, v.region ?? ""), el("td", {}, v.served_revision ?? ""), el("td", {}, v.lag), el("td", {}, `${Math.round(v.updated_ago_ms / 1000)} s ago`))),
      )
    : el("p", { class: "muted" }, "One node, no cluster.");
  setContent(el("h2", { id: "view-title" }, "Overview"), summary, el("h3", {}, "Health checks"), checks, el("h3", {}, "Policy groups"), groups, el("h3", {}, "Nodes"), nodes);
  // Bar widths are set here (no inline styles: the page's policy forbids them).
  for (const bar of document.querySelectorAll(".bar")) bar.style.width = `${Number(bar.dataset.share) * 0.8}px`;
}

function card(title, value, id) {
  return el("dl", { class: "card", id }, el("dt", {}, title), el("dd", {}, String(value)));
}

// --- Explain --------------------------------------------------------------------------

function showExplain() {
  const form = el(
    "form",
    { id: "explain-form", novalidate: true },
    el("label", { for: "explain-name" }, "Name"),
    el("input", { id: "explain-name", "data-field": "name", required: true, placeholder: "www.example.com", "aria-describedby": "explain-name-error" }),
    el("p", { class: "error", id: "explain-name-error" }),
    el("label", { for: "explain-type" }, "Type"),
    el("select", { id: "explain-type", "data-field": "type" }, ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "CAA", "PTR", "HTTPS", "SVCB"].map((t) => el("option", {}, t))),
    el("label", { for: "explain-client" }, "Client address or subnet (optional)"),
    el("input", { id: "explain-client", "data-field": "client", placeholder: "192.0.2.7 or 198.51.100.0/24", "aria-describedby": "explain-client-error explain-client-hint" }),
    el("p", { class: "hint", id: "explain-client-hint" }, "A subnet is answered as for its first address, as an EDNS Client Subnet option would be."),
    el("p", { class: "error", id: "explain-client-error" }),
    el("p", { class: "error form", role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Explain")),
  );
  const out = el("div", { id: "explain-out", "aria-live": "polite" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = form.querySelector("#explain-name").value.trim();
    const type = form.querySelector("#explain-type").value;
    const client = form.querySelector("#explain-client").value.trim().split("/")[0];
    const q = new URLSearchParams({ name, type });
    if (client) q.set("client", client);
    try {
      const x = await api("GET", `/v1/explain?${q}`);
      clearErrors(form);
      out.replaceChildren(renderExplained(x));
    } catch (e) {
      fieldError(form, e);
    }
  });
  setContent(el("h2", { id: "view-title" }, "Explain an answer"), el("p", {}, "The answer a client gets now, and every decision behind it (the same as turnout explain)."), form, out);
}

function renderExplained(x) {
  const decision = (d) =>
    el(
      "li",
      {},
      el("strong", {}, `${d.name} ${d.type}: ${d.policy}`),
      ` — ${d.rule}${d.last_resort ? " (no member healthy: the last resort answers)" : ""}`,
      el(
        "ul",
        {},
        d.candidates.map((c) =>
          el(
            "li",
            {},
            c.chosen ? el("strong", {}, `chosen: ${c.set_id || "(record)"}`) : `${c.set_id || "(record)"}`,
            ` (${c.policy}) `,
            statusBadge(c.healthy ? "healthy" : "unhealthy"),
            c.health_check ? ` check ${c.health_check}` : "",
            c.unhealthy_because ? ` — ${c.unhealthy_because}` : "",
            c.alias ? ` alias to ${c.alias.target}${c.alias.evaluate_target_health ? " (evaluates target health)" : ""}` : "",
          ),
        ),
      ),
    );
  return el(
    "section",
    { "aria-label": "Explanation" },
    el("h3", {}, `${x.name} ${x.type}: ${x.rcode}`),
    x.answer.length ? el("pre", {}, x.answer.join("\n")) : el("p", {}, "No records in the answer."),
    x.decisions.length ? el("ol", {}, x.decisions.map(decision)) : el("p", { class: "muted" }, "No routing-policy decision: a plain record set."),
    Object.keys(x.checks).length
      ? table("Health checks the decisions read", ["Check", "Status", "Last result"], Object.entries(x.checks).map(([name, c]) => el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, statusBadge(c.status)), el("td", {}, c.last_result ? c.last_result.reason : "none"))))
      : null,
  );
}

// --- Routing controls -----------------------------------------------------------------

async function loadControls() {
  const panelsRead = canReadConfig() ? api("GET", "/v1/panels") : Promise.resolve(null);
  const [{ controls }, history, panels] = await Promise.all([api("GET", "/v1/controls"), api("GET", "/v1/controls/history?limit=20"), panelsRead]);
  if (state.view !== "controls") return;
  const rows = controls.map((c) =>
    el(
      "tr",
      { "data-control": `${c.panel}/${c.control}` },
      el("th", { scope: "row" }, `${c.panel} / ${c.control}`),
      el("td", {}, statusBadge(c.state)),
      el("td", {}, c.changed_at ? ago(c.changed_at) : "never"),
      el("td", {}, c.reverts_at ? el("span", { class: "countdown", "data-until": c.reverts_at }, countdown(c.reverts_at)) : ""),
      el("td", {}, canFlip() ? el("button", { type: "button", onclick: () => flipDialog(c) }, c.state === "On" ? `Turn ${c.control} off` : `Turn ${c.control} on`) : el("span", { class: "muted" }, "read only")),
    ),
  );
  setContent(
    el("h2", { id: "view-title" }, "Routing controls"),
    table("Every routing control", ["Control", "State", "Changed", "Reverts in", "Action"], rows),
    panels ? rulesTable(panels.panels) : null,
    el("h3", {}, "Recent updates"),
    historyTable(history.records || history.updates || history),
  );
}

// The safety rules every flip is checked against.
function rulesTable(panels) {
  const rule = (r) => {
    const names = (r.controls || r.target_controls || []).join(", ");
    const gating = r.gating_controls ? ` when ${r.gating_controls.join(", ")} allow` : "";
    const kind = r.rule.kind === "atleast" ? `at least ${r.rule.threshold}` : r.rule.kind === "and" ? "all" : r.rule.kind === "or" ? "any" : r.rule.kind;
    return `${r.type}: ${kind} of ${names} on${gating}${r.rule.inverted ? " (inverted)" : ""}${r.wait_period ? `, wait ${r.wait_period}` : ""}`;
  };
  return [
    el("h3", {}, "Safety rules"),
    table(
      "The rules each panel's flips must keep",
      ["Panel", "Rule", "What it keeps"],
      panels.flatMap((p) => (p.rules.length ? p.rules : [null]).map((r) => el("tr", {}, el("th", { scope: "row" }, p.name), el("td", {}, r ? r.name : "none"), el("td", {}, r ? rule(r) : "no safety rule")))),
    ),
  ];
}

function countdown(iso) {
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
setInterval(() => {
  for (const c of document.querySelectorAll(".countdown")) c.textContent = countdown(c.dataset.until);
}, 1000);

function historyTable(records) {
  const list = Array.isArray(records) ? records : [];
  return table(
    "Routing-control updates, newest first",
    ["When", "Token", "Changes", "Reason", "Outcome"],
    list.map((r) =>
      el(
        "tr",
        { "data-outcome": r.outcome },
        el("td", {}, r.at),
        el("td", {}, r.token),
        el("td", {}, r.changes.map((c) => `${r.panel}/${c.control}: ${c.from} → ${c.to}`).join("; ")),
        el("td", {}, r.reason),
        el("td", {}, r.outcome, r.refused_by && r.refused_by.length ? ` by ${r.refused_by.map((x) => x.rule).join(", ")}` : "", r.overridden && r.overridden.length ? ` (overrode ${r.overridden.join(", ")})` : ""),
      ),
    ),
  );
}

function flipDialog(c) {
  const target = c.state === "On" ? "Off" : "On";
  const path = `/v1/controls/${encodeURIComponent(c.panel)}/${encodeURIComponent(c.control)}`;
  const dialog = el("dialog", { "aria-labelledby": "flip-title", id: "flip-dialog" });
  const reason = el("textarea", { id: "flip-reason", "data-field": "reason", rows: 2, required: true, "aria-describedby": "flip-reason-error" });
  const duration = el("input", { id: "flip-for", "data-field": "for", placeholder: "e.g. 30m (optional)", "aria-describedby": "flip-for-error" });
  const preview = el("div", { id: "flip-preview", "aria-live": "polite" });
  const overrides = el("div", { id: "flip-overrides" });
  const formError = el("p", { class: "error form", role: "alert" });
  const commit = el("button", { type: "submit", class: "danger", disabled: true }, `Turn ${target.toLowerCase()}`);
  const form = el(
    "form",
    { method: "dialog", novalidate: true },
    el("h2", { id: "flip-title" }, `Turn ${c.panel} / ${c.control} ${target.toLowerCase()}`),
    el("label", { for: "flip-reason" }, "Reason (required, kept in the audit trail)"),
    reason,
    el("p", { class: "error", id: "flip-reason-error" }),
    el("label", { for: "flip-for" }, "Revert after"),
    duration,
    el("p", { class: "error", id: "flip-for-error" }),
    el("div", { class: "actions" }, el("button", { type: "button", id: "flip-preview-button", onclick: () => dryRun() }, "Preview the answers")),
    preview,
    overrides,
    formError,
    el("div", { class: "actions" }, commit, el("button", { type: "button", onclick: () => dialog.close() }, "Cancel")),
  );
  dialog.append(form);
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());

  const request = () => {
    const body = { state: target, reason: reason.value };
    if (duration.value.trim()) body.for = duration.value.trim();
    const chosen = [...overrides.querySelectorAll("input:checked")].map((i) => i.value);
    if (chosen.length) body.override_rules = chosen;
    return body;
  };
  const showRefusals = (refusals) => {
    overrides.replaceChildren();
    if (!refusals.length) return;
    overrides.append(
      el(
        "fieldset",
        {},
        el("legend", {}, "Refused by these safety rules; override only if you must"),
        refusals.map((r, i) =>
          el(
            "div",
            { "data-rule": r.rule },
            el("input", { type: "checkbox", id: `override-${i}`, value: r.rule }),
            el("label", { for: `override-${i}`, class: "inline" }, `Override ${r.rule}`),
            el("p", { class: "hint" }, r.reason),
          ),
        ),
      ),
    );
    for (const box of overrides.querySelectorAll("input")) box.addEventListener("change", () => dryRun());
  };
  // The dry run: the answers that would change, and the rules that would refuse.
  const dryRun = async () => {
    commit.disabled = true;
    try {
      const w = await api("PUT", `${path}?dry_run=true`, request());
      clearErrors(form);
      preview.replaceChildren(
        el("p", { id: "flip-outcome" }, `This update ${w.outcome}.`),
        w.answers.length
          ? table("Answers that would change", ["Name", "Before", "After"], w.answers.map((a) => el("tr", {}, el("th", { scope: "row" }, `${a.name} ${a.type}`), el("td", { class: "diff-before" }, a.before.join(", ") || "(none)"), el("td", { class: "diff-after" }, a.after.join(", ") || "(none)"))))
          : el("p", {}, "No answer would change."),
      );
      const kept = new Set([...overrides.querySelectorAll("input:checked")].map((i) => i.value));
      if (w.refused_by && w.refused_by.length) showRefusals(w.refused_by);
      else if (!kept.size) overrides.replaceChildren();
      for (const box of overrides.querySelectorAll("input")) box.checked = kept.has(box.value);
      commit.disabled = false;
    } catch (e) {
      preview.replaceChildren();
      fieldError(form, e);
    }
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    commit.disabled = true;
    try {
      await api("PUT", path, request());
      dialog.close();
      refresh();
    } catch (e) {
      if (e.code === "SafetyRuleRefused") {
        formError.textContent = `Refused: ${e.refusals.map((r) => `${r.rule} (${r.reason})`).join("; ")}`;
        showRefusals(e.refusals);
        commit.disabled = false;
      } else {
        fieldError(form, e);
        commit.disabled = false;
      }
    }
  });
  dialog.showModal();
  reason.focus();
}

// --- Records and checks ---------------------------------------------------------------

async function loadRecords() {
  const [{ zones }, { checks }] = await Promise.all([api("GET", "/v1/zones"), api("GET", "/v1/checks")]);
  if (state.view !== "records") return;
  setContent(
    el("h2", { id: "view-title" }, "Records and checks"),
    canWriteConfig() ? el("div", { class: "forms" }, checkForm(), failoverForm(zones)) : null,
    el("div", { id: "records-lists" }, recordsLists(zones, checks)),
  );
}

function recordsLists(zones, checks) {
  const zoneList = el(
    "ul",
    {},
    zones.map((z) => el("li", {}, el("button", { type: "button", onclick: () => showZone(z.name) }, `${z.name} (${z.record_set_count} record sets, serial ${z.serial})`))),
  );
  const edit = (c) => {
    const form = document.getElementById("check-form");
    const set = (id, v) => (form.querySelector(`#${id}`).value = v ?? "");
    set("check-name", c.name);
    set("check-type", c.type);
    set("check-ip", c.ip);
    set("check-port", c.port);
    set("check-path", c.path);
    set("check-search", c.search);
    set("check-interval", c.interval);
    set("check-threshold", c.failure_threshold);
    form.querySelector("button[type=submit]").textContent = "Save the check";
    form.querySelector("#check-name").focus();
  };
  const simple = (c) => ["http", "https", "tcp"].includes(c.type) && c.ip;
  const checkRows = checks.map((c) =>
    el(
      "tr",
      {},
      el("th", { scope: "row" }, c.name),
      el("td", {}, c.type),
      el("td", {}, el("code", {}, [c.ip || c.fqdn || "", c.port ? `:${c.port}` : "", c.path || ""].join(""))),
      el("td", {}, c.interval || "30s"),
      el("td", {}, c.failure_threshold ?? 3),
      canWriteConfig() ? el("td", {}, simple(c) ? el("button", { type: "button", onclick: () => edit(c) }, `Edit ${c.name}`) : el("span", { class: "muted" }, "edit with the API")) : null,
    ),
  );
  return [
    el("h3", {}, "Zones"),
    zones.length ? zoneList : el("p", {}, "No zones."),
    el("div", { id: "zone-detail", "aria-live": "polite" }),
    el("h3", {}, "Health checks"),
    table("Every health check, as written", ["Check", "Type", "Target", "Interval", "Failure threshold", ...(canWriteConfig() ? ["Edit"] : [])], checkRows),
  ];
}

async function showZone(name) {
  const out = document.getElementById("zone-detail");
  const r = await api("GET", `/v1/zones/${encodeURIComponent(name)}/rrsets`);
  const sets = r.record_sets || r.rrsets || [];
  out.replaceChildren(
    table(
      `Record sets of ${name}`,
      ["Name", "Type", "TTL", "Policy", "Values"],
      sets.map((s) => el("tr", {}, el("th", { scope: "row" }, s.name), el("td", {}, s.type), el("td", {}, s.ttl ?? ""), el("td", {}, policyOf(s)), el("td", {}, (s.values || s.records || []).join(", ") || (s.alias ? `alias to ${s.alias.target || s.alias.name}` : "")))),
    ),
  );
}

// One labelled input; `field` is the API's name for it (errors are shown at it).
function input(id, label, field, attrs = {}) {
  return [
    el("label", { for: id }, label),
    el("input", { id, "data-field": field, "aria-describedby": `${id}-error`, ...attrs }),
    el("p", { class: "error", id: `${id}-error` }),
  ];
}

function checkForm() {
  const form = el(
    "form",
    { id: "check-form", novalidate: true, "aria-labelledby": "check-form-title" },
    el("h3", { id: "check-form-title" }, "Health check (new, or replace one)"),
    input("check-name", "Name", "name", { required: true }),
    el("label", { for: "check-type" }, "Type"),
    el("select", { id: "check-type", "data-field": "type" }, ["http", "https", "tcp"].map((t) => el("option", { value: t }, t.toUpperCase()))),
    input("check-ip", "IP address", "ip", { required: true, inputmode: "decimal" }),
    input("check-port", "Port", "port", { inputmode: "numeric" }),
    input("check-path", "Path (HTTP and HTTPS)", "path", { value: "/" }),
    input("check-search", "Text the body must contain (optional)", "search"),
    input("check-interval", "Interval", "interval", { value: "10s" }),
    input("check-threshold", "Failure threshold", "failure_threshold", { value: "3", inputmode: "numeric" }),
    el("p", { class: "error form", role: "alert" }),
    el("p", { class: "status-line", role: "status" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Save the check")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    const body = { name: v("check-name"), type: v("check-type"), ip: v("check-ip") };
    const num = (x) => (/^\d+$/.test(x) ? Number(x) : x);
    if (v("check-port")) body.port = num(v("check-port"));
    if (body.type !== "tcp" && v("check-path")) body.path = v("check-path");
    if (v("check-search")) body.search = v("check-search");
    if (v("check-interval")) body.interval = v("check-interval");
    if (v("check-threshold")) body.failure_threshold = num(v("check-threshold"));
    try {
      if (!body.name) throw new ApiError(400, { error: { code: "InvalidInput", field: "name", message: "a check needs a name" } });
      await api("PUT", `/v1/checks/${encodeURIComponent(body.name)}`, body);
      clearErrors(form);
      form.querySelector(".status-line").textContent = `Saved the check ${body.name}.`;
      refreshSoon();
    } catch (e) {
      fieldError(form, e);
    }
  });
  return form;
}

function failoverForm(zones) {
  const form = el(
    "form",
    { id: "failover-form", novalidate: true, "aria-labelledby": "failover-form-title" },
    el("h3", { id: "failover-form-title" }, "New failover pair"),
    el("label", { for: "fo-zone" }, "Zone"),
    el("select", { id: "fo-zone", "data-field": "zone" }, zones.map((z) => el("option", {}, z.name))),
    input("fo-name", "Name (relative to the zone, or absolute)", "changes[0].record_set.name", { required: true }),
    el("label", { for: "fo-type" }, "Type"),
    el("select", { id: "fo-type", "data-field": "changes[0].record_set.type" }, ["A", "AAAA", "CNAME"].map((t) => el("option", {}, t))),
    input("fo-ttl", "TTL (seconds)", "changes[0].record_set.ttl", { value: "60", inputmode: "numeric" }),
    input("fo-primary", "Primary's value", "changes[0].record_set.values", { required: true }),
    input("fo-check", "Primary's health check", "changes[0].record_set.health_check", { required: true }),
    input("fo-secondary", "Secondary's value", "changes[1].record_set.values", { required: true }),
    el("p", { class: "error form", role: "alert" }),
    el("div", { id: "fo-batch" }),
    el("p", { class: "status-line", role: "status", id: "fo-status" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Submit the change batch")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    const ttl = /^\d+$/.test(v("fo-ttl")) ? Number(v("fo-ttl")) : v("fo-ttl");
    const set = (id, failover, value, check) => ({
      name: v("fo-name"), type: v("fo-type"), ttl, set_id: id, failover, values: [value], ...(check ? { health_check: check } : {}),
    });
    const batch = {
      comment: "failover pair from the console",
      changes: [
        { action: "UPSERT", record_set: set("primary", "primary", v("fo-primary"), v("fo-check")) },
        { action: "UPSERT", record_set: set("secondary", "secondary", v("fo-secondary"), null) },
      ],
    };
    // The change batch it becomes, shown before and after it is sent.
    form.querySelector("#fo-batch").replaceChildren(el("details", { open: true }, el("summary", {}, "The change batch"), el("pre", {}, JSON.stringify(batch, null, 2))));
    const status = form.querySelector("#fo-status");
    try {
      const change = await api("POST", `/v1/zones/${encodeURIComponent(v("fo-zone"))}/changes`, batch);
      clearErrors(form);
      status.textContent = `Change ${change.id}: ${change.status}`;
      let current = change;
      const deadline = Date.now() + 30000;
      while (current.status !== "INSYNC" && Date.now() < deadline) {
        await new Promise((ok) => setTimeout(ok, 250));
        current = await api("GET", `/v1/changes/${encodeURIComponent(change.id)}`);
        status.textContent = `Change ${change.id}: ${current.status}`;
      }
      refreshSoon();
    } catch (e) {
      status.textContent = "";
      fieldError(form, e);
    }
  });
  return form;
}

// After a write from this page: the overview is reloaded by the event it causes; the list
// of this view now.
function refreshSoon() {
  if (state.view === "records") loadRecordsLists();
}

async function loadRecordsLists() {
  const [{ zones }, { checks }] = await Promise.all([api("GET", "/v1/zones"), api("GET", "/v1/checks")]);
  const lists = document.getElementById("records-lists");
  if (lists) lists.replaceChildren(...recordsLists(zones, checks));
}

function policyOf(s) {
  const parts = [];
  if (s.set_id) parts.push(`set ${s.set_id}`);
  if (s.failover) parts.push(`failover ${s.failover}`);
  if (s.weight !== undefined) parts.push(`weight ${s.weight}`);
  if (s.region) parts.push(`region ${s.region}`);
  if (s.health_check) parts.push(`check ${s.health_check}`);
  return parts.join(", ");
}

// --- Audit ----------------------------------------------------------------------------

async function loadAudit() {
  const wants = [canReadConfig() ? api("GET", "/v1/audit?limit=50") : Promise.resolve({ writes: [] }), api("GET", "/v1/controls/history?limit=50")];
  const [audit, history] = await Promise.all(wants);
  if (state.view !== "audit") return;
  const writes = table(
    "Configuration writes, newest first",
    ["When", "Token", "Request", "What changed"],
    audit.writes.map((w) => el("tr", {}, el("td", {}, w.at), el("td", {}, w.token), el("td", {}, el("code", {}, w.request || "")), el("td", {}, w.changes.map((c) => `${c.kind} ${c.name}: ${c.action}`).join("; ")))),
  );
  setContent(el("h2", { id: "view-title" }, "Audit"), el("h3", {}, "Routing controls"), historyTable(history.records || history.updates || history), el("h3", {}, "Configuration"), writes);
}

// ---------------------------------------------------------------------------------------
// Start

document.getElementById("sign-in-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  const token = input.value.trim();
  const error = document.getElementById("token-error");
  if (!token) {
    error.textContent = "Give a token.";
    input.setAttribute("aria-invalid", "true");
    return;
  }
  try {
    await signIn(token);
    input.value = "";
    input.removeAttribute("aria-invalid");
    showApp();
  } catch (e) {
    state.token = null;
    input.setAttribute("aria-invalid", "true");
    error.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
  }
});
document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);

(async () => {
  if (state.token) {
    try {
      await signIn(state.token);
      return showApp();
    } catch {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
    }
  }
  try {
    // With anonymous reads on, the console opens without a token (read only).
    state.who = await api("GET", "/v1/whoami");
    return showApp();
  } catch {
    showSignIn();
  }
})();
