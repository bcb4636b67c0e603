/* The four-colour risk map, part 5 of 6: the flood season — weather warnings, broadcasts (issue,
 * raise to red, cancel) and who has answered them (叫应), on the map and in their panel.
 *
 * Loaded once; after that every change of a broadcast (issued, answered, escalated, superseded,
 * cancelled, expired) arrives as a `broadcast` event on the page's live stream, with the whole
 * broadcast: no polling. After a gap in the stream the panel is loaded once again. */
(function (RM) {
  "use strict";

  var esc = RM.esc;
  var STATUS_STYLE = {
    waiting: ["#888", "待叫应"], acknowledged: ["#2c7bb6", "已应答"], evacuated: ["#1a9641", "已撤人"],
    overdue: ["#d7191c", "超时未应"]
  };

  RM.broadcasts = function (ctx) {
    var map = ctx.map, state = ctx.state, config = ctx.config, byColor = ctx.byColor;
    var flood = {
      warnings: L.layerGroup().addTo(map), targets: L.layerGroup().addTo(map), broadcasts: [],
      weather: { type: "FeatureCollection", features: [] }, received: 0
    };
    state.flood = flood;
    var bpanel = L.control({ position: "bottomleft" });
    var bbody;

    function drawBroadcast(b) {
      L.geoJSON(b.area, { style: { color: byColor[b.color].hex, weight: 2, dashArray: "8 5", fillOpacity: 0.06 },
                          interactive: false }).addTo(flood.warnings);
      (b.places || []).forEach(function (p) {
        if (!p.geometry || p.geometry.type !== "Point") { return; }
        L.circleMarker([p.geometry.coordinates[1], p.geometry.coordinates[0]], {
          renderer: ctx.ringRenderer, radius: 5, color: "#6a51a3", weight: 2, fillColor: "#fff", fillOpacity: 1
        }).bindTooltip("下游预警: " + esc(p.name) + " " + Math.round(p.distance_m) + " m" +
          (p.population ? "，" + p.population + " 人" : "")).addTo(flood.targets);
      });
      b.recipients.forEach(function (r) {
        var st = STATUS_STYLE[r.status] || STATUS_STYLE.waiting;
        L.circleMarker([r.lat, r.lon], { renderer: ctx.ringRenderer, radius: 11, color: st[0], weight: 3, fill: false,
          dashArray: r.status === "overdue" ? "3 3" : null, className: "riskmap-target " + r.status })
          .bindTooltip(esc(r.site_name) + " · " + st[1] + (r.fake_evacuation ? " · 假停产假撤人" : ""))
          .addTo(flood.targets);
      });
    }

    function live(b) { return b.state === "active" && b.msg_type !== "Cancel"; }

    // Weather warnings and broadcasts drawn again from what the page holds (no request).
    function drawFlood() {
      flood.warnings.clearLayers();
      flood.targets.clearLayers();
      L.geoJSON(flood.weather, {
        style: function (f) { return { color: byColor[f.properties.color].hex, weight: 2, fillOpacity: 0.12 }; },
        onEachFeature: function (f, l) { l.bindTooltip("气象预警 " + esc(f.properties.event) + " (" + esc(f.properties.color) + ")"); }
      }).addTo(flood.warnings);
      flood.broadcasts.forEach(drawBroadcast);
      renderBroadcasts();
    }

    function loadWeather() {
      return RM.fetchJson(config.api + "/weather-warnings").then(function (fc) { flood.weather = fc; });
    }

    /* The one full load: at start, and after the stream comes back from a gap. */
    function loadFlood() {
      return Promise.all([
        loadWeather(),
        RM.fetchJson(config.api + "/broadcasts?state=active").then(function (list) {
          return Promise.all(list.map(function (b) { return RM.fetchJson(config.api + "/broadcasts/" + b.id); }));
        })
      ]).then(function (res) {
        flood.broadcasts = res[1];
        drawFlood();
      });
    }
    state.loadFlood = loadFlood;

    /* One broadcast as the stream pushes it: in force, it is added or replaced; otherwise
     * (superseded, cancelled, expired) it leaves the panel. A new one may come from a new weather
     * warning, whose area is then fetched (once, not polled). */
    function applyBroadcast(b) {
      var known = flood.broadcasts.some(function (x) { return x.id === b.id; });
      flood.received += 1;
      flood.broadcasts = flood.broadcasts.filter(function (x) { return x.id !== b.id; });
      if (live(b)) {
        flood.broadcasts.push(b);
        flood.broadcasts.sort(function (x, y) { return y.id - x.id; });
      }
      if (live(b) && !known && b.rule !== "manual") {
        loadWeather().then(drawFlood, function (e) { state.errors.push(String(e)); });
      } else {
        drawFlood();
      }
    }
    ctx.stream.on("broadcast", applyBroadcast);
    ctx.stream.reopened.push(function () { loadFlood().catch(function (e) { state.errors.push(String(e)); }); });

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
      RM.fetchJson(config.api + "/regions?level=prefecture&simplify_m=5000").then(function (fc) {
        form.adcode.innerHTML = fc.features.map(function (f) {
          return '<option value="' + f.properties.adcode + '">' + esc(f.properties.name) + "</option>";
        }).join("");
      });
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        RM.postJson(config.api + "/broadcasts", {
          color: form.color.value, action: form.action.value, adcodes: [form.adcode.value],
          exercise: form.exercise.checked
        }).then(function (r) { return r.ok ? r.json() : r.text().then(function (t) { throw new Error(t); }); })
          .then(null, function (err) { state.errors.push(String(err)); alert("发布失败: " + err); });  // shown by the stream
      });
      bbody.addEventListener("click", function (e) {
        var raise = e.target.getAttribute("data-raise"), id = e.target.getAttribute("data-cancel") || raise;
        if (!id) { return; }
        var path = raise ? "/update" : "/cancel", body = raise ? { color: "red", action: "evacuate" } : {};
        RM.postJson(config.api + "/broadcasts/" + id + path, body)
          .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } })  // shown by the stream
          .then(null, function (err) { state.errors.push(String(err)); alert("操作失败: " + err); });
      });
      return div;
    };

    /* After the alarm panel (which opens the stream): the flood panel and its two overlays,
     * loaded once (not in an export). */
    function start() {
      if (config.data) { return Promise.resolve(); }
      bpanel.addTo(map);
      ctx.control.addOverlay(flood.warnings, "预警区域");
      ctx.control.addOverlay(flood.targets, "叫应状态");
      return loadFlood();
    }

    return { start: start };
  };
})(window.RiskMap);
