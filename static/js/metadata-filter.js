/* Filter attributes: narrows the metadata tree to rows whose keyword or value contains the
   typed text. Without JavaScript the box stays hidden and the whole tree shows. */
(function () {
  "use strict";

  function rowsOf(tbody) {
    return Array.prototype.filter.call(tbody.children, function (row) {
      return row.hasAttribute("data-attribute");
    });
  }

  function nestedBodies(row) {
    var cell = row.cells[1];
    return cell ? cell.querySelectorAll(":scope > table > tbody") : [];
  }

  // Returns how many rows of this body (and below) match; a row whose own text matches
  // keeps everything inside it.
  function filterRows(tbody, query, showAll) {
    var matches = 0;
    rowsOf(tbody).forEach(function (row) {
      var nested = nestedBodies(row);
      var keyword = row.cells[0] ? row.cells[0].textContent.toLowerCase() : "";
      var value = !nested.length && row.cells[1] ? row.cells[1].textContent.toLowerCase() : "";
      var own = showAll || keyword.indexOf(query) !== -1 || value.indexOf(query) !== -1;
      var below = 0;
      nested.forEach(function (body) {
        below += filterRows(body, query, own);
      });
      row.hidden = !(own || below);
      if (own && query && !showAll) {
        matches += 1;
      }
      matches += below;
    });
    return matches;
  }

  function filterLevel(details, query) {
    var summary = details.querySelector(":scope > summary");
    var titleMatch = query && summary && summary.textContent.toLowerCase().indexOf(query) !== -1;
    var matches = 0;
    details.querySelectorAll(":scope > table > tbody").forEach(function (body) {
      matches += filterRows(body, query, Boolean(titleMatch) || !query);
    });
    details.querySelectorAll(":scope > details[data-level]").forEach(function (child) {
      matches += filterLevel(child, titleMatch ? "" : query);
    });
    if (titleMatch) {
      matches += 1;
    }
    if (query) {
      details.hidden = matches === 0;
      details.open = matches > 0;
    } else {
      details.hidden = false;
      details.open = details.getAttribute("data-open") === "true";
    }
    return matches;
  }

  function apply(input) {
    var tree = document.querySelector(input.getAttribute("data-attribute-filter"));
    if (!tree) {
      return;
    }
    var query = input.value.trim().toLowerCase();
    var matches = 0;
    tree.querySelectorAll(":scope > details[data-level]").forEach(function (level) {
      matches += filterLevel(level, query);
    });
    var status = document.getElementById(input.getAttribute("aria-describedby"));
    if (status) {
      status.textContent = !query
        ? ""
        : matches === 0
          ? "No attributes match."
          : matches === 1
            ? "1 attribute matches."
            : matches + " attributes match.";
    }
  }

  function reveal(root) {
    root.querySelectorAll("[data-metadata-filter][hidden]").forEach(function (box) {
      box.hidden = false;
    });
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-attribute-filter]")) {
      apply(event.target);
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Escape" && target.matches && target.matches("[data-attribute-filter]")) {
      target.value = "";
      apply(target);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    reveal(document);
  });
  document.addEventListener("htmx:load", function (event) {
    reveal(event.detail.elt.parentNode || document);
  });
})();
