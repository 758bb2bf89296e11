// cdcflow dashboard: polls the service's JSON endpoints (listed in the
// footer) and draws the panels this server has. No dependencies; charts are
// plain SVG.
"use strict";

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  desc: null,          // GET /v1/dashboard
  descKey: "",
  lastOK: 0,           // time of the last complete refresh
  inv: { q: "", sort: "stock", order: "asc", offset: 0, limit: 50, total: 0 },
  threshold: null,
  selected: null,      // product id in the detail card
  history: new Map(),  // product id -> [{t, stock}] since the page opened
  prevInputs: null,    // {t, records by key} for events/s
  busy: false,
  search: { seq: 0, timer: 0 },
};

async function getJSON(path, opts) {
  const r = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, opts));
  const body = await r.json();
  if (!r.ok && r.status !== 503) throw new Error(path + ": " + (body.error || r.status));
  return body;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function emptyRow(cols, text) {
  return el("tr", {}, el("td", { colspan: cols, class: "muted", text }));
}

function listEmpty(ul, text) {
  ul.replaceChildren(el("li", { class: "empty", text }));
}

const money = (v) => "$" + Number(v).toFixed(2);
const int = (v) => Math.round(Number(v)).toLocaleString("en-US");
const secs = (v) => (v == null ? "–" : v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(2) + " s");

// ---------- start ----------

async function start() {
  wireInventory();
  wireSearch();
  await tick();
  setInterval(tick, POLL_MS);
  setInterval(showAge, 500);
}

// describe reads which panels this server has; a service that is still
// starting registers its routes later, so it is read on every tick.
async function describe() {
  const d = await getJSON("/v1/dashboard");
  const key = JSON.stringify(d);
  if (key === state.descKey) return;
  state.descKey = key;
  state.desc = d;
  const nav = $("nav");
  nav.replaceChildren();
  for (const p of d.panels) {
    $(p).hidden = false;
    nav.append(el("a", { href: "#" + p, text: p[0].toUpperCase() + p.slice(1) }));
  }
  const links = ["/readyz", "/metrics", "/v1/dashboard", "/v1/pipeline", ...d.links.filter((l) => l.startsWith("/v1/") && l !== "/v1/dashboard" && l !== "/v1/pipeline")];
  if (d.panels.includes("inventory")) links.push("/v1/inventory?below=10", "/v1/inventory/1");
  if (d.panels.includes("analytics")) links.push("/v1/reports/summary", "/v1/reports/order_status", "/v1/reports/daily_sales", "/v1/reports/product_sales", "/v1/reports/customer_metrics");
  if (d.panels.includes("search")) links.push("/v1/search?q=laptop");
  $("links").replaceChildren(...[...new Set(links)].map((l) => el("li", {}, el("a", { href: l, text: l }))));
}

async function tick() {
  if (state.busy) return;
  state.busy = true;
  try {
    await describe();
  } catch (e) {
    state.busy = false;
    $("status").dataset.error = "cannot read /v1/dashboard: " + e.message;
    if (!state.lastOK) $("status").textContent = $("status").dataset.error;
    return;
  }
  const jobs = [refreshPipeline()];
  const panels = state.desc.panels;
  if (panels.includes("inventory")) jobs.push(refreshInventory());
  if (panels.includes("analytics")) jobs.push(refreshAnalytics());
  const results = await Promise.allSettled(jobs);
  state.busy = false;
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length === 0) {
    state.lastOK = Date.now();
    delete $("status").dataset.error;
  } else $("status").dataset.error = failed[0].reason.message;
  showAge();
}

function showAge() {
  const s = $("status");
  if (!state.lastOK) return;
  const age = Math.floor((Date.now() - state.lastOK) / 1000);
  s.textContent = "updated " + age + " s ago" + (age > 5 && s.dataset.error ? " (" + s.dataset.error + ")" : "");
  s.classList.toggle("stale", age > 5);
  s.dataset.age = age;
}

// ---------- inventory ----------

