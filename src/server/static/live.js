// Live progress of an upload being registered: the only script of the pages, and the only thing
// that needs one. It follows the server-sent events of the page's upload, updates the counts,
// the bar, the rate and the time left, tells a screen reader how it goes (a polite live region,
// every tenth of the way, not at every tick), and reloads the page when the upload's state
// changes (started, done, stopped). Without it, the page reloads itself every few seconds
// instead. And on every page: one the browser brings back from its memory (Back, Forward) is
// asked for again, so that a confirmation already answered is never shown as it was.
(function () {
  "use strict";
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

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

  // The tenth of the way last announced: -1 before the first.
  var announced = -1;
  function announce(progress) {
    var tenth = Math.floor((10 * progress.done) / Math.max(progress.rows, 1));
    if (tenth === announced) {
      return;
    }
    announced = tenth;
    var text = "Registering: " + progress.done_text;
    if (progress.left_text) {
      text += ", " + progress.left_text;
    }
    setText("live-said", text);
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
    announce(progress);
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
