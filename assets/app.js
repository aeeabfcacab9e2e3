/* bedrock-usage-site: sortable tables, the price filter and the charts.
   Reads the page's data from <script type="application/json" id="chart-data">; no inline code,
   so the site runs under a strict Content-Security-Policy. */
(function () {
  "use strict";

  /* Only for names the page's data gives no colour (the build assigns one per name: the same everywhere). */
  var PALETTE = ["#3b75d9", "#d4711a", "#8a5cd6", "#2e9e5b", "#d14f9a", "#a88a1c", "#6b7a99", "#d64545", "#1a9ba8",
                 "#9c6b43"];  /* charts.PALETTE */

  /* ---------- tables ---------- */

  function sortKey(row, index) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-sort");
    if (raw !== null && raw !== "" && !isNaN(Number(raw))) return Number(raw);
    return (raw !== null ? raw : cell.textContent).trim().toLowerCase();
  }

  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function sortTable(table, header, index) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.length > 0 && typeof sortKey(rows[0], index) === "number";
    var current = header.getAttribute("aria-sort");
    var direction = current ? (current === "ascending" ? "descending" : "ascending")
                            : (numeric ? "descending" : "ascending");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", direction);
    var sign = direction === "ascending" ? 1 : -1;
    rows.sort(function (r1, r2) { return sign * compare(sortKey(r1, index), sortKey(r2, index)); });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortTable(table, th, index); });
    });
  }

  /* The price filter: every price table at once; the captions count what shows, and a search opens the
     folded "all other prices" so a match there is never hidden. */
  function bindFilter(input, tables, folded) {
    input.addEventListener("input", function () {
      var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      tables.forEach(function (table) {
        var shown = 0;
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var text = row.textContent.toLowerCase();
          var show = terms.every(function (t) { return text.indexOf(t) !== -1; });
          row.classList.toggle("hidden", !show);
          if (show) shown += 1;
        });
        var caption = table.caption;
        if (caption) {
          if (!caption.hasAttribute("data-label")) caption.setAttribute("data-label", caption.textContent);
          var total = caption.getAttribute("data-total");
          caption.textContent = terms.length ? shown + " of " + total + " prices match" : caption.getAttribute("data-label");
        }
      });
      if (folded && terms.length) folded.open = true;
    });
  }

  /* ---------- charts ---------- */

  var OTHER_COLOR = "#9aa4b0";
  var compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  function money(v) {
    return "$" + Number(v).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function count(v) { return Number(v).toLocaleString(); }

  /* Axis ticks: 5M and $1.2k, never 5,000,000; counts only on whole numbers. */
  function compactMoney(v) { return Math.abs(v) >= 1000 ? "$" + compactFormat.format(v) : money(v); }
  function compactCount(v) { return Number.isInteger(v) ? compactFormat.format(v) : ""; }

  /* A bar label fits the axis; the tooltip and the accessible name keep the whole name. */
  function shortLabel(text) { text = String(text); return text.length > 18 ? text.slice(0, 17) + "…" : text; }

  function colorOf(data, label, i) {
    if (label === "other") return data.other_color || OTHER_COLOR;
    return (data.colors && data.colors[label]) || PALETTE[i % PALETTE.length];
  }

  function lighter(hex) { return hex + "66"; }  /* a partial day's bar: the colour at 40% */

  function colored(data, datasets, partial) {
    return (datasets || []).map(function (d, i) {  /* a page draws only the charts it has */
      var color = colorOf(data, d.label, i);
      /* scriptable: a bar on a partial day is lighter; the legend takes the full colour (see legendLabels) */
      var fill = partial && partial.length ? function (ctx) { return partial.indexOf(ctx.dataIndex) >= 0 ? lighter(color) : color; } : color;
      return Object.assign({}, d, { backgroundColor: fill, borderColor: color, borderWidth: 0 });
    });
  }

  /* Chart.js styles a bar chart's legend box as the dataset's first bar: lighter when the first day is partial.
     The swatch takes the dataset's full colour (its border colour) instead, so it always matches the bars. */
  function legendLabels(chart) {
    return window.Chart.defaults.plugins.legend.labels.generateLabels(chart).map(function (item) {
      var dataset = chart.data.datasets[item.datasetIndex];
      if (dataset && typeof dataset.borderColor === "string") item.fillStyle = dataset.borderColor;
      return item;
    });
  }

  function stacked(format, axis, labels) {
    var value = axis === "y" ? "x" : "y";
    var scales = {};
    var category = { stacked: true, ticks: { autoSkip: false } };
    if (labels) category.ticks.callback = function (v) { return shortLabel(labels[v]); };
    scales[axis === "y" ? "y" : "x"] = category;
    scales[value] = { stacked: true, beginAtZero: true, ticks: { callback: format === money ? compactMoney : compactCount } };
    if (format !== money) scales[value].ticks.precision = 0;
    return {
      indexAxis: axis === "y" ? "y" : "x",
      scales: scales,
      plugins: { legend: { labels: { boxWidth: 12, generateLabels: legendLabels } },
        tooltip: { callbacks: { label: function (ctx) {
          return ctx.dataset.label + ": " + format(axis === "y" ? ctx.parsed.x : ctx.parsed.y);
        } } } }
    };
  }

  function dayLabels(data) {
    return (data.days || []).map(function (d, i) { return (data.partial_days || []).indexOf(i) >= 0 ? d + " (partial)" : d; });
  }

  function chartConfigs(data) {
    var one = function (label, values) { return [{ label: label, data: values, backgroundColor: PALETTE[0], borderColor: PALETTE[0] }]; };
    var countAxis = { beginAtZero: true, ticks: { precision: 0, callback: compactCount } };
    var days = dayLabels(data);
    var timeAxis = { ticks: { autoSkip: true, maxRotation: 0 } };
    var daily = stacked(money);
    daily.scales.x = Object.assign({ stacked: true }, timeAxis);
    return {
      "chart-hourly-cost": data.hours && { type: "bar", data: { labels: data.hours, datasets: colored(data, data.hourly_cost) }, options: daily },
      "chart-daily-cost": { type: "bar", data: { labels: days, datasets: colored(data, data.daily_cost, data.partial_days) }, options: daily },
      "chart-person-by-model": { type: "bar", data: { labels: data.people, datasets: colored(data, data.person_by_model) }, options: stacked(money, "y", data.people) },
      "chart-model-by-person": { type: "bar", data: { labels: data.models, datasets: colored(data, data.model_by_person) }, options: stacked(money, "y", data.models) },
      "chart-person-tokens": { type: "bar", data: { labels: data.people, datasets: colored(data, data.person_tokens) }, options: stacked(count, "y", data.people) },
      "chart-model-tokens": { type: "bar", data: { labels: data.models, datasets: colored(data, data.model_tokens) }, options: stacked(count, "y", data.models) },
      "chart-person-invocations": { type: "bar", data: { labels: data.people, datasets: [{ label: "invocations", data: data.person_invocations,
        backgroundColor: (data.people || []).map(function (p, i) { return colorOf(data, p, i); }) }] },
        options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: countAxis,
          y: { ticks: { autoSkip: false, callback: function (v) { return shortLabel((data.people || [])[v]); } } } } } },
      "chart-model-invocations": { type: "doughnut", data: { labels: data.called_models, datasets: [{ data: data.model_invocations,
        backgroundColor: (data.called_models || []).map(function (m, i) { return colorOf(data, m, i); }) }] },
        options: { plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } } },
      "chart-daily-invocations": { type: "line", data: { labels: days, datasets: one("invocations", data.daily_invocations) },
        options: { plugins: { legend: { display: false } }, elements: { point: { radius: 0 } }, scales: { y: countAxis, x: timeAxis } } },
      "chart-month-pace": data.pace_days && { type: "line", data: { labels: data.pace_days, datasets: [
          { label: data.this_label + " so far", data: data.this_month, borderColor: PALETTE[0], backgroundColor: PALETTE[0], borderWidth: 3 },
          { label: data.last_label, data: data.last_month, borderColor: OTHER_COLOR, backgroundColor: OTHER_COLOR, borderDash: [6, 4], borderWidth: 2 }
        ].filter(function (d) { return d.label && d.data && d.data.length; }) },
        options: { elements: { point: { radius: 0, hitRadius: 8 } }, interaction: { mode: "index", intersect: false },
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
            tooltip: { callbacks: { title: function (items) { return "Day " + items[0].label; },
              label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y); } } } },
          scales: { y: { beginAtZero: true, ticks: { callback: compactMoney } }, x: timeAxis } } },
      "chart-person-daily": { type: "bar", data: { labels: days, datasets: colored(data, data.daily_cost || [], data.partial_days) }, options: daily }
    };
  }

  /* Each chart's numbers as a table under it, folded: the bars and legend a screen reader or keyboard cannot reach
     in a canvas, named (series as columns, labels as rows). A figure that has its own table keeps it. */
  function dataTable(chart, canvas) {
    var figure = canvas.closest("figure");
    if (!figure || figure.querySelector(".chart-table")) return;
    var sets = chart.data.datasets, labels = chart.data.labels || [];
    var dollars = !/invocations|tokens/.test(canvas.id);
    var details = document.createElement("details");
    details.className = "chart-table";
    var summary = document.createElement("summary");
    summary.textContent = "The numbers";
    var box = document.createElement("div");
    box.className = "scroll";
    var table = document.createElement("table");
    table.className = "data";
    var caption = table.createCaption();
    caption.textContent = (figure.querySelector("figcaption") || {}).textContent || canvas.getAttribute("aria-label");
    var head = table.createTHead().insertRow();
    var corner = document.createElement("th");
    corner.scope = "col";
    head.appendChild(corner);
    var single = sets.length === 1 && chart.config.type === "doughnut";
    (single ? [{ label: dollars ? "Cost" : "Invocations" }] : sets).forEach(function (d) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "n";
      th.textContent = d.label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    labels.forEach(function (label, i) {
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.appendChild(th);
      sets.forEach(function (d) {
        var cell = row.insertCell();
        cell.className = "n";
        var v = d.data[i];
        cell.textContent = v === undefined || v === null ? "–" : (dollars ? money(v) : count(v));
      });
    });
    box.appendChild(table);
    details.appendChild(summary);
    details.appendChild(box);
    figure.appendChild(details);
  }

  function drawCharts() {
    var node = document.getElementById("chart-data");
    if (!node || typeof window.Chart === "undefined") return 0;
    var data = JSON.parse(node.textContent);
    var css = getComputedStyle(document.documentElement);
    window.Chart.defaults.color = css.getPropertyValue("--muted").trim() || "#5b6470";
    window.Chart.defaults.borderColor = css.getPropertyValue("--line").trim() || "#dde1e6";
    window.Chart.defaults.animation = false;
    window.Chart.defaults.maintainAspectRatio = false;
    window.Chart.defaults.font.family = css.fontFamily;
    var drawn = 0;
    var configs = chartConfigs(data);
    Object.keys(configs).forEach(function (id) {
      var canvas = document.getElementById(id);
      if (!canvas || !configs[id]) return;
      dataTable(new window.Chart(canvas, configs[id]), canvas);
      drawn += 1;
    });
    return drawn;
  }

  /* A box that scrolls sideways takes keyboard focus, named by its table's caption (WCAG 2.1.1): checked on load,
     on resize and when a fold opens, since only then does a box know whether it overflows. */
  function focusableScrolls() {
    Array.prototype.forEach.call(document.querySelectorAll(".scroll"), function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        var caption = box.querySelector("caption");
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
      } else if (box.getAttribute("role") === "region") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  /* Tables that fit: where a table is wider than its box, its token detail (.p3) folds first, then the rest
     (.p2); name, cost and change always show. A button under it shows every column again. */
  function fitTables() {
    Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
      if (!table.querySelector(".p3, .p2")) return;
      var box = table.parentElement;
      table.classList.remove("fold-3", "fold-2");
      if (table.classList.contains("unfolded")) return;
      ["fold-3", "fold-2"].forEach(function (fold) {
        if (box.scrollWidth > box.clientWidth + 1) table.classList.add(fold);
      });
      var button = box.nextElementSibling && box.nextElementSibling.classList.contains("unfold") ? box.nextElementSibling : null;
      var folded = table.classList.contains("fold-3");
      if (folded && !button) {
        button = document.createElement("button");
        button.type = "button";
        button.className = "unfold";
        button.textContent = "Show all columns";
        button.addEventListener("click", function () {
          table.classList.add("unfolded");
          table.classList.remove("fold-3", "fold-2");
          button.remove();
          fit();
        });
        box.parentNode.insertBefore(button, box.nextSibling);
      } else if (!folded && button) {
        button.remove();
      }
    });
  }

  /* The page's width decides both: tables fold first, then the boxes that still scroll take focus. */
  function fit() {
    fitTables();
    focusableScrolls();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    var filter = document.getElementById("price-filter");
    var tables = ["prices", "prices-all"].map(function (id) { return document.getElementById(id); }).filter(Boolean);
    if (filter && tables.length) bindFilter(filter, tables, document.getElementById("all-prices"));
    var drawn = drawCharts();
    fit();
    window.addEventListener("resize", fit);
    document.addEventListener("toggle", fit, true);
    document.documentElement.setAttribute("data-charts-ms", String(Math.round(performance.now())));
    document.documentElement.setAttribute("data-charts-drawn", String(drawn));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
