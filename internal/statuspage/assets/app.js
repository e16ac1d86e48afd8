// shardflow status page: polls status.json and renders it. No framework,
// no build step; every value is also put in a data-value attribute so that
// tests can read exact numbers from the DOM.
"use strict";

const POLL_MS = 2000;
const RATE_BUCKETS = 6; // records/s column: mean of the last complete buckets
const SVG = "http://www.w3.org/2000/svg";

const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

function num(v, attrs) {
  return h("td", Object.assign({ class: "num", "data-value": v }, attrs), nf.format(v));
}

function fmtMs(ms) {
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return nf.format(ms / 1000) + " s";
  if (ms < 3600000) return nf.format(ms / 60000) + " min";
  return nf.format(ms / 3600000) + " h";
}

function ago(iso, now) {
  if (!iso) return "never";
  return fmtMs(Math.max(0, Date.parse(now) - Date.parse(iso))) + " ago";
}

// rate: mean records/s over the last complete buckets (the newest bucket
// is still filling).
function rate(series) {
  const done = series.slice(0, -1).slice(-RATE_BUCKETS);
  return done.length ? done.reduce((a, b) => a + b, 0) / done.length : 0;
}

// chart draws values (null = no data) as a small line chart with its
// maximum labelled. kind picks the colour.
function chart(values, kind, unit) {
  const W = 240, H = 44, PAD = 2;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("class", "chart " + kind);
  const present = values.filter((v) => v !== null);
  const max = Math.max(1, ...present);
  const x = (i) => PAD + (i * (W - 2 * PAD)) / Math.max(1, values.length - 1);
  const y = (v) => H - PAD - (v * (H - 2 * PAD - 10)) / max;
  const base = document.createElementNS(SVG, "line");
  Object.entries({ x1: 0, x2: W, y1: H - PAD, y2: H - PAD, class: "axis" }).forEach(([k, v]) => base.setAttribute(k, v));
  svg.append(base);
  // one path per run of present values, so gaps stay gaps
  let d = "", area = "", run = [];
  const flush = () => {
    if (run.length) {
      d += "M" + run.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("L");
      area += `M${x(run[0][0]).toFixed(1)},${H - PAD}` +
        run.map(([i, v]) => `L${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("") +
        `L${x(run[run.length - 1][0]).toFixed(1)},${H - PAD}Z`;
    }
    run = [];
  };
  values.forEach((v, i) => (v === null ? flush() : run.push([i, v])));
  flush();
  for (const [cls, path] of [["area", area], ["line", d]]) {
    if (!path) continue;
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", path);
    p.setAttribute("class", cls);
    svg.append(p);
  }
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", W - PAD);
  label.setAttribute("y", 10);
  label.setAttribute("text-anchor", "end");
  label.textContent = present.length ? "max " + (unit === "ms" ? fmtMs(Math.max(...present)) : nf.format(Math.max(...present)) + " " + unit) : "no reads";
  svg.append(label);
  return h("td", { class: "chart-cell" }, svg);
}

function fill(id, rows, empty) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows);
  if (!rows.length) {
    const cols = document.querySelectorAll(`#${id} thead th`).length;
    body.append(h("tr", { class: "empty" }, h("td", { colspan: cols }, empty)));
  }
}

function tile(id, label, value, extra) {
  return h("div", { class: "tile " + (extra || ""), id: "tile-" + id },
    h("div", { class: "label" }, label),
    h("div", { class: "value", id: "total-" + id, "data-value": value }, nf.format(value)));
}

function render(s) {
  const t = s.totals;
  document.getElementById("pipeline-name").textContent = s.pipeline;
  document.getElementById("worker").textContent = s.worker ? "worker " + s.worker : "";
  document.getElementById("updated").textContent = "updated " + new Date(s.now).toLocaleTimeString("en-GB");
  document.title = `shardflow · ${s.pipeline}`;

  const badge = document.getElementById("ready-badge");
  const ready = s.readiness ? s.readiness.status : "unknown";
  badge.textContent = ready;
  badge.className = "badge " + ready;
  badge.setAttribute("data-value", ready);

  const totalRate = s.shards.reduce((a, sh) => a + rate(sh.records_per_second), 0);
  document.getElementById("tiles").replaceChildren(
    tile("records-read", "records read", t.records_read),
    tile("records-per-second", "records/s (30 s)", Math.round(totalRate * 10) / 10),
    tile("records-acked", "records acked", t.records_acked),
    tile("leases-held", "leases held", t.leases_held),
    tile("dead-letters", "dead letters", t.dead_letters, t.dead_letters ? "warn" : ""),
    tile("windows-emitted", "windows emitted", t.windows_emitted),
    tile("late-rows", "late rows", t.late_rows, t.late_rows ? "warn" : ""),
    tile("batches-failed", "batches failed", t.batches_failed, t.batches_failed ? "bad" : ""),
  );
  document.getElementById("series-note").textContent =
    `${s.step_seconds} s buckets since ${new Date(s.series_start).toLocaleTimeString("en-GB")}`;

  fill("shards", s.shards.map((sh) => h("tr", { "data-shard": sh.id, class: sh.held ? "held" : "lost" },
    h("td", { class: "mono" }, sh.id),
    h("td", { "data-value": sh.held ? "held" : sh.lost_reason }, sh.held ? "held" : "lost: " + sh.lost_reason),
    h("td", { class: "num", "data-value": sh.millis_behind }, fmtMs(sh.millis_behind)),
    chart(sh.millis_behind_series, "lag", "ms"),
    num(Math.round(rate(sh.records_per_second) * 10) / 10),
    chart(sh.records_per_second, "tput", "rec/s"),
    num(sh.records_read, { class: "num read" }),
    num(sh.records_acked, { class: "num acked" }),
    h("td", {}, ago(sh.last_checkpoint, s.now)),
  )), "no shards yet");

  const checks = s.readiness ? s.readiness.checks : [];
  fill("checks", checks.map((c) => h("tr", { "data-check": c.name, class: c.status },
    h("td", {}, c.name),
    h("td", { "data-value": c.status }, h("span", { class: "dot" }), c.status),
    h("td", { class: "detail" }, c.error || nf.format(c.duration_ms) + " ms"),
  )), s.readiness_error || "no readiness checks");

  fill("outputs", s.outputs.map((o) => h("tr", { "data-output": o.name }, h("td", {}, o.name), num(o.rows))), "no rows out yet");
  fill("firehose", s.firehose.map((f) => h("tr", { "data-stream": f.stream },
    h("td", {}, f.stream), num(f.calls), num(f.errors), num(f.retries), num(f.records), num(f.failed_records))),
  "no Firehose calls yet");
  fill("dead-letters", s.dead_letters.map((d) => h("tr", { "data-reason": d.reason }, h("td", { class: "mono" }, d.reason), num(d.rows))), "none");
  fill("windows", s.windows.map((w) => h("tr", { "data-op": w.op },
    h("td", {}, w.op), num(w.flushes), num(w.emits), num(w.rows_emitted),
    num(w.late_dropped + w.late_dead_lettered + w.late_updated))), "no window operators");
  const group = s.leases || { workers: [], balance: 0 };
  document.getElementById("lease-balance").textContent = group.workers.length ? "balance " + group.balance.toFixed(2) : "";
  fill("lease-workers", group.workers.map((w) => h("tr", { "data-worker": w.worker, class: w.worker === s.worker ? "held" : "" },
    h("td", { class: "mono" }, w.worker + (w.worker === s.worker ? " (this one)" : "")), num(w.held))), "no workers seen yet");
  fill("redis", s.redis.map((r) => h("tr", { "data-op": r.op }, h("td", { class: "mono" }, r.op), num(r.calls), num(r.errors))), "no Redis calls");
}

async function poll() {
  const err = document.getElementById("error");
  try {
    const resp = await fetch("status.json", { cache: "no-store" });
    if (!resp.ok) throw new Error(`status.json: ${resp.status} ${resp.statusText}`);
    render(await resp.json());
    err.hidden = true;
    document.body.setAttribute("data-loaded", "true");
  } catch (e) {
    err.textContent = "cannot load status: " + e.message;
    err.hidden = false;
  }
}

poll();
setInterval(poll, POLL_MS);
