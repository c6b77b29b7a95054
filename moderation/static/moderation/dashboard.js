// Keyboard work and live counts for the moderation dashboard. A static file, because the Content-Security-Policy
// allows no inline script. Every action still goes through the page's ordinary POST forms (with CSRF), so the
// dashboard works without this file; this only drives those forms from the keyboard.
(function () {
  "use strict";

  var cursorKey = "moderation:cursor:" + location.pathname + location.search;
  var cursor = 0;
  var busy = false;
  var pendingG = null;
  var chooserTarget = null;
  var chooserReason = "";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function items() { return $all(".item[data-comment-id]"); }
  function current() { return items()[cursor] || null; }

  function setCursor(index, scroll) {
    var list = items();
    if (!list.length) { return; }
    cursor = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (el, i) {
      el.classList.toggle("current", i === cursor);
      if (i === cursor) { el.setAttribute("aria-current", "true"); } else { el.removeAttribute("aria-current"); }
    });
    if (scroll) { list[cursor].scrollIntoView({ block: "nearest" }); }
    // Kept by comment id, with the ids that follow it: after an action (one comment or a bulk selection) the
    // page reloads without the decided comments, and the cursor goes to the first one still there at or after
    // it. Kept by position, it skipped comments nobody had reviewed after a bulk action (issue 21).
    var ids = list.map(function (el) { return el.getAttribute("data-comment-id"); });
    var saved = JSON.stringify({ id: ids[cursor], after: ids.slice(cursor + 1, cursor + 101) });
    try { sessionStorage.setItem(cursorKey, saved); } catch (e) { /* storage off: cursor resets */ }
  }

  function savedCursor() {
    var raw = null;
    try { raw = sessionStorage.getItem(cursorKey); } catch (e) { return 0; }
    if (!raw) { return 0; }
    var ids = items().map(function (el) { return el.getAttribute("data-comment-id"); });
    var state;
    try { state = JSON.parse(raw); } catch (e) { return 0; }
    if (!state || typeof state !== "object") { return 0; }
    var candidates = [state.id].concat(state.after || []);
    for (var i = 0; i < candidates.length; i++) {
      var at = ids.indexOf(String(candidates[i]));
      if (at >= 0) { return at; }
    }
    return 0;
  }

  function submit(form, button) {
    if (!form || busy) { return; }
    busy = true;
    if (form.requestSubmit) { form.requestSubmit(button || undefined); } else { form.submit(); }
  }

  function selected() { return $all("input.select:checked"); }

  function updateSelected() {
    var n = $("#selected-n");
    if (n) { n.textContent = String(selected().length); }
    items().forEach(function (el) {
      var box = $("input.select", el);
      el.classList.toggle("selected", !!(box && box.checked));
    });
  }

  function flash(text) {
    var list = $("#messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.id = "messages";
      $("main").parentNode.insertBefore(list, $("main"));
    }
    var li = document.createElement("li");
    li.className = "info";
    li.setAttribute("role", "status");
    li.textContent = text;
    list.appendChild(li);
  }

  // --- help overlay ---------------------------------------------------------------------------------------------
  function toggleHelp(show) {
    var help = $("#help");
    if (!help) { return; }
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) { $("button", help).focus(); }
  }

  // --- reject chooser: r, then 1-7 (4 = other, with a note) ------------------------------------------------------
  function openChooser(target, description) {
    var chooser = $("#reject-chooser");
    if (!chooser || !target) { return; }
    chooserTarget = target;
    chooserReason = "";
    $("#reject-target").textContent = description;
    $("#reject-note").value = "";
    $all("[data-reason]", chooser).forEach(function (b) { b.classList.remove("chosen"); });
    chooser.hidden = false;
    $("[data-reason]", chooser).focus();
  }

  function closeChooser() {
    var chooser = $("#reject-chooser");
    if (chooser) { chooser.hidden = true; }
    chooserTarget = null;
  }

  function chooseReason(code) {
    chooserReason = code;
    $all("#reject-chooser [data-reason]").forEach(function (b) {
      b.classList.toggle("chosen", b.getAttribute("data-reason") === code);
    });
    var note = $("#reject-note");
    if (code === "other" && !note.value.trim()) { note.focus(); return; }
    confirmReject();
  }

  function confirmReject() {
    var target = chooserTarget;
    var note = $("#reject-note").value;
    if (!target) { return; }
    if (!chooserReason && note.trim()) { chooserReason = "other"; }
    if (!chooserReason) { return; }
    if (chooserReason === "other" && !note.trim()) { $("#reject-note").focus(); return; }
    var form = target.form;
    var reason = $("[name=reason_code]", form);
    var noteField = $("[name=note]", form);
    if (reason) { reason.value = chooserReason; }
    if (noteField) { noteField.value = note; }
    closeChooser();
    submit(form, target.button);
  }

  function rejectCurrentOrSelection() {
    var chosen = selected();
    var bulk = $("#bulk-form");
    if (chosen.length && bulk) {
      openChooser({ form: bulk, button: $("button[value=reject]", bulk) }, "Reject " + chosen.length + " selected comments");
      return;
    }
    var item = current();
    var form = item && $("form.reject-form", item);
    if (form) { openChooser({ form: form }, "Reject comment #" + item.getAttribute("data-comment-id")); }
  }

  function rejectAuthor() {
    var item = current();
    var form = item && $("form.author-form", item);
    if (!form) { flash("No other comments of this author are waiting for review."); return; }
    var author = $(".author", item);
    openChooser({ form: form }, "Reject all pending comments by " + (author ? author.textContent : "this author"));
  }

  function approveCurrentOrSelection() {
    var chosen = selected();
    var bulk = $("#bulk-form");
    if (chosen.length && bulk) { submit(bulk, $("button[value=approve]", bulk)); return; }
    var item = current();
    var form = item && $("form.approve-form", item);
    if (form) { submit(form, $("button[value=approve]", form)); }
  }

  function toggleSelect() {
    var item = current();
    var box = item && $("input.select", item);
    if (box) { box.checked = !box.checked; updateSelected(); }
  }

  function open() {
    var item = current();
    var link = item && $("a.open", item);
    if (link) { location.href = link.href; }
  }

  function go(where) {
    var links = { q: "/dashboard/", a: "/dashboard/audit/", s: "/dashboard/stats/" };
    if (links[where]) { location.href = links[where]; }
  }

  function isTyping(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function onChooserKey(event) {
    if (event.key === "Escape") { event.preventDefault(); closeChooser(); return true; }
    var inNote = document.activeElement === $("#reject-note");
    if (event.key === "Enter") {
      event.preventDefault();
      var focused = document.activeElement;
      if (focused && focused.hasAttribute("data-reason")) { chooseReason(focused.getAttribute("data-reason")); }
      else { confirmReject(); }
      return true;
    }
    if (!inNote && /^[1-7]$/.test(event.key)) {
      event.preventDefault();
      var buttons = $all("#reject-chooser [data-reason]");
      chooseReason(buttons[Number(event.key) - 1].getAttribute("data-reason"));
      return true;
    }
    return inNote;  // typing a note
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var chooser = $("#reject-chooser");
    if (chooser && !chooser.hidden) { onChooserKey(event); return; }
    var help = $("#help");
    if (help && !help.hidden) {
      if (event.key === "Escape" || event.key === "?") { event.preventDefault(); toggleHelp(false); }
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (busy) { return; }
    if (pendingG) {
      clearTimeout(pendingG);
      pendingG = null;
      go(event.key);
      return;
    }
    switch (event.key) {
      case "j": setCursor(cursor + 1, true); break;
      case "k": setCursor(cursor - 1, true); break;
      case "a": approveCurrentOrSelection(); break;
      case "r": rejectCurrentOrSelection(); break;
      case "R": rejectAuthor(); break;
      case "x": toggleSelect(); break;
      case "u": submit($("#undo-form")); break;
      case "o": case "Enter": open(); break;
      case "/": var search = $("#search"); if (search) { search.focus(); search.select(); } break;
      case "?": toggleHelp(true); break;
      case "g": pendingG = setTimeout(function () { pendingG = null; }, 1500); break;
      default: return;
    }
    event.preventDefault();
  });

  // --- mouse and touch still work -------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var t = event.target.closest ? event.target : null;
    if (!t) { return; }
    if (t.closest("[data-toggle-help]")) { toggleHelp(); return; }
    var reason = t.closest("#reject-chooser [data-reason]");
    if (reason) { chooseReason(reason.getAttribute("data-reason")); return; }
    if (t.id === "reject-chooser") { closeChooser(); return; }
    var item = t.closest(".item[data-comment-id]");
    if (item) { setCursor(items().indexOf(item), false); }
  });
  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("select")) { updateSelected(); }
  });
  var chooserForm = $("#reject-chooser-form");
  if (chooserForm) { chooserForm.addEventListener("submit", function (e) { e.preventDefault(); confirmReject(); }); }

  // --- counts refresh without reloading ------------------------------------------------------------------------
  var tabs = $("nav.tabs[data-counts-url]");
  if (tabs) {
    var every = Math.max(1, Number(tabs.getAttribute("data-poll-seconds")) || 10) * 1000;
    var refresh = function () {
      if (document.hidden) { return; }
      fetch(tabs.getAttribute("data-counts-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.counts) { return; }
          var prompt = $("#new-comments");
          if (prompt && typeof data.new === "number" && data.new > 0) {
            // The list is not redrawn under the moderator's cursor: a prompt says what is waiting, and
            // "show" reloads the page (the cursor is kept by comment id).
            $("#show-new", prompt).textContent =
              data.new + (data.new === 1 ? " new comment" : " new comments") + " — show";
            prompt.hidden = false;
          }
          Object.keys(data.counts).forEach(function (status) {
            var count = $('a[data-status="' + status + '"] .count', tabs);
            if (count && count.textContent !== String(data.counts[status])) {
              count.textContent = String(data.counts[status]);
              count.classList.add("changed");
            }
          });
        })
        .catch(function () { /* offline or logged out: keep the last counts */ });
    };
    setInterval(refresh, every);
  }

  setCursor(savedCursor(), true);
  updateSelected();
  window.addEventListener("pageshow", function () { busy = false; });
}());
