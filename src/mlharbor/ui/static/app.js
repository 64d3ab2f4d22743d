/* mlharbor web UI, shared parts: REST calls, errors next to the fields they name, plotly
   charts, sign-in, small widgets and the page boot. No framework beyond htmx. */
"use strict";

const harbor = (window.harbor = window.harbor || {});

/* ---------- REST calls ---------- */

// A header no cross-site form can send: the server requires it on cookie-authenticated changes.
const SCRIPT_HEADER = { "X-Requested-With": "mlharbor-ui" };

async function api(method, url, body) {
  const init = { method, headers: { ...SCRIPT_HEADER }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    return { ok: false, status: 0, data: { detail: "the server did not answer: " + err.message } };
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 300) }; }
  if (response.status === 401 && !url.startsWith("/ui/session")) {
    location.href = "/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
  }
  return { ok: response.ok, status: response.status, data };
}
harbor.api = api;

function problemText(data, status) {
  if (!data) return `the server answered ${status}`;
  return data.detail || data.message || `the server answered ${status}`;
}

/* ---------- Errors next to their fields ---------- */

function clearErrors(root) {
  root.querySelectorAll("[data-error-for]").forEach((el) => {
    el.textContent = "";
    if (el.classList.contains("alert")) el.classList.add("hidden");
  });
  root.querySelectorAll(".field.invalid").forEach((el) => el.classList.remove("invalid"));
  root.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function errorSlot(root, field) {
  return field ? root.querySelector(`[data-error-for="${CSS.escape(field)}"]`) : null;
}

function showError(root, field, message) {
  const slot = errorSlot(root, field) || errorSlot(root, "_form");
  if (!slot) { alert(message); return; }
  slot.textContent = message;
  slot.classList.remove("hidden");
  const box = slot.closest(".field");
  if (box) {
    box.classList.add("invalid");
    const input = box.querySelector("input, select, textarea");
    if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", slot.id || ""); }
    const details = box.closest("details");
    if (details) details.open = true;
  }
  slot.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// Which form field a problem+json answer is about: validation errors name theirs, our own
// errors carry `field`, `unknown` (parameters) or name a parameter in quotes.
function fieldsOf(root, data, strip) {
  const out = [];
  const norm = (f) => (strip && f.startsWith(strip) ? f.slice(strip.length) : f);
  for (const err of data.errors || []) out.push([norm(err.field), `${err.message}`]);
  if (out.length) return out;
  const detail = problemText(data);
  for (const name of data.unknown || []) out.push(["params." + name, detail]);
  if (out.length) return out;
  for (const m of detail.matchAll(/'([^']+)'/g)) {
    if (errorSlot(root, "params." + m[1])) return [["params." + m[1], detail]];
    if (errorSlot(root, m[1]) && m[1] !== "_form") return [[m[1], detail]];
  }
  for (const key of ["field", "column", "param"]) {
    if (data[key] && errorSlot(root, data[key])) return [[data[key], detail]];
  }
  // Our errors carry the offending value under the option's own name (time_budget=…).
  const standard = [
    "type", "title", "status", "detail", "instance", "code", "message", "details", "request_id",
    "errors",
  ];
  for (const key of Object.keys(data)) {
    if (!standard.includes(key) && key !== "_form" && errorSlot(root, key)) return [[key, detail]];
  }
  return [["_form", detail]];
}

function showProblem(root, result, strip) {
  for (const [field, message] of fieldsOf(root, result.data || {}, strip)) {
    showError(root, field, message);
  }
}

/* ---------- Charts ---------- */

function renderPlots(root) {
  if (!window.Plotly) return;
  root.querySelectorAll("[data-plot]:not([data-rendered])").forEach((el) => {
    const spec = JSON.parse(el.querySelector("script[type='application/json']").textContent);
    el.dataset.rendered = "1";
    // On touch screens the toolbar sits over the chart's top and cannot be hovered away.
    const touch = window.matchMedia("(hover: none)").matches;
    window.Plotly.newPlot(el, spec.data, spec.layout, {
      responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"],
      displayModeBar: touch ? false : "hover",
    });
  });
}
harbor.renderPlots = renderPlots;
/* ---------- Session ---------- */

function setupSignIn(form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const key = form.querySelector("[name=key]").value.trim();
    if (!key) { showError(form, "key", "paste an API key"); return; }
    const r = await api("POST", "/ui/session", { key });
    if (r.ok) location.href = form.dataset.next || "/datasets";
    else showError(form, "key", problemText(r.data, r.status));
  });
}

/* ---------- Small widgets ---------- */

function setupTabs(list) {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  const select = (tab) => tabs.forEach((t) => {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute("aria-controls")).classList.toggle("hidden", !on);
  });
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      select(next); next.focus();
    });
  });
}

document.addEventListener("click", async (e) => {
  const copy = e.target.closest("[data-copy]");
  if (copy) {
    const text = document.querySelector(copy.dataset.copy).textContent;
    try { await navigator.clipboard.writeText(text); copy.textContent = "Copied"; }
    catch { copy.textContent = "Select and copy"; }
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  }
  if (e.target.closest("[data-sign-out]")) {
    await api("DELETE", "/ui/session");
    location.href = "/sign-in";
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const on = (sel, fn) => document.querySelectorAll(sel).forEach(fn);
  on("[data-upload]", setupUpload);
  on("[data-url-form]", setupUrlForm);
  on("[data-train-form]", setupTrainForm);
  on("[data-leaderboard]", setupLeaderboard);  // before the job: it hooks the job's events
  on("[data-job]", setupJob);
  on("[data-key-form]", setupKeyForm);
  on("[data-sign-in]", setupSignIn);
  on("[data-tabs]", setupTabs);
  on("[data-check-now]", setupCheckNow);
  on("[data-score-form]", setupScoreForm);
  setupAliasButtons();
  setupRevoke();
  renderPlots(document);
});
// A field's error goes once the user edits the field.
document.addEventListener("input", (e) => {
  const box = e.target.closest && e.target.closest(".field.invalid");
  if (!box) return;
  box.classList.remove("invalid");
  e.target.removeAttribute("aria-invalid");
  const slot = box.querySelector(".field-error");
  if (slot) slot.textContent = "";
});
document.addEventListener("htmx:afterSettle", (e) => {
  renderPlots(e.target);
  const section = e.target.closest && e.target.closest("[aria-busy]");
  if (section) section.setAttribute("aria-busy", "false");
});
