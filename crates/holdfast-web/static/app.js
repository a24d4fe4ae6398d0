// "/" focuses the search box, as in most web apps; Escape leaves it.
document.addEventListener("keydown", function (e) {
  var box = document.getElementById("global-search");
  if (!box) return;
  var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
  if (e.key === "/" && !typing) { e.preventDefault(); box.focus(); box.select(); }
  else if (e.key === "Escape" && document.activeElement === box) { box.blur(); }
});

// Lists: results follow the search box and filters as you type (the same page, asked for its
// results only), and the address bar keeps up so a reload or a shared link shows the same list.
(function () {
  var form = document.querySelector("form[data-live]");
  if (!form || !window.fetch) return;
  var results = document.getElementById(form.getAttribute("data-live"));
  var timer = null, asked = 0;
  function refresh() {
    var params = new URLSearchParams(new FormData(form));
    Array.from(params.keys()).forEach(function (k) { if (params.get(k) === "") params.delete(k); });
    var query = params.toString();
    var url = form.getAttribute("action") + (query ? "?" + query : "");
    var mine = ++asked;
    fetch(url, { headers: { "X-Holdfast-Partial": "results" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (mine !== asked) return;
        results.innerHTML = html;
        history.replaceState(null, "", url);
        wirePicks();
      })
      .catch(function () { if (mine === asked) form.submit(); });
  }
  form.addEventListener("input", function (e) {
    if (e.target.tagName !== "INPUT") return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  form.addEventListener("change", function (e) {
    if (e.target.tagName === "SELECT") { clearTimeout(timer); refresh(); }
  });
})();

// Bulk select: "pick all" and a count of the picked rows; the bulk buttons wait for a pick.
function wirePicks() {
  var bulk = document.querySelector("form[data-bulk]");
  if (!bulk) return;
  var all = bulk.querySelector("[data-pick-all]");
  var boxes = Array.from(bulk.querySelectorAll("input[name=ids]"));
  var label = bulk.querySelector("[data-picked]");
  function update() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    label.textContent = n ? n + " picked" : "Pick rows to hand over or export";
    bulk.querySelectorAll("[data-needs-pick]").forEach(function (b) { b.disabled = n === 0; });
    if (all) all.checked = n > 0 && n === boxes.length;
  }
  if (all) all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    update();
  });
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  update();
}
wirePicks();

// Date-and-time fields: the server speaks UTC, people read their own clock. Shown in local time;
// on submit the UTC moment travels in a hidden field of the same name.
document.querySelectorAll("input[type=datetime-local][data-utc]").forEach(function (input) {
  var pad = function (n) { return String(n).padStart(2, "0"); };
  if (input.value) {
    var d = new Date(input.value + ":00Z");
    if (!isNaN(d)) {
      input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
    }
  }
  input.form.addEventListener("submit", function () {
    var local = new Date(input.value);
    if (!input.value || isNaN(local)) return;
    var hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = input.name; hidden.value = local.toISOString();
    input.removeAttribute("name");
    input.form.appendChild(hidden);
  });
});

// Forms that change something hard to see undone ask first.
document.querySelectorAll("form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (e) {
    if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
  });
});

// Header search: accounts, contacts, leads and deals drop down under the box as you type
// (the search page, asked for its results only); Enter opens the full results page.
(function () {
  var box = document.getElementById("global-search");
  var panel = document.getElementById("search-results");
  if (!box || !panel || !window.fetch) return;
  var timer = null, asked = 0;
  function hide() { panel.hidden = true; }
  function ask() {
    var q = box.value.trim();
    if (!q) { hide(); return; }
    var mine = ++asked;
    fetch("/search?q=" + encodeURIComponent(q), { headers: { "X-Holdfast-Partial": "results" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (mine !== asked) return;
        panel.innerHTML = html;
        panel.hidden = false;
      })
      .catch(hide);
  }
  box.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 200); });
  box.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" && !panel.hidden) {
      var first = panel.querySelector("a");
      if (first) { e.preventDefault(); first.focus(); }
    }
  });
  panel.addEventListener("keydown", function (e) {
    var links = Array.from(panel.querySelectorAll("a"));
    var i = links.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && i < links.length - 1) { e.preventDefault(); links[i + 1].focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); if (i > 0) links[i - 1].focus(); else box.focus(); }
    else if (e.key === "Escape") { hide(); box.focus(); }
  });
  document.addEventListener("click", function (e) { if (!panel.contains(e.target) && e.target !== box) hide(); });
})();
