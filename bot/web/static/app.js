// syndbot: the live length counter (counted on the server, exactly as the platform counts)
// and a confirmation before irreversible buttons. No framework; nothing else.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function count(area) {
    var counter = document.getElementById(area.getAttribute("data-counter"));
    if (!counter) return;
    var body = { account: area.getAttribute("data-account"), text: area.value };
    if (area.getAttribute("data-url")) body.url = area.getAttribute("data-url");
    var seq = (area.syndbotSeq || 0) + 1;
    area.syndbotSeq = seq;
    fetch("/api/length", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || seq !== area.syndbotSeq) return; // an older answer arriving late
        counter.querySelector(".n").textContent = data.length;
        counter.querySelector(".limit").textContent = data.limit;
        counter.querySelector(".note").textContent = data.link_added ? "(with the link added)" : "";
        counter.classList.toggle("over", data.length > data.limit);
        counter.setAttribute("data-length", String(data.length));
      })
      .catch(function () { /* offline: the server checks again when posting */ });
  }

  document.querySelectorAll("textarea[data-account]").forEach(function (area) {
    var timer = null;
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { count(area); }, 250);
    });
    var n = document.getElementById(area.getAttribute("data-counter"));
    if (n && n.querySelector(".n").textContent === "…") count(area);
  });

  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
