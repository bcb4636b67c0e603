/* The four-colour risk map (四色安全风险空间分布图), part 1 of 6: what every part shares.
 * Escaping, the one place that adds credentials to a request, and the context the parts are
 * built on. Loaded first; riskmap-layers, -popup, -alarms and -broadcasts add their part to
 * window.RiskMap, and riskmap.js puts them together (RiskMap.init). */
(function () {
  "use strict";

  var RM = (window.RiskMap = window.RiskMap || {});

  RM.esc = function (value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };

  // A number as the panels show it: at most three decimals, a dash for none.
  RM.fmt = function (v) { return v == null ? "—" : (Math.round(v * 1000) / 1000).toString(); };

  // --- access: the one place that adds credentials to a request ------------------------------
  // A browser signs in at /login: its session cookie goes with every call (credentials
  // 'same-origin'), and every change carries the session's CSRF token (X-CSRF-Token) from the
  // page's <meta name="csrf-token">. A program may still use a bearer token (sessionStorage
  // riskmapToken, sent when present). With RISKMAP_REQUIRE_AUTH_FOR_READ a 401 shows 登录.
  var TOKEN_KEY = "riskmapToken";
  var UNSAFE = { POST: true, PUT: true, PATCH: true, DELETE: true };

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  RM.token = token;
  RM.meta = meta;
  RM.signedIn = function () { return meta("riskmap-signed-in") === "1"; };
  RM.loginUrl = function () { return "/login?next=" + encodeURIComponent(location.pathname + location.search); };

  var asked = false;
  function askLogin() {
    if (asked) { return; }
    asked = true;
    var box = document.createElement("div");
    box.className = "riskmap-login";
    box.innerHTML = '<div class="head">请先登录</div><div class="msg">' +
      (RM.signedIn() ? "登录已过期，请重新登录" : "查看地图需要登录") + '</div><a class="button" href="' +
      RM.esc(RM.loginUrl()) + '">登录</a>';
    document.body.appendChild(box);
  }

  function api(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers);
    if (token()) { headers.Authorization = "Bearer " + token(); }
    if (UNSAFE[(options.method || "GET").toUpperCase()] && meta("csrf-token")) {
      headers["X-CSRF-Token"] = meta("csrf-token");
    }
    var init = Object.assign({}, options, { headers: headers, credentials: "same-origin" });
    return fetch(url, init).then(function (r) {
      if (r.status === 401 && !options.noPrompt) { askLogin(); }
      return r;
    });
  }
  RM.api = api;

  RM.fetchJson = function (url) {
    return api(url, { headers: { Accept: "application/geo+json, application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  };

  RM.postJson = function (url, body) {
    return api(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  };

  // A site never graded (its grading failed from the start) has no level: drawn grey.
  RM.UNGRADED = { level: null, color: "none", hex: "#bdbdbd", name_zh: "无法定级", colour_zh: "灰" };

  /* What the parts of one map share: its config, the level tables, the layer control, and the
   * state exposed as window.riskmap for tests and operators. */
  RM.context = function (map, config) {
    var levels = {}, byColor = {};
    config.levels.forEach(function (l) { levels[l.level] = l; byColor[l.color] = l; });
    var state = {
      map: map, config: config, regions: {}, sites: {}, markers: [], siteCount: 0,
      shownKinds: {}, shownColors: {}, errors: []
    };
    window.riskmap = state;

    var status = L.DomUtil.create("div", "riskmap-status", map.getContainer());
    status.textContent = "加载中…";
    L.control.scale({ imperial: false }).addTo(map);
    return {
      map: map, config: config, state: state, levels: levels, byColor: byColor, status: status,
      control: L.control.layers(null, null, { collapsed: false, position: "topright" }).addTo(map),
      // One SVG renderer for the alarm rings and the broadcast targets, above the canvas markers.
      ringRenderer: L.svg(),
      // Units as people write them (℃, m³), from the platform's one table.
      unitZh: function (u) { return (config.units && config.units[u]) || u || ""; },
      // The live stream's handlers by SSE event name (alarm, broadcast): the alarm panel opens the
      // one EventSource and attaches them; `reopened` run when it connects again after a gap.
      stream: {
        handlers: {}, reopened: [],
        on: function (name, handler) { this.handlers[name] = handler; }
      },
      // A layer from the API, or from config.data in an exported report.
      load: function (key, url) {
        return config.data ? Promise.resolve(config.data[key]) : RM.fetchJson(config.api + url);
      }
    };
  };
})();