function wireInventory() {
  const inv = state.inv;
  const reload = () => { inv.offset = 0; refreshInventory(); };
  $("inv-form").addEventListener("submit", (e) => e.preventDefault());
  $("inv-q").addEventListener("input", (e) => { inv.q = e.target.value; reload(); });
  $("inv-sort").addEventListener("change", (e) => { inv.sort = e.target.value; reload(); });
  $("inv-order").addEventListener("change", (e) => { inv.order = e.target.value; reload(); });
  $("inv-prev").addEventListener("click", () => { inv.offset = Math.max(0, inv.offset - inv.limit); refreshInventory(); });
  $("inv-next").addEventListener("click", () => { if (inv.offset + inv.limit < inv.total) { inv.offset += inv.limit; refreshInventory(); } });
}

function remember(p) {
  let h = state.history.get(p.product_id);
  if (!h) state.history.set(p.product_id, (h = []));
  const last = h[h.length - 1];
  if (!last || last.stock !== p.stock_quantity || Date.now() - last.t > 5000) h.push({ t: Date.now(), stock: p.stock_quantity });
  if (h.length > 600) h.shift();
}

async function refreshInventory() {
  const inv = state.inv;
  const qs = new URLSearchParams({ sort: inv.sort, order: inv.order, limit: inv.limit, offset: inv.offset });
  if (inv.q) qs.set("q", inv.q);
  const jobs = [getJSON("/v1/inventory?" + qs)];
  if (state.desc.alerts) jobs.push(getJSON("/v1/alerts/low-stock"));
  const [page, alerts] = await Promise.all(jobs);
  if (alerts) state.threshold = alerts.threshold;
  const threshold = state.threshold;
  inv.total = page.total;
  for (const p of page.products) remember(p);
  fill($("inv-table").tBodies[0], page.products.length ? page.products.map((p) => {
    const low = threshold != null && p.stock_quantity < threshold;
    const tr = el("tr", { tabindex: "0", "data-product-id": p.product_id, class: (low ? "low" : "") + (p.product_id === state.selected ? " selected" : ""), "aria-label": p.name + ", stock " + p.stock_quantity + (low ? ", low" : "") },
      el("td", { text: p.product_id }), el("td", { text: p.name }), el("td", { class: "num", text: money(p.price) }), el("td", { class: "num", text: int(p.stock_quantity) }));
    const choose = () => select(p.product_id);
    tr.addEventListener("click", choose);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
    return tr;
  }) : [emptyRow(4, "no products match")]);
  $("inv-page").textContent = page.total ? (inv.offset + 1) + "–" + Math.min(inv.offset + inv.limit, page.total) + " of " + page.total : "0 products";
  $("inv-prev").disabled = inv.offset === 0;
  $("inv-next").disabled = inv.offset + inv.limit >= page.total;

  if (threshold != null) {
    $("low-threshold").textContent = "(below " + threshold + ")";
    const low = await getJSON("/v1/inventory?below=" + threshold);
    const ul = $("low-list");
    ul.dataset.total = low.total;
    if (low.products.length === 0) listEmpty(ul, "no product is below " + threshold);
    else ul.replaceChildren(...low.products.map((p) => el("li", { "data-product-id": p.product_id, "data-stock": p.stock_quantity, text: p.name + " (#" + p.product_id + "): " + p.stock_quantity + " left" })));
  }
  if (alerts) {
    const ul = $("alert-list");
    if (alerts.alerts.length === 0) listEmpty(ul, alerts.reading ? "no alerts yet" : "cannot read " + alerts.topic);
    else ul.replaceChildren(...alerts.alerts.slice(0, 10).map((a) => el("li", { "data-product-id": a.product_id, text: a.ts.replace("T", " ").replace(/\..*|Z$/, "") + " · " + a.name + " (#" + a.product_id + "): " + a.stock_quantity + " left" })));
  }
  if (state.selected != null) await refreshDetail();
}

