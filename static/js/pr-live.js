// The live part of the detail page polls by itself (htmx's "every" trigger, capped by
// the server at 20 polls a round). This script only starts a new round where htmx's
// own timer cannot notice that the page came back:
// - WeChat (iOS especially) restores the page from its back/forward cache with its
//   timers frozen and runs no script again, so "pageshow" is the only signal;
// - a page that was hidden while its round ran out shows a stale headcount when the
//   user returns to it.
// It also ends a round at its first failed poll: htmx's timer would otherwise go on
// once a second for as long as the server, or the network, keeps failing.
(function () {
  "use strict";

  function restartRound() {
    var live = document.getElementById("pr-live");
    if (!live || !window.htmx) {
      return;
    }
    // The live element is the source, so its hx-sync applies: a poll in flight wins.
    window.htmx.ajax("GET", live.dataset.restartUrl, {
      source: live,
      target: live,
      swap: "outerHTML",
    });
  }

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      restartRound();
    }
  });

  document.addEventListener("visibilitychange", function () {
    var live = document.getElementById("pr-live");
    if (document.visibilityState === "visible" && live && live.dataset.polling === "off") {
      restartRound();
    }
  });

  // The element that polls, swapped for a copy that does not: htmx stops a timer
  // once its element has left the page. Coming back to the page starts a round.
  function endRound(live) {
    var stopped = live.cloneNode(true);
    stopped.removeAttribute("hx-get");
    stopped.removeAttribute("hx-trigger");
    stopped.dataset.polling = "off";
    live.replaceWith(stopped);
  }

  // An action that failed in an unexpected way (a stale CSRF token, a server error)
  // swaps nothing; reloading shows the page as it really is now.
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.elt.tagName === "FORM") {
      window.location.reload();
    } else if (event.detail.elt.id === "pr-live") {
      endRound(event.detail.elt);
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (event.detail.elt.id === "pr-live") {
      endRound(event.detail.elt);
    }
  });
})();
