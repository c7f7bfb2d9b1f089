// Dépôt de documents: the "Type de document" list offers only the types of the chosen category.
// Without this script every type is offered, grouped by category, and the server checks the pair.
(function () {
  "use strict";
  var category = document.getElementById("category_id");
  var type = document.getElementById("type_id");
  if (!category || !type) {
    return;
  }
  var groups = Array.prototype.slice.call(type.querySelectorAll("optgroup"));

  function update() {
    var chosen = category.options[category.selectedIndex];
    var label = chosen && chosen.value ? chosen.textContent : null;
    groups.forEach(function (group) {
      var show = label === null || group.label === label;
      group.hidden = !show;
      group.disabled = !show;
    });
    var selected = type.options[type.selectedIndex];
    if (selected && selected.parentNode.tagName === "OPTGROUP" && selected.parentNode.disabled) {
      type.value = "";
    }
  }

  category.addEventListener("change", update);
  update();
})();