function select(id) {
  state.selected = id;
  for (const tr of $("inv-table").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.productId === String(id));
  refreshDetail();
}

async function refreshDetail() {
  const id = state.selected;
  let p;
  try {
    p = await getJSON("/v1/inventory/" + id);
  } catch (e) {
    $("detail-empty").textContent = "Product " + id + " is gone (deleted).";
    $("detail-empty").hidden = false;
    $("detail-body").hidden = true;
    return;
  }
  remember(p);
  $("detail-empty").hidden = true;
  $("detail-body").hidden = false;
  $("d-name").textContent = p.name + " (#" + p.product_id + ")";
  $("d-price").textContent = money(p.price);
  $("d-stock").textContent = int(p.stock_quantity);
  $("d-updated").textContent = p.last_updated;
  drawHistory($("d-chart"), state.history.get(id) || [], state.threshold);
}

function drawHistory(chart, h, threshold) {
  const W = 320, H = 100, pad = 24;
  chart.replaceChildren();
  if (h.length === 0) return;
  const t0 = h[0].t, t1 = Math.max(Date.now(), t0 + 1000);
  const vals = h.map((x) => x.stock).concat(threshold != null ? [threshold] : []);
  const lo = Math.min(0, ...vals), hi = Math.max(1, ...vals);
  const x = (t) => pad + (W - pad - 4) * (t - t0) / (t1 - t0);
  const y = (v) => H - 14 - (H - 24) * (v - lo) / (hi - lo);
  let d = "";
  h.forEach((p, i) => { d += (i ? " H" + x(p.t).toFixed(1) + " V" : "M" + x(p.t).toFixed(1) + " ") + y(p.stock).toFixed(1); });
  d += " H" + x(t1).toFixed(1);
  chart.append(svg("line", { class: "axis", x1: pad, y1: H - 14, x2: W - 4, y2: H - 14 }));
  if (threshold != null) chart.append(svg("line", { class: "threshold", x1: pad, x2: W - 4, y1: y(threshold), y2: y(threshold) }));
  chart.append(svg("path", { class: "line", d }));
  const top = svg("text", { x: 2, y: y(hi) + 4 }); top.textContent = hi;
  const bottom = svg("text", { x: 2, y: y(lo) + 4 }); bottom.textContent = lo;
  chart.append(top, bottom);
  chart.setAttribute("aria-label", "Stock from " + h[0].stock + " to " + h[h.length - 1].stock + " over " + Math.round((t1 - t0) / 1000) + " s");
}

// ---------- analytics ----------

