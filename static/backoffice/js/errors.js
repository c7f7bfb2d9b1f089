// After an invalid submit, the focus goes to what went wrong: the error summary, else the first invalid field
// (a screen reader then reads it, a keyboard user starts from there). A file, not inline: the CSP forbids those.
(function () {
  "use strict";
  var target = document.querySelector(".bo-error-summary") || document.querySelector("[aria-invalid=true]");
  if (target) {
    target.focus();
  }
})();
