// The console's progressive enhancement: the upload's progress bar, the live loss chart, the metrics page's
// curves and threshold slider (the figures and confusion matrix at the cut-off recomputed by the API), and
// the usage chart. The pages
// work without it, only less live.
"use strict";

function csrf() { return document.body.dataset.csrf || ""; }

function setupUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const request = new XMLHttpRequest();
    request.open("POST", form.dataset.upload);
    request.setRequestHeader("X-CSRF-Token", csrf());
    bar.hidden = false;
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) { bar.value = Math.round((100 * e.loaded) / e.total); status.textContent = `${bar.value}% sent`; }
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (e) { body = {}; }
      if (request.status === 201 && body.url) { status.textContent = "Uploaded: reading the rows…"; window.location.assign(body.url); }
      else { status.textContent = `${body.error || "Error"}: ${body.detail || request.statusText}`; status.className = "error"; }
    });
    request.addEventListener("error", () => { status.textContent = "The upload failed (connection lost)."; status.className = "error"; });
    request.send(data);
  });
}

function lineChart(element, title, xLabel, series, data, height, yLabel, unit) {
  element.replaceChildren();
  const width = Math.max(320, element.clientWidth || 560);
  // unit: both axes on 0-1 (the curves), so that two charts compare at a glance.
  const scales = unit ? { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } } : { x: { time: false } };
  return new uPlot({ title, width, height: height || 240, scales,
    axes: [{ label: xLabel }, { label: yLabel || "" }], series: [{ label: xLabel }, ...series] }, data, element);
}

