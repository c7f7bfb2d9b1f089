/* Prise en charge hospitalière: offer in "Personne" only the people covered on the chosen start date.
 * Each option carries its coverage periods in data-periods ([["2018-01-01", null], ...], ISO dates).
 * Without this script every person who may be covered is offered and the server checks the date. */
(function () {
  "use strict";

  var form = document.getElementById("formulaire");
  if (!form) { return; }
  var select = form.querySelector("select[name=beneficiary_id]");
  var dateInput = form.querySelector("input[name=start_on]");
  var status = document.getElementById("beneficiary-filter-status");
  if (!select || !dateInput) { return; }

  /* The typed date as YYYY-MM-DD (date picker value, or jj/mm/aaaa typed by hand), or null. */
  function isoDay(value) {
    var text = (value || "").trim();
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (m) { return text; }
    m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
    if (m) { return m[3] + "-" + ("0" + m[2]).slice(-2) + "-" + ("0" + m[1]).slice(-2); }
    return null;
  }

  function coveredOn(option, day) {
    var periods;
    try { periods = JSON.parse(option.getAttribute("data-periods") || "[]"); } catch (e) { return true; }
    return periods.some(function (p) { return p[0] <= day && (p[1] === null || day <= p[1]); });
  }

  function say(text) { if (status) { status.textContent = text; } }

  var shownDay;  /* the date the options were last filtered for */

  function update() {
    var day = isoDay(dateInput.value);
    if (day === shownDay) { return; }  /* "input" then "change" for one edit */
    shownDay = day;
    var lost = null;
    var offered = 0;
    Array.prototype.forEach.call(select.options, function (option) {
      if (!option.value) { return; }
      var ok = day === null || coveredOn(option, day);
      option.hidden = !ok;
      option.disabled = !ok;  /* hidden options still show on some phones */
      if (ok) { offered += 1; }
      if (!ok && option.selected) { lost = option.text; }
    });
    if (lost !== null) {
      select.value = "";
      say(lost + " n'est pas couvert(e) par votre contrat à cette date : choisissez une autre personne.");
    } else if (day !== null && offered === 0) {
      say("Aucune personne de votre contrat n'est couverte à cette date.");
    } else {
      say("");
    }
  }

  select.addEventListener("change", function () { say(""); });
  dateInput.addEventListener("change", update);
  dateInput.addEventListener("input", update);
  update();
}());
