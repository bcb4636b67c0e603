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
  // Every API call goes through api(). With RISKMAP_REQUIRE_AUTH_FOR_READ the first 401 asks for
  // a token (访问令牌), kept in sessionStorage for this tab, and the call is retried with it. The
  // live stream (EventSource cannot send headers) gets it as an HttpOnly cookie: see
  // openSession() in riskmap-alarms.js.
  var TOKEN_KEY = "riskmapToken";
  var asking = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  RM.token = token;
  RM.setToken = function (value) { sessionStorage.setItem(TOKEN_KEY, value); };

  function askToken() {
    if (asking) { return asking; }
    asking = new Promise(function (resolve) {
      var form = document.createElement("form");
      form.className = "riskmap-login";
      form.innerHTML = '<div class="head">访问令牌</div><div class="msg">' +
        (token() ? "令牌无效或已失效，请重新输入" : "查看地图需要访问令牌") + "</div>" +
        '<input type="password" name="token" autocomplete="off" placeholder="rmk_…"><button>进入</button>';
      document.body.appendChild(form);
      form.token.focus();
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var value = form.token.value.trim();
        if (!value) { return; }
        RM.setToken(value);
        form.remove();
        asking = null;
        resolve();
      });
    });
    return asking;
  }

  function api(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers);
    if (token()) { headers.Authorization = "Bearer " + token(); }
    return fetch(url, Object.assign({}, options, { headers: headers })).then(function (r) {
      if (r.status === 401 && !options.noPrompt) {
        return askToken().then(function () { return api(url, options); });
      }
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
