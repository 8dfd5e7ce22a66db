// The open pages' countdowns, and their list refreshed without a reload. Everything reads without this script.
(function () {
  "use strict";
  var box = document.getElementById("open-pages");
  if (!box) return;
  var every = (parseInt(box.dataset.every, 10) || 5) * 1000;
  var loadedAt = Date.now();
  var fetching = false;

  function show(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function tick() {
    var elapsed = (Date.now() - loadedAt) / 1000;
    var due = false;
    box.querySelectorAll(".countdown").forEach(function (el) {
      var left = parseInt(el.dataset.remaining, 10) - elapsed;
      el.textContent = show(left);
      if (left <= 0) { el.classList.add("overdue"); due = true; }
    });
    return due;
  }

  function refresh() {
    if (fetching) return;
    fetching = true;
    fetch(box.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var open = Array.prototype.map.call(box.querySelectorAll("details[open]"), function (d) {
          return d.closest("article") && d.closest("article").id;
        });
        box.innerHTML = html;
        open.forEach(function (id) {
          var d = id && document.querySelector("#" + id + " details");
          if (d) d.open = true;
        });
        loadedAt = Date.now();
        tick();
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { fetching = false; });
  }

  var lastRefresh = Date.now();
  var wasDue = false;
  setInterval(function () {
    var due = tick();
    // A deadline reaching zero refreshes at once: the step it fires shows without waiting a round.
    if ((due && !wasDue) || Date.now() - lastRefresh >= every) {
      lastRefresh = Date.now();
      refresh();
    }
    wasDue = due;
  }, 1000);
  tick();
})();
