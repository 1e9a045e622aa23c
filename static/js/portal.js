// Small progressive enhancements; every page works without this file.
// Elements with data-poll-url are refreshed in place every data-poll-interval ms (default 1000).
(function () {
  "use strict";
  // A refresh must not wipe a form someone is filling in (the console's engagement form): the values of fields
  // the user changed, and the focus, are carried over to the refreshed markup.
  function fieldKey(field) {
    var choice = field.type === "radio" || field.type === "checkbox" ? "|" + field.value : "";
    return (field.form ? field.form.getAttribute("action") : "") + "|" + field.name + choice;
  }
  function carryOver(el, touched, render) {
    var saved = {};
    var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : "";
    el.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (field) {
      if (touched[fieldKey(field)] || (field.type === "radio" && touched[fieldKey(field).replace(/\|[^|]*$/, "")])) {
        saved[fieldKey(field)] = field.type === "radio" || field.type === "checkbox" ? field.checked : field.value;
      }
    });
    render();
    el.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (field) {
      var key = fieldKey(field);
      if (!(key in saved)) { return; }
      if (field.type === "radio" || field.type === "checkbox") { field.checked = saved[key]; } else { field.value = saved[key]; }
    });
    if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
  }
  function poll(el) {
    var url = el.getAttribute("data-poll-url");
    var interval = parseInt(el.getAttribute("data-poll-interval") || "1000", 10);
    var stopWhen = el.getAttribute("data-poll-stop-when");
    var touched = {};
    function touch(e) {
      var field = e.target;
      if (!field.name) { return; }
      touched[fieldKey(field)] = true;
      if (field.type === "radio") { touched[fieldKey(field).replace(/\|[^|]*$/, "")] = true; }
    }
    el.addEventListener("input", touch);
    el.addEventListener("change", touch);
    function tick() {
      fetch(url, { headers: { "X-Requested-With": "fetch", "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          carryOver(el, touched, function () { el.innerHTML = html; });
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
