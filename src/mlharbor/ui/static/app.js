/* mlharbor web UI: calls the REST API, shows its errors next to the fields they name,
   renders plotly charts and follows jobs live. No framework beyond htmx. */
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
    window.Plotly.newPlot(el, spec.data, spec.layout, {
      responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"],
    });
  });
}
harbor.renderPlots = renderPlots;

/* ---------- Datasets: upload with progress, fetch from URL ---------- */

function uploadFile(form, file) {
  const status = form.querySelector("[data-upload-status]");
  const bar = status.querySelector(".progress");
  const pct = status.querySelector("[data-upload-pct]");
  const label = status.querySelector("[data-upload-label]");
  clearErrors(form);
  status.classList.remove("hidden");
  bar.classList.remove("done", "failed");
  label.textContent = `Uploading ${file.name}…`;
  const data = new FormData();
  data.append("file", file);
  const name = form.querySelector("[name=name]").value.trim();
  if (name) data.append("name", name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/v1/datasets");
  xhr.setRequestHeader("X-Requested-With", "mlharbor-ui");
  const setPct = (p) => {
    bar.firstElementChild.style.width = p + "%";
    bar.setAttribute("aria-valuenow", String(p));
    pct.textContent = p + "%";
  };
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    const p = Math.round((100 * e.loaded) / e.total);
    setPct(p);
    if (p >= 100) label.textContent = "Reading the table and inferring its schema…";
  };
  xhr.onload = () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch { body = { detail: xhr.responseText }; }
    if (xhr.status === 200 || xhr.status === 201) {
      setPct(100);
      bar.classList.add("done");
      label.textContent = xhr.status === 201
        ? `Stored ${body.dataset} v${body.version}: ${body.n_rows} rows.`
        : `Unchanged: ${body.dataset} v${body.version} already holds this content.`;
      location.href = `/datasets/${encodeURIComponent(body.dataset)}?version=${body.version}`;
    } else {
      bar.classList.add("failed");
      label.textContent = "Upload failed";
      if (xhr.status === 401) { location.href = "/sign-in?next=/datasets"; return; }
      showError(form, "file", problemText(body, xhr.status));
    }
  };
  xhr.onerror = () => {
    bar.classList.add("failed");
    showError(form, "file", "the upload was interrupted: the server did not answer");
  };
  xhr.send(data);
}

function setupUpload(form) {
  const zone = form.querySelector("[data-dropzone]");
  const input = form.querySelector("input[type=file]");
  input.addEventListener("change", () => input.files[0] && uploadFile(form, input.files[0]));
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => {
    e.preventDefault(); zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => {
    e.preventDefault(); zone.classList.remove("over");
  }));
  zone.addEventListener("drop", (e) => {
    const file = e.dataTransfer.files[0];
    if (file) uploadFile(form, file);
  });
  form.addEventListener("submit", (e) => e.preventDefault());
}

function setupUrlForm(form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const url = form.querySelector("[name=url]").value.trim();
    if (!url) { showError(form, "url", "enter the http(s) address of a file"); return; }
    const name = form.querySelector("[name=name]").value.trim() || null;
    const busy = form.querySelector("[data-busy]");
    busy.style.display = "inline-block";
    const r = await api("POST", "/api/v1/datasets/from-url", { url, name });
    busy.style.display = "";
    if (r.ok) {
      location.href = `/datasets/${encodeURIComponent(r.data.dataset)}?version=${r.data.version}`;
    } else {
      // Everything but a bad name is about the URL (scheme, reachability, the file itself).
      const [[field, message]] = fieldsOf(form, r.data || {});
      showError(form, field === "name" ? "name" : "url", message);
    }
  });
}

/* ---------- Training ---------- */

function paramValue(el) {
  const raw = el.value.trim();
  if (raw === "") return null;
  switch (el.dataset.kind) {
    case "bool": return raw === "true";
    case "int": return Number.isInteger(Number(raw)) ? Number(raw) : raw;
    case "float": return Number.isFinite(Number(raw)) ? Number(raw) : raw;
    default: return raw;
  }
}

