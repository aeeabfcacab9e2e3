/* bedrock-usage-site: sortable tables, the price filter and the charts.
   Reads the page's data from <script type="application/json" id="chart-data">; no inline code,
   so the site runs under a strict Content-Security-Policy. */
(function () {
  "use strict";

  var PALETTE = ["#2f6fde", "#e0803a", "#2ea37a", "#c9473d", "#8d5fd3", "#c7a42b",
                 "#3aa6c4", "#d35f9d", "#6c8f2f", "#8a6a4f", "#5b6fa8"];
  var OTHER_COLOR = "#9aa4b0";

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

  function bindFilter(input, table) {
    input.addEventListener("input", function () {
      var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        var show = terms.every(function (t) { return text.indexOf(t) !== -1; });
        row.classList.toggle("hidden", !show);
      });
    });
  }

  /* ---------- charts ---------- */

  function money(v) {
    return "$" + Number(v).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function count(v) { return Number(v).toLocaleString(); }

  function colored(datasets) {
    return datasets.map(function (d, i) {
      var color = d.label === "other" ? OTHER_COLOR : PALETTE[i % PALETTE.length];
      return Object.assign({}, d, { backgroundColor: color, borderColor: color, borderWidth: 0 });
    });
  }

  function stacked(format, axis) {
    var value = axis === "y" ? "x" : "y";
    var scales = {};
    scales[axis === "y" ? "y" : "x"] = { stacked: true, ticks: { autoSkip: true } };
    scales[value] = { stacked: true, beginAtZero: true, ticks: { callback: function (v) { return format(v); } } };
    return {
      indexAxis: axis === "y" ? "y" : "x",
      scales: scales,
      plugins: { tooltip: { callbacks: { label: function (ctx) {
        return ctx.dataset.label + ": " + format(axis === "y" ? ctx.parsed.x : ctx.parsed.y);
      } } } }
    };
  }

  function chartConfigs(data) {
    var one = function (label, values) { return [{ label: label, data: values, backgroundColor: PALETTE[0], borderColor: PALETTE[0] }]; };
    var noLegend = { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } };
    return {
      "chart-daily-cost": { type: "bar", data: { labels: data.days, datasets: colored(data.daily_cost) }, options: stacked(money) },
      "chart-person-by-model": { type: "bar", data: { labels: data.people, datasets: colored(data.person_by_model) }, options: stacked(money, "y") },
      "chart-model-by-person": { type: "bar", data: { labels: data.models, datasets: colored(data.model_by_person) }, options: stacked(money, "y") },
      "chart-person-tokens": { type: "bar", data: { labels: data.people, datasets: colored(data.person_tokens) }, options: stacked(count, "y") },
      "chart-model-tokens": { type: "bar", data: { labels: data.models, datasets: colored(data.model_tokens) }, options: stacked(count, "y") },
      "chart-person-invocations": { type: "bar", data: { labels: data.people, datasets: one("invocations", data.person_invocations) }, options: noLegend },
      "chart-model-invocations": { type: "doughnut", data: { labels: data.models, datasets: [{ data: data.model_invocations,
        backgroundColor: data.models.map(function (m, i) { return m === "other" ? OTHER_COLOR : PALETTE[i % PALETTE.length]; }) }] },
        options: { plugins: { legend: { position: "right" } } } },
      "chart-daily-invocations": { type: "line", data: { labels: data.days, datasets: one("invocations", data.daily_invocations) },
        options: { plugins: { legend: { display: false } }, elements: { point: { radius: 0 } }, scales: { y: { beginAtZero: true } } } }
    };
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
      if (!canvas) return;
      new window.Chart(canvas, configs[id]);
      drawn += 1;
    });
    return drawn;
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    var filter = document.getElementById("price-filter");
    var prices = document.getElementById("prices");
    if (filter && prices) bindFilter(filter, prices);
    var drawn = drawCharts();
    document.documentElement.setAttribute("data-charts-ms", String(Math.round(performance.now())));
    document.documentElement.setAttribute("data-charts-drawn", String(drawn));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
