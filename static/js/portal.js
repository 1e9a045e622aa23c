// Small progressive enhancements; every page works without this file.
// Elements with data-poll-url are refreshed in place every data-poll-interval ms (default 1000).
//
// A refresh changes as little as it can, so that it never pulls a control from under the keyboard, a screen
// reader or an open list: when every top-level element of the region has an id, only the elements whose markup
// changed are replaced, and one that holds the focus waits until the focus leaves it. Changes are announced
// through the region's announcer (data-announcer: the id of a persistent role="status" element), from
// data-announce on a new element and data-announce-change when that attribute's text changes. A redirect (the
// sign-in page after the session expired) reloads the page; repeated failures show data-offline-message.
// Every response carries a freshly masked CSRF token, which alone does not make an element changed: the kept
// element takes the fresh token instead. A form with data-confirm asks before it is sent, replaced or not.
(function () {
  "use strict";
  var CSRF_INPUT = 'input[name="csrfmiddlewaretoken"]';
  function withoutCsrf(node) {
    var copy = node.cloneNode(true);
    copy.querySelectorAll(CSRF_INPUT).forEach(function (input) { input.removeAttribute("value"); });
    return copy.outerHTML;
  }
  function unchanged(old, node) {
    return old.outerHTML === node.outerHTML || withoutCsrf(old) === withoutCsrf(node);
  }
  function takeFreshCsrf(old, node) {
    var fresh = node.querySelectorAll(CSRF_INPUT);
    old.querySelectorAll(CSRF_INPUT).forEach(function (input, i) { if (fresh[i]) { input.value = fresh[i].value; } });
  }
  function fieldKey(field) {
    var choice = field.type === "radio" || field.type === "checkbox" ? "|" + field.value : "";
    return (field.form ? field.form.getAttribute("action") : "") + "|" + field.name + choice;
  }
  // The values of fields the user changed, and the focus, are carried over to replaced markup.
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
    if (focused && document.getElementById(focused) && document.activeElement !== document.getElementById(focused)) {
      document.getElementById(focused).focus();
    }
  }
  function elements(nodes) {
    return Array.prototype.filter.call(nodes, function (node) { return node.nodeType === 1; });
  }
  function swap(el, html, announce) {
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    var incoming = elements(fresh.content.childNodes);
    var present = elements(el.childNodes);
    var keyed = incoming.concat(present).every(function (node) { return node.id; });
    if (!keyed) { el.innerHTML = html; return; }
    var current = {};
    present.forEach(function (node) { current[node.id] = node; });
    var wanted = incoming.map(function (node) {
      var old = current[node.id];
      if (!old) {
        if (present.length && node.hasAttribute("data-announce")) { announce(node.getAttribute("data-announce")); }
        return node;
      }
      if (unchanged(old, node) || old.contains(document.activeElement)) { takeFreshCsrf(old, node); return old; }
      var said = node.getAttribute("data-announce-change");
      if (said && said !== old.getAttribute("data-announce-change")) { announce(said); }
      return node;
    });
    present.forEach(function (node) { if (wanted.indexOf(node) < 0) { el.removeChild(node); } });
    wanted.forEach(function (node, i) {
      var at = elements(el.childNodes)[i];
      if (at !== node) { el.insertBefore(node, at || null); }  // a new or changed element; the others stay put
    });
  }
  function poll(el) {
    var url = el.getAttribute("data-poll-url");
    var interval = parseInt(el.getAttribute("data-poll-interval") || "1000", 10);
    var stopWhen = el.getAttribute("data-poll-stop-when");
    var announcer = document.getElementById(el.getAttribute("data-announcer") || "");
    var offline = null;
    var failures = 0;
    var touched = {};
    function announce(text) { if (announcer) { announcer.textContent = text; } }
    function touch(e) {
      var field = e.target;
      if (!field.name) { return; }
      touched[fieldKey(field)] = true;
      if (field.type === "radio") { touched[fieldKey(field).replace(/\|[^|]*$/, "")] = true; }
    }
    function online(ok) {
      failures = ok ? 0 : failures + 1;
      var message = el.getAttribute("data-offline-message");
      if (!ok && failures >= 3 && message && !offline) {
        offline = document.createElement("p");
        offline.className = "error-summary";
        offline.setAttribute("role", "alert");
        offline.textContent = message;
        el.parentNode.insertBefore(offline, el);
      } else if (ok && offline) {
        offline.parentNode.removeChild(offline);
        offline = null;
      }
    }
    el.addEventListener("input", touch);
    el.addEventListener("change", touch);
    function tick() {
      fetch(url, { headers: { "X-Requested-With": "fetch", "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected) { window.location.reload(); return Promise.reject("redirected"); }
          return r.ok ? r.text() : Promise.reject(r.status);
        })
        .then(function (html) {
          online(true);
          carryOver(el, touched, function () { swap(el, html, announce); });
          if (stopWhen && el.querySelector(stopWhen)) { return; }
          setTimeout(tick, interval);
        })
        .catch(function (reason) {
          if (reason === "redirected") { return; }
          online(false);
          setTimeout(tick, interval * 3);
        });
    }
    setTimeout(tick, interval);
  }
  // One listener on the document, not one per form: a refresh replaces forms, and a replacement must ask too.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute && form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      e.preventDefault();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
// A form the server refused comes back with an error summary (tabindex="-1"): focusing it on load makes a screen
// reader read it first and puts the keyboard just before its links to the fields. Pages without one are untouched.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector('.error-summary[tabindex="-1"]');
    if (summary) { summary.focus(); }
  });
})();