function setupLossChart() {
  const element = document.getElementById("loss-chart");
  if (!element || typeof uPlot === "undefined") return;
  const draw = async () => {
    const response = await fetch(element.dataset.history, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const history = await response.json();
    if (!history.steps.length && !history.val_steps.length) { element.textContent = "The loss chart starts with the first steps."; return; }
    // One x axis: the steps of both series, each series null where it has no point.
    const steps = [...new Set([...history.steps, ...history.val_steps])].sort((a, b) => a - b);
    const at = (xs, ys) => { const m = new Map(xs.map((x, i) => [x, ys[i]])); return steps.map((s) => (m.has(s) ? m.get(s) : null)); };
    lineChart(element, "Loss", "step", [
      { label: "training loss", stroke: "#0b5cad", spanGaps: true },
      { label: "validation loss", stroke: "#c2410c", spanGaps: true, points: { show: true } },
    ], [steps, at(history.steps, history.loss), at(history.val_steps, history.val_loss)], 240, "loss");
  };
  draw();
  if (element.dataset.live === "true") {
    const timer = setInterval(draw, 2000);
    document.addEventListener("automl:finished", () => { clearInterval(timer); window.location.reload(); });
  }
}

function fmt(value) { return value === null || value === undefined || Number.isNaN(value) ? "-" : value.toFixed(4); }

function setupMetrics() {
  const script = document.getElementById("metrics-data");
  if (!script) return;
  const report = JSON.parse(script.textContent);
  document.querySelectorAll("section.head").forEach((section) => {
    const head = report.heads[section.dataset.head];
    if (!head) return;
    section.querySelectorAll(".view-toggle").forEach((button) => {
      button.addEventListener("click", () => {
        section.querySelectorAll(".view-toggle").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        section.querySelectorAll("table.view").forEach((t) => { t.hidden = !t.classList.contains(button.dataset.view); });
      });
    });
    const select = section.querySelector(".curve-class");
    const slider = section.querySelector(".threshold");
    if (!select || !slider) return;  // a head without scores (an llm's replies): nothing to move
    const shown = section.querySelector(".threshold-value");
    const at = section.querySelector(".at-threshold");
    const charts = { pr: null, roc: null };
    let timer = null;
    let asked = 0;
    // The figures and the confusion matrix at the cut-off are the API's, recomputed on the stored scores
    // (what a deployment with this operating point would do); the curves' point is the class's own.
    const refresh = async (name, threshold) => {
      const ask = ++asked;
      const url = `${at.dataset.url}&class=${encodeURIComponent(name)}&threshold=${threshold.toFixed(2)}`;
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (ask !== asked) return;  // a later move of the slider has been asked for since
      if (response.ok) { at.innerHTML = await response.text(); }
    };
    const update = () => {
      const name = select.value;
      const threshold = Number(slider.value);
      shown.textContent = threshold.toFixed(2);
      const table = head.thresholds[name] || [];
      let row = table[0];
      for (const candidate of table) { if (Math.abs(candidate.threshold - threshold) < Math.abs(row.threshold - threshold)) row = candidate; }
      if (!row) return;
      const classInput = section.querySelector(".op-class");
      if (classInput) { classInput.value = name; section.querySelector(".op-threshold").value = threshold.toFixed(2); }
      drawCurves(section, head, name, row, charts);
      clearTimeout(timer);
      timer = setTimeout(() => refresh(name, threshold), 120);
    };
    select.addEventListener("change", update);
    slider.addEventListener("input", update);
    update();
  });
}

function drawCurves(section, head, name, row, charts) {
  if (typeof uPlot === "undefined") return;
  const pr = head.pr_curve[name];
  const roc = head.roc_curve[name];
  const figures = head.classes[name] || {};
  const point = { show: true, size: 10, stroke: "#c2410c", fill: "#c2410c", width: 0 };
  const chance = { label: "chance", stroke: "#8a8f98", dash: [6, 4], spanGaps: true, points: { show: false } };
  if (pr) {
    // uPlot wants x ascending: the PR curve by recall, the threshold's point as a series of its own; a
    // classifier with no skill has a precision of the class's share of the test rows at every recall.
    const prevalence = head.rows ? (figures.support || 0) / head.rows : 0;
    const pairs = pr.recall.map((r, i) => [r, pr.precision[i]]).sort((a, b) => a[0] - b[0]);
    const xs = [...new Set([0, ...pairs.map((p) => p[0]), row.recall, 1])].sort((a, b) => a - b);
    const curve = new Map(pairs.map((p) => [p[0], p[1]]));
    charts.pr = lineChart(section.querySelector(".pr-chart"), `Precision-recall: ${name} (AP ${fmt(figures.average_precision)})`, "recall",
      [{ label: "precision", stroke: "#0b5cad", spanGaps: true }, { ...chance, label: `chance (${fmt(prevalence)})` },
        { label: "at the threshold", stroke: "transparent", points: point }],
      [xs, xs.map((x) => (curve.has(x) ? curve.get(x) : null)), xs.map(() => prevalence), xs.map((x) => (x === row.recall ? row.precision : null))],
      260, "precision", true);
  }
  if (roc) {
    const pairs = roc.fpr.map((f, i) => [f, roc.tpr[i]]).sort((a, b) => a[0] - b[0]);
    const xs = [...new Set([0, ...pairs.map((p) => p[0]), row.fpr, 1])].sort((a, b) => a - b);
    const curve = new Map(pairs.map((p) => [p[0], p[1]]));
    charts.roc = lineChart(section.querySelector(".roc-chart"), `ROC: ${name} (AUC ${fmt(figures.roc_auc)})`, "false positive rate",
      [{ label: "true positive rate", stroke: "#0b5cad", spanGaps: true }, chance,
        { label: "at the threshold", stroke: "transparent", points: point }],
      [xs, xs.map((x) => (curve.has(x) ? curve.get(x) : null)), xs.map((x) => x), xs.map((x) => (x === row.fpr ? row.recall : null))],
      260, "true positive rate", true);
  }
}

// The training form: the snapshot's type is the model's, so only base models (and test snapshots, parents)
// of that type are offered, and only the methods the chosen base model has.
function setupModelForm() {
  const form = document.getElementById("model-form");
  if (!form) return;
  const snapshot = form.querySelector("#m-snapshot");
  const base = form.querySelector("#m-base");
  const method = form.querySelector("#m-method");
  const keep = (select, fits) => {
    let chosenFits = false;
    for (const option of select.options) {
      const ok = !option.value || fits(option);
      option.hidden = !ok;
      option.disabled = !ok;
      if (option.selected && ok) chosenFits = true;
    }
    if (!chosenFits) {
      const first = [...select.options].find((option) => !option.disabled);
      if (first) first.selected = true;
    }
  };
  const methods = () => {
    const chosen = base.selectedOptions[0];
    const allowed = chosen ? chosen.dataset.methods.split(",") : [];
    keep(method, (option) => allowed.includes(option.value));
  };
  const types = () => {
    const chosen = snapshot.selectedOptions[0];
    if (!chosen) return;
    const type = chosen.dataset.type;
    keep(base, (option) => option.dataset.type === type);
    for (const id of ["#m-test", "#m-parent"]) keep(form.querySelector(id), (option) => option.dataset.type === type);
    methods();
  };
  snapshot.addEventListener("change", types);
  base.addEventListener("change", methods);
  types();
}

function setupUsage() {
  const script = document.getElementById("usage-data");
  const element = document.getElementById("usage-chart");
  if (!script || !element || typeof uPlot === "undefined") return;
  const data = JSON.parse(script.textContent);
  if (!data.days.length) { element.textContent = "No usage yet."; return; }
  const xs = data.days.map((_, i) => i);
  const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined;
  element.replaceChildren();
  new uPlot({ width: Math.max(320, element.clientWidth || 560), height: 240, scales: { x: { time: false } },
    axes: [{ label: "day", values: (u, ticks) => ticks.map((t) => data.days[t] || "") }, { label: "requests" }],
    series: [{ label: "day" }, { label: "requests", stroke: "#0b5cad", fill: "rgba(11,92,173,0.3)", paths: bars },
      { label: "errors", stroke: "#a4161a", fill: "rgba(164,22,26,0.3)", paths: bars }] },
  [xs, data.requests, data.errors], element);
}

function setupChat() {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const log = document.getElementById("chat-log");
  const input = document.getElementById("chat-input");
  const messages = [];
  const say = (role, text) => {
    const item = document.createElement("li");
    item.className = `chat-${role}`;
    item.textContent = text;
    log.appendChild(item);
    return item;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    messages.push({ role: "user", content: text });
    say("user", text);
    input.value = "";
    const reply = say("assistant", "");
    const response = await fetch(form.dataset.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ messages, max_tokens: 128 }),
    });
    const remaining = response.headers.get("X-Playground-Remaining");
    const counter = document.getElementById("chat-remaining");
    if (remaining !== null && counter) counter.textContent = `${remaining} free queries left`;
    if (!response.ok || !response.body) {
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      reply.textContent = `${body.error || "Error"}: ${body.detail || response.statusText}`;
      reply.className = "error";
      return;
    }
    // Server-sent events: "data: {chunk}" lines, then "data: [DONE]".
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const line of lines) {
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        const chunk = JSON.parse(line.slice(6));
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) reply.textContent += delta.content;
      }
    }
    messages.push({ role: "assistant", content: reply.textContent });
  });
}