async function refreshAnalytics() {
  const names = ["summary", "order_status", "daily_sales", "product_sales", "customer_metrics"];
  const [summary, status, daily, products, customers] = await Promise.all(names.map((n) => getJSON("/v1/reports/" + n)));
  const m = summary.metrics;
  $("summary").replaceChildren(...[
    ["Live orders", int(m.total_orders), "total_orders"],
    ["Revenue", money(m.total_revenue), "total_revenue"],
    ["Customers", int(m.unique_customers), "unique_customers"],
    ["Products sold", int(m.unique_products_sold), "unique_products_sold"],
  ].map(([label, value, key]) => el("div", { class: "figure", "data-metric": key, "data-value": m[key] }, el("div", { class: "label", text: label }), el("div", { class: "value", text: value }))));

  const st = Object.entries(status.data).sort((a, b) => b[1] - a[1]);
  const most = Math.max(1, ...st.map((s) => s[1]));
  $("status-bars").replaceChildren(...(st.length ? st.map(([name, n]) => el("div", { class: "row", "data-status": name, "data-count": n },
    el("span", { text: name }), el("div", { class: "track", role: "presentation" }, el("div", { class: "fill", style: "width:" + (100 * n / most).toFixed(1) + "%" })), el("span", { class: "n", text: int(n) }))) : [el("p", { class: "muted", text: "no orders" })]));

  const days = Object.keys(daily.data).sort().reverse();
  fill($("daily-table").tBodies[0], days.length ? days.slice(0, 7).map((d) => el("tr", {}, el("td", { text: d }), el("td", { class: "num", text: int(daily.data[d].order_count) }), el("td", { class: "num", text: money(daily.data[d].total_amount) }))) : [emptyRow(3, "no sales")]);

  // The reports hold the top 100 as an object; the ten largest by money.
  const top = (data, by) => Object.entries(data).sort((x, y) => y[1][by] - x[1][by] || Number(x[0]) - Number(y[0])).slice(0, 10);
  fill($("top-products").tBodies[0], top(products.data, "total_revenue").map(([id, v]) => el("tr", { "data-id": id }, el("td", { text: "#" + id }), el("td", { class: "num", text: int(v.quantity_sold) }), el("td", { class: "num", text: money(v.total_revenue) }))));
  fill($("top-customers").tBodies[0], top(customers.data, "total_spent").map(([id, v]) => el("tr", { "data-id": id }, el("td", { text: "#" + id }), el("td", { class: "num", text: int(v.order_count) }), el("td", { class: "num", text: money(v.total_spent) }))));

  await refreshS3();

  if (days.length) {
    const win = await getJSON("/v1/reports/windows?date=" + days[0]);
    $("win-day").textContent = "(" + days[0] + ", UTC)";
    drawWindows($("win-chart"), win.data);
    fill($("win-table").tBodies[0], win.data.map((w) => el("tr", {}, el("td", { text: w.window_start.slice(11, 16) }), el("td", { class: "num", text: w.orders }), el("td", { class: "num", text: money(w.revenue) }), el("td", { class: "num", text: w.items_sold }))));
  }
}

// The last S3 flush and the objects it wrote (GET /v1/reports/s3, when the
// service writes reports to S3).
async function refreshS3() {
  const dl = $("s3");
  if (!state.desc.links.includes("/v1/reports/s3")) {
    dl.replaceChildren(el("dt", { text: "S3" }), el("dd", { text: "not configured (S3_BUCKET unset)" }));
    return;
  }
  const st = await getJSON("/v1/reports/s3");
  const objects = el("ul", { class: "list", id: "s3-objects", "data-total": st.objects.length }, ...st.objects.slice(0, 12).map((k) => el("li", { text: k })),
    st.objects.length > 12 ? el("li", { class: "empty", text: "and " + (st.objects.length - 12) + " more" }) : null);
  dl.replaceChildren(
    el("dt", { text: "Bucket" }), el("dd", { text: st.bucket + (st.leader ? "" : " (another instance writes)") }),
    el("dt", { text: "Last flush" }), el("dd", { id: "s3-last", text: st.last_ok ? st.last_ok.replace("T", " ").replace("Z", " UTC") : "none yet" }),
    el("dt", { text: "Objects" }), el("dd", {}, st.objects.length ? objects : "none"),
    ...(st.error ? [el("dt", { text: "Error" }), el("dd", { class: "bad", text: st.error })] : []));
}

function drawWindows(chart, data) {
  const W = 640, H = 200, left = 48, bottom = 20;
  chart.replaceChildren();
  chart.dataset.points = data.length;
  if (data.length === 0) return;
  const maxRev = Math.max(1, ...data.map((w) => Number(w.revenue)));
  const maxOrders = Math.max(1, ...data.map((w) => w.orders));
  const bw = (W - left - 8) / data.length;
  chart.append(svg("line", { class: "axis", x1: left, y1: H - bottom, x2: W - 4, y2: H - bottom }));
  const lbl = svg("text", { x: 2, y: 12 }); lbl.textContent = money(maxRev);
  chart.append(lbl);
  data.forEach((w, i) => {
    const h = (H - bottom - 16) * Number(w.revenue) / maxRev;
    const x = left + i * bw;
    const w0 = Math.max(1, Math.min(bw * 0.8, 48)); // a few windows still look like bars
    const bar = svg("rect", { class: "bar", x: (x + (bw - w0) / 2).toFixed(1), width: w0.toFixed(1), y: (H - bottom - h).toFixed(1), height: h.toFixed(1),
      "data-start": w.window_start, "data-revenue": w.revenue, "data-orders": w.orders });
    const title = svg("title"); title.textContent = w.window_start.slice(11, 16) + ": " + money(w.revenue) + ", " + w.orders + " orders";
    bar.append(title);
    chart.append(bar, svg("circle", { class: "dot", r: 3, cx: (x + bw / 2).toFixed(1), cy: (H - bottom - (H - bottom - 16) * w.orders / maxOrders).toFixed(1) }));
    if (data.length <= 24 || i % Math.ceil(data.length / 12) === 0) {
      const t = svg("text", { x: x.toFixed(1), y: H - 6 }); t.textContent = w.window_start.slice(11, 16);
      chart.append(t);
    }
  });
  chart.setAttribute("aria-label", data.length + " windows; highest revenue " + money(maxRev));
}

