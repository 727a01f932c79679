// GPT-Trader read-only dashboard: polls the JSON API every refresh interval and redraws the page in place
// (no reload). Figures arrive as exact decimal strings; values are put in the page with textContent only.
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const refreshMs = Number(body.dataset.refreshMs) || 5000;
  const windowMin = body.dataset.window;
  const app = document.getElementById("app");
  const errorBox = document.getElementById("error");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  // exact decimal string without trailing zeros ("0.00100000" -> "0.001"); "-" when missing
  function plain(s) {
    if (s === null || s === undefined) return "-";
    s = String(s);
    if (/e/i.test(s)) return String(Number(s));
    return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
  }
  function fixed(s, places) { return s === null || s === undefined ? "-" : Number(s).toFixed(places); }
  function sign(s) { return s && String(s).startsWith("-") ? "neg" : "pos"; }
  function table(id, headers, rows) {
    return el("table", { id: id },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((r) => el("tr", r.attrs || {}, r.cells.map((c) => el("td", {}, c))))));
  }
  function card(id, label, value, cls) {
    return el("div", { class: "card" }, el("div", { class: "k" }, label), el("div", { class: "v " + (cls || ""), id: id }, value));
  }
  function curve(points) {
    const w = 720, h = 180, pad = 8;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("id", "equity-curve"); svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    if (points.length < 2) return svg;
    const ys = points.map((p) => Number(p[1]));
    const lo = Math.min(...ys), hi = Math.max(...ys), span = hi - lo || 1;
    const d = ys.map((y, i) => `${i ? "L" : "M"}${(pad + (i / (ys.length - 1)) * (w - 2 * pad)).toFixed(1)},${(h - pad - ((y - lo) / span) * (h - 2 * pad)).toFixed(1)}`).join(" ");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d); path.setAttribute("fill", "none"); path.setAttribute("stroke", "#4aa3ff"); path.setAttribute("stroke-width", "1.5");
    svg.append(path);
    for (const [y, text] of [[pad + 10, hi.toFixed(2)], [h - pad, lo.toFixed(2)]]) {
      const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
      t.setAttribute("x", pad + 2); t.setAttribute("y", y); t.setAttribute("fill", "#7d8b99"); t.setAttribute("font-size", "11");
      t.textContent = text; svg.append(t);
    }
    return svg;
  }
  const fillRows = (fills) => fills.map((f) => ({ attrs: { "data-trade-id": f.trade_id }, cells: [f.ts, f.symbol, f.side, plain(f.size), plain(f.price), fixed(f.fee, 4)] }));
  const FILL_HEAD = ["time", "symbol", "side", "size", "price", "fee"];
  const positionRows = (ps) => ps.map((p) => ({ attrs: { "data-symbol": p.symbol }, cells: [p.symbol, plain(p.size), plain(p.mark), plain(p.notional), plain(p.unrealized_pnl), plain(p.realized_pnl), plain(p.reconciled_size)] }));
  const POSITION_HEAD = ["symbol", "size", "mark", "notional", "unrealized", "realized", "reconciled"];
  const orderRows = (os) => os.map((o) => ({ cells: [o.created_at, o.symbol, o.side, o.order_type, plain(o.size), plain(o.limit_price), o.status, plain(o.filled_size), plain(o.avg_fill_price)] }));
  const ORDER_HEAD = ["created", "symbol", "side", "type", "size", "limit", "status", "filled", "avg price"];

  const views = {
    overview(s) {
      const d = s.display;
      return [
        el("div", { class: "cards" },
          card("state", "trading state", s.trading_state, s.trading_state),
          card("reason", "reason", s.trading_reason || "-"),
          card("equity", "equity (USD)", d.equity),
          card("pnl-today", "PnL today", d.pnl_today, sign(d.pnl_today)),
          card("pnl-window", `PnL ${s.window_min} min`, d.pnl_window, sign(d.pnl_window)),
          card("cycle", "cycle", s.cycle === null ? "-" : s.cycle),
          card("health", "health", s.status + (s.status_reason ? ` (${s.status_reason})` : "")),
          card("venue-time", "venue time", s.venue_time || "-")),
        el("h2", {}, `Equity, last ${s.window_min} min (venue time)`), curve(s.curve),
        el("h2", {}, "Guards"),
        table("guards", ["guard", "state", "trips r/c", "used / limit"], s.guards.map((g) => ({
          attrs: { "data-guard": g.name },
          cells: [g.name, g.active ? el("span", { class: "tripped" }, "TRIPPED") : "ok", `${g.recoverable}/${g.critical}`, g.headroom] }))),
        el("h2", {}, `Positions (${s.positions.length})`), table("positions", POSITION_HEAD, positionRows(s.positions)),
        el("h2", {}, `Last fills (${s.last_fills.length})`), table("fills", FILL_HEAD, fillRows(s.last_fills)),
      ];
    },
    positions(s) {
      const stale = s.streams.filter((x) => x.stale).map((x) => x.symbol);
      const rl = Object.entries(s.rate_limit);
      const rec = s.last_reconciliation;
      return [
        el("h2", {}, `Positions (${s.positions.length})`), table("positions", POSITION_HEAD, positionRows(s.positions)),
        el("h2", {}, `Open orders (${s.open_orders.length})`), table("open-orders", ORDER_HEAD, orderRows(s.open_orders)),
        el("h2", {}, "Market data streams"),
        table("streams", ["symbol", "stale", "lag (s)"], s.streams.map((x) => ({ cells: [x.symbol, x.stale ? "STALE" : "ok", fixed(x.lag_s, 1)] }))),
        el("p", { id: "stale" }, stale.length ? `stale: ${stale.join(", ")}` : "no stale stream"),
        el("p", { id: "rate-limit" }, rl.length ? "REST rate-limit headroom: " + rl.map(([k, v]) => `${k} ${fixed(v, 0)}`).join(", ") : `REST rate-limit headroom: n/a (venue ${s.venue || "?"} keeps no bucket)`),
        el("p", { id: "reconciliation" }, rec ? `last reconciliation ${rec.ts} (${rec.phase}): ${rec.corrections} corrections, ${rec.mismatches} mismatches, ${rec.flagged_orders} flagged orders` : "no reconciliation recorded"),
      ];
    },
    orders(data) {
      const q = new URLSearchParams(location.search);
      const form = el("form", { class: "filters", id: "filters" },
        el("input", { name: "symbol", placeholder: "symbol (BTC-USD)", value: q.get("symbol") || "" }),
        el("select", { name: "side" }, ["", "BUY", "SELL"].map((v) => el("option", Object.assign({ value: v }, q.get("side") === v ? { selected: "" } : {}), v || "any side"))),
        el("input", { name: "status", placeholder: "status (FILLED)", value: q.get("status") || "" }),
        el("button", { type: "submit" }, "Filter"));
      return [form,
        el("h2", {}, `Orders (${data.orders.length})`), table("orders", ORDER_HEAD, orderRows(data.orders)),
        el("h2", {}, `Fills (${data.fills.length})`), table("fills", FILL_HEAD, fillRows(data.fills))];
    },
    sessions(rows) {
      return [el("h2", {}, `Sessions (${rows.length})`), table("sessions", ["session", "venue", "started", "ended", "cycles", "orders", "fills", "fees", "halted"],
        rows.map((r) => ({ attrs: { "data-session": r.session_id }, cells: [r.session_id, r.venue || "-", r.started || "-", r.ended || "running", r.cycles === null ? "-" : r.cycles, r.orders, r.fills, fixed(r.fees, 2), r.halted ? `yes: ${r.halt_reason || ""}` : "no"] })))];
    },
    backtests(rows) {
      return [el("h2", {}, `Backtest reports (${rows.length})`), table("backtests", ["report", "file", "modified", "size"],
        rows.map((r) => ({ cells: [el("a", { href: "/backtests/view/" + r.path.split("/").map(encodeURIComponent).join("/") }, r.title), r.path, r.modified, `${Math.round(r.size / 1024)} KiB`] })))];
    },
  };
  const endpoint = { overview: "overview", positions: "positions", orders: "orders", sessions: "sessions", backtests: "backtests" }[page];

  async function refresh() {
    let url = `/api/${endpoint}`;
    if (page === "overview" || page === "positions") url += `?window=${windowMin}`;
    if (page === "orders") url += location.search;
    try {
      const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      const data = await r.json();
      if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
      const active = document.activeElement && document.activeElement.closest && document.activeElement.closest("form");
      if (!active) app.replaceChildren(...views[page](data));
      errorBox.hidden = true;
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      errorBox.hidden = false;
      errorBox.textContent = "cannot refresh: " + e.message;
    }
  }
  refresh();
  if (page !== "backtests") setInterval(refresh, refreshMs);
})();
