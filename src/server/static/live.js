// Live progress of an upload being registered: the only script of the pages, and the only thing
// that needs one. It follows the server-sent events of the page's upload, updates the counts,
// the bar, the rate and the time left, and reloads the page when the upload's state changes
// (started, done, stopped). Without it, the page reloads itself every few seconds instead.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.EventSource) {
    return;
  }
  var source = new EventSource(box.getAttribute("data-events"));

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = text;
    }
  }

  // Progress of this upload means its turn has come: a page loaded while it waited says so now.
  function registering() {
    setText("status-title", "Registering");
    var badge = document.querySelector("#state-badge .badge");
    if (badge && badge.className.indexOf("running") < 0) {
      badge.className = "badge running";
      badge.textContent = "Registering";
    }
  }

  source.addEventListener("progress", function (event) {
    var progress = JSON.parse(event.data);
    registering();
    var bar = document.getElementById("live-bar");
    if (bar) {
      bar.max = Math.max(progress.rows, 1);
      bar.value = progress.done;
      bar.textContent = progress.done_text;
    }
    setText("live-done", progress.done_text);
    setText("live-rate", progress.rate_text);
    setText("live-left", progress.left_text);
    var counts = box.querySelectorAll("[data-count]");
    for (var i = 0; i < counts.length; i++) {
      var status = counts[i].getAttribute("data-count");
      if (Object.prototype.hasOwnProperty.call(progress.counts_text, status)) {
        counts[i].textContent = progress.counts_text[status];
      }
    }
  });

  source.addEventListener("state", function () {
    source.close();
    window.location.reload();
  });
})();