// ---------- search ----------

function wireSearch() {
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(); });
  for (const id of ["s-q", "s-min", "s-max"]) $(id).addEventListener("input", () => {
    clearTimeout(state.search.timer);
    state.search.timer = setTimeout(runSearch, 120);
  });
}

async function runSearch() {
  const q = $("s-q").value.trim();
  const seq = ++state.search.seq;
  const list = $("s-results");
  if (!q) { list.replaceChildren(); $("s-total").textContent = ""; list.dataset.query = ""; return; }
  const qs = new URLSearchParams({ q, limit: 20 });
  if ($("s-min").value) qs.set("min_price", $("s-min").value);
  if ($("s-max").value) qs.set("max_price", $("s-max").value);
  let res;
  try {
    res = await getJSON("/v1/search?" + qs);
  } catch (e) {
    if (seq === state.search.seq) $("s-total").textContent = e.message;
    return;
  }
  if (seq !== state.search.seq) return; // a newer query is under way
  $("s-total").textContent = res.total + " product" + (res.total === 1 ? "" : "s") + " match";
  list.dataset.query = qs.toString();
  list.replaceChildren(...res.results.map((r) => el("li", { "data-product-id": r.product_id, "data-score": r.score },
    el("strong", { text: r.name }), " ",
    el("span", { class: "meta", text: "#" + r.product_id + " · " + money(r.price) + " · stock " + int(r.stock_quantity) + " · score " + r.score.toFixed(3) }))));
}

// ---------- pipeline ----------

