// The WeChat reminder switch: each change is saved through the subscription API,
// and the switch then shows what the server saved, not what was clicked.
(function () {
  "use strict";

  var input = document.getElementById("reminder-switch");
  var status = document.getElementById("reminder-status");
  if (!input || input.dataset.ready) {
    return;
  }
  input.dataset.ready = "yes";

  function show(saved) {
    input.checked = saved;
    status.textContent = saved ? input.dataset.savedOn : input.dataset.savedOff;
  }

  input.addEventListener("change", function () {
    var wanted = input.checked;
    input.disabled = true;

    // Only the API's own messages are shown as they are (in Chinese); a proxy's
    // error page or the browser's network error gets the page's own text.
    function fail(message) {
      input.checked = !wanted;
      status.textContent = message || input.dataset.failed;
    }

    fetch(input.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": input.dataset.csrf },
      body: JSON.stringify({ wechatReminderOptIn: wanted }),
    })
      .then(function (response) {
        return response.json().then(
          function (body) {
            if (response.ok && typeof body.wechatReminderOptIn === "boolean") {
              show(body.wechatReminderOptIn);
            } else {
              fail(body && body.error && body.error.message);
            }
          },
          function () {
            fail();
          }
        );
      })
      .catch(function () {
        fail();
      })
      .finally(function () {
        input.disabled = false;
      });
  });
})();
