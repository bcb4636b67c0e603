/* The enterprise home page: 叫应 answered in place through the API (POST
 * /api/v1/broadcasts/{id}/answer), with the session cookie and its CSRF token from the page's
 * <meta name="csrf-token">; the answered row says so instead of offering the buttons again. */
(function () {
  "use strict";

  var STATUS_ZH = { acknowledged: "已叫应", evacuated: "已撤人", waiting: "待叫应", overdue: "已逾期" };

  function csrf() {
    var el = document.querySelector('meta[name="csrf-token"]');
    return el ? el.getAttribute("content") : "";
  }

  function answer(row, evacuated) {
    var msg = row.querySelector(".msg");
    var buttons = row.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    msg.hidden = true;
    fetch("/api/v1/broadcasts/" + row.getAttribute("data-broadcast") + "/answer", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ site: row.getAttribute("data-site"), evacuated: evacuated })
    }).then(function (r) {
      if (!r.ok) { throw new Error(r.status === 401 ? "登录已过期，请重新登录" : "叫应失败（" + r.status + "），请重试"); }
      return r.json();
    }).then(function (out) {
      row.querySelector(".status").textContent = STATUS_ZH[out.status] || out.status;
      row.querySelector(".status").classList.remove("overdue");
      row.classList.add("answered");
      row.querySelector(".actions").remove();
    }, function (err) {
      msg.textContent = err.message;
      msg.hidden = false;
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  document.addEventListener("click", function (e) {
    var row = e.target.closest(".answer");
    if (!row || e.target.tagName !== "BUTTON") { return; }
    answer(row, e.target.classList.contains("answer-evacuated"));
  });
})();
