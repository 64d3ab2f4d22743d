/* mlharbor web UI, work and results: live jobs, model aliases, the "try it" form, keys.
   Uses api, showError, showProblem and problemText from app.js (loaded first). */
"use strict";

/* ---------- Jobs: live progress ---------- */

function eventText(event) {
  const d = event.data || {};
  if (d.message) return d.message;
  if (event.kind === "trial") return `${d.name}: ${d.status}`;
  if (event.kind === "chunk") return `chunk ${d.chunk} of ${d.chunks} (${d.rows} rows)`;
  return "";
}

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
    const budget = Number(box.dataset.budget || 0);
    if (!finishedAt && budget > 0) {
      // AutoML ends within its budget: what is left of it, never more than the budget.
      const left = Math.max(0, Math.round(budget - s));
      text += left > 0 ? ` · about ${duration(left)} left of the ${duration(Math.round(budget))} budget` : " · budget used, registering the winner";
    } else if (!finishedAt && fraction > 0.1 && fraction < 1) {
      // A rough estimate from the pace so far, once there is a pace to go by.
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
    // One state per job: a message that is only an older state's name follows the badge.
    const message = $("[data-job-message]");
    if (["queued", "running", "succeeded", "failed", "cancelled"].includes(message.textContent.trim())) {
      message.textContent = next;
    }
  };
  const maxAttempts = box.dataset.maxAttempts || "?";
  const setAttempt = (n) => {
    const slot = $("[data-job-attempt]");
    if (slot) slot.textContent = `attempt ${Math.max(1, Number(n) || 1)} of ${maxAttempts}`;
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
    if (event.kind === "warning") li.children[1].classList.add("warn");
    li.children[2].textContent = eventText(event);
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
    // A finished job can no longer be cancelled: take the button away rather than grey it out.
    const cancel = $("[data-cancel-job]");
    if (cancel) cancel.remove();
    if (job.attempts) setAttempt(job.attempts);
    const slot = $("[data-job-result]");
    slot.innerHTML = "";
    const div = document.createElement("div");
    if (job.state === "succeeded" && job.kind === "score" && job.result) {
      scoredResult(div, job.result);
    } else if (job.state === "succeeded" && job.result && job.result.model) {
      div.className = "alert ok";
      const lead = job.kind === "automl"
        ? `Best of ${(job.result.leaderboard || []).length} candidates: ${job.result.best}, registered as `
        : "Trained ";
      div.append(`${lead}${job.result.model} version ${job.result.version} (${job.result.estimator}). `);
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
      setAttempt(event.data && event.data.attempt);
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

function scoredResult(div, result) {
  div.className = "alert ok";
  const data = `/datasets/${encodeURIComponent(result.dataset)}?version=${result.dataset_version}`;
  const file = `/api/v1/datasets/${encodeURIComponent(result.dataset)}/download?version=${result.dataset_version}`;
  const open = document.createElement("a");
  open.href = data;
  open.textContent = `${result.dataset} v${result.dataset_version}`;
  div.append(`Scored ${result.rows.toLocaleString()} rows with ${result.model} v${result.model_version} into `, open, ". ");
  const row = document.createElement("span");
  row.className = "row";
  row.style.marginTop = ".5rem";
  for (const [label, href, cls] of [["Download CSV", file + "&format=csv", "btn primary small"], ["Download Parquet", file, "btn small"]]) {
    const a = document.createElement("a");
    a.className = cls; a.href = href; a.textContent = label; a.setAttribute("download", "");
    row.append(a);
  }
  div.append(row);
}

/* ---------- AutoML: the leaderboard fills in trial by trial ---------- */

const STATUS_BADGE = { ok: "ok", pruned: "warn", skipped: "warn", failed: "bad" };
const STATUS_REASON = {
  pruned: "stopped early: it trailed the leader on its first folds",
  skipped: "no time left in the budget for all its folds",
};

// As rank_trials in pages_models.py: the winner, complete candidates by score, then partial,
// refused or skipped, failed ones. A partial score never ranks above a complete one.
function rankTrials(rows, best, nFolds) {
  const n = nFolds || Math.max(0, ...rows.map((r) => r.folds || 0));
  const group = (r) => {
    if (best && r.name === best) return 0;
    if (r.status === "failed") return 4;
    if (r.note || r.status === "skipped") return 3;
    return r.status === "ok" && (r.folds || 0) >= n ? 1 : 2;
  };
  const value = (r) => (typeof r.score === "number" ? -(r.higher_is_better === false ? -1 : 1) * r.score : Infinity);
  return rows.map((r) => {
    const g = group(r);
    let reason = g <= 1 ? null : (r.note || r.error || STATUS_REASON[r.status] || null);
    if (g === 2 && !reason) reason = `scored on ${r.folds || 0} of ${n} folds so far`;
    return { ...r, group: g, complete: g <= 1, folds_text: n ? `${r.folds || 0}/${n}` : String(r.folds || 0), reason };
  }).sort((a, b) => a.group - b.group || value(a) - value(b) || a.trial - b.trial);
}

function fmt(x, digits) {
  return typeof x === "number" ? String(Number(x.toPrecision(digits))) : "–";
}

function renderBoard(board, rows, best) {
  const body = board.querySelector("[data-board-rows]");
  body.innerHTML = "";
  rankTrials(rows, best, Number(board.dataset.folds || 0)).forEach((r, i) => {
    const tr = document.createElement("tr");
    tr.dataset.trial = r.trial;
    tr.dataset.group = r.group;
    tr.innerHTML = "<td class='num'></td><td><strong></strong></td><td class='small wide-only'></td><td><span class='badge'></span></td><td class='num'></td><td class='num'></td><td class='num'></td>";
    const c = tr.children;
    c[0].textContent = i + 1;
    c[1].firstChild.textContent = r.name;
    if (best && r.name === best) {
      tr.className = "best";
      const b = document.createElement("span");
      b.className = "badge gold"; b.textContent = "best";
      c[1].append(" ", b);
    }
    if (r.reason) {
      const why = document.createElement("span");
      why.className = "reason"; why.dataset.reason = ""; why.textContent = r.reason;
      c[1].append(why);
    }
    c[2].textContent = r.family || "";
    c[3].firstChild.textContent = r.complete || r.status !== "ok" ? r.status : (r.note ? "refused" : "partial");
    c[3].firstChild.className = "badge " + (STATUS_BADGE[r.status] || "");
    c[4].textContent = typeof r.score === "number" ? `${fmt(r.score, 4)} ± ${fmt(r.score_std || 0, 2)}` : "–";
    if (!r.complete) c[4].classList.add("muted");
    c[5].textContent = fmt(r.fit_seconds, 3);
    c[6].textContent = r.folds_text;
    body.append(tr);
  });
  const n = rows.length;
  board.querySelector("[data-board-count]").textContent = `${n} candidate${n === 1 ? "" : "s"}${best ? "" : " so far"}`;
  board.querySelector("[data-board-empty]").classList.toggle("hidden", n > 0);
  if (rows[0] && rows[0].metric) board.querySelector("[data-board-metric]").textContent = `${rows[0].metric.replaceAll("_", " ")} (CV)`;
}

function setupLeaderboard(board) {
  const rows = JSON.parse(board.querySelector("[data-board-data]").textContent);
  harbor.jobEvent = (event) => {
    if (event.kind !== "trial") return;
    rows.push(event.data);
    renderBoard(board, rows, null);
  };
  harbor.jobFinished = async (job) => {
    const r = await api("GET", `/api/v1/jobs/${job.id}/leaderboard`);
    if (r.ok && r.data.rows.length) renderBoard(board, r.data.rows, r.data.best);
  };
}

/* ---------- Models: aliases ---------- */

function setupAliasButtons() {
  document.querySelectorAll("[data-set-alias]").forEach((btn) => btn.addEventListener("click", async () => {
    btn.disabled = true;
    const { model, version } = btn.dataset;
    const r = await api("PUT", `/api/v1/models/${encodeURIComponent(model)}/aliases/${btn.dataset.setAlias}`, { version: Number(version) });
    if (r.ok) location.reload();
    else { btn.disabled = false; showError(document, "alias", problemText(r.data, r.status)); }
  }));
}

/* The "try it" form is in predict.js, loaded by the model page. */

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
    // Revoking the key this browser signed in with says so (the template sets data-confirm).
    const question = btn.dataset.confirm
      || `Revoke the key "${btn.dataset.keyName}"? Whatever uses it stops working.`;
    if (!confirm(question)) return;
    btn.disabled = true;
    const r = await api("DELETE", `/api/v1/keys/${btn.dataset.revokeKey}`);
    if (r.ok) { if (btn.dataset.then) location.href = btn.dataset.then; else location.reload(); }
    else { btn.disabled = false; alert(problemText(r.data, r.status)); }
  });
}

/* ---------- Monitoring: check now ---------- */

function setupCheckNow(btn) {
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    const label = btn.textContent;
    btn.textContent = "Checking…";
    const r = await api("POST", `/api/v1/alerts/check?model=${encodeURIComponent(btn.dataset.checkNow)}`);
    btn.disabled = false;
    btn.textContent = label;
    if (r.ok) location.reload();
    else showError(document, "check", problemText(r.data, r.status));
  });
}
