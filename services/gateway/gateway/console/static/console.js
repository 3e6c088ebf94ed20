// The console's progressive enhancement: the upload's progress bar, the live loss chart, the metrics page's
// curves and threshold slider (every figure from the stored threshold table), and the usage chart. The pages
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

function lineChart(element, title, xLabel, series, data, height) {
  element.replaceChildren();
  const width = Math.max(320, element.clientWidth || 560);
  return new uPlot({ title, width, height: height || 240, scales: { x: { time: false } },
    axes: [{ label: xLabel }, {}], series: [{ label: xLabel }, ...series] }, data, element);
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
    ], [steps, at(history.steps, history.loss), at(history.val_steps, history.val_loss)]);
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
    const shown = section.querySelector(".threshold-value");
    const charts = { pr: null, roc: null };
    const update = () => {
      const name = select.value;
      const threshold = Number(slider.value);
      shown.textContent = threshold.toFixed(2);
      const table = head.thresholds[name] || [];
      let row = table[0];
      for (const candidate of table) { if (Math.abs(candidate.threshold - threshold) < Math.abs(row.threshold - threshold)) row = candidate; }
      if (!row) return;
      const specificity = 1 - row.fpr;
      section.querySelector(".fig-precision").textContent = fmt(row.precision);
      section.querySelector(".fig-recall").textContent = fmt(row.recall);
      section.querySelector(".fig-f1").textContent = fmt(row.f1);
      section.querySelector(".fig-specificity").textContent = fmt(specificity);
      section.querySelector(".fig-balanced").textContent = fmt((row.recall + specificity) / 2);
      const classInput = section.querySelector(".op-class");
      if (classInput) { classInput.value = name; section.querySelector(".op-threshold").value = threshold.toFixed(2); }
      drawCurves(section, head, name, row, charts);
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
  const point = { show: true, size: 10, stroke: "#c2410c", fill: "#c2410c", width: 0 };
  if (pr) {
    // uPlot wants x ascending: the PR curve by recall, the threshold's point as a series of its own.
    const pairs = pr.recall.map((r, i) => [r, pr.precision[i]]).sort((a, b) => a[0] - b[0]);
    const xs = [...pairs.map((p) => p[0]), row.recall].sort((a, b) => a - b);
    const curve = new Map(pairs.map((p) => [p[0], p[1]]));
    charts.pr = lineChart(section.querySelector(".pr-chart"), `Precision-recall: ${name}`, "recall",
      [{ label: "precision", stroke: "#0b5cad", spanGaps: true }, { label: "at the threshold", stroke: "transparent", points: point }],
      [xs, xs.map((x) => (curve.has(x) ? curve.get(x) : null)), xs.map((x) => (x === row.recall ? row.precision : null))], 260);
  }
  if (roc) {
    const pairs = roc.fpr.map((f, i) => [f, roc.tpr[i]]).sort((a, b) => a[0] - b[0]);
    const xs = [...pairs.map((p) => p[0]), row.fpr].sort((a, b) => a - b);
    const curve = new Map(pairs.map((p) => [p[0], p[1]]));
    charts.roc = lineChart(section.querySelector(".roc-chart"), `ROC: ${name}`, "false positive rate",
      [{ label: "true positive rate", stroke: "#0b5cad", spanGaps: true }, { label: "at the threshold", stroke: "transparent", points: point }],
      [xs, xs.map((x) => (curve.has(x) ? curve.get(x) : null)), xs.map((x) => (x === row.fpr ? row.recall : null))], 260);
  }
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
  setupUsage();
});
