// 默认值（待确认）: the list comes from the administrators' API, for a signed-in administrator (the
// session cookie) or with a token kept for this tab (the same key as the map's), asked for when refused.
(function () {
  "use strict";
  var TOKEN_KEY = "riskmapToken";
  var files = window.RISKMAP_FILES || {};

  function esc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function render(items) {
    document.getElementById("count").textContent = items.length;
    document.querySelector("#unconfirmed tbody").innerHTML = items.map(function (u) {
      var value = Object.keys(u.value).map(function (k) { return k + ": " + JSON.stringify(u.value[k]); }).join("; ");
      return "<tr><td>" + esc(files[u.file] || u.file) + "<br><code>" + esc(u.file) + ".yaml</code>" +
        (u.overridden ? "（已由管理员覆盖）" : "") + "</td><td>" + esc(u.path) + "</td><td><code>" + esc(value) +
        "</code></td><td>" + (u.fields.length ? esc(u.fields.join("、")) : "整项") + "</td><td>" +
        esc(u.source || "—") + '</td><td><span class="tag">默认值（待确认）</span></td></tr>';
    }).join("");
    document.getElementById("login").style.display = "none";
  }

  function ask(message) {
    document.getElementById("login").style.display = "block";
    document.getElementById("msg").textContent = message;
  }

  function load() {
    var token = sessionStorage.getItem(TOKEN_KEY) || "";
    var headers = token ? { Authorization: "Bearer " + token } : {};
    fetch("/api/v1/admin/unconfirmed-defaults", { headers: headers, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { ask(token ? "令牌无效或已失效" : "请先登录，或输入管理员访问令牌"); return null; }
        if (r.status === 403) { ask("需要管理员令牌"); return null; }
        return r.json();
      })
      .then(function (items) { if (items) { render(items); } });
  }

  document.getElementById("login").addEventListener("submit", function (e) {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    load();
  });
  load();
})();
