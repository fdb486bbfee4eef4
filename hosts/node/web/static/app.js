// The dashboard of `npm start`: a card per device (connection, retained status, live plots,
// a command console, faults), and the message stream. Everything arrives on one server-sent
// event stream, /api/events: first the whole state, then traffic, link, broker and device
// events. Plain JavaScript, no build step; uPlot draws the plots.
"use strict";

// Each product's plots. topic: the messages that carry the readings; a capture group in it
// names one line per match (battery-hawk: one per monitor). series: line label -> where the
// number is in the payload (a list: the first path present). Read from each product's
// schemas/index.json (topic) and its *.schema.json (fields).
const PLOTS = {
  bess: [
    { title: "state of charge (%)", topic: /\/telemetry$/, series: { soc: "battery.soc" } },
    { title: "temperature (°C)", topic: /\/telemetry$/, series: { max: "thermal.max_temp", avg: "thermal.avg_temp", min: "thermal.min_temp" } },
  ],
  dese: [
    { title: "pH", topic: /\/telemetry$/, series: { pH: "sensors.ph" } },
    { title: "chlorine (ppm)", topic: /\/telemetry$/, series: { chlorine: "sensors.chlorine" } },
  ],
  "smart-meter": [
    { title: "balance (units)", topic: /\/(balance|consumption|status)$/, series: { balance: ["balance", "remainingBalance"] } },
    { title: "consumption (units)", topic: /\/consumption$/, series: { consumed: "unitsConsumed" } },
  ],
  "battery-hawk": [
    { title: "voltage per monitor (V)", topic: /\/device\/([^/]+)\/reading$/, series: { $1: "voltage" } },
  ],
  "esp-sensors": [
    { title: "temperature (°C)", topic: /\/data$/, series: { temperature: "temperature" } },
    { title: "humidity (%)", topic: /\/data$/, series: { humidity: "humidity" } },
  ],
};

const MAX_ROWS = 1000;   // messages kept in the stream
const MAX_POINTS = 300;  // points kept per plot
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

const $ = (selector, root = document) => root.querySelector(selector);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
};
const pretty = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
const oneLine = (v) => (typeof v === "string" ? v : JSON.stringify(v));
const clock = (ms) => new Date(ms).toISOString().slice(11, 23);

/** label -> { device, node, plots, retained, downs, retryAt } */
const cards = new Map();
const broker = { embedded: false, running: true };

// ---- the feed ----

function connect() {
  const events = new EventSource("/api/events");
  const on = (name, handle) => events.addEventListener(name, (e) => handle(JSON.parse(e.data)));
  on("state", load);
  on("traffic", traffic);
  on("link", link);
  on("broker", (b) => showBroker(b.state === "up"));
  on("device", (d) => { const card = cards.get(d.label); if (card) { Object.assign(card.device, d); showFaults(card); } });
  events.addEventListener("open", () => setFeed("live", "ok"));
  events.addEventListener("error", () => setFeed("lost the simulator; retrying…", "bad"));
}

function setFeed(text, kind) {
  const feed = $("#feed");
  feed.textContent = text;
  feed.dataset.kind = kind;
}

/** The whole state: on the first connection, and again after a reconnection. */
function load(state) {
  cards.clear();
  $("#cards").replaceChildren();
  $("#rows").replaceChildren();
  const select = $("#filter-device");
  select.replaceChildren(el("option", { value: "" }, "all"));
  broker.embedded = state.broker.embedded;
  $("#broker").title = state.broker.url;
  showBroker(state.broker.running);
  for (const device of state.devices) {
    cards.set(device.label, card(device));
    select.append(el("option", { value: device.label }, device.label));
  }
  for (const t of state.history) traffic(t);
}

// ---- a device's card ----

function card(device) {
  const node = $("#card").content.firstElementChild.cloneNode(true);
  const c = { device, node, plots: [], downs: 0, retryAt: undefined };
  node.dataset.label = device.label;
  node.dataset.product = device.product;
  $(".product", node).textContent = device.product;
  $(".id", node).textContent = device.deviceId;
  $("#cards").append(node);
  for (const spec of PLOTS[device.product] ?? []) c.plots.push(plot(spec, $(".plots", node)));
  showLink(c);
  showRetained(c);
  consoleForm(c);
  $(".cut", node).addEventListener("click", () => fault(c, { kind: "cut" }));
  $(".blackhole", node).addEventListener("click", () => fault(c, { kind: "blackhole", on: !c.device.blackholed }));
  showFaults(c);
  return c;
}

function link({ label, state, outage }) {
  const c = cards.get(label);
  if (!c) return;
  c.device.connected = state === "up";
  c.device.outage = state === "up" ? null : outage;
  if (state === "down") c.downs++;
  c.retryAt = outage && outage.retryInMs !== undefined ? Date.now() + outage.retryInMs : undefined;
  showLink(c);
}

