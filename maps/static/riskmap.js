/* The four-colour risk map (四色安全风险空间分布图). Layers come from the API by URL, or from
 * config.data in an exported report. Exposes window.riskmap for tests and operators. */
(function () {
  "use strict";

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // --- access: the one place that adds credentials to a request ------------------------------
  // Every API call goes through api(). With RISKMAP_REQUIRE_AUTH_FOR_READ the first 401 asks for
  // a token (访问令牌), kept in sessionStorage for this tab, and the call is retried with it. The
  // live stream (EventSource cannot send headers) gets it as an HttpOnly cookie: see openSession().
  var TOKEN_KEY = "riskmapToken";
  var asking = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

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
        sessionStorage.setItem(TOKEN_KEY, value);
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

  function fetchJson(url) {
    return api(url, { headers: { Accept: "application/geo+json, application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function postJson(url, body) {
    return api(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  var STATUS_ZH = { operating: "正常生产", suspended: "停产", closed: "关闭" };
  var REGION_VIEWS = [
    ["county", "区县四色分布"], ["prefecture", "市州四色分布"], ["grid", "网格四色分布 (H3)"]
  ];

  function init(map, config) {
    var levels = {}, byColor = {};
    config.levels.forEach(function (l) { levels[l.level] = l; byColor[l.color] = l; });
    // A site never graded (its grading failed from the start) has no level: drawn grey.
    // Units as people write them (℃, m³), from the platform's one table.
    function unitZh(u) { return (config.units && config.units[u]) || u || ""; }
    var UNGRADED = { level: null, color: "none", hex: "#bdbdbd", name_zh: "无法定级", colour_zh: "灰" };
    var state = {
      map: map, config: config, regions: {}, sites: {}, markers: [], siteCount: 0,
      shownKinds: {}, shownColors: {}, exposure: L.layerGroup().addTo(map), errors: []
    };
    window.riskmap = state;
    var load = function (key, url) {
      return config.data ? Promise.resolve(config.data[key]) : fetchJson(config.api + url);
    };

    var status = L.DomUtil.create("div", "riskmap-status", map.getContainer());
    status.textContent = "加载中…";
    L.control.scale({ imperial: false }).addTo(map);
    var control = L.control.layers(null, null, { collapsed: false, position: "topright" }).addTo(map);

    // Regions: one base layer per view, coloured by the most severe site level inside.
    var regionsLoaded = Promise.all(REGION_VIEWS.map(function (view) {
      return load("regions_" + view[0], "/risk/regions?by=" + view[0]).then(function (fc) {
        var layer = L.geoJSON(fc, {
          style: function (f) {
            var lv = levels[f.properties.level];
            return { color: "#555", weight: view[0] === "grid" ? 0.5 : 1,
                     fillColor: lv ? lv.hex : "#f2efe9", fillOpacity: lv ? 0.35 : 0.15 };
          },
          onEachFeature: function (f, l) {
            var p = f.properties, c = p.counts;
            l.bindTooltip(esc(p.name || p.cell) + "<br>红 " + c.red + " · 橙 " + c.orange + " · 黄 " + c.yellow +
              " · 蓝 " + c.blue, { sticky: true });
          }
        });
        state.regions[view[0]] = layer;
      });
    })).then(function () {
      REGION_VIEWS.forEach(function (view) { control.addBaseLayer(state.regions[view[0]], view[1]); });
      state.regions.county.addTo(map).bringToBack();
    });
    map.on("baselayerchange", function (e) { e.layer.bringToBack(); });

    function popup(p) {
      var lv = levels[p.level] || UNGRADED;
      var reasons = (p.reasons || []).map(function (r) {
        // What would lower it: the smallest single changes, as the rules compute them.
        var lower = (r.lower || []).map(function (c) { return '<div class="lower">' + esc(c.text) + "</div>"; }).join("");
        return '<li><i style="background:' + (levels[r.level] || UNGRADED).hex + '"></i>' + esc(r.summary) +
          '<div class="basis">' + esc(r.basis) + "</div>" + lower + "</li>";
      }).join("");
      // The grading failed this time: the level shown is the last one, and the reason says why.
      var error = p.grading_error
        ? '<div class="grading-error"><b>本次未能定级</b>' + (levels[p.level] ? "（显示上次的等级）" : "") +
          "：" + esc(p.grading_error) + "</div>"
        : "";
      return '<div class="riskmap-popup"><h4>' + esc(p.name) + '</h4><div class="badge" style="background:' +
        lv.hex + '">' + lv.name_zh + "</div>" + error + "<table>" +
        [["编码", p.code], ["类型", p.kind_zh], ["企业", p.enterprise], ["状态", STATUS_ZH[p.status] || p.status],
         ["固有风险", (levels[p.inherent_level] || UNGRADED).name_zh]].map(function (r) {
          return "<tr><th>" + r[0] + "</th><td>" + esc(r[1]) + "</td></tr>";
        }).join("") + '</table><ul class="reasons">' + reasons + '</ul><div class="charts"></div></div>';
    }

    function refreshVisibility() {
      Object.keys(state.sites).forEach(function (kind) {
        Object.keys(state.sites[kind]).forEach(function (color) {
          var group = state.sites[kind][color];
          var show = state.shownKinds[kind] && state.shownColors[color];
          if (show && !map.hasLayer(group)) { group.addTo(map); }
          if (!show && map.hasLayer(group)) { map.removeLayer(group); }
        });
      });
    }

    function toggle(label, flags, key) {
      // An empty layer whose presence in the control switches a kind or a colour on and off.
      var t = L.layerGroup();
      t.riskmapToggle = { flags: flags, key: key };
      flags[key] = true;
      control.addOverlay(t, label);
      t.addTo(map);
      return t;
    }
    map.on("overlayadd overlayremove", function (e) {
      if (e.layer.riskmapToggle) {
        e.layer.riskmapToggle.flags[e.layer.riskmapToggle.key] = e.type === "overlayadd";
        refreshVisibility();
      }
    });

    function showExposure(code) {
      if (config.data) { return Promise.resolve(); }
      return fetchJson(config.api + "/sites/" + encodeURIComponent(code) + "/exposure").then(function (fc) {
        state.exposure.clearLayers();
        L.geoJSON(fc, {
          style: function (f) {
            return f.properties.role === "zone"
              ? { color: "#d7191c", weight: 2, dashArray: "6 4", fillOpacity: 0.08 }
              : { color: "#08519c", weight: 3 };
          },
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, { radius: 5, color: "#08519c", weight: 2, fillColor: "#fff", fillOpacity: 1 });
          },
          onEachFeature: function (f, l) {
            if (f.properties.role === "found") {
              l.bindTooltip(esc(f.properties.name) + " " + f.properties.distance_m + " m" +
                (f.properties.population ? "，" + f.properties.population + " 人" : ""));
            }
          }
        }).addTo(state.exposure);
        state.exposureSite = code;
        state.exposureFound = fc.features.filter(function (f) { return f.properties.role === "found"; }).length;
      });
    }
    state.showExposure = showExposure;

    var sitesLoaded = load("sites", "/risk/sites").then(function (fc) {
      Object.keys(config.kinds).forEach(function (kind) {
        state.sites[kind] = {};
        config.levels.forEach(function (l) { state.sites[kind][l.color] = L.layerGroup(); });
        state.sites[kind][UNGRADED.color] = L.layerGroup();
      });
      fc.features.forEach(function (f) {
        var p = f.properties, lv = levels[p.level] || UNGRADED;
        // A grading error: a grey dashed outline instead of the kind's colour.
        var m = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
          radius: p.level === 1 ? 8 : 6, color: p.grading_error ? "#616161" : config.kinds[p.kind].color,
          weight: p.grading_error ? 3 : 2, dashArray: p.grading_error ? "3 2" : null,
          fillColor: lv.hex, fillOpacity: 0.95, className: p.grading_error ? "grading-error-marker" : ""
        });
        m.feature = f;
        m.bindPopup(popup(p), { maxWidth: 360 });
        m.on("popupopen", function (e) { showExposure(p.code); state.showReadings(p.code, e.popup.getElement()); });
        state.sites[p.kind][p.color || UNGRADED.color].addLayer(m);
        state.markers.push(m);
      });
      Object.keys(config.kinds).forEach(function (kind) {
        var n = fc.features.filter(function (f) { return f.properties.kind === kind; }).length;
        toggle(config.kinds[kind].label + " (" + n + ")", state.shownKinds, kind);
      });
      config.levels.concat([UNGRADED]).forEach(function (l) {
        var n = fc.features.filter(function (f) { return (f.properties.color || UNGRADED.color) === l.color; }).length;
        if (l === UNGRADED && !n) { state.shownColors[l.color] = true; return; }
        toggle('<i class="dot" style="background:' + l.hex + '"></i>' + l.name_zh + " (" + n + ")",
          state.shownColors, l.color);
      });
      refreshVisibility();
      state.siteCount = fc.features.length;
      legend(fc);
    });

    function legend(fc) {
      var c = L.control({ position: "bottomright" });
      c.onAdd = function () {
        var div = L.DomUtil.create("div", "riskmap-legend");
        div.innerHTML = "<b>风险等级</b>" + config.levels.map(function (l) {
          var n = fc.features.filter(function (f) { return f.properties.level === l.level; }).length;
          return '<div class="legend-row" data-color="' + l.color + '"><i style="background:' + l.hex + '"></i>' +
            l.colour_zh + " " + l.name_zh + " <span>" + n + "</span></div>";
        }).join("") + "<b>边框: 类型</b>" + Object.keys(config.kinds).map(function (k) {
          return '<div><i class="ring" style="border-color:' + config.kinds[k].color + '"></i>' + config.kinds[k].label + "</div>";
        }).join("");
        return div;
      };
      c.addTo(map);
      state.legend = c;
    }


    // --- live monitoring: alert panel, pulsing alarmed sites, reading charts -------------------
    var alerts = { byId: {}, received: 0, source: null, rings: L.layerGroup().addTo(map) };
    state.alerts = alerts;
    var ringRenderer = L.svg();
    var KIND_ZH = { threshold: "超限", rate: "变化速率", rain: "累计雨量", offline: "离线", covert: "明停暗采" };

    function alarmLabel(a) {
      if (a.kind.indexOf("rollup_") === 0) { return "监测项综合预警"; }
      return (a.location_label || a.sensor || "") + " " + (KIND_ZH[a.kind] || a.kind);
    }

    function fmt(v) { return v == null ? "—" : (Math.round(v * 1000) / 1000).toString(); }

    function renderAlerts() {
      var list = Object.keys(alerts.byId).map(function (k) { return alerts.byId[k]; })
        .filter(function (a) { return a.state === "raised" || a.state === "acknowledged"; })
        .sort(function (a, b) { return b.updated_at < a.updated_at ? -1 : 1; });
      panelCount.textContent = list.length;
      var canAck = !!token();
      panelList.innerHTML = list.slice(0, 200).map(function (a) {
        var lv = byColor[a.color];
        return '<li class="alert ' + a.state + '" data-id="' + a.id + '" data-site="' + esc(a.site) + '">' +
          '<i style="background:' + lv.hex + '"></i><b>' + esc(a.site_name) + "</b> " +
          '<span class="what">' + esc(alarmLabel(a)) + "</span><br>" +
          '<span class="value">' + fmt(a.value) + " " + esc(unitZh(a.unit)) + " / 阈值 " + fmt(a.threshold) + "</span> " +
          '<span class="time">' + esc((a.updated_at || "").slice(11, 19)) + "</span>" +
          (a.state === "raised" && canAck ? ' <button class="ack" data-id="' + a.id + '">确认</button>' :
           a.state === "acknowledged" ? ' <span class="acked">已确认 ' + esc(a.acknowledged_by || "") + "</span>" : "") +
          "</li>";
      }).join("");
      alerts.rings.clearLayers();
      var worst = {};
      list.forEach(function (a) {
        if (!worst[a.site] || levels[byColor[a.color].level].level < levels[byColor[worst[a.site]].level].level) {
          worst[a.site] = a.color;
        }
      });
      Object.keys(worst).forEach(function (code) {
        var m = markerByCode[code];
        if (!m) { return; }
        L.circleMarker(m.getLatLng(), {
          renderer: ringRenderer, radius: 13, color: byColor[worst[code]].hex, weight: 3, fill: false,
          className: "riskmap-pulse", interactive: false
        }).addTo(alerts.rings);
      });
    }

    function upsertAlarm(a) {
      alerts.byId[a.id] = a;
      alerts.received += 1;
      renderAlerts();
    }

    var panel = L.control({ position: "topleft" });
    var panelList, panelCount;
    panel.onAdd = function () {
      var div = L.DomUtil.create("div", "riskmap-alerts");
      div.innerHTML = '<div class="head">实时报警 <span class="count">0</span>' +
        '<span class="live" title="实时连接">●</span></div>' +
        '<div class="token"><input type="password" placeholder="操作员令牌 (确认报警)"></div><ul></ul>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      panelList = div.querySelector("ul");
      panelCount = div.querySelector(".count");
      var input = div.querySelector("input");
      input.value = token();
      input.addEventListener("change", function () { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); renderAlerts(); });
      panelList.addEventListener("click", function (e) {
        var id = e.target.getAttribute("data-id");
        if (e.target.classList.contains("ack")) {
          postJson(config.api + "/alarms/" + id + "/ack", { comment: "地图确认" }).then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
            .then(upsertAlarm, function (err) { state.errors.push(String(err)); alert("确认失败: " + err); });
          return;
        }
        var li = e.target.closest("li.alert");
        var m = li && markerByCode[li.getAttribute("data-site")];
        if (m) { map.setView(m.getLatLng(), Math.max(map.getZoom(), 11)); m.openPopup(); }
      });
      return div;
    };

    var markerByCode = {};
    function startLive() {
      if (config.data) { return Promise.resolve(); }
      state.markers.forEach(function (m) { markerByCode[m.feature.properties.code] = m; });
      panel.addTo(map);
      return fetchJson(config.api + "/alarms?state=active&limit=500").then(function (list) {
        list.forEach(function (a) { alerts.byId[a.id] = a; });
        renderAlerts();
        return openStream();
      });
    }

    // The stream's credentials: POST /session turns the token into a cookie sent only to the
    // stream route. A refused stream (cookie expired, server restarted) is opened again.
    function openSession() {
      if (!token()) { return Promise.resolve(); }
      return api(config.api + "/session", { method: "POST", noPrompt: true }).catch(function () {});
    }

    function openStream() {
      return openSession().then(function () {
        var source = new EventSource(config.api + "/alarms/stream");
        alerts.source = source;
        source.addEventListener("alarm", function (e) { upsertAlarm(JSON.parse(e.data)); });
        source.onopen = function () { panel.getContainer().classList.add("connected"); };
        source.onerror = function () {
          panel.getContainer().classList.remove("connected");
          if (source.readyState === EventSource.CLOSED) { setTimeout(openStream, 5000); }
        };
      });
    }

    function sparkline(series) {
      var pts = series.points;
      if (!pts.length) { return '<div class="chart empty">' + esc(series.sensor) + " 无数据</div>"; }
      var t = series.thresholds || {}, first = (t.levels || []).filter(function (l) { return !l.window_h; })[0];
      var values = pts.map(function (p) { return p.value; });
      if (first) { values.push(first.value); }
      var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values), w = 240, h = 48;
      var t0 = Date.parse(pts[0].ts), t1 = Date.parse(pts[pts.length - 1].ts) || t0 + 1;
      var x = function (ts) { return ((Date.parse(ts) - t0) / Math.max(t1 - t0, 1)) * w; };
      var y = function (v) { return h - ((v - lo) / Math.max(hi - lo, 1e-9)) * h; };
      var line = pts.map(function (p) { return x(p.ts).toFixed(1) + "," + y(p.value).toFixed(1); }).join(" ");
      var limit = first ? '<line x1="0" x2="' + w + '" y1="' + y(first.value).toFixed(1) + '" y2="' + y(first.value).toFixed(1) +
        '" stroke="' + byColor[first.color].hex + '" stroke-dasharray="4 3"/>' : "";
      return '<div class="chart"><div>' + esc(series.sensor) + " · " + fmt(pts[pts.length - 1].value) + " " + esc(unitZh(series.unit)) +
        '</div><svg width="' + w + '" height="' + h + '">' + limit +
        '<polyline fill="none" stroke="#08519c" stroke-width="1.5" points="' + line + '"/></svg></div>';
    }

    function showReadings(code, popupEl) {
      if (config.data) { return; }
      fetchJson(config.api + "/sites/" + encodeURIComponent(code)).then(function (site) {
        var alarmed = {};
        Object.keys(alerts.byId).forEach(function (k) { if (alerts.byId[k].site === code) { alarmed[alerts.byId[k].sensor] = 1; } });
        var sensors = site.properties.sensors.slice().sort(function (a, b) { return (alarmed[b.code] || 0) - (alarmed[a.code] || 0); }).slice(0, 3);
        return Promise.all(sensors.map(function (s) {
          return fetchJson(config.api + "/sensors/" + encodeURIComponent(s.code) + "/readings");
        }));
      }).then(function (series) {
        var box = popupEl.querySelector(".charts");
        if (box) { box.innerHTML = series.map(sparkline).join(""); state.chartsFor = code; }
      }, function (err) { state.errors.push(String(err)); });
    }
    state.showReadings = showReadings;


    // --- flood season: weather warnings, broadcasts and who has answered (叫应) ---------------
    var STATUS_STYLE = {
      waiting: ["#888", "待叫应"], acknowledged: ["#2c7bb6", "已应答"], evacuated: ["#1a9641", "已撤人"],
      overdue: ["#d7191c", "超时未应"]
    };
    var flood = { warnings: L.layerGroup().addTo(map), targets: L.layerGroup().addTo(map), broadcasts: [] };
    state.flood = flood;

    function loadFlood() {
      return Promise.all([
        fetchJson(config.api + "/weather-warnings"),
        fetchJson(config.api + "/broadcasts?state=active").then(function (list) {
          return Promise.all(list.map(function (b) { return fetchJson(config.api + "/broadcasts/" + b.id); }));
        })
      ]).then(function (res) {
        flood.warnings.clearLayers();
        flood.targets.clearLayers();
        L.geoJSON(res[0], {
          style: function (f) { return { color: byColor[f.properties.color].hex, weight: 2, fillOpacity: 0.12 }; },
          onEachFeature: function (f, l) { l.bindTooltip("气象预警 " + esc(f.properties.event) + " (" + esc(f.properties.color) + ")"); }
        }).addTo(flood.warnings);
        flood.broadcasts = res[1];
        res[1].forEach(function (b) {
          L.geoJSON(b.area, { style: { color: byColor[b.color].hex, weight: 2, dashArray: "8 5", fillOpacity: 0.06 },
                              interactive: false }).addTo(flood.warnings);
          (b.places || []).forEach(function (p) {
            if (!p.geometry || p.geometry.type !== "Point") { return; }
            L.circleMarker([p.geometry.coordinates[1], p.geometry.coordinates[0]], {
              renderer: ringRenderer, radius: 5, color: "#6a51a3", weight: 2, fillColor: "#fff", fillOpacity: 1
            }).bindTooltip("下游预警: " + esc(p.name) + " " + Math.round(p.distance_m) + " m" +
              (p.population ? "，" + p.population + " 人" : "")).addTo(flood.targets);
          });
          b.recipients.forEach(function (r) {
            var st = STATUS_STYLE[r.status] || STATUS_STYLE.waiting;
            L.circleMarker([r.lat, r.lon], { renderer: ringRenderer, radius: 11, color: st[0], weight: 3, fill: false,
              dashArray: r.status === "overdue" ? "3 3" : null, className: "riskmap-target " + r.status })
              .bindTooltip(esc(r.site_name) + " · " + st[1] + (r.fake_evacuation ? " · 假停产假撤人" : ""))
              .addTo(flood.targets);
          });
        });
        renderBroadcasts();
      });
    }

    var bpanel = L.control({ position: "bottomleft" });
    var bbody;
    bpanel.onAdd = function () {
      var div = L.DomUtil.create("div", "riskmap-broadcasts");
      div.innerHTML = '<div class="head">汛期预警 · 叫应</div><div class="list"></div>' +
        '<form class="issue"><select name="color"><option value="red">红</option><option value="orange" selected>橙</option>' +
        '<option value="yellow">黄</option></select><select name="action"><option value="evacuate">停产撤人</option>' +
        '<option value="prepare">做好准备</option></select><select name="adcode"></select>' +
        '<label><input type="checkbox" name="exercise" checked>演练</label><button>发布</button></form>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      bbody = div.querySelector(".list");
      var form = div.querySelector("form");
      fetchJson(config.api + "/regions?level=prefecture&simplify_m=5000").then(function (fc) {
        form.adcode.innerHTML = fc.features.map(function (f) {
          return '<option value="' + f.properties.adcode + '">' + esc(f.properties.name) + "</option>";
        }).join("");
      });
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        postJson(config.api + "/broadcasts", {
          color: form.color.value, action: form.action.value, adcodes: [form.adcode.value],
          exercise: form.exercise.checked
        }).then(function (r) { return r.ok ? r.json() : r.text().then(function (t) { throw new Error(t); }); })
          .then(loadFlood, function (err) { state.errors.push(String(err)); alert("发布失败: " + err); });
      });
      bbody.addEventListener("click", function (e) {
        var raise = e.target.getAttribute("data-raise"), id = e.target.getAttribute("data-cancel") || raise;
        if (!id) { return; }
        var path = raise ? "/update" : "/cancel", body = raise ? { color: "red", action: "evacuate" } : {};
        postJson(config.api + "/broadcasts/" + id + path, body)
          .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } }).then(loadFlood,
            function (err) { state.errors.push(String(err)); alert("操作失败: " + err); });
      });
      return div;
    };

    function renderBroadcasts() {
      if (!bbody) { return; }
      bbody.innerHTML = flood.broadcasts.length ? flood.broadcasts.map(function (b) {
        var c = b.counts || {};
        var overdue = b.recipients.filter(function (r) { return r.status === "overdue"; });
        return '<div class="bc" data-id="' + b.id + '"><i style="background:' + byColor[b.color].hex + '"></i>' +
          (b.status === "Exercise" ? '<span class="drill">演练</span> ' : "") + "<b>" + esc(b.headline) + "</b><br>" +
          Object.keys(STATUS_STYLE).map(function (k) {
            return '<span class="st ' + k + '">' + STATUS_STYLE[k][1] + " " + (c[k] || 0) + "</span>";
          }).join(" ") + (b.color !== "red" ? ' <button data-raise="' + b.id + '">升级红色</button>' : "") +
          ' <button data-cancel="' + b.id + '">解除</button>' +
          (overdue.length ? '<div class="overdue">超时: ' + overdue.map(function (r) {
            return esc(r.enterprise) + (r.escalation ? "（已上报" + (r.escalation > 1 ? "市州" : "县区") + "）" : "");
          }).join("、") + "</div>" : "") +
          (b.places && b.places.length ? '<div class="places">下游预警: ' + b.places.map(function (p) {
            return esc(p.name) + " " + Math.round(p.distance_m) + "m";
          }).join("、") + "</div>" : "") + "</div>";
      }).join("") : '<div class="none">无生效预警</div>';
    }

    function startFlood() {
      if (config.data) { return Promise.resolve(); }
      bpanel.addTo(map);
      control.addOverlay(flood.warnings, "预警区域");
      control.addOverlay(flood.targets, "叫应状态");
      setInterval(function () { loadFlood().catch(function (e) { state.errors.push(String(e)); }); }, 10000);
      return loadFlood();
    }
    state.loadFlood = loadFlood;

    state.ready = Promise.all([regionsLoaded, sitesLoaded]).then(startLive).then(startFlood).then(function () {
      status.textContent = "站点 " + state.siteCount + " 个" + (config.data ? " · 导出于 " + config.exportedAt : "");
      return state;
    }, function (err) {
      state.errors.push(String(err));
      status.textContent = "加载失败: " + err;
      throw err;
    });
    return state;
  }

  window.RiskMap = { init: init };
})();
