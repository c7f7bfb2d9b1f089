// Charts of the dashboard (templates/backoffice/reports/dashboard.html), drawn with the vendored Chart.js from
// the JSON block of the page. Each canvas has its text alternative and its table beside it; no animation when
// the person asked for reduced motion.
(function () {
  "use strict";
  var block = document.getElementById("bo-dashboard-data");
  if (!block || !window.Chart) { return; }
  var data = JSON.parse(block.textContent);
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  // Colours told apart without colour vision too (and strong enough on white).
  var colours = {blue: "#1f5a96", orange: "#b35900", green: "#2e7d32", red: "#b00020", grey: "#555555"};
  window.Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  window.Chart.defaults.color = "#212529";
  window.Chart.defaults.animation = still ? false : window.Chart.defaults.animation;

  function bars(label, values, colour) { return {label: label, data: values, backgroundColor: colour}; }

  var charts = {
    states: {
      type: "bar",
      data: {labels: data.states.labels, datasets: [
        bars("Nouvelles", data.states["new"], colours.blue),
        bars("En cours", data.states.in_progress, colours.green),
        bars("En attente de l'adhérent", data.states.waiting, colours.grey),
        bars("En retard", data.states.overdue, colours.red)]},
      options: {responsive: true, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
    },
    days: {
      type: "line",
      data: {labels: data.days.labels, datasets: [
        {label: "Reçues", data: data.days.received, borderColor: colours.blue, backgroundColor: colours.blue,
         pointStyle: "circle"},
        {label: "Clôturées", data: data.days.closed, borderColor: colours.orange, backgroundColor: colours.orange,
         borderDash: [6, 4], pointStyle: "triangle"}]},
      options: {responsive: true, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
    },
    timings: {
      type: "bar",
      data: {labels: data.timings.labels, datasets: [
        bars("Délai médian (jours ouvrés)", data.timings.median, colours.blue),
        bars("90 % en moins de (jours ouvrés)", data.timings.p90, colours.orange)]},
      options: {responsive: true, scales: {y: {beginAtZero: true}}}
    },
    agents: {
      type: "bar",
      data: {labels: data.agents.labels, datasets: [
        bars("Clôturées sur la période", data.agents.closed, colours.blue),
        bars("En cours aujourd'hui", data.agents.open, colours.green)]},
      options: {responsive: true, indexAxis: "y", scales: {x: {beginAtZero: true, ticks: {precision: 0}}}}
    }
  };

  Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart]"), function (canvas) {
    var config = charts[canvas.getAttribute("data-chart")];
    if (config) { new window.Chart(canvas, config); }
  });
})();
