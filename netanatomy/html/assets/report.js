// netanatomy report: draws the embedded JSON document. Hand-written, no libraries, no network.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("netanatomy-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var state = { lang: D.lang || "en", model: 0, depth: null, sort: null, sel: null, batch: null, budget: "" };

  function t(key) { var m = D.messages[state.lang] || D.messages.en; return m[key] !== undefined ? m[key] : key; }

  // ---- numbers, written exactly as netanatomy/report/units.py writes them ----
  function fixed2(x) {
    // Python's format rounds an exact tie to even; toFixed rounds it up.
    var y = x * 100;
    if (Math.abs(y - Math.trunc(y)) === 0.5) { var n = Math.floor(y); if (n % 2 !== 0) n += 1; return (n / 100).toFixed(2); }
    return x.toFixed(2);
  }
  function count(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function si(n) {
    var steps = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < steps.length; i++) if (Math.abs(n) >= steps[i][0]) return fixed2(n / steps[i][0]) + steps[i][1];
    return n.toFixed(0);
  }
  function nbytes(n) {
    var steps = [[Math.pow(2, 40), "TiB"], [Math.pow(2, 30), "GiB"], [Math.pow(2, 20), "MiB"], [1024, "KiB"]];
    for (var i = 0; i < steps.length; i++) if (Math.abs(n) >= steps[i][0]) return fixed2(n / steps[i][0]) + " " + steps[i][1];
    return n.toFixed(0) + " B";
  }
  function shape(shapes) {
    if (!shapes || !shapes.length) return "\u2014";
    return shapes.map(function (s) { return s.length ? s.join("x") : "scalar"; }).join(", ");
  }

  // ---- DOM helpers ----
  function el(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null) {
      if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) { var c = arguments[i]; if (c === null || c === undefined) continue; e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    return e;
  }
  function sv(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null) { if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); }
    return e;
  }
  function L(key, tag) { return el(tag || "span", { "data-k": key, text: t(key) }); }
  function card(id, key, value, raw, small) {
    return el("div", { class: "card" }, L(key, "div"), el("div", { class: "v", id: id, "data-value": raw, text: value }), small ? el("div", { class: "small", text: small }) : null);
  }

  // ---- page ----
  function render() {
    var app = document.getElementById("app");
    var scrollY = window.scrollY;
    app.textContent = "";
    document.documentElement.lang = state.lang;
    var langBox = el("span", { class: "lang" }, L("language"), " ",
      el("button", { id: "lang-en", class: state.lang === "en" ? "on" : "", text: "English" }),
      " ", el("button", { id: "lang-ko", class: state.lang === "ko" ? "on" : "", text: "한국어" }));
    langBox.addEventListener("click", function (ev) {
      var id = ev.target && ev.target.id;
      if (id === "lang-en" || id === "lang-ko") { state.lang = id.slice(5); render(); }
    });
    if (D.kind === "run") {
      app.appendChild(el("header", { class: "top" }, el("h1", {}, L("run_page"), ": " + D.run.title), langBox));
      renderRun(app, D.run);
    } else {
      var many = D.models.length > 1;
      var title = D.models.map(function (m) { return m.name; }).join(", ");
      app.appendChild(el("header", { class: "top" }, el("h1", {}, L(many ? "compare_page" : "model_page"), ": " + title), langBox));
      if (many) renderCompare(app);
      renderModel(app, D.models[state.model]);
    }
    app.appendChild(el("p", { class: "muted" }, L(D.kind === "run" ? "generated_run" : "generated")));
    window.scrollTo(0, scrollY);
  }

  // ---- comparison ----
  function outputRF(m) {
    // The trunk's output field, as `netanatomy compare` computes it (analysis.models.output_field).
    return m.output_rf || "\u2014";
  }
  function compareRows() {
    // The rows of `netanatomy compare`, read from each model's summary document.
    var opt = D.models[0].optimizer;
    return [
      ["input", "Input", function (m) { return m.summary.input_sizes[0].join("x"); }, String],
      ["params", "Parameters", function (m) { return m.summary.totals.params; }, count],
      ["trainable", "Trainable", function (m) { return m.summary.totals.trainable_params; }, count],
      ["macs", "MACs", function (m) { return m.summary.totals.macs; }, si],
      ["flops", "FLOPs (2 x MACs)", function (m) { return m.summary.totals.flops; }, si],
      ["param_mem", "Parameter memory", function (m) { return m.summary.totals.param_bytes; }, nbytes],
      ["fwd_act", "Forward activations", function (m) { return m.summary.totals.forward_activation_bytes; }, nbytes],
      ["saved", "Saved for backward", function (m) { return m.summary.totals.saved_bytes; }, nbytes],
      ["train_mem", "Training memory (" + opt + ")", function (m) { return m.summary.totals.training_memory.total; }, nbytes],
      ["output_rf", "Output RF", function (m) { return outputRF(m); }, String]
    ];
  }
  function renderCompare(app) {
    app.appendChild(el("h2", {}, L("compare")));
    var head = el("tr", {}, el("th", {}));
    D.models.forEach(function (m) { head.appendChild(el("th", { text: m.name })); });
    var body = el("tbody");
    compareRows().forEach(function (row) {
      var tr = el("tr", { "data-row": row[1] }, el("td", {}, L(row[0] === "trainable" ? "trainable_row" : row[0])));
      if (row[0] === "train_mem") tr.firstChild.appendChild(document.createTextNode(" (" + D.models[0].optimizer + ")"));
      D.models.forEach(function (m) { var v = row[2](m); tr.appendChild(el("td", { class: "num", "data-model": m.name, "data-value": v, text: row[3](v) })); });
      body.appendChild(tr);
    });
    app.appendChild(el("div", { class: "panel" }, el("table", { class: "compare", id: "compare-table" }, el("thead", {}, head), body)));
    app.appendChild(el("h3", {}, L("scatter")));
    app.appendChild(el("div", { class: "panel" }, scatter()));
    var tabs = el("div", { class: "tabs" }, L("models"), ": ");
    D.models.forEach(function (m, i) {
      var b = el("button", { class: i === state.model ? "on tab" : "tab", "data-model": i, text: m.name });
      b.addEventListener("click", function () { state.model = i; state.sel = null; state.depth = null; state.sort = null; state.batch = null; render(); });
      tabs.appendChild(b);
    });
    app.appendChild(tabs);
  }
  function logTicks(lo, hi) {
    // 1, 2, 5 per decade when the range is under two decades, else the decades only
    var steps = Math.log10(hi / lo) < 2 ? [1, 2, 5] : [1], out = [];
    for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) steps.forEach(function (s) { out.push(s * Math.pow(10, e)); });
    return out;
  }
  function scatter() {
    var W = 720, H = 360, ml = 70, mr = 30, mt = 14, mb = 44;
    var svg = sv("svg", { class: "chart", id: "scatter", viewBox: "0 0 " + W + " " + H, width: "100%", style: "max-width:" + W + "px" });
    var xs = D.models.map(function (m) { return m.summary.totals.macs; }), ys = D.models.map(function (m) { return m.summary.totals.params; });
    var x0 = Math.min.apply(null, xs) / 3, x1 = Math.max.apply(null, xs) * 3, y0 = Math.min.apply(null, ys) / 3, y1 = Math.max.apply(null, ys) * 3;
    function X(v) { return ml + (Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) * (W - ml - mr); }
    function Y(v) { return H - mb - (Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) * (H - mt - mb); }
    logTicks(x0, x1).forEach(function (v) { if (v < x0 || v > x1) return; svg.appendChild(sv("line", { class: "grid", x1: X(v), x2: X(v), y1: mt, y2: H - mb })); svg.appendChild(sv("text", { x: X(v), y: H - mb + 14, "text-anchor": "middle", text: si(v) })); });
    logTicks(y0, y1).forEach(function (v) { if (v < y0 || v > y1) return; svg.appendChild(sv("line", { class: "grid", x1: ml, x2: W - mr, y1: Y(v), y2: Y(v) })); svg.appendChild(sv("text", { x: ml - 6, y: Y(v) + 4, "text-anchor": "end", text: si(v) })); });
    svg.appendChild(sv("text", { x: (W + ml) / 2, y: H - 8, "text-anchor": "middle", text: "MACs" }));
    svg.appendChild(sv("text", { x: 14, y: H / 2, transform: "rotate(-90 14 " + H / 2 + ")", "text-anchor": "middle", text: t("col_params") }));
    var mems = D.models.map(function (m) { return m.summary.totals.training_memory.total; });
    var mmax = Math.max.apply(null, mems);
    var colours = ["var(--accent)", "var(--accent2)", "var(--accent3)", "var(--accent4)", "var(--accent5)"];
    D.models.forEach(function (m, i) {
      var r = 6 + 24 * Math.sqrt(mems[i] / mmax);
      var c = sv("circle", { cx: X(xs[i]), cy: Y(ys[i]), r: r, fill: colours[i % colours.length], "fill-opacity": 0.45, stroke: colours[i % colours.length], "data-name": m.name, "data-macs": xs[i], "data-params": ys[i] });
      c.appendChild(sv("title", { text: m.name + ": " + count(ys[i]) + " params, " + si(xs[i]) + " MACs, " + nbytes(mems[i]) }));
      svg.appendChild(c);
      svg.appendChild(sv("text", { x: X(xs[i]) + r + 3, y: Y(ys[i]) + 4, text: m.name }));
    });
    return svg;
  }

  // ---- one model ----
  function layerByName(s) { var out = {}; s.layers.forEach(function (r) { out[r.name] = r; }); return out; }
  function maxDepth(s) { return s.layers.reduce(function (a, r) { return Math.max(a, r.depth); }, 0); }
  function visibleRows(s, depth) {
    // summary.visible_layers: rows to show at `depth` (null: all), folded rows stand for their subtree.
    var rows = [];
    s.layers.forEach(function (r) {
      if (r.depth === 0 && r.children.length) return;
      if (depth !== null && r.depth > depth) return;
      rows.push([r, (depth !== null && r.depth === depth) || !r.children.length]);
    });
    return rows;
  }
  var COLS = [
    { key: "col_layer", id: "layer" }, { key: "col_output", id: "output" },
    { key: "col_params", id: "params", num: true, bar: "--bar-params", get: function (r, f) { return f ? r.subtree_params : r.params; }, fmt: count },
    { key: "col_formula", id: "formula" },
    { key: "col_macs", id: "macs", num: true, bar: "--bar-macs", get: function (r, f) { return f ? r.macs : r.self_macs; }, fmt: si },
    { key: "col_act", id: "activations", num: true, bar: "--bar-act", get: function (r, f) { return f ? r.activation_bytes : r.self_activation_bytes; }, fmt: nbytes },
    { key: "col_saved", id: "saved", num: true, get: function (r, f) { return f ? r.saved_bytes : r.self_saved_bytes; }, fmt: nbytes },
    { key: "col_rf", id: "rf" }
  ];
  function formulaText(r, folded) {
    if (folded && r.children.length) return r.subtree_params ? "\u03a3 children" : "";
    if (r.shared_with.length) return "shared with " + r.shared_with.join(", ");
    return r.formula;
  }

  function renderModel(app, m) {
    var s = m.summary, T = s.totals, tm = T.training_memory;
    if (state.depth === null) state.depth = s.layers.length > 60 ? Math.min(2, maxDepth(s)) : -1;
    if (state.batch === null) state.batch = m.batch;
    var depth = state.depth < 0 ? null : state.depth;
    var sec = el("section", { id: "model", "data-model": m.name });
    app.appendChild(sec);
    sec.appendChild(el("h2", { text: m.name }));
    sec.appendChild(el("div", { class: "muted" }, L("input"), ": " + shape(s.input_sizes) + " " + s.input_dtypes.join("/") + ", " + s.mode + " ", L("mode")));
    // Headline cards: the totals of `summary --format json`, formatted as the table does.
    var rf = m.rf, lastRF = rf ? rf.layers.filter(function (l) { return l.name === rf.default; })[0] : null;
    var cards = el("div", { class: "cards" },
      card("card-params", "params", count(T.params), T.params, count(T.trainable_params) + " " + t("trainable")),
      card("card-macs", "macs", si(T.macs), T.macs, count(T.macs)),
      card("card-flops", "flops", si(T.flops), T.flops, count(T.flops)),
      card("card-fwd", "fwd_act", nbytes(T.forward_activation_bytes), T.forward_activation_bytes),
      card("card-saved", "saved", nbytes(T.saved_bytes), T.saved_bytes, s.mode),
      card("card-train", "train_mem", nbytes(tm.total), tm.total, t("at_batch") + " " + m.batch + ", " + m.optimizer),
      card("card-dtype", "dtype_opt", s.dtype + " · " + m.optimizer, null),
      lastRF ? card("card-rf", "rf_last", lastRF.short, lastRF.short, lastRF.name) : null);
    sec.appendChild(cards);
    sec.appendChild(el("div", { class: "hint" }, L("convention"), ": " + s.convention));
    renderWarnings(sec, m);
    // Layer table
    sec.appendChild(el("h2", {}, L("layers")));
    var controls = el("div", { class: "controls" }, L("depth"), " ");
    var sel = el("select", { id: "depth" });
    for (var d = 1; d <= maxDepth(s); d++) sel.appendChild(el("option", { value: d, text: String(d) }));
    sel.appendChild(el("option", { value: -1, text: t("all") }));
    sel.value = String(state.depth);
    sel.addEventListener("change", function () { state.depth = parseInt(sel.value, 10); render(); });
    controls.appendChild(sel);
    controls.appendChild(el("span", { class: "hint" }, L("table_hint")));
    sec.appendChild(controls);
    sec.appendChild(el("div", { class: "panel scroll", id: "table-box" }, layerTable(s, depth)));
    // Graph and receptive fields side by side
    var grid = el("div", { class: "grid2" });
    var left = el("div", {}, el("h2", {}, L("graph")), el("div", { class: "hint" }, L("graph_hint")));
    left.appendChild(graphBox(m, depth));
    grid.appendChild(left);
    var right = el("div", {}, el("h2", {}, L("rf")));
    if (rf) renderRF(right, m); else right.appendChild(el("p", { class: "muted" }, L("rf_not_spatial")));
    right.appendChild(el("h2", {}, L("memory")));
    renderMemory(right, m);
    grid.appendChild(right);
    sec.appendChild(grid);
    if (state.sel === null && rf) state.sel = rf.default;
    if (state.sel !== null) select(state.sel, false);
  }

  function renderWarnings(sec, m) {
    var s = m.summary, items = [];
    var unc = Object.keys(s.totals.uncounted_ops).map(function (k) { return k + " x" + s.totals.uncounted_ops[k]; });
    items.push(["w_uncounted", unc.length ? unc.join(", ") : t("none")]);
    if (m.rf) {
      items.push(["w_unaligned", m.rf.misalignments.length ? m.rf.misalignments.join("; ") : t("none")]);
      var unk = Object.keys(m.rf.unknown_ops);
      if (unk.length) items.push(["w_unknown", unk.map(function (k) { return m.rf.unknown_ops[k]; }).join("; ")]);
      var clipped = m.rf.layers.filter(function (l) { return l.clipping && l.clipping.some(function (c) { return c > 0; }); });
      items.push(["w_clipped", clipped.length ? clipped.length + ": " + clipped.slice(0, 8).map(function (l) { return l.name; }).join(", ") + (clipped.length > 8 ? ", \u2026" : "") : t("none")]);
    }
    var ul = el("ul", { class: "warn", id: "warnings" });
    items.forEach(function (it) { ul.appendChild(el("li", {}, L(it[0], "b"), ": " + it[1])); });
    sec.appendChild(el("details", { open: "" }, el("summary", {}, L("warnings")), ul));
  }

  function layerTable(s, depth) {
    var rows = visibleRows(s, depth);
    if (state.sort) {
      var col = COLS.filter(function (c) { return c.id === state.sort.col; })[0];
      rows = rows.slice().sort(function (a, b) { return (col.get(a[0], a[1]) - col.get(b[0], b[1])) * state.sort.dir; });
    }
    var max = {};
    COLS.forEach(function (c) { if (c.bar) max[c.id] = rows.reduce(function (a, r) { return Math.max(a, c.get(r[0], r[1])); }, 0); });
    var head = el("tr");
    COLS.forEach(function (c) {
      var th = el("th", { "data-col": c.id }, L(c.key));
      if (state.sort && state.sort.col === c.id) th.appendChild(document.createTextNode(state.sort.dir < 0 ? " \u25bc" : " \u25b2"));
      if (c.num) th.addEventListener("click", function () {
        // descending, ascending, then back to the model's order
        if (!state.sort || state.sort.col !== c.id) state.sort = { col: c.id, dir: -1 };
        else if (state.sort.dir < 0) state.sort.dir = 1; else state.sort = null;
        render();
      });
      head.appendChild(th);
    });
    var body = el("tbody");
    rows.forEach(function (pair) {
      var r = pair[0], folded = pair[1];
      var tr = el("tr", { "data-name": r.name, "data-folded": folded ? "1" : "0" });
      COLS.forEach(function (c) {
        var td;
        if (c.id === "layer") {
          var indent = state.sort ? 0 : Math.max(r.depth - 1, 0);
          td = el("td", { style: "padding-left:" + (6 + 14 * indent) + "px", title: r.name, text: (state.sort ? r.name : r.name.split(".").pop()) + " (" + r.type + ")" });
        } else if (c.id === "output") {
          td = el("td", { text: r.calls ? shape(r.output_shapes) : "not called" });
        } else if (c.id === "formula") {
          td = el("td", { class: "formula", text: formulaText(r, folded), title: r.formula_terms + (r.formula_note ? " \u2014 " + r.formula_note : "") });
        } else if (c.id === "rf") {
          td = el("td", { class: "num", text: r.receptive_field });
        } else {
          var v = c.get(r, folded);
          var text = c.id === "params" ? (v || !r.shared_params ? count(v) : "0") : (v ? c.fmt(v) : (r.calls === 0 ? "\u2014" : ""));
          if (c.id === "params" && r.shared_params && !folded) text += " (+" + count(r.shared_params) + " shared)";
          td = el("td", { class: "num" + (c.bar ? " bar" : ""), "data-col": c.id, "data-value": v });
          if (c.id === "params" && r.formula) td.title = r.formula_terms || r.formula;
          if (c.bar && max[c.id] > 0 && v > 0) td.appendChild(el("div", { class: "b", style: "width:" + (100 * v / max[c.id]).toFixed(2) + "%;background:var(" + c.bar + ")" }));
          td.appendChild(el("span", { text: text }));
        }
        tr.appendChild(td);
      });
      tr.addEventListener("click", function () { select(r.name, true); });
      body.appendChild(tr);
    });
    return el("table", { class: "layers", id: "layer-table" }, el("thead", {}, head), body);
  }

  // ---- graph ----
  var currentView = null;
  function pickView(m, depth) {
    var views = m.graph, best = views[views.length - 1];
    if (depth === null) return best;
    for (var i = 0; i < views.length; i++) if (views[i].depth !== null && views[i].depth <= depth) best = views[i];
    if (views[0].depth !== null && views[0].depth > depth) best = views[0];
    return best;
  }
  function graphBox(m, depth) {
    var view = pickView(m, depth);
    currentView = view;
    var box = el("div", { class: "graph", id: "graph" });
    box.innerHTML = view.svg;
    box.addEventListener("click", function (ev) {
      var g = ev.target.closest ? ev.target.closest("g.node") : null;
      if (g) { if (view.rows[g.id]) select(view.rows[g.id], true); return; }
      var c = ev.target.closest ? ev.target.closest("g.cluster") : null;
      var title = c ? c.querySelector("title") : null;
      if (title && title.textContent.indexOf("cluster_") === 0) {
        var label = c.querySelector("text");
        if (label) select(label.textContent, true);  // the container's path is its label
      }
    });
    return box;
  }
  function nodeFor(name) {
    if (!currentView) return null;
    for (var k in currentView.rows) if (currentView.rows[k] === name) return k;
    // a row hidden in the graph's fold: its nearest drawn ancestor
    var parts = name.split(".");
    while (parts.length > 1) { parts.pop(); var p = parts.join("."); for (var k2 in currentView.rows) if (currentView.rows[k2] === p) return k2; }
    return null;
  }

  // ---- selection: table row, graph node, receptive-field box ----
  function select(name, scroll) {
    state.sel = name;
    document.querySelectorAll("#layer-table tr.sel").forEach(function (tr) { tr.classList.remove("sel"); });
    var tr = document.querySelector('#layer-table tr[data-name="' + CSS.escape(name) + '"]');
    if (tr) { tr.classList.add("sel"); if (scroll) scrollInto(document.getElementById("table-box"), tr); }
    document.querySelectorAll("#graph g.sel").forEach(function (g) { g.classList.remove("sel"); });
    // A drawn container (its children shown) is a cluster box; otherwise the node, or its drawn ancestor.
    var cluster = document.getElementById("k" + name.replace(/[^A-Za-z0-9_]/g, "_"));
    var key = cluster ? null : nodeFor(name), g = cluster || (key ? document.getElementById(key) : null);
    if (g) { g.classList.add("sel"); if (scroll) scrollGraph(g); }
    document.querySelectorAll("#rf-chart circle.sel").forEach(function (c) { c.classList.remove("sel"); });
    var dot = document.querySelector('#rf-chart circle[data-name="' + CSS.escape(name) + '"]');
    if (dot) dot.classList.add("sel");
    drawBox();
  }
  function scrollInto(box, row) {
    if (!box) return;
    var top = row.offsetTop - box.clientHeight / 2;
    box.scrollTop = Math.max(0, top);
  }
  function scrollGraph(g) {
    var box = document.getElementById("graph");
    var r = g.getBoundingClientRect(), b = box.getBoundingClientRect();
    box.scrollTop += (r.top + r.height / 2) - (b.top + b.height / 2);
    box.scrollLeft += (r.left + r.width / 2) - (b.left + b.width / 2);
  }

  // ---- receptive fields ----
  function renderRF(right, m) {
    var rf = m.rf;
    right.appendChild(el("div", { class: "hint" }, L("rf_chart")));
    right.appendChild(el("div", { class: "panel" }, rfChart(rf)));
    right.appendChild(el("h3", {}, L("rf_box")));
    right.appendChild(el("div", { class: "hint" }, L("rf_clip_note")));
    right.appendChild(el("div", { class: "panel", id: "rf-panel" }, el("div", { id: "rf-text" }), el("div", { id: "rf-pics", style: "display:flex;gap:10px;flex-wrap:wrap" })));
  }
  function rfChart(rf) {
    // The trunk: leaf layers in the order they finish, keeping those whose field and jump are at
    // least the largest so far (a shortcut's 1x1 convolution or an Inception branch runs beside it).
    var leaves = rf.layers.filter(function (l) { return l.size; })
      .filter(function (l) { return !rf.layers.some(function (o) { return o.name.indexOf(l.name + ".") === 0; }); })
      .sort(function (a, b) { return a.order - b.order; });
    var pts = [], best = 0, bestJump = 0;
    leaves.forEach(function (l) {
      if (l.size[0] >= best && l.jump[0] >= bestJump) { pts.push(l); best = l.size[0]; bestJump = l.jump[0]; }
    });
    var W = 640, H = 220, ml = 46, mr = 12, mt = 10, mb = 30;
    var svg = sv("svg", { class: "chart", id: "rf-chart", viewBox: "0 0 " + W + " " + H, width: "100%" });
    if (!pts.length) return svg;
    var rmax = Math.max.apply(null, pts.map(function (p) { return Math.max(p.size[0], p.jump[0]); }));
    var top = Math.pow(2, Math.ceil(Math.log2(Math.max(rmax, 2))));
    function X(i) { return ml + (pts.length === 1 ? 0 : i / (pts.length - 1)) * (W - ml - mr); }
    function Y(v) { return H - mb - Math.log2(Math.max(v, 1)) / Math.log2(top) * (H - mt - mb); }
    for (var v = 1; v <= top; v *= 4) { svg.appendChild(sv("line", { class: "grid", x1: ml, x2: W - mr, y1: Y(v), y2: Y(v) })); svg.appendChild(sv("text", { x: ml - 5, y: Y(v) + 4, "text-anchor": "end", text: String(v) })); }
    pts.forEach(function (p, i) {
      if (i && p.jump[0] !== pts[i - 1].jump[0]) {
        var x = (X(i) + X(i - 1)) / 2;
        var ln = sv("line", { class: "axis", x1: x, x2: x, y1: mt, y2: H - mb, "stroke-dasharray": "3 3" });
        ln.appendChild(sv("title", { text: p.name + ": jump " + pts[i - 1].jump[0] + " \u2192 " + p.jump[0] }));
        svg.appendChild(ln);
      }
    });
    [["size", "var(--accent)", "r"], ["jump", "var(--accent2)", "j"]].forEach(function (spec) {
      var d = pts.map(function (p, i) { return (i ? "L" : "M") + X(i).toFixed(1) + "," + Y(p[spec[0]][0]).toFixed(1); }).join("");
      svg.appendChild(sv("path", { d: d, fill: "none", stroke: spec[1], "stroke-width": 2 }));
      var last = pts[pts.length - 1];
      svg.appendChild(sv("text", { x: X(pts.length - 1) - 4, y: Y(last[spec[0]][0]) - 6, "text-anchor": "end", fill: spec[1], text: spec[2] + " = " + last[spec[0]][0] }));
    });
    pts.forEach(function (p, i) {
      var c = sv("circle", { cx: X(i), cy: Y(p.size[0]), r: 3, fill: "var(--accent)", "data-name": p.name, style: "cursor:pointer" });
      c.appendChild(sv("title", { text: p.name + " (" + p.type + "): r = " + p.size.join("x") + ", j = " + p.jump.join("x") }));
      c.addEventListener("click", function () { select(p.name, true); });
      svg.appendChild(c);
    });
    svg.appendChild(sv("text", { x: (W + ml) / 2, y: H - 8, "text-anchor": "middle", text: t("rf_axis") }));
    return svg;
  }
  function rfFor(name) {
    var m = D.models ? D.models[state.model] : null;
    if (!m || !m.rf) return null;
    return m.rf.layers.filter(function (l) { return l.name === name; })[0] || null;
  }
  function drawBox() {
    var text = document.getElementById("rf-text"), pics = document.getElementById("rf-pics");
    if (!text) return;
    var m = D.models[state.model], l = rfFor(state.sel);
    text.textContent = ""; pics.textContent = "";
    text.appendChild(el("b", {}, L("selected"), ": " + (state.sel || "")));
    if (!l || !l.size) { text.appendChild(el("div", { class: "muted" }, (l ? "RF " + l.short + " \u2014 " : ""), L("rf_none"))); return; }
    var H = m.rf.input[0], W = m.rf.input[1];
    var b = l.box, c = l.clipped_box;
    text.appendChild(el("div", { id: "rf-desc", text: "r = " + l.size.join("x") + ", j = " + l.jump.join("x") + ", P = " + l.padding.join("x") + "; " + t("unit") + " (" + l.unit.join(", ") + "): rows " + b[0][0] + "\u2026" + b[0][1] + ", columns " + b[1][0] + "\u2026" + b[1][1] }));
    var x0 = Math.min(0, b[1][0]), y0 = Math.min(0, b[0][0]), x1 = Math.max(W, b[1][1] + 1), y1 = Math.max(H, b[0][1] + 1);
    var pad = Math.max(W, H) * 0.02;
    var svg = sv("svg", { id: "rf-box", viewBox: [x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad].join(" "), width: 300, height: 300 * (y1 - y0 + 2 * pad) / (x1 - x0 + 2 * pad) });
    var defs = sv("defs");
    var pat = sv("pattern", { id: "hatch", patternUnits: "userSpaceOnUse", width: Math.max(W / 40, 2), height: Math.max(W / 40, 2), patternTransform: "rotate(45)" });
    pat.appendChild(sv("line", { x1: 0, y1: 0, x2: 0, y2: Math.max(W / 40, 2), stroke: "var(--accent2)", "stroke-width": Math.max(W / 120, 0.5) }));
    defs.appendChild(pat); svg.appendChild(defs);
    svg.appendChild(sv("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: "var(--panel)" }));
    if (m.photo) svg.appendChild(sv("image", { href: m.photo, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none" }));
    function rectPath(x, y, w, h) { return "M" + x + "," + y + "h" + w + "v" + h + "h" + (-w) + "z"; }
    var bx = b[1][0], by = b[0][0], bw = b[1][1] - b[1][0] + 1, bh = b[0][1] - b[0][0] + 1;
    var cx = c[1][0], cy = c[0][0], cw = c[1][1] - c[1][0] + 1, ch = c[0][1] - c[0][0] + 1;
    // Dim the photograph outside what the unit sees (pixel i covers [i, i+1)).
    svg.appendChild(sv("path", { d: rectPath(0, 0, W, H) + rectPath(cx, cy, cw, ch), "fill-rule": "evenodd", fill: "#000", "fill-opacity": 0.45 }));
    // Hatch the part of the field that lies outside the input (the padding it sees).
    var clip = sv("clipPath", { id: "outside" });
    clip.appendChild(sv("path", { d: rectPath(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad) + rectPath(0, 0, W, H), "clip-rule": "evenodd" }));
    defs.appendChild(clip);
    svg.appendChild(sv("rect", { x: bx, y: by, width: bw, height: bh, fill: "url(#hatch)", "clip-path": "url(#outside)" }));
    svg.appendChild(sv("rect", { id: "rf-rect", x: bx, y: by, width: bw, height: bh, fill: "none", stroke: "var(--accent2)", "stroke-width": Math.max(W / 150, 0.4), "stroke-dasharray": (W / 60) + " " + (W / 90), "data-r0": b[0][0], "data-r1": b[0][1], "data-c0": b[1][0], "data-c1": b[1][1] }));
    svg.appendChild(sv("rect", { id: "rf-seen", x: cx, y: cy, width: cw, height: ch, fill: "none", stroke: "var(--accent)", "stroke-width": Math.max(W / 100, 0.6), "data-r0": c[0][0], "data-r1": c[0][1], "data-c0": c[1][0], "data-c1": c[1][1] }));
    // The photo itself is framed, so the input's edge is visible against the overflow.
    svg.appendChild(sv("rect", { x: 0, y: 0, width: W, height: H, fill: "none", stroke: "var(--fg)", "stroke-width": Math.max(W / 200, 0.3) }));
    pics.appendChild(svg);
    if (m.erf) {  // computed for one layer (the last with a local field): shown beside any selection
      var e = sv("svg", { id: "erf", viewBox: "0 0 " + W + " " + H, width: 300 * W / Math.max(W, H) });
      e.appendChild(sv("image", { href: m.erf.png, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none" }));
      e.appendChild(sv("circle", { cx: m.erf.centre[1] + 0.5, cy: m.erf.centre[0] + 0.5, r: m.erf.radius_95, fill: "none", stroke: "#fff", "stroke-width": Math.max(W / 150, 0.4) }));
      pics.appendChild(el("div", { style: "max-width:300px" }, e, el("div", { class: "hint" }, L("erf"), " \u2014 " + m.erf.layer + ", " + t("unit") + " (" + m.erf.unit.join(", ") + "); 95%: r = " + m.erf.radius_95.toFixed(1) + " px")));
    }
  }

  // ---- memory: recomputed in the page from the per-sample slope ----
  function memoryAt(m, batch) {
    var T = m.summary.totals, tm = T.training_memory, dn = batch - m.batch;
    var optKey = Object.keys(tm).filter(function (k) { return k.indexOf("optimizer state") === 0; })[0];
    var parts = [["m_parameters", tm.parameters, "var(--accent4)"], ["m_buffers", tm.buffers, "var(--accent5)"],
      ["m_gradients", tm.gradients, "var(--accent3)"], ["m_optimizer", tm[optKey], "var(--accent)"],
      ["m_saved", tm["saved activations"] + dn * m.per_sample.saved_bytes, "var(--accent2)"]];
    var total = parts.reduce(function (a, p) { return a + p[1]; }, 0);
    return { parts: parts, total: total, fwd: T.forward_activation_bytes + dn * m.per_sample.forward_activation_bytes };
  }
  function parseSize(text) {
    var mt = /^\s*([0-9]*\.?[0-9]+)\s*([KMGT]?i?B?)?\s*$/i.exec(text || "");
    if (!mt) return null;
    var unit = (mt[2] || "GiB").toUpperCase(), v = parseFloat(mt[1]);
    var bin = { K: 10, M: 20, G: 30, T: 40 }, dec = { K: 3, M: 6, G: 9, T: 12 };
    var p = unit.charAt(0);
    if (unit === "B") return v;
    if (!(p in bin)) return null;
    return unit.indexOf("I") === 1 || unit.length === 1 ? v * Math.pow(2, bin[p]) : v * Math.pow(10, dec[p]);
  }
  function largestBatch(m, budget) {
    var fixed = memoryAt(m, 0).total, slope = m.per_sample.saved_bytes;
    if (fixed + slope > budget) return 0;
    if (slope <= 0) return Infinity;
    return Math.floor((budget - fixed) / slope);
  }
  function renderMemory(right, m) {
    var batch = el("input", { id: "batch", type: "number", min: 1, step: 1, value: state.batch, style: "width:90px" });
    var budget = el("input", { id: "budget", type: "text", value: state.budget, placeholder: "16 GiB", style: "width:110px" });
    right.appendChild(el("div", { class: "controls" }, el("label", {}, L("batch"), " ", batch), el("label", {}, L("budget"), " ", budget)));
    var out = el("div", { id: "mem-out" });
    right.appendChild(el("div", { class: "panel" }, out));
    function update() {
      var b = parseInt(batch.value, 10);
      if (!(b >= 1)) b = 1;
      state.batch = b; state.budget = budget.value;
      var mem = memoryAt(m, b);
      out.textContent = "";
      var W = 600, bar = sv("svg", { id: "mem-bar", viewBox: "0 0 " + W + " 26", width: "100%" }), x = 0;
      var legend = el("div", { class: "legend" });
      mem.parts.forEach(function (p) {
        var w = mem.total > 0 ? W * p[1] / mem.total : 0;
        var r = sv("rect", { x: x, y: 2, width: w, height: 22, fill: p[2] });
        r.appendChild(sv("title", { text: t(p[0]) + ": " + nbytes(p[1]) }));
        bar.appendChild(r); x += w;
        legend.appendChild(el("span", {}, el("i", { style: "background:" + p[2] }), L(p[0]), " ", el("b", { id: "mem-" + p[0].slice(2), "data-value": p[1], text: nbytes(p[1]) })));
      });
      out.appendChild(bar);
      out.appendChild(legend);
      out.appendChild(el("div", {}, L("m_total"), " (" + t("at_batch") + " " + b + "): ", el("b", { id: "mem-total", "data-value": mem.total, text: nbytes(mem.total) }),
        " · ", L("fwd_act"), ": ", el("b", { id: "mem-fwd", "data-value": mem.fwd, text: nbytes(mem.fwd) })));
      var fits = el("div", { id: "fits" });
      if (budget.value.trim()) {
        var size = parseSize(budget.value);
        if (size === null) fits.appendChild(L("bad_size"));
        else {
          var n = largestBatch(m, size);
          fits.appendChild(L("fits")); fits.appendChild(document.createTextNode(" (" + nbytes(size) + "): "));
          fits.appendChild(n >= 1 ? el("b", { id: "fits-batch", "data-value": n, text: n === Infinity ? "\u221e" : count(n) }) : L("nofit", "b"));
        }
      }
      out.appendChild(fits);
    }
    batch.addEventListener("input", update);
    budget.addEventListener("input", update);
    update();
  }

  // ---- training runs ----
  function lineChart(id, series, xlabel, ylabel, logY) {
    var W = 640, H = 240, ml = 56, mr = 12, mt = 12, mb = 34;
    var svg = sv("svg", { class: "chart", id: id, viewBox: "0 0 " + W + " " + H, width: "100%" });
    var xs = [], ys = [];
    series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    if (!xs.length) return svg;
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (logY) { y0 = Math.log10(Math.max(y0, 1e-12)); y1 = Math.log10(Math.max(y1, 1e-12)); }
    if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y1 = y0 + 1; }
    var padY = (y1 - y0) * 0.05; y0 -= padY; y1 += padY;
    function X(v) { return ml + (v - x0) / (x1 - x0) * (W - ml - mr); }
    function Y(v) { if (logY) v = Math.log10(Math.max(v, 1e-12)); return H - mb - (v - y0) / (y1 - y0) * (H - mt - mb); }
    for (var i = 0; i <= 4; i++) {
      var yv = y0 + (y1 - y0) * i / 4, yy = H - mb - (H - mt - mb) * i / 4, label = logY ? Math.pow(10, yv).toPrecision(2) : yv.toPrecision(3);
      svg.appendChild(sv("line", { class: "grid", x1: ml, x2: W - mr, y1: yy, y2: yy }));
      svg.appendChild(sv("text", { x: ml - 5, y: yy + 4, "text-anchor": "end", text: label }));
      var xv = x0 + (x1 - x0) * i / 4;
      svg.appendChild(sv("text", { x: X(xv), y: H - mb + 14, "text-anchor": "middle", text: String(Math.round(xv * 100) / 100) }));
    }
    svg.appendChild(sv("text", { x: (W + ml) / 2, y: H - 6, "text-anchor": "middle", text: xlabel }));
    svg.appendChild(sv("text", { x: 12, y: H / 2, transform: "rotate(-90 12 " + H / 2 + ")", "text-anchor": "middle", text: ylabel }));
    var colours = ["var(--accent)", "var(--accent2)", "var(--accent3)", "var(--accent4)"];
    series.forEach(function (s, k) {
      var d = s.points.map(function (p, i) { return (i ? "L" : "M") + X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1); }).join("");
      svg.appendChild(sv("path", { d: d, fill: "none", stroke: colours[k % 4], "stroke-width": 2, "data-series": s.name, "data-n": s.points.length }));
      svg.appendChild(sv("text", { x: W - mr - 4, y: mt + 12 + 14 * k, "text-anchor": "end", fill: colours[k % 4], text: s.label }));
    });
    return svg;
  }
  function renderRun(app, run) {
    app.appendChild(el("div", { class: "muted", text: run.dir }));
    if (run.config) {
      var cfg = el("table", { class: "compare", id: "run-config" });
      Object.keys(run.config).forEach(function (k) { cfg.appendChild(el("tr", {}, el("td", { text: k }), el("td", { text: String(run.config[k]) }))); });
      app.appendChild(el("details", {}, el("summary", {}, L("config")), cfg));
    }
    if (run.charts && run.charts.length) {
      app.appendChild(el("h2", {}, L("curves")));
      var grid = el("div", { class: "grid2" });
      run.charts.forEach(function (c) {
        var series = c.series.map(function (s) { return { name: s.name, label: t(s.label_key) + (s.suffix || ""), points: s.points }; });
        grid.appendChild(el("div", { class: "panel" }, el("h3", {}, L(c.title_key)), lineChart("chart-" + c.id, series, t(run.x_key), t(c.title_key), !!c.log)));
      });
      app.appendChild(grid);
    }
    if (run.confusion) {
      app.appendChild(el("h2", {}, L("confusion")));
      var cm = run.confusion, maxv = 1;
      cm.matrix.forEach(function (row) { row.forEach(function (v) { maxv = Math.max(maxv, v); }); });
      var tbl = el("table", { class: "confusion", id: "confusion" });
      var hr = el("tr", {}, el("td", {}));
      cm.classes.forEach(function (c) { hr.appendChild(el("td", { text: c })); });
      tbl.appendChild(hr);
      cm.matrix.forEach(function (row, i) {
        var tr = el("tr", {}, el("td", { text: cm.classes[i] }));
        row.forEach(function (v, j) {
          var a = v / maxv;
          tr.appendChild(el("td", { "data-value": v, style: "background:" + (i === j ? "rgba(43,138,62," : "rgba(217,72,15,") + (v ? 0.15 + 0.85 * a : 0).toFixed(3) + ")", text: v ? String(v) : "" }));
        });
        tbl.appendChild(tr);
      });
      app.appendChild(el("div", { class: "panel", style: "overflow:auto" }, tbl));
    }
    if (run.misclassified && run.misclassified.length) {
      app.appendChild(el("h2", {}, L("misclassified")));
      var th = el("div", { class: "thumbs", id: "misclassified" });
      run.misclassified.forEach(function (x) {
        var guesses = x.top3.map(function (g) { return g[0] + " " + (100 * g[1]).toFixed(1) + "%"; });
        th.appendChild(el("div", { class: "thumb" }, el("img", { src: x.image, alt: x.true }), el("div", {}, L("true"), ": " + x.true), el("div", { class: "muted", text: guesses.join(", ") })));
      });
      app.appendChild(th);
    }
    if (run.experiments && run.experiments.length) {
      run.experiments.forEach(function (x) {
        app.appendChild(el("h2", {}, L("experiment"), ": " + x.name));
        var md = el("div", { class: "panel md" });
        md.innerHTML = x.html;
        app.appendChild(md);
        x.figures.forEach(function (f) { app.appendChild(el("img", { class: "figure", src: f, alt: x.name })); });
      });
    }
    if (run.samples && run.samples.length) {
      app.appendChild(el("h2", {}, L("samples")));
      run.samples.forEach(function (s) {
        var head = el("h3", { class: "temperature" }, L("temperature"), " " + s.temperature);
        if (s.entropy_bits !== undefined) {
          head.appendChild(document.createTextNode(" — "));
          head.appendChild(L("entropy"));
          head.appendChild(document.createTextNode(" " + s.entropy_bits.toFixed(2) + " "));
          head.appendChild(L("bits_per_char"));
        }
        app.appendChild(head);
        app.appendChild(el("pre", { class: "sample", text: s.text }));
      });
    }
    if (run.samples_over_training && run.samples_over_training.length) {
      app.appendChild(el("h2", {}, L("samples_over_training")));
      run.samples_over_training.forEach(function (s) {
        app.appendChild(el("h3", {}, L("step") + " " + s.step));
        app.appendChild(el("pre", { class: "sample", text: s.text }));
      });
    }
  }

  render();
  // When the page became interactive, in ms since navigation (read by bench/report_size_time.py).
  window.netanatomyReady = performance.now();
})();
