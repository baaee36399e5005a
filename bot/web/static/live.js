// Live progress without reloads. The pages work without this file: it only refreshes parts of
// them in place. Text from the server goes in through textContent (list) or as HTML the server
// rendered and escaped (the series page's fragment), never by building HTML from JSON here.
"use strict";
(function () {
  var FAST = 1500, SLOW = 15000;

  function poll(fn, delay) {
    setTimeout(function () {
      fn().then(function (next) { poll(fn, next); }, function () { poll(fn, SLOW); });
    }, delay);
  }

  function getJSON(url) {
    return fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  function seriesPage(box) {
    poll(function () {
      return getJSON(box.dataset.liveUrl).then(function (st) {
        if (st.live === box.dataset.live) { return st.active ? FAST : SLOW; }
        return fetch(box.dataset.fragmentUrl, {credentials: "same-origin"}).then(function (r) {
          if (!r.ok) { throw new Error(r.status); }
          return r.text();
        }).then(function (html) {
          box.innerHTML = html;
          var badge = document.querySelector("img.badge");  // the header's state badge follows too
          if (badge) { badge.src = badge.src.split("?")[0] + "?v=" + encodeURIComponent(st.live); }
          box.dataset.live = st.live;
          box.dataset.active = st.active ? "1" : "0";
          return st.active ? FAST : SLOW;
        });
      });
    }, box.dataset.active === "1" ? FAST : SLOW);
  }

  function listPage(table) {
    poll(function () {
      return getJSON(table.dataset.api).then(function (page) {
        var active = false;
        page.series.forEach(function (row) {
          var tr = table.querySelector('tr[data-series="' + row.id + '"]');
          if (!tr) { return; }
          if (["queued", "running"].indexOf(row.state) >= 0 || ["queued", "running"].indexOf(row.run_state) >= 0) {
            active = true;
          }
          var state = tr.querySelector(".state");
          state.textContent = row.state;
          state.className = "state s-" + row.state;
          var cells = tr.querySelector(".cells");
          row.patches.forEach(function (c) {
            var span = cells.querySelector('span[data-index="' + c.index + '"]');
            if (!span) {
              span = document.createElement("span");
              span.dataset.index = c.index;
              span.textContent = c.index;
              cells.insertBefore(span, cells.querySelector(".of"));
            }
            span.className = "cell v-" + c.verdict;
            span.title = c.index + ": " + c.subject + " - " + c.verdict;
          });
        });
        return active ? FAST : SLOW;
      });
    }, table.dataset.active === "1" ? FAST : SLOW);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("live");
    if (box && box.dataset.liveUrl) { seriesPage(box); }
    var table = document.getElementById("series-list");
    if (table && table.dataset.api) { listPage(table); }
  });
})();
