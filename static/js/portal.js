// Small progressive enhancements; every page works without this file.
// Elements with data-poll-url are refreshed in place every data-poll-interval ms (default 1000).
(function () {
  "use strict";
  function poll(el) {
    var url = el.getAttribute("data-poll-url");
    var interval = parseInt(el.getAttribute("data-poll-interval") || "1000", 10);
    var stopWhen = el.getAttribute("data-poll-stop-when");
    function tick() {
      fetch(url, { headers: { "X-Requested-With": "fetch", "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          el.innerHTML = html;
          if (stopWhen && el.querySelector(stopWhen)) { return; }
          setTimeout(tick, interval);
        })
        .catch(function () { setTimeout(tick, interval * 3); });
    }
    setTimeout(tick, interval);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-url]").forEach(poll);
    document.querySelectorAll("[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
  });
})();
