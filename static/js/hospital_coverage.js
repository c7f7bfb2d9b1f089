/* Prise en charge hospitalière: offer in "Personne" only the people covered on the chosen start date.
 * Each option carries its coverage periods in data-periods ([["2018-01-01", null], ...], ISO dates).
 * Only a date the form accepts (between its min and max) filters the list: while a date is being typed
 * digit by digit (0002, 0020, 0202...), nobody is hidden. The member's choice is remembered: it is set
 * aside while the date makes it impossible, and comes back as soon as the date allows it again.
 * The messages come translated from the page (data-* attributes of the status line).
 * Without this script every person who may be covered is offered and the server checks the date. */
(function () {
  "use strict";

  var form = document.getElementById("formulaire");
  if (!form) { return; }
  var select = form.querySelector("select[name=beneficiary_id]");
  var dateInput = form.querySelector("input[name=start_on]");
  var status = document.getElementById("beneficiary-filter-status");
  if (!select || !dateInput) { return; }
  var minDay = dateInput.getAttribute("min") || "0000-01-01";
  var maxDay = dateInput.getAttribute("max") || "9999-12-31";

  /* The typed date as YYYY-MM-DD (date picker value, or jj/mm/aaaa typed by hand) when the form accepts it. */
  function acceptedDay(value) {
    var text = (value || "").trim();
    var day = null;
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (m) {
      day = text;
    } else {
      m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
      if (m) { day = m[3] + "-" + ("0" + m[2]).slice(-2) + "-" + ("0" + m[1]).slice(-2); }
    }
    return day !== null && minDay <= day && day <= maxDay ? day : null;
  }

  function coveredOn(option, day) {
    var periods;
    try { periods = JSON.parse(option.getAttribute("data-periods") || "[]"); } catch (e) { return true; }
    return periods.some(function (p) { return p[0] <= day && (p[1] === null || day <= p[1]); });
  }

  function say(key, name) {
    if (!status) { return; }
    var text = key ? (status.getAttribute("data-" + key) || "") : "";
    status.textContent = text.replace("{name}", name || "");
  }

  var chosen = select.value;  /* the person the member picked, kept while the date hides it */
  var shownDay;               /* the date the options were last filtered for */

  function optionOf(value) {
    return Array.prototype.find.call(select.options, function (option) { return option.value === value; });
  }

  function update() {
    var day = acceptedDay(dateInput.value);
    if (day === shownDay) { return; }  /* "input" then "change" for one edit */
    shownDay = day;
    var offered = 0;
    Array.prototype.forEach.call(select.options, function (option) {
      if (!option.value) { return; }
      var ok = day === null || coveredOn(option, day);
      option.hidden = !ok;
      option.disabled = !ok;  /* hidden options still show on some phones */
      if (ok) { offered += 1; }
    });
    var person = chosen ? optionOf(chosen) : null;
    if (person && person.disabled) {
      select.value = "";
      say("not-covered", person.text);
    } else if (person && select.value !== chosen) {
      select.value = chosen;
      say("back", person.text);
    } else if (day !== null && offered === 0) {
      say("nobody");
    } else {
      say(null);
    }
  }

  select.addEventListener("change", function () { chosen = select.value; say(null); });
  dateInput.addEventListener("change", update);
  dateInput.addEventListener("input", update);
  update();
}());
