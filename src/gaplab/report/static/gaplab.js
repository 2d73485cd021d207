// gaplab's page script: draws the figures the server (or the static report) put in the page, and on the
// dashboard fills tables and figures from its JSON API and polls it so new runs appear without a reload.
// User text only ever reaches the page through textContent (never innerHTML); figures arrive pre-escaped.
"use strict";

(function () {
  const PLOT_CONFIG = {displaylogo: false, responsive: true};
  const POLL_MS = 2000;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // plotly.js loads async (4.8 MB to compile on a first visit), so tables fill without waiting for it; figures
  // that arrive before it are drawn when the window's load event says every script is in.
  const pending = new Map();
  function draw(div, fig) {
    if (!div) return;
    if (window.Plotly) window.Plotly.react(div, fig.data, fig.layout, PLOT_CONFIG);
    else pending.set(div, fig);
  }
  window.addEventListener("load", () => {
    if (!window.Plotly) return;
    for (const [div, fig] of pending) window.Plotly.react(div, fig.data, fig.layout, PLOT_CONFIG);
    pending.clear();
  });

  function drawEmbedded() {
    for (const s of document.querySelectorAll("script[data-figure-for]")) {
      draw(document.getElementById(s.getAttribute("data-figure-for")), JSON.parse(s.textContent));
    }
  }

  async function getJSON(url) {
    const r = await fetch(url, {headers: {Accept: "application/json"}, cache: "no-store"});
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === null || v === undefined || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => u.append(k, x)); else u.append(k, v);
    }
    return u.toString();
  }

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      const t = v.toPrecision(4);
      return t.includes("e") ? t : t.replace(/\.?0+$/, "");
    }
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  function fillSelect(sel, options, value, blank) {
    sel.replaceChildren();
    if (blank) sel.appendChild(el("option", {value: ""}, blank));
    for (const o of options) {
      const opt = el("option", {value: o}, o.replace(/^final\./, ""));
      if (o === value) opt.selected = true;
      sel.appendChild(opt);
    }
  }

  function setCounts(counts) {
    const ul = document.getElementById("counts");
    if (!ul) return;
    for (const [status, n] of Object.entries(counts)) {
      let li = ul.querySelector(`li[data-status="${CSS.escape(status)}"]`);
      if (!li) {
        li = el("li", {"data-status": status, class: "status-" + status});
        li.append(el("b"), document.createTextNode(" " + status));
        ul.appendChild(li);
      }
      li.querySelector("b").textContent = String(n);
    }
  }

  // ---- sweep page --------------------------------------------------------------------------------
  function sweepPage(cfg) {
    const st = {sort: cfg.sort, desc: cfg.desc, page: 0, size: 50, filters: {}, version: cfg.version,
                selected: new Set(), columns: cfg.columns};
    const $ = (id) => document.getElementById(id);
    const base = cfg.group === null ? {} : {group: cfg.group};
    fillSelect($("metric"), cfg.metrics, cfg.metric);
    fillSelect($("xkey"), cfg.keys, cfg.x);
    fillSelect($("bykey"), cfg.keys, cfg.by, "(none)");
    const curveMetrics = cfg.metrics.filter((m) => !m.includes("wnorm/")).map((m) => m.replace(/^final\./, ""));
    fillSelect($("latest-metric"), curveMetrics.filter((m) => m !== "epochs_run"),
               curveMetrics.includes("test_loss") ? "test_loss" : curveMetrics[0]);

    function report(e) { $("live-status").textContent = "could not load: " + e.message; }

    async function loadPlotRaw() {
      const fig = await getJSON("/api/sweep/plot?" + qs({...base, metric: $("metric").value, x: $("xkey").value,
        by: $("bykey").value, logx: $("logx").checked ? 1 : 0, logy: $("logy").checked ? 1 : 0}));
      draw($("sweep-plot"), fig);
    }

    const loadPlot = () => loadPlotRaw().catch(report);
    const loadLatest = () => loadLatestRaw().catch(report);

    async function loadLatestRaw() {
      const fig = await getJSON("/api/sweep/latest?" + qs({...base, metric: $("latest-metric").value,
        logy: $("logy").checked ? 1 : 0}));
      draw($("latest-plot"), fig);
    }

    function header(columns) {
      const thead = $("runs").tHead;
      thead.replaceChildren();
      const names = thead.insertRow();
      const filters = thead.insertRow();
      names.appendChild(el("th", {}, ""));
      filters.appendChild(el("th", {}, ""));
      for (const c of columns) {
        const th = el("th", {class: "sortable", "data-col": c.id, title: "sort by " + c.id},
                      c.id.replace(/^final\./, ""));
        if (c.id === st.sort) th.textContent += st.desc ? " ▼" : " ▲";
        th.addEventListener("click", () => {
          if (st.sort === c.id) st.desc = !st.desc; else { st.sort = c.id; st.desc = c.kind === "metric"; }
          st.page = 0;
          loadTable();
        });
        names.appendChild(th);
        const input = el("input", {type: "search", class: "filter", "data-col": c.id, placeholder: "filter",
                                   "aria-label": "filter " + c.id});
        input.value = st.filters[c.id] || "";
        let timer = null;
        input.addEventListener("input", () => {
          clearTimeout(timer);
          timer = setTimeout(() => { st.filters[c.id] = input.value; st.page = 0; loadTable(); }, 300);
        });
        const cell = el("th");
        cell.appendChild(input);
        filters.appendChild(cell);
      }
    }

    let headerKey = "";
    async function loadTable() {
      const f = {};
      for (const [k, v] of Object.entries(st.filters)) if (v) f["f." + k] = v;
      let tbl;
      try {
        tbl = await getJSON("/api/sweep/table?" + qs({...base, col: st.columns.join(","), sort: st.sort,
          desc: st.desc ? 1 : 0, page: st.page, size: st.size, ...f}));
        $("live-status").textContent = "";
      } catch (e) {
        $("live-status").textContent = "filter: " + e.message;
        return;
      }
      const key = JSON.stringify([tbl.columns.map((c) => c.id), st.sort, st.desc]);
      if (key !== headerKey) { header(tbl.columns); headerKey = key; }
      const tbody = $("runs").tBodies[0];
      tbody.replaceChildren();
      tbl.rows.forEach((row, i) => {
        const id = tbl.ids[i];
        const tr = tbody.insertRow();
        const box = el("input", {type: "checkbox", class: "pick", "aria-label": "select " + id});
        box.checked = st.selected.has(id);
        box.addEventListener("change", () => {
          if (box.checked) st.selected.add(id); else st.selected.delete(id);
          $("compare").disabled = st.selected.size < 1;
        });
        tr.insertCell().appendChild(box);
        row.forEach((v, j) => {
          const td = tr.insertCell();
          const col = tbl.columns[j];
          if (col.numeric) td.className = "num";
          if (col.id === "id") td.appendChild(el("a", {href: "/run?" + qs({id: id})}, v));
          else td.textContent = fmt(v);
          if (col.id === "status") td.className = "status-" + v;
        });
      });
      const pages = Math.max(1, Math.ceil(tbl.total / tbl.size));
      $("runs-total").textContent = `(${tbl.total} matching)`;
      $("page-info").textContent = `page ${tbl.page + 1} of ${pages}`;
      $("prev").disabled = tbl.page <= 0;
      $("next").disabled = tbl.page + 1 >= pages;
    }

    $("prev").addEventListener("click", () => { st.page = Math.max(0, st.page - 1); loadTable(); });
    $("next").addEventListener("click", () => { st.page += 1; loadTable(); });
    $("compare").addEventListener("click", () => {
      window.location.href = "/run?" + qs({id: Array.from(st.selected).slice(0, 12)});
    });
    for (const id of ["metric", "xkey", "bykey", "logx"]) $(id).addEventListener("change", loadPlot);
    $("logy").addEventListener("change", () => { loadPlot(); loadLatest(); });
    $("latest-metric").addEventListener("change", loadLatest);

    async function poll() {
      try {
        const s = await getJSON("/api/sweep?" + qs(base));
        setCounts(s.counts);
        if (JSON.stringify(s.version) !== JSON.stringify(st.version)) {
          st.version = s.version;
          const keep = (sel, opts, blank) => fillSelect(sel, opts, sel.value || null, blank);
          keep($("metric"), s.metrics);
          const keys = s.swept.map((c) => c.id);
          if (!keys.includes("seed")) keys.push("seed");
          keep($("xkey"), keys);
          keep($("bykey"), keys, "(none)");
          if (!$("metric").value && s.metric) fillSelect($("metric"), s.metrics, s.metric);
          if (!$("xkey").value && s.x) fillSelect($("xkey"), keys, s.x);
          st.columns = s.table_columns;
          await Promise.all([loadPlot(), loadLatest(), loadTable()]);
        }
        $("live-status").textContent = "";
      } catch (e) {
        $("live-status").textContent = "live updates paused: " + e.message;
      }
      setTimeout(poll, POLL_MS);
    }

    Promise.all([loadPlot(), loadLatest(), loadTable()]).finally(() => setTimeout(poll, POLL_MS));
  }

  // ---- run page ----------------------------------------------------------------------------------
  function runPage(cfg) {
    const box = document.getElementById("run-figures");
    async function load() {
      const res = await getJSON("/api/run/figures?" + qs({id: cfg.ids,
        logy: document.getElementById("logy").checked ? 1 : 0}));
      box.replaceChildren();
      if (!res.figures.length) box.appendChild(el("p", {id: "no-curves"}, "No per-epoch metrics stored for this run."));
      res.figures.forEach((fig, i) => {
        const div = el("div", {class: "figure run-figure", id: "run-figure-" + i});
        box.appendChild(div);
        draw(div, fig);
      });
    }
    document.getElementById("logy").addEventListener("change", () => load().catch(() => {}));
    load().catch((e) => box.replaceChildren(el("p", {class: "error"}, "could not load curves: " + e.message)));
  }

  // ---- home page ---------------------------------------------------------------------------------
  function homePage() {
    let seen = null;  // what the table shows: runs stored (version) and the counts, live claims included
    async function poll() {
      try {
        const res = await getJSON("/api/groups");
        const now = JSON.stringify([res.version, res.groups]);
        if (now !== seen) {
          seen = now;
          const total = res.total;
          document.getElementById("total-runs").textContent = String(total);
          const boxEl = document.getElementById("groups-box");
          const table = el("table", {id: "groups"});
          const head = table.createTHead().insertRow();
          const statuses = res.groups.length ? Object.keys(res.groups[0].counts) : [];
          for (const h of ["sweep / group", "runs", ...statuses, "last run stored"]) head.appendChild(el("th", {}, h));
          const body = table.createTBody();
          for (const g of res.groups) {
            const tr = body.insertRow();
            tr.insertCell().appendChild(el("a", {href: "/sweep?" + qs({group: g.name})}, g.name));
            tr.insertCell().textContent = String(g.runs);
            for (const s of statuses) tr.insertCell().textContent = String(g.counts[s]);
            tr.insertCell().textContent = g.last ? new Date(g.last * 1000).toLocaleTimeString() : "—";
          }
          boxEl.replaceChildren(table);
        }
      } catch (e) { /* the next poll tries again */ }
      setTimeout(poll, POLL_MS);
    }
    setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    drawEmbedded();
    const dataEl = document.getElementById("page-data");
    const cfg = dataEl ? JSON.parse(dataEl.textContent) : {};
    const page = document.body.getAttribute("data-page");
    if (page === "sweep") sweepPage(cfg);
    else if (page === "run") runPage(cfg);
    else if (page === "home") homePage();
  });
})();