function showLink(c) {
  const { node, device } = c;
  const state = device.connected ? "up" : device.outage ? "down" : "offline";
  node.dataset.state = state;
  node.dataset.outages = String(c.downs);
  const badge = $(".state", node);
  badge.textContent = { up: "connected", down: "disconnected", offline: "offline" }[state];
  badge.dataset.kind = { up: "ok", down: "bad", offline: "" }[state];
  const outage = $(".outage", node);
  outage.hidden = !device.outage;
  if (device.outage) {
    const o = device.outage;
    const retry = o.retryInMs === undefined ? "not retrying (gave up)"
      : c.retryAt ? `next retry in ${Math.max(0, (c.retryAt - Date.now()) / 1000).toFixed(1)} s` : `retrying every ${(o.retryInMs / 1000).toFixed(1)} s`;
    outage.textContent = `${o.attempts} failed attempt${o.attempts === 1 ? "" : "s"} since ${clock(o.since)}; last error: ${o.lastError}; ${retry}`;
  }
}

function showRetained(c) {
  const body = $(".retained-body", c.node);
  const entries = Object.entries(c.device.retained);
  const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.dataset.topic));
  body.replaceChildren(...(entries.length ? entries.map(([topic, payload]) => {
    const entry = el("details", { class: "retained-entry" },
      el("summary", {}, el("code", {}, topic), " ", el("span", { class: "preview" }, oneLine(payload))), el("pre", {}, pretty(payload)));
    entry.dataset.topic = topic;
    entry.open = open.has(topic);
    return entry;
  }) : [el("p", { class: "muted" }, "nothing retained")]));
}

function showFaults(c) {
  const button = $(".blackhole", c.node);
  button.setAttribute("aria-pressed", String(c.device.blackholed));
  button.textContent = c.device.blackholed ? "restore link (black-holed)" : "black-hole link";
  $(".hw", c.node).replaceChildren(...(c.device.faults ?? []).map((f) => {
    const b = el("button", { type: "button", class: "hw-fault" }, f.label);
    b.dataset.kind = f.kind;
    b.addEventListener("click", () => fault(c, { kind: f.kind }));
    return b;
  }));
}

async function fault(c, body) {
  const error = $(".fault-error", c.node);
  error.textContent = "";
  const result = await post("/api/fault", { device: c.device.label, ...body });
  if (result.error) error.textContent = result.error;
}

async function post(url, body) {
  try {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return await res.json();
  } catch (e) {
    return { error: String(e) };
  }
}

// ---- plots ----

function plot(spec, parent) {
  const figure = el("figure", { class: "plot" }, el("figcaption", {}, spec.title));
  parent.append(figure);
  const dynamic = "$1" in spec.series;
  const p = { spec, figure, labels: dynamic ? [] : Object.keys(spec.series), xs: [], ys: [] };
  p.ys = p.labels.map(() => []);
  p.chart = new uPlot({
    width: Math.max(240, parent.clientWidth || 300), height: 130, legend: { show: dynamic || p.labels.length > 1, live: false },
    padding: [8, 28, 0, 0], scales: { x: { time: true } }, axes: [{ space: 70, values: (u, ticks) => ticks.map((t) => clock(t * 1000).slice(0, 8)) }, { size: 48 }],
    series: [{}, ...p.labels.map((label, i) => line(label, i))],
  }, [p.xs, ...p.ys], figure);
  figure.dataset.points = "0";
  return p;
}

const line = (label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true });

/** A message's readings, if it is one of this plot's messages. */
function addPoint(p, t) {
  const match = p.spec.topic.exec(t.topic);
  if (!match || typeof t.payload !== "object" || t.payload === null) return;
  const values = new Map();
  for (const [name, paths] of Object.entries(p.spec.series)) {
    const label = name === "$1" ? match[1] : name;
    for (const path of [].concat(paths)) {
      const v = path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), t.payload);
      if (typeof v === "number") { values.set(label, v); break; }
    }
  }
  if (!values.size) return;
  for (const label of values.keys()) {
    if (p.labels.includes(label)) continue;
    p.labels.push(label);
    p.ys.push(p.xs.map(() => null));
    p.chart.addSeries(line(label, p.labels.length - 1));
  }
  p.xs.push(t.at / 1000);
  p.labels.forEach((label, i) => p.ys[i].push(values.has(label) ? values.get(label) : null));
  if (p.xs.length > MAX_POINTS) { p.xs.shift(); for (const y of p.ys) y.shift(); }
  p.chart.setData([p.xs, ...p.ys]);
  p.figure.dataset.points = String(p.xs.length);
}

window.addEventListener("resize", () => {
  for (const c of cards.values()) for (const p of c.plots) p.chart.setSize({ width: Math.max(240, p.figure.parentElement.clientWidth), height: 130 });
});

// ---- traffic: the stream, the plots, the retained status ----

