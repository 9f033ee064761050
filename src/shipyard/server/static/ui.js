// shipyard dashboard: draws the ECharts options pages carry, refreshes live charts,
// and sends the management API calls behind buttons (with the admin token if needed).
(function () {
  "use strict";
  var charts = [];

  function draw(el) {
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(JSON.parse(el.dataset.option));
    charts.push(chart);
    var source = el.dataset.source;
    if (source) {
      var every = Math.max(1, parseFloat(el.dataset.every || "5")) * 1000;
      var refresh = function () {
        fetch(source, { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (option) { if (option) { chart.setOption(option, { replaceMerge: ["series"] }); } })
          .catch(function () {});
      };
      window.setInterval(refresh, every);
    }
  }

  function show(text, isError) {
    var box = document.getElementById("message");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    box.className = "message " + (isError ? "error" : "ok");
  }

  function errorText(response, body) {
    if (body && body.error && body.error.message) { return body.error.message; }
    if (body && body.detail) { return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); }
    return response.status + " " + response.statusText;
  }

  function send(button, body, retried) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var token = window.sessionStorage.getItem("shipyard-admin-token");
    if (token) { headers.Authorization = "Bearer " + token; }
    var options = { method: button.dataset.method, headers: headers };
    if (button.dataset.method !== "GET" && button.dataset.method !== "DELETE") {
      options.body = JSON.stringify(body);
    }
    button.disabled = true;
    return fetch(button.dataset.url, options).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        if (response.status === 401 && !retried) {
          var given = window.prompt("This server needs its admin token (SHIPYARD_ADMIN_TOKEN):");
          button.disabled = false;
          if (given) {
            window.sessionStorage.setItem("shipyard-admin-token", given);
            return send(button, body, true);
          }
          show("Not sent: the admin token is needed.", true);
          return;
        }
        if (!response.ok) {
          button.disabled = false;
          show(button.textContent + " failed: " + errorText(response, parsed), true);
          return;
        }
        show(button.textContent + ": done. Reloading...", false);
        window.setTimeout(function () { window.location.reload(); }, 700);
      });
    }).catch(function (err) {
      button.disabled = false;
      show(button.textContent + " failed: " + err, true);
    });
  }

  function act(button) {
    var body = JSON.parse(button.dataset.body || "{}");
    if (button.dataset.prompt) {
      var questions = JSON.parse(button.dataset.prompt);
      for (var field in questions) {
        if (!Object.prototype.hasOwnProperty.call(questions, field)) { continue; }
        var answer = window.prompt(questions[field], body[field] === undefined ? "" : String(body[field]));
        if (answer === null) { return; }
        var number = Number(answer);
        body[field] = answer.trim() !== "" && !isNaN(number) ? number : answer;
      }
    }
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) { return; }
    send(button, body, false);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".chart"), draw);
    Array.prototype.forEach.call(document.querySelectorAll("button.action"), function (b) {
      b.addEventListener("click", function () { act(b); });
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  });
})();
