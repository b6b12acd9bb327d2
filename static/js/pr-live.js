// The live part of the detail page polls by itself (htmx's "every" trigger, capped by
// the server at 20 polls a round). This script only starts a new round where htmx's
// own timer cannot notice that the page came back:
// - WeChat (iOS especially) restores the page from its back/forward cache with its
//   timers frozen and runs no script again, so "pageshow" is the only signal;
// - a page that was hidden while its round ran out shows a stale headcount when the
//   user returns to it.
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

  // An action that failed in an unexpected way (a stale CSRF token, a server error)
  // swaps nothing; reloading shows the page as it really is now.
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.elt.tagName === "FORM") {
      window.location.reload();
    }
  });
})();
