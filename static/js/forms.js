// Member forms: a page that comes back with errors moves the focus to the list of errors (or, without
// one, to the first invalid field, or to a notice that answers the form), so that keyboard and
// screen-reader users start where the problem is.
// A link of the list puts the focus in its field, not only the page's scroll.
(function () {
  "use strict";

  function focusable(element) {
    if (element.matches("input, select, textarea, button, a[href], [tabindex]")) {
      return element;
    }
    return element.querySelector("input:not([type=hidden]), select, textarea, button, a[href], [tabindex]");
  }

  var summary = document.getElementById("error-summary");
  var first = summary || document.querySelector("[aria-invalid=true]") || document.querySelector("[data-focus-on-load]");
  if (first) {
    first.focus();
  }
  if (summary) {
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      var field = target && focusable(target);
      if (field) {
        event.preventDefault();
        var label = document.querySelector("label[for='" + field.id + "']");
        (label || field).scrollIntoView({ block: "center" });
        field.focus({ preventScroll: true });
      }
    });
  }
}());
