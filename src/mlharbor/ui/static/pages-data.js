/* mlharbor web UI, data pages: upload with progress, fetch by URL, the training form.
   Uses api, showError, showProblem and fieldsOf from app.js (loaded first). */
"use strict";

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
    const button = form.querySelector("button[type=submit]");
    if (button.disabled) return;  // one fetch per click
    button.disabled = true;
    busy.style.display = "inline-block";
    const r = await api("POST", "/api/v1/datasets/from-url", { url, name });
    if (r.ok) {
      location.href = `/datasets/${encodeURIComponent(r.data.dataset)}?version=${r.data.version}`;
    } else {
      busy.style.display = "";
      button.disabled = false;
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
    if (el.closest("[data-mode-panel].hidden")) return;  // another mode's field
    if (!el.checkValidity()) {
      ok = false;
      const field = el.dataset.param ? "params." + el.dataset.param : el.name;
      showError(form, field, el.validationMessage);
    }
  });
  return ok;
}

// Builders of the job body, one per training mode (see train.html).
function numberOrRaw(raw) {
  return raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
}

harbor.trainModes = {
  automl(form, common) {
    const panel = form.querySelector('[data-mode-panel="automl"]');
    const value = (n) => panel.querySelector(`[name=${n}]`).value;
    const { test_size, cv_folds, ...rest } = common;
    return {
      kind: "automl",
      params: {
        ...rest,
        test_size,
        // AutoML picks its own folds unless asked; it needs at least 2.
        cv_folds: cv_folds >= 2 ? cv_folds : null,
        time_budget: numberOrRaw(value("time_budget")),
        metric: value("metric") || null,
        top_k: numberOrRaw(value("top_k")),
      },
    };
  },
  single(form, common) {
    const panel = form.querySelector('[data-mode-panel="single"]');
    return {
      kind: "train",
      params: { ...common, model: panel.querySelector("[name=model]").value, params: changedParams(panel) },
    };
  },
};

function setupTrainForm(form) {
  // One panel per mode: only the checked mode's panel shows (and is checked on submit).
  const showMode = () => {
    const mode = (form.querySelector("[name=mode]:checked") || form.querySelector("[name=mode]")).value;
    form.querySelectorAll("[data-mode-panel]").forEach((p) => p.classList.toggle("hidden", p.dataset.modePanel !== mode));
    form.querySelector("button[type=submit]").textContent = mode === "automl" ? "Start AutoML" : "Start training";
  };
  form.querySelectorAll("[name=mode]").forEach((el) => el.addEventListener("change", showMode));
  showMode();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (form.querySelector("button[type=submit]").disabled) return;
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
    const label = button.textContent;
    // Busy until the job page opens: one click, one job.
    button.disabled = true;
    button.textContent = "Starting…";
    const r = await api("POST", "/api/v1/jobs", body);
    if (r.ok) { location.href = `/jobs/${r.data.id}`; return; }
    button.disabled = false;
    button.textContent = label;
    showProblem(form, r, "params.");
  });
}

/* ---------- Batch scoring ---------- */

async function uploadForScoring(file) {
  const data = new FormData();
  data.append("file", file);
  let response;
  try {
    response = await fetch("/api/v1/datasets", {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "mlharbor-ui" },
    });
  } catch (err) {
    return { ok: false, status: 0, data: { detail: "the upload was interrupted: " + err.message } };
  }
  let body = null;
  try { body = await response.json(); } catch { body = { detail: `the server answered ${response.status}` }; }
  return { ok: response.ok, status: response.status, data: body };
}

function setupScoreForm(form) {
  const status = form.querySelector("[data-score-status]");
  const select = form.querySelector("[name=dataset]");
  const file = form.querySelector("[name=file]");
  // A chosen file replaces the stored dataset: say so by clearing the select.
  file.addEventListener("change", () => { if (file.files[0]) select.value = ""; });
  select.addEventListener("change", () => { if (select.value) file.value = ""; });
  const button = form.querySelector("button[type=submit]");
  // Busy from the first click until the job page opens: a second click during a long upload
  // would upload the file again and start a second job.
  const done = (message) => { button.disabled = false; status.textContent = message || ""; };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    clearErrors(form);
    const [model, ref] = form.querySelector("[name=model]").value.split("@");
    let dataset = null;
    let version = null;
    button.disabled = true;
    if (file.files[0]) {
      status.textContent = `Uploading ${file.files[0].name}…`;
      const up = await uploadForScoring(file.files[0]);
      if (!up.ok) { done(); showError(form, "file", problemText(up.data, up.status)); return; }
      [dataset, version] = [up.data.dataset, up.data.version];
    } else if (select.value) {
      const at = select.value.lastIndexOf("@");
      [dataset, version] = [select.value.slice(0, at), Number(select.value.slice(at + 1))];
    } else {
      done();
      showError(form, "dataset", "choose a stored dataset or upload a file to score");
      return;
    }
    const output = form.querySelector("[name=output]").value.trim() || null;
    status.textContent = "Starting the job…";
    const r = await api("POST", "/api/v1/jobs", {
      kind: "score", params: { model, ref, dataset, dataset_version: version, output },
    });
    if (r.ok) { status.textContent = "Opening the job…"; location.href = `/jobs/${r.data.id}`; return; }
    done();
    const data = r.data || {};
    // The dataset lacks a column the model needs, or the model is gone: say it at that field.
    if (data.missing) showError(form, file.files[0] ? "file" : "dataset", problemText(data, r.status));
    else if (r.status === 404 && /model/i.test(data.detail || "")) showError(form, "model", problemText(data, r.status));
    else showProblem(form, r, "params.");
  });
}
