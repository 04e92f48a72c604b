// dnnconf report pages: draws the JSON island #dnnconf-data with uPlot. No network, no server.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dnnconf-data").textContent);
  var hashLang = (location.hash || "").replace("#", "");
  var lang = data.strings.run_report[hashLang] ? hashLang : data.lang;
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
  var FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", ' +
             '"WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", sans-serif';
  var WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];
  var plots = [];
  var refreshTimer = null;

  function t(key) {
    var entry = data.strings[key];
    return entry ? entry[lang] : key;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  function status() {
    if (data.status !== "running") return data.status;
    var age = Date.now() / 1000 - data.updated;
    return age > data.stale_after ? "stalled" : "running";
  }

  function scheduleRefresh(box) {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = null;
    if (status() === "running" && box && box.checked) {
      refreshTimer = setTimeout(function () { location.reload(); }, data.refresh_seconds * 1000);
    }
  }

  function header() {
    var state = status();
    var badge = state ? el("span", {"class": "badge " + state}, [t(state)]) : el("span", {}, []);
    var langButton = el("button", {"type": "button", "id": "lang"}, [t("language")]);
    langButton.onclick = function () {
      lang = lang === "en" ? "zh" : "en";
      history.replaceState(null, "", "#" + lang);
      draw();
    };
    var tools = [langButton];
    if (state === "running") {
      var box = el("input", {"type": "checkbox", "id": "auto-refresh"});
      box.checked = window.__dnnconfRefresh !== false;
      box.onchange = function () { window.__dnnconfRefresh = box.checked; scheduleRefresh(box); };
      tools.unshift(el("label", {}, [box, " " + t("auto_refresh")]));
      setTimeout(function () { scheduleRefresh(box); }, 0);
    }
    return el("header", {}, [
      el("div", {}, [el("h1", {}, [data.title]), el("p", {"class": "kind"}, [t(data.kind_title)]), badge]),
      el("div", {"class": "tools"}, tools)
    ]);
  }

  function table(columns, rows, cls) {
    var head = el("tr", {}, columns.map(function (c) { return el("th", {}, [t(c)]); }));
    var body = rows.map(function (r) {
      return el("tr", {}, r.map(function (v) { return el("td", {}, [v === null ? "" : String(v)]); }));
    });
    return el("table", {"class": cls || ""}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  function summary() {
    var rows = data.summary.map(function (pair) {
      return [t(pair[0]), pair[0] === "status" ? t(pair[1]) : pair[1]];
    });
    var card = el("section", {"class": "card summary"}, [el("h2", {}, [t("summary")])]);
    var dl = el("dl");
    rows.forEach(function (r) { dl.appendChild(el("dt", {}, [r[0]])); dl.appendChild(el("dd", {}, [r[1]])); });
    card.appendChild(dl);
    return card;
  }

  function number(v) {  // tick labels: the value itself, not one rounded to the tick spacing's digits
    if (v === null || v === undefined) return "";
    if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(1);
    return String(Number(v.toPrecision(4)));
  }

  function linearRange(u, min, max) {  // a flat curve (a fixed momentum) gets a band around its value
    if (min === max) {
      var pad = Math.abs(min) * 0.1 || 1;
      return [min - pad, max + pad];
    }
    return uPlot.rangeNum(min, max, 0.1, true);
  }

  function chart(spec, index) {
    var holder = el("div", {"class": "plot", "id": "chart-" + spec.id});
    var card = el("section", {"class": "card chart"}, [el("h2", {}, [t(spec.title)]), holder]);
    if (!spec.x.length) {
      holder.appendChild(el("p", {"class": "empty"}, [t("no_data")]));
      return card;
    }
    var series = [{label: t(spec.x_label)}];
    var columns = [spec.x];
    var bands = [];
    var hidden = [];
    spec.series.forEach(function (s, i) {
      var color = PALETTE[(s.color === undefined ? i : s.color) % PALETTE.length];
      var name = s.raw ? s.label : t(s.label);
      var line = {label: name, stroke: color, width: 1.8, spanGaps: true,
                  points: {show: !s.stepped && spec.x.length <= 60, size: 4}};
      if (s.dash) line.dash = [6, 4];
      if (s.stepped) line.paths = uPlot.paths.stepped({align: 1});
      series.push(line);
      columns.push(s.values);
      if (s.band) {
        var mean = columns.length - 1;
        [s.band[1], s.band[0]].forEach(function (values) {
          series.push({label: name + " ±σ", stroke: alpha(color, 0.35), width: 0.5, spanGaps: true,
                       points: {show: false}});
          columns.push(values);
          hidden.push(columns.length - 1);
        });
        bands.push({series: [mean + 1, mean + 2], fill: alpha(color, 0.15)});
      }
    });
    var yAxis = {font: FONT, labelFont: FONT, size: 64, values: function (u, splits) {
      return splits.map(number);
    }};
    var options = {
      width: 400, height: 260, legend: {live: true},
      scales: {x: {time: false}, y: spec.log ? {distr: 3} : {range: linearRange}},
      axes: [{label: t(spec.x_label), font: FONT, labelFont: FONT, incrs: WHOLE}, yAxis],
      series: series, bands: bands,
      cursor: {drag: {x: true, y: false}},
      hooks: {setSelect: [function () {  // a zoomed view should not be reset by the next reload
        var box = document.getElementById("auto-refresh");
        if (box && box.checked) { box.checked = false; window.__dnnconfRefresh = false; scheduleRefresh(box); }
      }]}
    };
    setTimeout(function () {
      options.width = Math.max(holder.clientWidth, 280);
      var plot = new uPlot(options, columns, holder);
      var rows = holder.querySelectorAll(".u-legend tr.u-series");
      hidden.forEach(function (i) { if (rows[i]) rows[i].style.display = "none"; });
      plots.push({plot: plot, holder: holder});
    }, 0);
    return card;
  }

  function draw() {
    plots.forEach(function (p) { p.plot.destroy(); });
    plots = [];
    document.documentElement.lang = lang;
    document.title = data.title + " · " + t(data.kind_title);
    var page = document.getElementById("page");
    page.innerHTML = "";
    page.appendChild(header());
    var top = el("div", {"class": "grid"}, [summary()]);
    if (data.note) top.firstChild.appendChild(el("p", {"class": "note"}, [t(data.note)]));
    page.appendChild(top);
    var charts = el("div", {"class": "grid charts"}, data.charts.map(chart));
    page.appendChild(charts);
    page.appendChild(el("p", {"class": "hint"}, [t("zoom_hint")]));
    (data.tables || []).forEach(function (spec) {
      var card = el("section", {"class": "card wide"}, [el("h2", {}, [t(spec.title)])]);
      card.appendChild(spec.rows.length ? table(spec.columns, spec.rows, "data") :
                       el("p", {}, [t(spec.empty || "no_data")]));
      page.appendChild(card);
    });
    if (data.config) {
      var details = el("details", {"class": "card wide"}, [el("summary", {}, [t("config")]),
                                                           el("pre", {}, [data.config])]);
      page.appendChild(details);
    }
  }

  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p.plot.setSize({width: Math.max(p.holder.clientWidth, 280), height: 260}); });
  });
  draw();
})();
