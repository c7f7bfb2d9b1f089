// The menu bar: one category open at a time, Escape or a click elsewhere closes it and gives the focus
// back to its button; on a phone the bar starts folded under "Menu" so that the page shows first.
(function () {
  "use strict";

  var all = document.querySelector(".menu-all");
  if (!all) {
    return;
  }
  if (window.matchMedia("(max-width: 600px)").matches) {
    all.removeAttribute("open");
  }
  var categories = Array.prototype.slice.call(all.querySelectorAll(".menu-category"));
  var wide = window.matchMedia("(min-width: 601px)");
  // A phone turned sideways (or a window widened) shows the bar, whose "Menu" button is hidden there.
  wide.addEventListener("change", function (event) {
    if (event.matches) {
      all.setAttribute("open", "");
    }
  });

  categories.forEach(function (category) {
    category.addEventListener("toggle", function () {
      if (category.open && wide.matches) {
        categories.forEach(function (other) {
          if (other !== category) {
            other.removeAttribute("open");
          }
        });
      }
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    categories.forEach(function (category) {
      if (category.open) {
        category.removeAttribute("open");
        category.querySelector("summary").focus();
      }
    });
  });

  document.addEventListener("click", function (event) {
    if (!wide.matches) {
      return;
    }
    categories.forEach(function (category) {
      if (category.open && !category.contains(event.target)) {
        category.removeAttribute("open");
      }
    });
  });
}());