// Under the Content-Security-Policy no markup runs code: a <select data-autosubmit> sends its form when it
// changes, and a model's progress that reaches an end tells the page (which then reloads with the results).
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.dataset.autosubmit !== undefined && select.form) {
    select.form.requestSubmit();
  }
});
// A form with data-confirm (a delete, a revoke) asks first: nothing is sent unless the user agrees.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
}, true);
document.addEventListener("htmx:afterSettle", () => {
  const progress = document.getElementById("progress");
  if (progress && ["succeeded", "failed", "cancelled"].includes(progress.dataset.status)) {
    document.dispatchEvent(new CustomEvent("automl:finished"));
  }
});

document.addEventListener("DOMContentLoaded", () => {
  setupChat();
  setupUpload();
  setupLossChart();
  setupMetrics();
  setupModelForm();
  setupUsage();
});

// A detector's boxes and a segmenter's mask, drawn over the image the playground scored: the boxes are in the
// image's own pixels (an SVG with its view box), the mask a PNG of class indexes coloured class by class.
function drawAnswers(root) {
  for (const figure of root.querySelectorAll("figure.drawn")) {
    const image = figure.querySelector("img");
    if (!image || figure.dataset.drawn) continue;
    figure.dataset.drawn = "1";
    const draw = () => (figure.dataset.detections ? drawBoxes(figure, image) : drawMask(figure, image));
    if (image.complete && image.naturalWidth) draw(); else image.addEventListener("load", draw);
  }
}

function drawBoxes(figure, image) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${image.naturalWidth} ${image.naturalHeight}`);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const found of JSON.parse(figure.dataset.detections)) {
    const [x0, y0, x1, y1] = found.box;
    const rect = document.createElementNS(ns, "rect");
    for (const [name, value] of [["x", x0], ["y", y0], ["width", x1 - x0], ["height", y1 - y0]]) rect.setAttribute(name, value);
    rect.setAttribute("vector-effect", "non-scaling-stroke");
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", x0);
    text.setAttribute("y", Math.max(12, y0 - 2));
    text.textContent = `${found.label} ${found.score.toFixed(2)}`;
    svg.append(rect, text);
  }
  figure.append(svg);
}

function drawMask(figure, image) {
  const colours = JSON.parse(figure.dataset.colours).map((hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)));
  const mask = new Image();
  mask.addEventListener("load", () => {
    const canvas = document.createElement("canvas");
    canvas.width = mask.naturalWidth;
    canvas.height = mask.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(mask, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    for (let at = 0; at < pixels.data.length; at += 4) {
      const index = pixels.data[at];  // a grey PNG: red = green = blue = the class index
      const [r, g, b] = colours[index] || [255, 255, 255];
      pixels.data.set([r, g, b, index === 0 ? 0 : 128], at);  // class 0 (the background) left clear
    }
    context.putImageData(pixels, 0, 0);
    figure.append(canvas);
  });
  mask.src = figure.dataset.mask;
}

document.addEventListener("htmx:afterSettle", (event) => drawAnswers(event.target instanceof Element ? event.target : document));
document.addEventListener("DOMContentLoaded", () => drawAnswers(document));
