// receiver's own behaviour: copy buttons, the selected row, relative times, dialogs, the
// keyboard, and the phone's list/detail views. Attached with addEventListener, never inline, so
// the Content-Security-Policy can forbid inline script. Captured content is never read as markup
// here: only textContent and input values are copied.
(function () {
  "use strict";

  var NARROW = "(max-width: 860px)";
  var RETURN_KEY = "receiver.return";
  var FOLLOW_KEY = "receiver.follow";

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

  function flashCopied(button) {
    var label = button.textContent;
    button.classList.add("copied");
    button.textContent = "Copied";
    window.setTimeout(function () {
      button.classList.remove("copied");
      button.textContent = label;
    }, 1200);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) {
      var source = document.getElementById(button.getAttribute("data-copy-target"));
      if (!source) { return; }
      var text = source.tagName === "INPUT" ? source.value : source.textContent;
      copyText(text).then(function () { flashCopied(button); });
      return;
    }
    var cell = event.target.closest("[data-copy-cell]");
    if (cell) {
      var value = cell.closest("tr").querySelector("td");
      if (value) { copyText(value.textContent).then(function () { flashCopied(cell); }); }
    }
  });

  // the selected row follows the open detail -------------------------------------------------

  function rows() { return Array.prototype.slice.call(document.querySelectorAll(".request-row-item")); }

  function markSelected(id) {
    rows().forEach(function (item) { item.classList.toggle("selected", item.id === "row-" + id); });
  }

  function rememberReturn(link) {
    // where the list was, so that going back (in the page or the browser) lands there again
    var panel = document.querySelector(".list-panel");
    var item = link.closest(".request-row-item");
    try {
      window.sessionStorage.setItem(RETURN_KEY, JSON.stringify({
        path: window.location.pathname,
        search: window.location.search,
        row: item ? item.id : null,
        y: window.scrollY,
        list: panel ? panel.scrollTop : 0
      }));
    } catch (ignored) { /* storage may be off: going back still works, at the top */ }
    window.__receiverOpenedFromList = true;
  }

  function restoreReturn() {
    var saved;
    try { saved = JSON.parse(window.sessionStorage.getItem(RETURN_KEY) || "null"); } catch (ignored) { saved = null; }
    if (!saved || saved.path !== window.location.pathname) { return; }
    if (new URLSearchParams(window.location.search).get("request")) { return; }
    var panel = document.querySelector(".list-panel");
    if (panel) { panel.scrollTop = saved.list || 0; }
    var row = saved.row && document.getElementById(saved.row);
    if (window.matchMedia(NARROW).matches && row) {
      row.scrollIntoView({block: "center"});
    } else {
      window.scrollTo(0, saved.y || 0);
    }
    if (row) { setCursor(rows().indexOf(row)); }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a.request-row");
    if (!link) { return; }
    rememberReturn(link);
    var item = link.closest(".request-row-item");
    markSelected(item ? item.id.replace("row-", "") : "");
  });

  // "← Requests" and Esc: back to the list where it was
  function goBack(link) {
    if (window.__receiverOpenedFromList && window.history.length > 1) {
      window.history.back();
    } else {
      window.location.href = link.getAttribute("href");
    }
  }

  document.addEventListener("click", function (event) {
    var back = event.target.closest("[data-back]");
    if (!back) { return; }
    event.preventDefault();
    goBack(back);
  });

  // a panel that sends the list's filter leaves out the empty ones ("any"), which the server
  // refuses as values
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.hasAttribute("data-drop-empty")) { return; }
    var data = event.detail.formData;
    var empty = [];
    data.forEach(function (value, name) {
      if (typeof value === "string" && !value.trim()) { empty.push(name); }
    });
    empty.forEach(function (name) { data.delete(name); });
  });

  // follow new requests: the toggle is remembered by this browser; while it is on, the newest
  // row the poller brings opens, unless the person is typing in the open request (a replay
  // being edited is never thrown away)
  function followBox() { return document.getElementById("follow-newest"); }

  function rememberFollow(on) {
    try { window.localStorage.setItem(FOLLOW_KEY, on ? "on" : "off"); } catch (ignored) { /* storage off: it lasts this page */ }
  }

  document.addEventListener("change", function (event) {
    if (event.target === followBox()) { rememberFollow(event.target.checked); }
  });

  function follow(row) {
    var box = followBox();
    if (!box || !box.checked || !row) { return; }
    var active = document.activeElement;
    if (active && active.closest("#request-detail") && typing(active)) { return; }
    var link = row.querySelector("a.request-row");
    if (!link) { return; }
    // htmx may not have processed a row it has just swapped in (a busy browser settles late):
    // processing it again is harmless, and the click is then htmx's, never a page load
    if (window.htmx) { window.htmx.process(link); }
    link.click();
  }

  // the newest arrival is opened once htmx has settled the rows (before that its link is not an
  // htmx link yet, and a click would load the whole page)
  var arrivedNewest = null;
  document.addEventListener("htmx:afterSettle", function () {
    var row = arrivedNewest;
    arrivedNewest = null;
    if (row && document.body.contains(row)) { follow(row); }
  });

  // rows brought by the poller flash once so that a new arrival catches the eye
  document.addEventListener("htmx:afterSwap", function (event) {
    var config = event.detail.requestConfig;
    if (config && /\/requests\/poll/.test(config.path)) {
      var poller = document.getElementById("poller");
      var next = poller && poller.nextElementSibling;
      var newest = null;
      while (next && next.classList.contains("request-row-item") && !next.dataset.seen) {
        next.classList.add("arrived");
        next.dataset.seen = "1";
        newest = newest || next;
        next = next.nextElementSibling;
      }
      // (afterSwap comes once per swapped element: only the first sees the new rows unseen)
      if (newest) { arrivedNewest = newest; }
    }
    var target = event.detail.target;
    var detail = document.getElementById("request-detail");
    if (detail && target && target.id === "request-detail") {
      markSelected(detail.getAttribute("data-request-id") || "");
      if (window.matchMedia(NARROW).matches) {
        var inspector = document.querySelector(".inspector");
        if (inspector) { window.scrollTo(0, inspector.getBoundingClientRect().top + window.scrollY - 8); }
      }
    }
    updateTimes();
  });

  document.addEventListener("htmx:afterSettle", measureSectionBar);
  window.addEventListener("resize", measureSectionBar);

  // the sticky section bar wraps onto more lines on narrower panes: what it jumps to must stop
  // below it (the stylesheet's scroll-margin reads this height)
  function measureSectionBar() {
    var nav = document.querySelector(".detail-nav");
    if (nav) {
      document.documentElement.style.setProperty("--detail-nav-height", nav.offsetHeight + "px");
    }
  }

  // relative times ("12 s ago") stay current; the exact time is in the title ------------------

  function ago(seconds) {
    if (seconds < 5) { return "just now"; }
    if (seconds >= 86400) { return Math.floor(seconds / 86400) + " d ago"; }
    if (seconds >= 3600) { return Math.floor(seconds / 3600) + " h ago"; }
    if (seconds >= 60) { return Math.floor(seconds / 60) + " min ago"; }
    return seconds + " s ago";
  }

  function updateTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-ago]").forEach(function (node) {
      var moment = Date.parse(node.getAttribute("datetime"));
      if (!isNaN(moment)) { node.textContent = ago(Math.max(0, Math.floor((now - moment) / 1000))); }
    });
  }

  // dialogs: the settings drawer and the keyboard help ---------------------------------------

  function openDialog(id) {
    var dialog = document.getElementById(id);
    if (dialog && !dialog.open) { dialog.showModal(); }
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) { openDialog(opener.getAttribute("data-open-dialog")); return; }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { closer.closest("dialog").close(); return; }
    // a click on the backdrop (the dialog element itself, outside its content) closes it
    if (event.target.tagName === "DIALOG") {
      var box = event.target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
                   event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) { event.target.close(); }
    }
  });

  // the keyboard: j/k move, Enter opens, / searches, Esc closes, ? shows the keys ------------

  var cursor = -1;

  function setCursor(index) {
    var items = rows();
    if (!items.length) { cursor = -1; return; }
    cursor = Math.max(0, Math.min(items.length - 1, index));
    items.forEach(function (item, at) { item.classList.toggle("cursor", at === cursor); });
    items[cursor].scrollIntoView({block: "nearest"});
    return items[cursor];
  }

  function currentIndex() {
    var items = rows();
    var marked = document.querySelector(".request-row-item.cursor") || document.querySelector(".request-row-item.selected");
    return marked ? items.indexOf(marked) : -1;
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (document.querySelector("dialog[open]")) { return; }  // a dialog has the keys (Esc closes it)
    var search = document.getElementById("filter-q");
    if (typing(event.target)) {
      if (event.key === "Escape" && event.target === search) { search.blur(); }
      return;
    }
    if (!document.getElementById("request-rows")) { return; }
    var key = event.key;
    if (key === "j" || key === "k") {
      event.preventDefault();
      var at = currentIndex();
      var moved = setCursor(at < 0 ? 0 : at + (key === "j" ? 1 : -1));
      // the row's link takes the focus, so that Enter opens it
      if (moved) { moved.querySelector("a.request-row").focus({preventScroll: true}); }
    } else if (key === "Enter") {
      var items = rows();
      if (cursor >= 0 && items[cursor] && document.activeElement === document.body) {
        event.preventDefault();
        items[cursor].querySelector("a.request-row").click();
      }
    } else if (key === "/") {
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (key === "?") {
      event.preventDefault();
      openDialog("keys-dialog");
    } else if (key === "f") {
      var box = followBox();
      if (box) { event.preventDefault(); box.checked = !box.checked; rememberFollow(box.checked); }
    } else if (key === "Escape") {
      var back = document.querySelector("#request-detail [data-back]");
      if (back) { event.preventDefault(); goBack(back); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    // the bin page puts the list back where it was itself: the browser's own restoration would
    // return to where the page was when the detail's URL was pushed (the top of the detail)
    if (document.querySelector(".list-panel") && "scrollRestoration" in window.history) {
      window.history.scrollRestoration = "manual";
    }
    document.querySelectorAll(".request-row-item").forEach(function (item) { item.dataset.seen = "1"; });
    var box = followBox();
    if (box) {
      try { box.checked = window.localStorage.getItem(FOLLOW_KEY) === "on"; } catch (ignored) { box.checked = false; }
    }
    var selected = new URLSearchParams(window.location.search).get("request");
    if (selected) {
      markSelected(selected);
      var row = document.getElementById("row-" + selected);
      if (row) { cursor = rows().indexOf(row); row.classList.add("cursor"); }
    } else {
      restoreReturn();
    }
    updateTimes();
    measureSectionBar();
    window.setInterval(updateTimes, 15000);
    // the section bar shows where the detail is scrolled to
    document.addEventListener("scroll", markSection, {passive: true});
  });

  function markSection() {
    var nav = document.querySelector(".detail-nav");
    if (!nav) { return; }
    var links = nav.querySelectorAll("a[href^='#']");
    var current = null;
    links.forEach(function (link) {
      var section = document.getElementById(link.getAttribute("href").slice(1));
      if (section && section.getBoundingClientRect().top < 120) { current = link; }
    });
    links.forEach(function (link) { link.classList.toggle("active", link === current); });
  }
})();
