// Progress of an XLSX export (templates/backoffice/reports/job.html): asks the server every 3 seconds until the
// export is ready or failed, updates the bar and the status (a live region), then shows the download link.
(function () {
  "use strict";
  var box = document.getElementById("bo-export");
  if (!box || box.getAttribute("data-done") === "true") { return; }
  var status = document.getElementById("bo-export-status");
  var bar = document.getElementById("bo-export-progress");
  var link = document.getElementById("bo-export-link");
  var lastText = status.textContent.trim();

  function show(state) {
    var text = state.text;
    if (state.status === "running") {
      text += " : " + state.rows_done + " ligne(s) écrite(s) sur " + (state.rows_total === null ? "…" : state.rows_total);
    }
    text += ".";
    if (text !== lastText) { status.textContent = text; lastText = text; }
    bar.value = state.progress;
    bar.textContent = state.progress + " %";
    if (state.download) { link.hidden = false; }
    return state.status === "done" || state.status === "failed";
  }

  function ask() {
    fetch(box.getAttribute("data-state-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) { if (!state || !show(state)) { window.setTimeout(ask, 3000); } })
      .catch(function () { window.setTimeout(ask, 10000); });
  }
  window.setTimeout(ask, 1000);
})();
