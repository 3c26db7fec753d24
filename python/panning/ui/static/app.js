// panning label: the page. Plain JS over the JSON API (see panning.ui); no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  items: [],      // the list being labeled: [{id, text, ...}]
  marks: {},      // id -> "yes" | "no" | "skip" (not yet submitted)
  order: [],      // ids in the order they were marked (for undo)
  focus: 0,
  classes: ["no", "yes"],
};

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function message(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function imageSrc(item) {
  if (!item.image) return null;
  return /^(https?:|data:)/.test(item.image) ? item.image : `/api/image/${item.id}`;
}

function render() {
  const list = $("items");
  list.innerHTML = "";
  state.items.forEach((item, i) => {
    const li = document.createElement("li");
    li.dataset.id = item.id;
    const mark = state.marks[item.id];
    li.className = [mark || "", item.label ? "done" : "", i === state.focus ? "focus" : ""].join(" ").trim();
    const src = imageSrc(item);
    const meta = Object.entries(item)
      .filter(([k]) => !["id", "text", "image", "label", "score", "match"].includes(k))
      .map(([k, v]) => `${escapeHtml(k)}: ${escapeHtml(typeof v === "object" ? JSON.stringify(v) : v)}`)
      .join(" · ");
    li.innerHTML =
      `<span class="score" title="model score">${item.score == null ? "" : item.score.toFixed(3)}</span>` +
      (src ? `<img alt="" src="${escapeHtml(src)}">` : "") +
      `<span class="text">${escapeHtml(item.text || "")}` +
      `<br><span class="meta">#${item.id}${meta ? " · " + meta : ""}${item.label ? " · labeled " + escapeHtml(item.label) : ""}` +
      `${mark ? " · " + mark : ""}</span></span>` +
      `<span class="buttons"><button data-act="yes">yes</button><button data-act="no">no</button>` +
      `<button data-act="skip">skip</button><button data-act="like">more like this</button></span>`;
    li.addEventListener("click", (ev) => {
      const act = ev.target.dataset && ev.target.dataset.act;
      state.focus = i;
      if (act === "like") like(item.id);
      else if (act) markItem(i, act);
      else render();
    });
    list.appendChild(li);
  });
  const pending = Object.values(state.marks).filter((m) => m !== "skip").length;
  $("pending").textContent = `${pending} label(s) to submit`;
  const f = list.children[state.focus];
  if (f && f.scrollIntoView) f.scrollIntoView({block: "nearest"});
}

function markItem(i, mark) {
  const item = state.items[i];
  if (!item || item.label) { move(1); return; }
  state.marks[item.id] = mark;
  state.order = state.order.filter((id) => id !== item.id).concat([item.id]);
  move(1);
}

function move(step) {
  state.focus = Math.max(0, Math.min(state.items.length - 1, state.focus + step));
  render();
}

function undo() {
  const id = state.order.pop();
  if (id === undefined) return;
  delete state.marks[id];
  state.focus = Math.max(0, state.items.findIndex((it) => it.id === id));
  render();
}

function show(items, title) {
  state.items = items;
  state.marks = {};
  state.order = [];
  state.focus = Math.max(0, items.findIndex((it) => !it.label));
  $("batch-title").textContent = title;
  render();
}

async function search(text) {
  try {
    const body = await api("/api/search", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text, limit: batchSize()})});
    show(body.items, `${body.items.length} result(s) for “${text}” (${body.mode.join(" + ")} search)`);
    message("");
  } catch (e) { message(e.message, true); }
}

async function like(id) {
  try {
    const body = await api("/api/search", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({like: id, limit: batchSize()})});
    show(body.items, `${body.items.length} item(s) like #${id}`);
  } catch (e) { message(e.message, true); }
}

function batchSize() { return Math.max(1, parseInt($("batch-size").value, 10) || 20); }

async function nextBatch() {
  try {
    const body = await api(`/api/batch?size=${batchSize()}`);
    show(body.items, `Next ${body.items.length} item(s) to label`);
  } catch (e) { message(e.message, true); }
}

