// "/" focuses the search box, as in most web apps; Escape leaves it.
document.addEventListener("keydown", function (e) {
  var box = document.getElementById("global-search");
  if (!box) return;
  var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
  if (e.key === "/" && !typing) { e.preventDefault(); box.focus(); box.select(); }
  else if (e.key === "Escape" && document.activeElement === box) { box.blur(); }
});
