// Flask-Admin list actions ("Avec la sélection"), bound without inline handlers (strict CSP).
(function () {
  "use strict";
  var message = JSON.parse(document.getElementById("message-data").textContent);
  var confirmations = JSON.parse(document.getElementById("actions-confirmation-data").textContent);

  function checked() {
    return Array.prototype.slice.call(document.querySelectorAll("input.action-checkbox:checked"));
  }

  function execute(name) {
    var rows = checked();
    if (rows.length === 0) {
      window.alert(message);
      return;
    }
    if (confirmations[name] && !window.confirm(confirmations[name])) {
      return;
    }
    var form = document.getElementById("action_form");
    form.querySelector("#action").value = name;
    Array.prototype.forEach.call(form.querySelectorAll("input.action-checkbox"), function (el) { el.remove(); });
    rows.forEach(function (row) { form.appendChild(row.cloneNode(true)); });
    form.submit();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-action]");
    if (link) {
      event.preventDefault();
      execute(link.getAttribute("data-action"));
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.classList.contains("action-rowtoggle")) {
      Array.prototype.forEach.call(document.querySelectorAll("input.action-checkbox"), function (el) {
        el.checked = event.target.checked;
      });
    }
  });
})();