async function submit() {
  const labels = Object.entries(state.marks)
    .filter(([, m]) => m !== "skip")
    .map(([id, m]) => ({id: Number(id), label: m}));
  if (!labels.length) { message("nothing to submit: label items with y / n first"); return; }
  try {
    const body = await api("/api/labels", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({labels})});
    message(`${body.recorded} label(s) saved`);
    showStatus(body.status);
    await nextBatch();
  } catch (e) { message(e.message, true); }
}

function showStatus(st) {
  state.classes = st.classes;
  $("session-name").textContent = st.session;
  const est = st.estimated_positives_remaining;
  const rows = [
    ["labels", st.labels], ["positives", st.positives == null ? "n/a" : st.positives],
    ["rounds", st.rounds], ["pool scored", (100 * st.fraction_scored).toFixed(2) + "%"],
    ["pool now", st.pool_size], ["positives left in pool (est.)", est == null ? "n/a" : est],
    ["rows", st.rows], ["search", st.search.join(" + ")],
  ];
  $("stats").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd data-stat="${k}">${escapeHtml(v)}</dd>`).join("");
  $("search-mode").textContent = st.search.includes("semantic")
    ? "Search: keywords and meaning (semantic)."
    : "Search: keywords only (pip install \"panning[text]\" for semantic search).";
  $("top").innerHTML = st.top_predictions
    .map((it) => `<li>${escapeHtml(it.text || "#" + it.id)} <span class="score">${it.score.toFixed(3)}</span></li>`)
    .join("");
  drawCurve(st.curve);
}

function drawCurve(curve) {
  const svg = $("curve");
  const w = 300, h = 180, pad = 28;
  if (!curve.length) { svg.innerHTML = `<text x="${pad}" y="${h / 2}" fill="#6b7680">no labels yet</text>`; return; }
  const maxX = Math.max(...curve.map((p) => p[0]), 1), maxY = Math.max(...curve.map((p) => p[1]), 1);
  const x = (v) => pad + (v / maxX) * (w - pad - 8), y = (v) => h - pad + 4 - (v / maxY) * (h - pad - 10);
  const pts = [[0, 0]].concat(curve).map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
  svg.innerHTML =
    `<line x1="${pad}" y1="${h - pad + 4}" x2="${w - 4}" y2="${h - pad + 4}" stroke="#9aa6b2"/>` +
    `<line x1="${pad}" y1="6" x2="${pad}" y2="${h - pad + 4}" stroke="#9aa6b2"/>` +
    `<polyline fill="none" stroke="#2e9d57" stroke-width="2" points="${pts}"/>` +
    `<text x="${w - 8}" y="${h - 6}" text-anchor="end" font-size="11">${maxX} labels</text>` +
    `<text x="${pad + 4}" y="16" font-size="11">${maxY} positives</text>`;
}

document.addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "INPUT") {
    if (ev.key === "Escape") ev.target.blur();
    return;
  }
  const keys = {y: "yes", n: "no", s: "skip"};
  if (keys[ev.key]) { markItem(state.focus, keys[ev.key]); ev.preventDefault(); }
  else if (ev.key === "ArrowDown" || ev.key === "j") { move(1); ev.preventDefault(); }
  else if (ev.key === "ArrowUp" || ev.key === "k") { move(-1); ev.preventDefault(); }
  else if (ev.key === "u" || ev.key === "Backspace") { undo(); ev.preventDefault(); }
  else if (ev.key === "Enter") { submit(); ev.preventDefault(); }
  else if (ev.key === "/") { $("search").focus(); ev.preventDefault(); }
});
$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("search").value.trim();
  if (text) { search(text); $("search").blur(); }
});
$("next-batch").addEventListener("click", nextBatch);
$("submit").addEventListener("click", submit);
// coming back to a session: its next batch is shown at once (a new one starts from a search)
api("/api/status").then((st) => {
  showStatus(st);
  if (st.labels > 0 && !state.items.length) nextBatch();
}).catch((e) => message(e.message, true));