// Only what the user changed is sent: the catalog's defaults apply to the rest.
function changedParams(panel) {
  const params = {};
  panel.querySelectorAll("[data-param]").forEach((el) => {
    if (el.value.trim() !== (el.dataset.default || "")) params[el.dataset.param] = paramValue(el);
  });
  return params;
}

function checkNumbers(form) {
  let ok = true;
  form.querySelectorAll("input[type=number]").forEach((el) => {
    if (!el.checkValidity()) {
      ok = false;
      const field = el.dataset.param ? "params." + el.dataset.param : el.name;
      showError(form, field, el.validationMessage);
    }
  });
  return ok;
}

// Builders of the job body, one per training mode (see train.html).
harbor.trainModes = {
  single(form, common) {
    const panel = form.querySelector('[data-mode-panel="single"]');
    return {
      kind: "train",
      params: { ...common, model: panel.querySelector("[name=model]").value, params: changedParams(panel) },
    };
  },
};

function setupTrainForm(form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    if (!checkNumbers(form)) return;
    const value = (n) => form.querySelector(`[name=${n}]`).value;
    const common = {
      dataset: form.dataset.dataset,
      dataset_version: Number(form.dataset.version),
      target: form.dataset.target,
      // The task goes along only when the user overrides what the insights detected.
      task: value("task") !== form.querySelector("[name=task]").dataset.detected ? value("task") : null,
      name: value("name").trim() || null,
      test_size: Number(value("test_size")),
      cv_folds: Number(value("cv_folds")),
      drop: [...form.querySelectorAll("[name=drop]:checked")].map((el) => el.value),
    };
    const checked = form.querySelector("[name=mode]:checked") || form.querySelector("[name=mode]");
    const body = harbor.trainModes[checked.value](form, common);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const r = await api("POST", "/api/v1/jobs", body);
    button.disabled = false;
    if (r.ok) location.href = `/jobs/${r.data.id}`;
    else showProblem(form, r, "params.");
  });
}

/* ---------- Jobs: live progress ---------- */

const TERMINAL = ["succeeded", "failed", "cancelled"];

