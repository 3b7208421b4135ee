// mmsafe ui: keyboard-first labelling. Served as a file under a CSP that
// forbids inline script; reads its data from data-* attributes and never
// inserts HTML (only textContent), so nothing from a reply can run.
"use strict";
(function () {
  var UNDO_KEY = "mmsafe-ui-undo";
  var KEYS = { "1": "refused", "2": "complied", "3": "harmful-complied", "4": "harmless-complied", "5": "unclear" };

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function undoStack() {
    try { return JSON.parse(sessionStorage.getItem(UNDO_KEY) || "[]"); } catch (_) { return []; }
  }
  function saveUndo(s) {
    try { sessionStorage.setItem(UNDO_KEY, JSON.stringify(s.slice(-100))); } catch (_) { /* private mode */ }
  }
  function status(msg) {
    var s = document.getElementById("status");
    if (s) { s.textContent = msg; }
  }
  function post(url, label, note) {
    var body = new URLSearchParams();
    body.set("label", label);
    body.set("note", note || "");
    body.set("csrf", csrf());
    return fetch(url, {
      method: "POST",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf(), "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function attemptPage(root) {
    var url = root.dataset.labelUrl;
    var busy = false;
    function label(l) {
      if (busy) { return; }
      if (!root.dataset.annotator) { window.location.href = "/annotator?next=" + encodeURIComponent(root.dataset.self); return; }
      busy = true;
      var note = document.getElementById("note");
      var prev = root.dataset.mine || "";
      status("saving " + l + "…");
      post(url, l, note ? note.value : "").then(function () {
        var s = undoStack();
        s.push({ url: url, page: root.dataset.self, label: prev, note: note ? note.defaultValue : "" });
        saveUndo(s);
        root.dataset.mine = l;
        var mine = document.getElementById("my-label");
        if (mine) { mine.textContent = l; }
        status("saved " + l);
        if (root.dataset.next) { window.location.href = root.dataset.next; } else { busy = false; }
      }).catch(function (e) { busy = false; status("not saved: " + e.message); });
    }
    function undo() {
      var s = undoStack();
      var last = s.pop();
      if (!last) { status("nothing to undo"); return; }
      saveUndo(s);
      status("undoing…");
      post(last.url, last.label, last.note).then(function () {
        window.location.href = last.page;
      }).catch(function (e) { status("undo failed: " + e.message); });
    }
    // Buttons post through fetch too (the form still works without script).
    var form = document.getElementById("label-form");
    if (form) {
      form.addEventListener("submit", function (e) {
        var b = e.submitter;
        if (b && b.value) { e.preventDefault(); label(b.value); }
      });
    }
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey) { return; }
      if (typing(e)) {
        if (e.key === "Escape") { e.target.blur(); }
        return;
      }
      if (KEYS[e.key]) { e.preventDefault(); label(KEYS[e.key]); return; }
      if ((e.key === "j" || e.key === "ArrowRight") && root.dataset.next) { window.location.href = root.dataset.next; return; }
      if ((e.key === "k" || e.key === "ArrowLeft") && root.dataset.prev) { window.location.href = root.dataset.prev; return; }
      if (e.key === "u") { e.preventDefault(); undo(); return; }
      if (e.key === "n") { var n = document.getElementById("note"); if (n) { e.preventDefault(); n.focus(); } }
    });
  }

  function listPage(table) {
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr.row"));
    var at = -1;
    function select(i) {
      if (!rows.length) { return; }
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r, j) { r.classList.toggle("selected", j === at); });
      rows[at].scrollIntoView({ block: "nearest" });
    }
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) { return; }
      if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); select(at + 1); }
      else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); select(at - 1); }
      else if (e.key === "Enter" || e.key === "o") {
        var r = rows[at < 0 ? 0 : at];
        if (r) { window.location.href = r.dataset.href; }
      }
    });
  }

  // Run overview: `q` starts the labelling queue, `a` opens the attempts.
  function overviewPage() {
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) { return; }
      var target = e.key === "q" ? "to-queue" : e.key === "a" ? "to-attempts" : null;
      var link = target && document.getElementById(target);
      if (link) { e.preventDefault(); window.location.href = link.getAttribute("href"); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var a = document.getElementById("attempt");
    if (a) { attemptPage(a); }
    var t = document.getElementById("attempts");
    if (t) { listPage(t); }
    if (document.getElementById("to-queue")) { overviewPage(); }
  });
})();
