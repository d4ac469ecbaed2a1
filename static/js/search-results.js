/* After a paging link swaps in another page of results, move keyboard focus to the results
   so the next Tab starts there and screen readers announce the new page. */
(function () {
  "use strict";

  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var trigger = config && config.elt;
    if (!trigger || !trigger.hasAttribute || !trigger.hasAttribute("data-pager-link")) {
      return;
    }
    var results = document.getElementById("results");
    if (results) {
      results.focus();
      results.scrollIntoView({ block: "start" });
    }
  });
})();
