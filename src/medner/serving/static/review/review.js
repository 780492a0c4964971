// medner review workbench: one note at a time, keyboard first. Offsets are Unicode code
// points, as everywhere in medner: the note is handled as Array.from(text), never as UTF-16.
"use strict";

const LABELS = ["DISEASE", "TREATMENT"];
const IDLE_MS = 120000; // idle over two minutes is not counted as active time
let csrf = "";
let task = null;
let chars = [];
let tokens = [];
let spans = [];
let current = -1;
let actions = [];
let history = [];
let active = 0;
let lastActivity = Date.now();

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response;
}

function tokenize(cs) {
  const out = [];
  let i = 0;
  const word = /[\p{L}\p{N}]/u;
  while (i < cs.length) {
    if (/\s/u.test(cs[i])) { i++; continue; }
    if (word.test(cs[i])) {
      let j = i;
      while (j < cs.length && word.test(cs[j])) j++;
      out.push([i, j]);
      i = j;
    } else {
      out.push([i, i + 1]);
      i++;
    }
  }
  return out;
}

function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function segment(start, end) {
  return `<span data-s="${start}">${escapeHtml(chars.slice(start, end).join(""))}</span>`;
}

function render() {
  const order = spans.map((s, i) => [s, i]).sort((a, b) => a[0].start - b[0].start);
  let html = "";
  let at = 0;
  for (const [s, i] of order) {
    if (s.start < at) continue;
    html += segment(at, s.start);
    const classes = [s.label, s.status === "rejected" ? "rejected" : "", i === current ? "current" : ""];
    const conf = s.confidence === null ? "new" : s.confidence.toFixed(2);
    html += `<mark class="${classes.join(" ").trim()}" data-i="${i}" title="${s.label} ${conf}">` +
      `${segment(s.start, s.end)}<sup>${conf}</sup></mark>`;
    at = s.end;
  }
  html += segment(at, chars.length);
  $("note").innerHTML = html;
  const s = spans[current];
  $("current").textContent = s
    ? `${s.label} "${chars.slice(s.start, s.end).join("")}" [${s.start}, ${s.end})` +
      ` ${s.status}${s.confidence === null ? "" : ", confidence " + s.confidence.toFixed(2)}`
    : "no span selected";
  const mark = document.querySelector("mark.current");
  if (mark) mark.scrollIntoView({ block: "nearest" });
}

function snapshot() {
  history.push({ spans: JSON.parse(JSON.stringify(spans)), current, actions: actions.length });
}

function undo() {
  const last = history.pop();
  if (!last) return status("nothing to undo");
  spans = last.spans;
  current = last.current;
  actions.length = last.actions;
  actions.push({ action: "undo" });
  render();
}

function status(text) { $("status").textContent = text; }

function view(s) { return { start: s.start, end: s.end, label: s.label }; }

function overlaps(start, end, except) {
  return spans.some((s, i) => i !== except && s.status !== "rejected" && start < s.end && s.start < end);
}

function tokenAt(offset) { return tokens.findIndex(([a, b]) => a <= offset && offset < b); }

function resize(edge, direction) {
  const s = spans[current];
  if (!s) return;
  let start = s.start;
  let end = s.end;
  if (edge === "start") {
    const i = tokens.findIndex(([a]) => a === start);
    const j = i + direction;
    if (i < 0 || j < 0 || j >= tokens.length) return;
    start = tokens[j][0];
  } else {
    const i = tokens.findIndex(([, b]) => b === end);
    const j = i + direction;
    if (i < 0 || j < 0 || j >= tokens.length) return;
    end = tokens[j][1];
  }
  if (start >= end) return status("a span keeps at least one token");
  if (overlaps(start, end, current)) return status("spans may not overlap");
  snapshot();
  const before = view(s);
  s.start = start;
  s.end = end;
  s.touched = true;
  actions.push({ action: "resize", before, after: view(s) });
  render();
}

function addSpan(start, end, label) {
  if (start >= end) return status("select some text first");
  if (overlaps(start, end, -1)) return status("spans may not overlap");
  snapshot();
  spans.push({ start, end, label, confidence: null, status: "added", touched: true });
  current = spans.length - 1;
  actions.push({ action: "add", after: { start, end, label } });
  render();
}

function newAfterCurrent() {
  const from = spans[current] ? spans[current].end : 0;
  const next = tokens.find(([a, b]) => a >= from && !overlaps(a, b, -1));
  if (!next) return status("no free token after this span");
  addSpan(next[0], next[1], LABELS[0]);
}

function selectionOffsets() {
  const sel = window.getSelection();
  if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
  const point = (node, offset) => {
    const holder = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    const seg = holder && holder.closest("[data-s]");
    if (!seg || !$("note").contains(seg)) return null;
    const text = node.nodeType === Node.TEXT_NODE ? node.data.slice(0, offset) : "";
    // the DOM holds the segment with each CRLF read as LF (HTML parsing): walk the note's own
    // code points, counting what the DOM shows
    const shown = Array.from(text).length;
    let i = Number(seg.dataset.s);
    let seen = 0;
    while (seen < shown && i < chars.length) {
      if (!(chars[i] === "\r" && chars[i + 1] === "\n")) seen++;
      i++;
    }
    return i;
  };
  const range = sel.getRangeAt(0);
  let start = point(range.startContainer, range.startOffset);
  let end = point(range.endContainer, range.endOffset);
  if (start === null || end === null) return null;
  while (start < end && /\s/u.test(chars[start])) start++;
  while (end > start && /\s/u.test(chars[end - 1])) end--;
  return [start, end];
}