function traffic(t) {
  const c = t.device && cards.get(t.device);
  if (c && t.direction === ">") {
    for (const p of c.plots) addPoint(p, t);
    if (t.retain) {
      if (t.payload === "") delete c.device.retained[t.topic];
      else c.device.retained[t.topic] = t.payload;
      showRetained(c);
    }
  }
  const text = pretty(t.payload);
  const row = el("details", { class: "row" },
    el("summary", {},
      el("span", { class: "time" }, clock(t.at)),
      el("span", { class: "dir", title: t.direction === ">" ? "published by the device" : "sent to the device" }, t.direction),
      el("span", { class: "device" }, t.device ?? "-"),
      el("span", { class: "topic" }, t.topic),
      el("span", { class: "flags" }, `q${t.qos}${t.retain ? " retained" : ""}${t.queued ? " queued" : ""}`),
      el("span", { class: "preview" }, oneLine(t.payload))),
    el("pre", {}, text));
  row.dataset.device = t.device ?? "";
  row.dataset.topic = t.topic;
  row.hidden = !shown(row);
  const rows = $("#rows");
  rows.prepend(row);
  while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
  countRows();
}

function shown(row) {
  const device = $("#filter-device").value;
  const topic = $("#filter-topic").value.trim();
  return (!device || row.dataset.device === device) && (!topic || row.dataset.topic.includes(topic));
}

function filterRows() {
  for (const row of $("#rows").children) row.hidden = !shown(row);
  countRows();
}

function countRows() {
  const rows = $("#rows");
  const visible = [...rows.children].filter((r) => !r.hidden).length;
  $("#stream-count").textContent = `${visible} shown of the last ${rows.childElementCount}`;
}

$("#filter-device").addEventListener("change", filterRows);
$("#filter-topic").addEventListener("input", filterRows);

// ---- the console: a form per command, from the command's schema ----

function consoleForm(c) {
  const form = $("form", c.node);
  const select = $("select[name=command]", form);
  const forms = c.device.forms ?? {};
  for (const name of Object.keys(c.device.commands)) select.append(el("option", { value: name }, name));
  select.value = c.device.example.command in c.device.commands ? c.device.example.command : select.value;
  const render = () => {
    const name = select.value;
    const f = forms[name] ?? { usage: c.device.commands[name], fields: [] };
    $(".usage", form).textContent = f.usage;
    const example = c.device.example.command === name ? c.device.example.params : {};
    $(".fields", form).replaceChildren(...f.fields.map((field) => input(field, example[field.name])));
  };
  select.addEventListener("change", render);
  render();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = select.value;
    const fields = (forms[name] ?? { fields: [] }).fields;
    const params = {};
    for (const field of fields) {
      const text = form.elements[`field-${field.name}`].value.trim();
      if (text !== "") params[field.name] = value(field, text);
    }
    const answer = $(".answer", form);
    const button = $("button[type=submit]", form);
    answer.hidden = false;
    answer.dataset.status = "pending";
    answer.textContent = `sent ${name} ${JSON.stringify(params)}; waiting for the answer…`;
    button.disabled = true;
    const result = await post("/api/command", { device: c.device.label, command: name, params });
    button.disabled = false;
    answer.dataset.status = result.error ? "error" : "ok";
    answer.textContent = result.error ? result.error : pretty(result.answer);
  });
}

function input(field, preset) {
  const attrs = { name: `field-${field.name}`, title: field.description ?? field.hint };
  let control;
  const choices = field.enum ?? (field.type === "boolean" ? [true, false] : undefined);
  if (choices) {
    control = el("select", attrs, ...(field.required ? [] : [el("option", { value: "" }, "")]), ...choices.map((v) => el("option", { value: String(v) }, String(v))));
  } else if (field.type === "number" || field.type === "integer") {
    control = el("input", { ...attrs, type: "number", step: field.type === "integer" ? "1" : "any", placeholder: field.hint });
    if (field.minimum !== undefined) control.min = String(field.minimum);
    if (field.maximum !== undefined) control.max = String(field.maximum);
  } else {
    control = el("input", { ...attrs, type: "text", placeholder: field.hint });
  }
  if (preset !== undefined) control.value = typeof preset === "string" ? preset : JSON.stringify(preset);
  if (field.required) control.required = true;
  return el("label", { class: field.required ? "field required" : "field" }, field.name, control);
}

/** A field's text as the command takes it: by its schema type, else JSON where it parses (as `npm run cmd` does). */
function value(field, text) {
  if (field.enum) return field.enum.find((v) => String(v) === text) ?? text;
  if (field.type === "number" || field.type === "integer") return Number(text);
  if (field.type === "boolean") return text === "true";
  if (field.type === "string") return text;
  try { return JSON.parse(text); } catch { return text; }
}

// ---- the broker ----

function showBroker(running) {
  broker.running = running;
  const badge = $("#broker");
  badge.textContent = `broker ${running ? "running" : "stopped"}`;
  badge.dataset.kind = running ? "ok" : "bad";
  $("#broker-stop").hidden = !broker.embedded || !running;
  $("#broker-start").hidden = !broker.embedded || running;
}

for (const [id, kind] of [["#broker-stop", "broker-stop"], ["#broker-start", "broker-start"]]) {
  $(id).addEventListener("click", async () => {
    const result = await post("/api/fault", { kind });
    $("#broker-error").textContent = result.error ?? "";
  });
}

// The outage countdowns.
setInterval(() => { for (const c of cards.values()) if (c.device.outage) showLink(c); }, 1000);

connect();