function setupJob(box) {
  const id = box.dataset.job;
  let after = Number(box.dataset.after || 0);
  let state = box.dataset.state;
  const started = box.dataset.started ? new Date(box.dataset.started) : null;
  let startedAt = started;
  let finishedAt = box.dataset.finished ? new Date(box.dataset.finished) : null;
  const $ = (sel) => document.querySelector(sel);
  const duration = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`);
  let fraction = Number(box.dataset.progress || 0);
  const elapsed = () => {
    if (!startedAt) { $("[data-job-elapsed]").textContent = "waiting for a worker"; return; }
    const end = finishedAt || new Date();
    const s = Math.max(0, Math.round((end - startedAt) / 1000));
    let text = duration(s);
    // A rough estimate from the pace so far, once there is a pace to go by.
    if (!finishedAt && fraction > 0.1 && fraction < 1) {
      text += ` · about ${duration(Math.round((s * (1 - fraction)) / fraction))} left`;
    }
    $("[data-job-elapsed]").textContent = text;
  };
  elapsed();
  const timer = setInterval(elapsed, 1000);

  const setState = (next) => {
    state = next;
    const badge = $("[data-job-state]");
    badge.textContent = next;
    badge.className = "badge " + ({ running: "blue", succeeded: "ok", failed: "bad", cancelled: "warn" }[next] || "");
    box.dataset.state = next;
  };
  const setProgress = (value) => {
    fraction = value;
    const p = Math.round(100 * value);
    $("[data-job-bar]").style.width = p + "%";
    $("[data-job-bar]").parentElement.setAttribute("aria-valuenow", String(p));
    $("[data-job-pct]").textContent = p + "%";
  };
  const log = (event) => {
    const li = document.createElement("li");
    const time = new Date(event.created_at).toLocaleTimeString([], { hour12: false });
    li.innerHTML = `<span class="muted"></span> <span class="badge"></span> <span></span>`;
    li.children[0].textContent = time;
    li.children[1].textContent = event.kind;
    li.children[2].textContent = event.data.message || "";
    $("[data-job-events]").appendChild(li);
  };

  async function finish() {
    clearInterval(timer);
    const r = await api("GET", `/api/v1/jobs/${id}`);
    if (!r.ok) return;
    const job = r.data;
    setState(job.state);
    finishedAt = job.finished_at ? new Date(job.finished_at) : new Date();
    elapsed();
    const bar = $("[data-job-bar]").parentElement;
    bar.classList.add(job.state === "succeeded" ? "done" : "failed");
    if (job.state === "succeeded") setProgress(1);
    $("[data-job-message]").textContent = job.message || job.state;
    const cancel = $("[data-cancel-job]");
    if (cancel) cancel.disabled = true;
    const slot = $("[data-job-result]");
    slot.innerHTML = "";
    const div = document.createElement("div");
    if (job.state === "succeeded" && job.result && job.result.model) {
      div.className = "alert ok";
      div.append(`Trained ${job.result.model} version ${job.result.version} (${job.result.estimator}). `);
      const a = document.createElement("a");
      a.className = "btn primary small";
      a.href = `/models/${encodeURIComponent(job.result.model)}?version=${job.result.version}`;
      a.textContent = "Open the model →";
      div.append(a);
    } else if (job.error) {
      div.className = "alert error";
      div.textContent = `${job.error.code || "error"}: ${job.error.message}`;
    } else {
      div.className = "alert info";
      div.textContent = `The job ended: ${job.state}.`;
    }
    slot.append(div);
    harbor.jobFinished && harbor.jobFinished(job);
  }

  function handle(event) {
    if (event.seq <= after) return;
    after = event.seq;
    log(event);
    if (event.kind === "started") {
      setState("running");
      startedAt = startedAt || new Date(event.created_at);
    }
    if (event.kind === "progress") {
      if (typeof event.data.fraction === "number") setProgress(event.data.fraction);
      if (event.data.message) $("[data-job-message]").textContent = event.data.message;
      if (state === "queued") setState("running");
    }
    if (harbor.jobEvent) harbor.jobEvent(event);  // e.g. an AutoML leaderboard
    if (TERMINAL.includes(event.kind)) finish();
  }

  if (TERMINAL.includes(state)) { clearInterval(timer); return; }

  // Events arrive over the job's WebSocket; if it cannot be opened, poll the JSON list.
  async function poll() {
    while (!TERMINAL.includes(state)) {
      const r = await api("GET", `/api/v1/jobs/${id}/events?after=${after}`);
      if (r.ok) r.data.forEach(handle);
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try {
    ws = new WebSocket(`${scheme}://${location.host}/api/v1/jobs/${id}/events?after=${after}`);
  } catch { poll(); return; }
  ws.onmessage = (msg) => handle(JSON.parse(msg.data));
  ws.onclose = () => { if (!TERMINAL.includes(state)) poll(); };

  const cancel = document.querySelector("[data-cancel-job]");
  if (cancel) cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    const r = await api("DELETE", `/api/v1/jobs/${id}`);
    if (!r.ok) { cancel.disabled = false; alert(problemText(r.data, r.status)); return; }
    $("[data-job-message]").textContent = r.data.state === "cancelled" ? "cancelled" : "cancelling…";
    if (r.data.state === "cancelled") finish();
  });
}

/* ---------- Models: aliases, try it ---------- */

function setupAliasButtons() {
  document.querySelectorAll("[data-set-alias]").forEach((btn) => btn.addEventListener("click", async () => {
    btn.disabled = true;
    const { model, version } = btn.dataset;
    const r = await api("PUT", `/api/v1/models/${encodeURIComponent(model)}/aliases/${btn.dataset.setAlias}`, { version: Number(version) });
    if (r.ok) location.reload();
    else { btn.disabled = false; showError(document, "alias", problemText(r.data, r.status)); }
  }));
}

