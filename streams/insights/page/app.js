// The insights page: plain JS over /v1/insights (docs/insights.md). The admin key is asked
// once, kept in sessionStorage (this tab only) and sent as a Bearer token; every few seconds
// the page asks again, so it follows responses as they arrive.
(function () {
  "use strict";
  var KEY_ITEM = "survey-streams.insights.key";
  var POLL_MS = 4000;
  var RANGES = { nps: [-100, 100], csat: [0, 100], ces: [1, 7], pmf: [0, 100] };
  var LABELS = { nps: "NPS", csat: "CSAT, % satisfied", ces: "CES, mean on 1-7", pmf: "PMF, % very disappointed" };
  var state = { surveys: [], selected: null, chart: null, timer: null, traits: [] };

  function $(id) { return document.getElementById(id); }
  function key() { return sessionStorage.getItem(KEY_ITEM) || ""; }

  function Unauthorized() {}

  function api(path, params) {
    var query = new URLSearchParams();
    Object.keys(params || {}).forEach(function (name) {
      if (params[name] !== "" && params[name] != null) query.set(name, params[name]);
    });
    var url = "/v1/insights" + path + (query.toString() ? "?" + query : "");
    return fetch(url, { headers: { Authorization: "Bearer " + key() } }).then(function (answer) {
      if (answer.status === 401) throw new Unauthorized();
      if (!answer.ok) {
        return answer.json().then(function (body) { throw new Error(body.message || answer.statusText); });
      }
      return answer;
    });
  }
  function json(path, params) { return api(path, params).then(function (a) { return a.json(); }); }

  function fmt(value, digits) {
    if (value == null) return "–";
    return Number(value).toFixed(digits == null ? 1 : digits).replace(/\.0+$/, "");
  }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  // --- login ------------------------------------------------------------------------
  function showLogin(message) {
    stop();
    sessionStorage.removeItem(KEY_ITEM);
    $("app").hidden = true; $("logout").hidden = true; $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("key").focus();
  }
  function showApp() {
    $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
    refresh();
  }
  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY_ITEM, $("key").value.trim());
    $("key").value = "";
    showApp();
  });
  $("logout").addEventListener("click", function () { showLogin(""); });

  // --- polling ----------------------------------------------------------------------
  function stop() { if (state.timer) clearTimeout(state.timer); state.timer = null; }
  function refresh() {
    stop();
    loadSurveys()
      .then(function () { return state.selected ? loadDetail() : null; })
      .then(function () {
        $("updated").textContent = "updated " + new Date().toLocaleTimeString();
        $("error").textContent = "";
      })
      .catch(function (error) {
        if (error instanceof Unauthorized) { showLogin("That key was refused."); return; }
        $("error").textContent = String(error.message || error);
      })
      .then(function () { if (key()) state.timer = setTimeout(refresh, POLL_MS); });
  }

  // --- surveys ----------------------------------------------------------------------
  function loadSurveys() {
    return json("/surveys").then(function (surveys) {
      state.surveys = surveys;
      var body = $("survey-rows");
      body.textContent = "";
      surveys.forEach(function (survey) {
        var row = document.createElement("tr");
        row.dataset.surveyId = survey.surveyId;
        if (survey.surveyId === state.selected) row.className = "selected";
        cell(row, survey.name || survey.surveyId).title = survey.surveyId;
        cell(row, survey.type);
        cell(row, survey.responses, "num");
        cell(row, fmt(survey.score), "num");
        row.addEventListener("click", function () { select(survey.surveyId); });
        body.appendChild(row);
      });
      if (!state.selected && surveys.length) select(surveys[0].surveyId, true);
    });
  }
  function select(surveyId, quiet) {
    state.selected = surveyId;
    state.traits = [];
    $("by").innerHTML = '<option value="">(choose a trait)</option>';
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    $("detail").hidden = false;
    Array.prototype.forEach.call($("survey-rows").children, function (row) {
      row.className = row.dataset.surveyId === surveyId ? "selected" : "";
    });
    if (!quiet) refresh();
  }
  function current() {
    return state.surveys.filter(function (s) { return s.surveyId === state.selected; })[0];
  }
  function range() { return { from: $("from").value, to: $("to").value }; }
  function path(tail) { return "/surveys/" + encodeURIComponent(state.selected) + tail; }

  // --- one survey -------------------------------------------------------------------
  function loadDetail() {
    var survey = current();
    if (!survey) return null;
    $("survey-title").textContent = (survey.name || survey.surveyId) + " (" + LABELS[survey.type] + ")";
    var r = range();
    var by = $("by").value;
    return Promise.all([
      json(path("/scores"), { from: r.from, to: r.to, interval: $("interval").value }),
      json(path("/scores"), { from: r.from, to: r.to, interval: "all" }),
      json(path("/funnel"), r),
      json(path("/responses"), { from: r.from, to: r.to, limit: 20, q: $("q").value }),
      by ? json(path("/scores"), { from: r.from, to: r.to, interval: "all", by: by }) : null,
    ]).then(function (parts) {
      drawTrend(survey, parts[0].series);
      drawTotal(parts[1].series[0]);
      drawFunnel(parts[2]);
      drawResponses(parts[3]);
      drawBreakdown(parts[4] ? parts[4].series : []);
    });
  }

  function drawTotal(point) {
    $("score").textContent = point && point.score != null ? String(point.score) : "–";  // as the API gives it
    $("n").textContent = point ? point.responses : 0;
    $("ci").textContent = point && point.ci95 ? "[" + fmt(point.ci95[0]) + ", " + fmt(point.ci95[1]) + "]" : "";
  }

  function drawTrend(survey, series) {
    var xs = [], score = [], low = [], high = [], n = [];
    series.forEach(function (point) {
      xs.push(Date.parse(point.period + "T00:00:00Z") / 1000);
      score.push(point.score);
      low.push(point.ci95 ? point.ci95[0] : null);
      high.push(point.ci95 ? point.ci95[1] : null);
      n.push(point.responses);
    });
    var data = [xs, score, low, high, n];
    var element = $("trend");
    element.dataset.points = String(xs.length);
    if (state.chart && state.chart.surveyId === survey.surveyId) { state.chart.setData(data); return; }
    if (state.chart) state.chart.destroy();
    var band = "rgba(47, 111, 236, 0.15)";
    state.chart = new uPlot({
      width: Math.max(element.clientWidth, 320), height: 260,
      scales: { x: { time: true }, y: { range: RANGES[survey.type] }, n: { range: function (u, lo, hi) { return [0, Math.max(hi, 1) * 3]; } } },
      series: [
        {},
        { label: LABELS[survey.type], stroke: "#2f6fec", width: 2, points: { show: true, size: 5 }, value: function (u, v) { return fmt(v); } },
        { label: "95% low", stroke: band, value: function (u, v) { return fmt(v); } },
        { label: "95% high", stroke: band, value: function (u, v) { return fmt(v); } },
        { label: "n", scale: "n", stroke: "#98a2b3", fill: "rgba(152, 162, 179, 0.35)", paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: band }],
      axes: [{}, { label: "score" }, { scale: "n", side: 1, label: "n", grid: { show: false } }],
    }, data, element);
    state.chart.surveyId = survey.surveyId;
  }

  function drawFunnel(funnel) {
    var top = Math.max(funnel.viewed, 1);
    ["viewed", "answered", "completed", "dismissed"].forEach(function (name) {
      var td = $("f-" + name);
      td.textContent = funnel[name];
      td.nextElementSibling.firstChild.style.width = (100 * funnel[name] / top) + "%";
    });
    $("f-rate").textContent = funnel.responseRate == null ? "–" : fmt(100 * funnel.responseRate) + "%";
  }

  function drawResponses(rows) {
    var names = rows.length ? Object.keys(rows[0]) : [];
    var traits = names.filter(function (n) { return n.indexOf("trait.") === 0; }).map(function (n) { return n.slice(6); });
    traits.forEach(function (trait) {
      if (state.traits.indexOf(trait) >= 0) return;
      state.traits.push(trait);
      var option = document.createElement("option");
      option.value = option.textContent = trait;
      $("by").appendChild(option);
    });
    var body = $("responses").tBodies[0];
    body.textContent = "";
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      cell(tr, row.completedAt.replace("T", " ").slice(0, 16));
      cell(tr, row.userId);
      cell(tr, row.score, "num");
      cell(tr, row.category);
      cell(tr, row.comment);
      body.appendChild(tr);
    });
  }

  function drawBreakdown(series) {
    var survey = current();
    var span = RANGES[survey.type];
    var body = $("breakdown").tBodies[0];
    body.textContent = "";
    series.forEach(function (point) {
      var tr = document.createElement("tr");
      cell(tr, point.group == null ? "(none)" : point.group);
      cell(tr, point.responses, "num");
      cell(tr, fmt(point.score), "num");
      var td = cell(tr, "");
      if (point.ci95) {
        var bar = document.createElement("div"); bar.className = "ci";
        var left = (point.ci95[0] - span[0]) / (span[1] - span[0]) * 100;
        var width = (point.ci95[1] - point.ci95[0]) / (span[1] - span[0]) * 100;
        bar.innerHTML = "<i></i><b></b>";
        bar.firstChild.style.left = left + "%"; bar.firstChild.style.width = Math.max(width, 1) + "%";
        bar.lastChild.style.left = ((point.score - span[0]) / (span[1] - span[0]) * 100) + "%";
        bar.title = "[" + fmt(point.ci95[0]) + ", " + fmt(point.ci95[1]) + "]";
        td.appendChild(bar);
      }
      body.appendChild(tr);
    });
  }

  // --- CSV: fetched with the key (a link cannot send the header), saved as a file -----
  $("csv").addEventListener("click", function () {
    var r = range();
    api(path("/responses"), { from: r.from, to: r.to, format: "csv", q: $("q").value, order: "asc" })
      .then(function (answer) { return answer.blob(); })
      .then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = state.selected + "-responses.csv";
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      })
      .catch(function (error) {
        if (error instanceof Unauthorized) showLogin("That key was refused.");
        else $("error").textContent = String(error.message || error);
      });
  });

  ["from", "to", "interval", "by"].forEach(function (id) { $(id).addEventListener("change", refresh); });
  var typing = null;
  $("q").addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(refresh, 300); });
  window.addEventListener("resize", function () {
    if (state.chart) state.chart.setSize({ width: Math.max($("trend").clientWidth, 320), height: 260 });
  });

  if (key()) showApp(); else showLogin("");
})();