async function refreshPipeline() {
  const dl = state.desc.dead_letters.map((p) => getJSON(p));
  const [p, ready, ...dead] = await Promise.all([getJSON("/v1/pipeline"), getJSON("/readyz"), ...dl]);
  const s = p.series;

  // Throughput per service and input topic, events/s from the last poll.
  const inputs = new Map();
  for (const x of s.cdc_messages_total || []) {
    const k = x.labels.service + "\u0000" + x.labels.topic;
    inputs.set(k, (inputs.get(k) || 0) + x.value);
  }
  const deadBy = new Map();
  for (const x of s.cdc_dead_letters_total || []) deadBy.set(x.labels.service + "\u0000" + x.labels.topic, x.value);
  const prev = state.prevInputs;
  fill($("p-inputs").tBodies[0], inputs.size ? [...inputs.keys()].sort().map((k) => {
    const [svc, topic] = k.split("\u0000");
    const n = inputs.get(k);
    const rate = prev && prev.values.has(k) ? Math.max(0, (n - prev.values.get(k)) * 1000 / (p.time_ms - prev.t)) : null;
    return el("tr", { "data-service": svc, "data-topic": topic }, el("td", { text: svc }), el("td", { text: topic }), el("td", { class: "num", text: int(n) }),
      el("td", { class: "num", text: rate == null ? "–" : int(rate) }), el("td", { class: "num", text: int(deadBy.get(k) || 0) }));
  }) : [emptyRow(5, "no records yet")]);
  state.prevInputs = { t: p.time_ms, values: inputs };

  // Consumer lag per group, topic and partition.
  const lag = (s.consumer_lag || []).slice().sort((a, b) => (a.labels.consumer_group + a.labels.topic).localeCompare(b.labels.consumer_group + b.labels.topic) || Number(a.labels.partition) - Number(b.labels.partition));
  const total = lag.reduce((a, x) => a + x.value, 0);
  const lagTotal = $("p-lag-total");
  lagTotal.textContent = "(" + int(total) + " in all)";
  lagTotal.dataset.total = total;
  lagTotal.dataset.max = Math.max(total, Number(lagTotal.dataset.max || 0)); // the most seen since the page opened
  fill($("p-lag").tBodies[0], lag.length ? lag.map((x) => el("tr", { "data-lag": x.value }, el("td", { text: x.labels.consumer_group }), el("td", { text: x.labels.topic }),
    el("td", { class: "num", text: x.labels.partition }), el("td", { class: "num" + (x.value > 1000 ? " bad" : ""), text: int(x.value) }))) : [emptyRow(4, "no lag measured yet")]);

  // Latency.
  const lat = [];
  const byService = (name) => {
    const m = new Map();
    for (const x of s[name] || []) {
      if (!x.count) continue;
      const k = x.labels.service || x.labels.table || "";
      const cur = m.get(k);
      if (!cur || x.p99 > cur.p99) m.set(k, x);
    }
    return m;
  };
  for (const [k, x] of byService("consumer_processing_latency_seconds")) lat.push(["commit → processed", k, x.p50, x.p99]);
  for (const [k, x] of byService("mirror_source_to_sink_seconds")) lat.push(["commit → DynamoDB", k, x.p50, x.p99]);
  fill($("p-latency").tBodies[0], lat.length ? lat.map((r) => el("tr", {}, el("td", { text: r[0] }), el("td", { text: r[1] }), el("td", { class: "num", text: secs(r[2]) }), el("td", { class: "num", text: secs(r[3]) }))) : [emptyRow(4, "no measurements yet")]);

  // Readiness.
  $("p-ready-status").textContent = "(" + ready.status + ")";
  $("p-ready-status").className = ready.status === "ready" ? "good" : "bad";
  $("p-ready").replaceChildren(...Object.entries(ready.checks || {}).sort().map(([name, c]) => el("li", {}, el("span", { class: c.ok ? "good" : "bad", text: c.ok ? "✓ " : "✗ " }), name + ": " + c.detail)));

  // Circuit breakers.
  const states = ["closed", "half-open", "open"];
  const br = [];
  for (const [name, list] of Object.entries(s)) {
    if (!name.endsWith("_breaker_state")) continue;
    for (const x of list) br.push([name.replace(/_breaker_state$/, "") + (Object.keys(x.labels).length ? " " + Object.entries(x.labels).map(([k, v]) => k + "=" + v).join(" ") : ""), states[x.value] || String(x.value)]);
  }
  if (br.length === 0) listEmpty($("p-breakers"), "no breakers (no sinks configured)");
  else $("p-breakers").replaceChildren(...br.sort().map(([n, st]) => el("li", {}, n + ": ", el("span", { class: "state-" + st, text: st }))));

  // Dead letters, newest first across the services.
  const letters = dead.flatMap((d) => d.dead_letters.map((l) => Object.assign({ service: d.service }, l))).sort((a, b) => b.time.localeCompare(a.time)).slice(0, 8);
  if (letters.length === 0) listEmpty($("p-dead"), "no dead letters");
  else $("p-dead").replaceChildren(...letters.map((l) => el("li", {},
    el("strong", { text: l.error || "(no reason)" }), el("br"),
    l.time.replace("T", " ").replace(/\..*|Z$/, "") + " · " + l.service + " · " + l.source_topic + "/" + l.source_partition + "@" + l.source_offset,
    el("code", { text: l.value + (l.truncated ? " …" : "") }))));
}

start();
