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
    fetch(input.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": input.dataset.csrf },
      body: JSON.stringify({ wechatReminderOptIn: wanted }),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body.error ? body.error.message : input.dataset.failed);
          }
          show(body.wechatReminderOptIn);
        });
      })
      .catch(function (error) {
        input.checked = !wanted;
        status.textContent = error.message || input.dataset.failed;
      })
      .finally(function () {
        input.disabled = false;
      });
  });
})();