function renderPrediction(slot, data) {
  slot.innerHTML = "";
  const box = document.createElement("div");
  box.className = "alert ok";
  const value = data.predictions[0];
  const strong = document.createElement("strong");
  strong.textContent = typeof value === "number" ? String(Math.round(value * 1e6) / 1e6) : String(value);
  box.append("Prediction: ", strong, ` (${data.model} v${data.version})`);
  slot.append(box);
  const probs = data.probabilities && data.probabilities[0];
  if (probs && data.classes) {
    const table = document.createElement("table");
    table.className = "dense";
    table.innerHTML = "<thead><tr><th>Class</th><th class='num'>Probability</th></tr></thead><tbody></tbody>";
    data.classes.map((label, i) => [label, probs[i]]).sort((a, b) => b[1] - a[1]).forEach(([label, p]) => {
      const tr = document.createElement("tr");
      tr.innerHTML = "<td></td><td class='num'></td>";
      tr.children[0].textContent = label;
      tr.children[1].textContent = (100 * p).toFixed(1) + "%";
      table.tBodies[0].append(tr);
    });
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.append(table);
    slot.append(wrap);
  }
}

function setupPredictForm(form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const row = {};
    form.querySelectorAll("[data-input]").forEach((el) => {
      const raw = el.value.trim();
      if (raw === "") row[el.dataset.input] = null;
      else if (el.dataset.kind === "number") row[el.dataset.input] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
      else if (el.dataset.kind === "bool") row[el.dataset.input] = raw === "true";
      else row[el.dataset.input] = raw;
    });
    const { model, ref } = form.dataset;
    const r = await api("POST", `/api/v1/models/${encodeURIComponent(model)}/${ref}/predict`, [row]);
    const slot = form.querySelector("[data-predict-result]");
    if (r.ok) renderPrediction(slot, r.data);
    else { slot.innerHTML = ""; showProblem(form, r); }
  });
}

/* ---------- Settings: keys ---------- */

function setupKeyForm(form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const name = form.querySelector("[name=name]").value.trim();
    const scopes = [...form.querySelectorAll("[name=scopes]:checked")].map((el) => el.value);
    if (!name) { showError(form, "name", "give the key a name, e.g. who or what uses it"); return; }
    if (!scopes.length) { showError(form, "scopes", "choose at least one scope"); return; }
    const r = await api("POST", "/api/v1/keys", { name, scopes });
    if (!r.ok) { showProblem(form, r); return; }
    const shown = document.querySelector("[data-new-key]");
    shown.querySelector("[data-new-key-value]").textContent = r.data.key;
    shown.classList.remove("hidden");
    form.reset();
    if (window.htmx) htmx.ajax("GET", "/settings", { target: "[aria-labelledby=keys-title]", select: "[aria-labelledby=keys-title]", swap: "outerHTML" });
  });
}

function setupRevoke() {
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("[data-revoke-key]");
    if (!btn) return;
    if (!confirm(`Revoke the key "${btn.dataset.keyName}"? Whatever uses it stops working.`)) return;
    btn.disabled = true;
    const r = await api("DELETE", `/api/v1/keys/${btn.dataset.revokeKey}`);
    if (r.ok) location.reload();
    else { btn.disabled = false; alert(problemText(r.data, r.status)); }
  });
}

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
  on("[data-job]", setupJob);
  on("[data-predict-form]", setupPredictForm);
  on("[data-key-form]", setupKeyForm);
  on("[data-sign-in]", setupSignIn);
  on("[data-tabs]", setupTabs);
  setupAliasButtons();
  setupRevoke();
  renderPlots(document);
});
document.addEventListener("htmx:afterSettle", (e) => {
  renderPlots(e.target);
  const section = e.target.closest && e.target.closest("[aria-busy]");
  if (section) section.setAttribute("aria-busy", "false");
});
