/* Advanced editor rows: offer the series and instance selects only for the levels that use
   them, and only the instances of the chosen series. Without JavaScript every select shows
   and the server checks that the instance belongs to the series. */
(function () {
  "use strict";

  function field(row, suffix) {
    return row.querySelector('select[name$="-' + suffix + '"]');
  }

  function wrapper(select) {
    return select ? select.closest(".form__field") : null;
  }

  function filterInstances(instance, seriesUid) {
    Array.prototype.forEach.call(instance.querySelectorAll("optgroup"), function (group) {
      var shown = 0;
      Array.prototype.forEach.call(group.querySelectorAll("option"), function (option) {
        var mine = option.getAttribute("data-series") === seriesUid;
        option.hidden = !mine;
        option.disabled = !mine;
        shown += mine ? 1 : 0;
      });
      group.hidden = shown === 0;
    });
    var chosen = instance.options[instance.selectedIndex];
    if (chosen && chosen.disabled) {
      instance.value = "";
    }
  }

  function update(row) {
    var level = field(row, "level");
    var series = field(row, "series_uid");
    var instance = field(row, "instance_uid");
    if (!level || !series || !instance) {
      return;
    }
    var needsSeries = level.value === "Series" || level.value === "Instance";
    wrapper(series).hidden = !needsSeries;
    wrapper(instance).hidden = level.value !== "Instance";
    filterInstances(instance, series.value);
  }

  function updateAll(root) {
    root.querySelectorAll("[data-attribute-row]").forEach(update);
  }

  document.addEventListener("change", function (event) {
    var row = event.target.closest && event.target.closest("[data-attribute-row]");
    if (row) {
      update(row);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    updateAll(document);
  });
})();