function setStatus(i, value, name) {
  const s = spans[i];
  snapshot();
  const before = view(s);
  s.status = value;
  s.touched = true;
  actions.push({ action: name, before, after: value === "rejected" ? null : view(s) });
  render();
}

async function submitNote() {
  const entities = spans.filter((s) => s.status !== "rejected").map(view);
  spans.forEach((s) => {
    if (!s.touched && s.confidence !== null) actions.push({ action: "accept", before: view(s) });
  });
  const r = await api("POST", `/v1/review/tasks/${task.task_id}/submit`,
    { entities, actions, seconds_active: Math.round(active) });
  if (r.ok) {
    status(`saved note ${task.note_id ?? task.task_id}`);
    await loadNext();
  } else {
    const body = await r.json().catch(() => ({}));
    status(`not saved: ${body.detail || r.status}`);
  }
}

async function skipNote() {
  const r = await api("POST", `/v1/review/tasks/${task.task_id}/skip`);
  if (r.ok) { status("skipped"); await loadNext(); }
}

async function loadProgress() {
  const r = await api("GET", "/v1/review/progress");
  if (r.ok) {
    const p = await r.json();
    $("progress").textContent = `done today: ${p.done_today} · queue left: ${p.left}`;
  }
}

async function loadNext() {
  const r = await api("GET", "/v1/review/next");
  if (r.status === 401) return showLogin();
  await loadProgress();
  if (r.status === 204) {
    $("review").hidden = true;
    $("empty").hidden = false;
    task = null;
    return;
  }
  task = await r.json();
  chars = Array.from(task.text);
  tokens = tokenize(chars);
  spans = task.predictions.map((p) => ({
    start: p.start, end: p.end, label: p.label, confidence: p.confidence, status: "pending", touched: false,
  })).sort((a, b) => a.start - b.start);
  current = spans.length ? 0 : -1;
  actions = [];
  history = [];
  active = 0;
  $("meta").textContent = `note ${task.note_id ?? ""} · task ${task.task_id} · model ${task.model_version}`;
  $("empty").hidden = true;
  $("review").hidden = false;
  render();
  $("note").focus();
}

function showLogin() {
  $("login").hidden = false;
  $("review").hidden = true;
  $("logout").hidden = true;
  $("name").focus();
}

async function signedIn(me) {
  csrf = me.csrf;
  $("who").textContent = `${me.reviewer} (${me.role})`;
  $("login").hidden = true;
  $("logout").hidden = false;
  await loadNext();
}

document.addEventListener("keydown", (event) => {
  lastActivity = Date.now();
  if (!task || event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  const handled = true;
  if (key === "j" || key === "ArrowRight") {
    if (spans.length) current = (current + 1) % spans.length;
    render();
  } else if (key === "k" || key === "ArrowLeft") {
    if (spans.length) current = (current - 1 + spans.length) % spans.length;
    render();
  } else if (key === "a" && spans[current]) {
    setStatus(current, "accepted", "accept");
  } else if (key === "x" && spans[current]) {
    const s = spans[current];
    setStatus(current, s.status === "rejected" ? "accepted" : "rejected", s.status === "rejected" ? "accept" : "reject");
  } else if (key === "l" && spans[current]) {
    const s = spans[current];
    snapshot();
    const before = view(s);
    s.label = LABELS[(LABELS.indexOf(s.label) + 1) % LABELS.length];
    s.touched = true;
    actions.push({ action: "relabel", before, after: view(s) });
    render();
  } else if (key === "[") {
    resize("start", -1);
  } else if (key === "]") {
    resize("end", 1);
  } else if (key === "{") {
    resize("start", 1);
  } else if (key === "}") {
    resize("end", -1);
  } else if (key === "n") {
    newAfterCurrent();
  } else if (key === "d" || key === "t") {
    const offsets = selectionOffsets();
    if (offsets) addSpan(offsets[0], offsets[1], key === "d" ? "DISEASE" : "TREATMENT");
    else status("select text in the note first (or press n for a new span)");
  } else if (key === "u") {
    undo();
  } else if (key === "s") {
    skipNote();
  } else if (key === "Enter") {
    submitNote();
  } else {
    return;
  }
  if (handled) event.preventDefault();
});

document.addEventListener("mousemove", () => { lastActivity = Date.now(); });
$("note").addEventListener("click", (event) => {
  const mark = event.target.closest("mark");
  if (mark) { current = Number(mark.dataset.i); render(); }
});
setInterval(() => { if (task && Date.now() - lastActivity < IDLE_MS) active += 1; }, 1000);

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const r = await fetch("/review/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
    body: JSON.stringify({ name: $("name").value, password: $("password").value }),
  });
  const body = await r.json().catch(() => ({}));
  if (r.ok) { $("password").value = ""; await signedIn(body); }
  else $("login-error").textContent = body.detail || `sign-in failed (${r.status})`;
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/review/logout");
  task = null;
  showLogin();
});

(async () => {
  const r = await fetch("/review/me", { credentials: "same-origin" });
  if (r.ok) await signedIn(await r.json());
  else showLogin();
})();
