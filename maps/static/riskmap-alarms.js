/* The four-colour risk map, part 4 of 6: live monitoring — the alarm panel (acknowledge from the
 * map), pulsing rings on alarmed sites, and the page's one Server-Sent Events stream, which keeps
 * it (and the broadcast panel, riskmap-broadcasts.js) current. */
(function (RM) {
  "use strict";

  var esc = RM.esc, fmt = RM.fmt;
  var KIND_ZH = { threshold: "超限", rate: "变化速率", rain: "累计雨量", offline: "离线", covert: "明停暗采" };

  function alarmLabel(a) {
    if (a.kind.indexOf("rollup_") === 0) { return "监测项综合预警"; }
    return (a.location_label || a.sensor || "") + " " + (KIND_ZH[a.kind] || a.kind);
  }

  RM.alarms = function (ctx) {
    var map = ctx.map, state = ctx.state, config = ctx.config, levels = ctx.levels, byColor = ctx.byColor;
    var alerts = { byId: {}, received: 0, source: null, rings: L.layerGroup().addTo(map) };
    state.alerts = alerts;
    var markerByCode = {};
    var panel = L.control({ position: "topleft" });
    var panelList, panelCount;

    function renderAlerts() {
      var list = Object.keys(alerts.byId).map(function (k) { return alerts.byId[k]; })
        .filter(function (a) { return a.state === "raised" || a.state === "acknowledged"; })
        .sort(function (a, b) { return b.updated_at < a.updated_at ? -1 : 1; });
      panelCount.textContent = list.length;
      var canAck = RM.meta("riskmap-can-ack") === "1" || !!RM.token();
      panelList.innerHTML = list.slice(0, 200).map(function (a) {
        var lv = byColor[a.color];
        return '<li class="alert ' + a.state + '" data-id="' + a.id + '" data-site="' + esc(a.site) + '">' +
          '<i style="background:' + lv.hex + '"></i><b>' + esc(a.site_name) + "</b> " +
          '<span class="what">' + esc(alarmLabel(a)) + "</span><br>" +
          '<span class="value">' + fmt(a.value) + " " + esc(ctx.unitZh(a.unit)) + " / 阈值 " + fmt(a.threshold) +
          "</span> " + '<span class="time">' + esc((a.updated_at || "").slice(11, 19)) + "</span>" +
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
          renderer: ctx.ringRenderer, radius: 13, color: byColor[worst[code]].hex, weight: 3, fill: false,
          className: "riskmap-pulse", interactive: false
        }).addTo(alerts.rings);
      });
    }

    function upsertAlarm(a) {
      alerts.byId[a.id] = a;
      alerts.received += 1;
      renderAlerts();
    }

    panel.onAdd = function () {
      var div = L.DomUtil.create("div", "riskmap-alerts");
      div.innerHTML = '<div class="head">实时报警 <span class="count">0</span>' +
        '<span class="live" title="实时连接">●</span></div>' +
        '<div class="who">' + (RM.signedIn()
          ? esc(RM.meta("riskmap-user")) + ' · ' + esc(RM.meta("riskmap-org")) + ' <a href="/account">账户</a>'
          : '<a class="login" href="' + esc(RM.loginUrl()) + '">登录</a> 后可确认报警') + "</div><ul></ul>";
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      panelList = div.querySelector("ul");
      panelCount = div.querySelector(".count");
      panelList.addEventListener("click", function (e) {
        var id = e.target.getAttribute("data-id");
        if (e.target.classList.contains("ack")) {
          RM.postJson(config.api + "/alarms/" + id + "/ack", { comment: "地图确认" })
            .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
            .then(upsertAlarm, function (err) { state.errors.push(String(err)); alert("确认失败: " + err); });
          return;
        }
        var li = e.target.closest("li.alert");
        var m = li && markerByCode[li.getAttribute("data-site")];
        if (m) { map.setView(m.getLatLng(), Math.max(map.getZoom(), 11)); m.openPopup(); }
      });
      return div;
    };

    // The page's one EventSource: alarm changes, and every other part's events (ctx.stream). It
    // authenticates like every call (EventSource sends the session cookie); a refused stream
    // (signed out, server restarted) is opened again.
    var connectedOnce = false;
    ctx.stream.on("alarm", upsertAlarm);

    function openStream() {
      var source = new EventSource(config.api + "/alarms/stream");
      alerts.source = source;
      Object.keys(ctx.stream.handlers).forEach(function (name) {
        source.addEventListener(name, function (e) { ctx.stream.handlers[name](JSON.parse(e.data)); });
      });
      source.onopen = function () {
        panel.getContainer().classList.add("connected");
        if (connectedOnce) { ctx.stream.reopened.forEach(function (fn) { fn(); }); }
        connectedOnce = true;
      };
      source.onerror = function () {
        panel.getContainer().classList.remove("connected");
        if (source.readyState === EventSource.CLOSED) { setTimeout(openStream, 5000); }
      };
      return Promise.resolve();
    }

    /* Once the sites are drawn: the panel, the active alarms, then the stream (not in an export). */
    function start() {
      if (config.data) { return Promise.resolve(); }
      state.markers.forEach(function (m) { markerByCode[m.feature.properties.code] = m; });
      panel.addTo(map);
      return RM.fetchJson(config.api + "/alarms?state=active&limit=500").then(function (list) {
        list.forEach(function (a) { alerts.byId[a.id] = a; });
        renderAlerts();
        return openStream();
      });
    }

    return { start: start };
  };
})(window.RiskMap);
