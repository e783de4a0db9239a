// we: live updates and small helpers; no framework, no network beyond this origin.
// Live: the server sends an "op" event for every op applied in this community; we fetch
// this same page again and swap the parts marked data-live (never the forms being typed in).
(function () {
  "use strict";
  var url = document.body.dataset.events;
  var state = document.getElementById("live-state");
  var timer = null;
  document.body.dataset.updates = "0";

  function refresh() {
    timer = null;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (next && next.innerHTML !== el.innerHTML) {
            el.innerHTML = next.innerHTML;
            Array.prototype.forEach.call(next.attributes, function (a) {
              el.setAttribute(a.name, a.value);
            });
          }
        });
        document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
      })
      .catch(function () {});
  }

  // A browser holds at most 6 connections to one host:port: a stream left open by a page
  // kept in the back/forward cache would starve the next ones, so it closes on pagehide.
  var source = null;
  function connect() {
    if (!url || !window.EventSource || source) return;
    source = new EventSource(url);
    source.addEventListener("open", function () { if (state) state.textContent = "· live"; });
    source.addEventListener("error", function () { if (state) state.textContent = "· offline"; });
    source.addEventListener("op", function () {
      if (!timer) timer = setTimeout(refresh, 150); // a burst of ops: one fetch
    });
  }
  window.addEventListener("pagehide", function () {
    if (source) { source.close(); source = null; }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { connect(); refresh(); }
  });
  connect();

  // A vote opens and closes by the clock, not by an op: look again at that moment.
  document.querySelectorAll("[data-refresh-at]").forEach(function (el) {
    var wait = Number(el.dataset.refreshAt) - Date.now() + 500;
    if (wait > 0 && wait < 7 * 86400000) setTimeout(refresh, wait);
  });

  // Quadratic ballots: show the credits the numbers cost (the node checks the bound).
  var ballot = document.getElementById("ballot");
  if (ballot && ballot.dataset.method === "quadratic") {
    var used = document.getElementById("credits-used");
    ballot.addEventListener("input", function () {
      var sum = 0;
      ballot.querySelectorAll("input.qv").forEach(function (i) {
        var n = parseInt(i.value, 10);
        if (!isNaN(n)) sum += n * n;
      });
      used.textContent = String(sum);
    });
  }

  // Ranked ballots: drag an option to reorder; the rank numbers follow (typing works too).
  var list = document.getElementById("rank-list");
  if (list) {
    var dragged = null;
    list.addEventListener("dragstart", function (e) {
      dragged = e.target.closest("li");
      if (dragged) dragged.classList.add("dragging");
    });
    list.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
      list.querySelectorAll("input.rank").forEach(function (input, i) {
        input.value = String(i + 1);
      });
    });
    list.addEventListener("dragover", function (e) {
      e.preventDefault();
      var over = e.target.closest("li");
      if (dragged && over && over !== dragged) {
        var after = e.clientY > over.getBoundingClientRect().top + over.offsetHeight / 2;
        list.insertBefore(dragged, after ? over.nextSibling : over);
      }
    });
  }
})();
