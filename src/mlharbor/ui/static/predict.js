/* mlharbor web UI: the model page's "try it" form, built from the training data's profile.
   Values go out as the model was trained on them (yes/no, not true/false); a value outside
   what the model saw gets a warning; one request per click, with a visible busy state.
   Uses api, clearErrors and showProblem from app.js. */
"use strict";

function fieldValue(form, el) {
  const raw = el.value.trim();
  if (el.dataset.kind === "json") {
    if (raw !== "__other__") return JSON.parse(raw);
    const other = form.querySelector(`[data-other-for="${CSS.escape(el.dataset.input)}"]`);
    const text = other.value.trim();
    if (text === "") return null;
    // An integer-coded category's new code goes out as the number the model was trained on.
    return other.dataset.otherKind === "number" && Number.isFinite(Number(text)) ? Number(text) : text;
  }
  if (raw === "") return null;
  if (el.dataset.kind === "number") return Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return raw;
}

// Why a value is outside what the model saw in training, or "" when it is not.
function warningFor(el, value) {
  const d = el.dataset;
  if (value === null) {
    return d.nullable === "false" ? "missing, but this column was never missing in training: the model fills it in" : "";
  }
  if (d.levels) {
    const levels = JSON.parse(d.levels);
    if (levels.includes(String(value))) return "";  // the levels are listed as text
    return d.complete === "true"
      ? `“${value}” never occurred in training: the model treats it as an unknown level`
      : `“${value}” is not among the levels listed from training: it may be unknown to the model`;
  }
  if (d.min === undefined) return "";
  const [lo, hi] = d.kind === "number" ? [Number(d.min), Number(d.max)] : [d.min, d.max];
  const v = d.kind === "number" ? Number(value) : String(value);
  if (d.kind === "number" && !Number.isFinite(v)) return "";
  if (v < lo || (d.kind === "number" ? v > hi : v.slice(0, hi.length) > hi)) {
    return `outside what the model saw in training (${d.min} to ${d.max}): the prediction is an extrapolation`;
  }
  return "";
}

function showWarning(form, el) {
  const slot = form.querySelector(`[data-warning-for="${CSS.escape(el.dataset.input)}"]`);
  if (!slot) return "";
  const text = warningFor(el, fieldValue(form, el));
  slot.textContent = text ? "⚠ " + text : "";
  slot.classList.toggle("hidden", !text);
  return text;
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
  const unseen = Object.entries(data.unseen_categories || {});
  if (unseen.length) {
    const note = document.createElement("div");
    note.className = "alert warn";
    note.dataset.unseen = "";
    note.textContent = "Unknown to the model: " + unseen.map(([c, vs]) => `${c} = ${vs.map((v) => `“${v}”`).join(", ")}`).join("; ")
      + ". It predicted as if the value were missing.";
    slot.append(note);
  }
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
  const button = form.querySelector("[data-predict-button]");
  const busy = form.querySelector("[data-predict-busy]");
  const slot = form.querySelector("[data-predict-result]");
  const inputs = [...form.querySelectorAll("[data-input]")];
  let inFlight = false;

  // "other…" opens a text box for a value not in the list.
  form.querySelectorAll("[data-other-for]").forEach((other) => {
    const select = form.querySelector(`[data-input="${CSS.escape(other.dataset.otherFor)}"]`);
    select.addEventListener("change", () => {
      const open = select.value === "__other__";
      other.classList.toggle("hidden", !open);
      if (open) other.focus();
    });
    other.addEventListener("input", () => showWarning(form, select));
  });
  inputs.forEach((el) => {
    el.addEventListener("input", () => showWarning(form, el));
    el.addEventListener("change", () => showWarning(form, el));
    showWarning(form, el);
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (inFlight || button.disabled) return;  // one request per click, never a queue of them
    clearErrors(form);
    const row = {};
    inputs.forEach((el) => { row[el.dataset.input] = fieldValue(form, el); showWarning(form, el); });
    inFlight = true;
    button.disabled = true;
    button.textContent = "Predicting…";
    form.setAttribute("aria-busy", "true");
    // The first prediction of a version loads it (seconds on a busy server): say so.
    const slow = setTimeout(() => { busy.textContent = "loading the model…"; }, 600);
    const { model, ref } = form.dataset;
    try {
      const r = await api("POST", `/api/v1/models/${encodeURIComponent(model)}/${ref}/predict`, [row]);
      if (r.ok) renderPrediction(slot, r.data);
      else { slot.innerHTML = ""; showProblem(form, r); }
    } finally {
      clearTimeout(slow);
      busy.textContent = "";
      inFlight = false;
      button.disabled = false;
      button.textContent = "Predict";
      form.setAttribute("aria-busy", "false");
    }
  });
  if (!button.hasAttribute("data-not-allowed")) button.disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-predict-form]").forEach(setupPredictForm);
});
