// receiver's own behaviour: copy buttons and the selected row. Attached with addEventListener,
// never inline, so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) { return; }
    var text = "value" in source && source.tagName === "INPUT" ? source.value : source.textContent;
    copyText(text).then(function () {
      var label = button.textContent;
      button.classList.add("copied");
      button.textContent = "Copied";
      window.setTimeout(function () {
        button.classList.remove("copied");
        button.textContent = label;
      }, 1200);
    });
  });

  function markSelected(link) {
    document.querySelectorAll(".request-row-item.selected").forEach(function (item) {
      item.classList.remove("selected");
    });
    var item = link && link.closest(".request-row-item");
    if (item) { item.classList.add("selected"); }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest(".request-row");
    if (link) { markSelected(link); }
  });

  // rows brought by the poller flash once so that a new arrival catches the eye
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.requestConfig || !/\/requests\/poll/.test(event.detail.requestConfig.path)) { return; }
    var poller = document.getElementById("poller");
    var next = poller && poller.nextElementSibling;
    while (next && next.classList.contains("request-row-item") && !next.dataset.seen) {
      next.classList.add("arrived");
      next.dataset.seen = "1";
      next = next.nextElementSibling;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".request-row-item").forEach(function (item) { item.dataset.seen = "1"; });
    var params = new URLSearchParams(window.location.search);
    var selected = params.get("request");
    if (selected) {
      var row = document.getElementById("row-" + selected);
      if (row) { row.classList.add("selected"); }
    }
  });
})();
