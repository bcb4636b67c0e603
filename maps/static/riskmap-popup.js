/* The four-colour risk map, part 2 of 6: the site popup — its level and reasons (with what would
 * lower them), the exposure zone it opens on the map, and the latest readings as small charts. */
(function (RM) {
  "use strict";

  var esc = RM.esc, fmt = RM.fmt;
  var STATUS_ZH = { operating: "正常生产", suspended: "停产", closed: "关闭" };

  RM.popup = function (ctx) {
    var levels = ctx.levels, state = ctx.state, config = ctx.config, map = ctx.map, UNGRADED = RM.UNGRADED;
    state.exposure = L.layerGroup().addTo(map);

    function html(p) {
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
        }).join("") + '</table>' + (config.data ? "" : '<a class="site-page" href="/sites/' +
          encodeURIComponent(p.code) + '">场所详情（报警、隐患）</a>') +  // not in a standalone export
        '<ul class="reasons">' + reasons + '</ul><div class="charts"></div></div>';
    }

    function showExposure(code) {
      if (config.data) { return Promise.resolve(); }
      return RM.fetchJson(config.api + "/sites/" + encodeURIComponent(code) + "/exposure").then(function (fc) {
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
        '" stroke="' + ctx.byColor[first.color].hex + '" stroke-dasharray="4 3"/>' : "";
      return '<div class="chart"><div>' + esc(series.sensor) + " · " + fmt(pts[pts.length - 1].value) + " " +
        esc(ctx.unitZh(series.unit)) + '</div><svg width="' + w + '" height="' + h + '">' + limit +
        '<polyline fill="none" stroke="#08519c" stroke-width="1.5" points="' + line + '"/></svg></div>';
    }

    // The charts: the site's sensors in alarm first (from the alarm panel), at most three.
    function showReadings(code, popupEl) {
      if (config.data) { return; }
      RM.fetchJson(config.api + "/sites/" + encodeURIComponent(code)).then(function (site) {
        var alarmed = {}, byId = state.alerts.byId;
        Object.keys(byId).forEach(function (k) { if (byId[k].site === code) { alarmed[byId[k].sensor] = 1; } });
        var sensors = site.properties.sensors.slice().sort(function (a, b) {
          return (alarmed[b.code] || 0) - (alarmed[a.code] || 0);
        }).slice(0, 3);
        return Promise.all(sensors.map(function (s) {
          return RM.fetchJson(config.api + "/sensors/" + encodeURIComponent(s.code) + "/readings");
        }));
      }).then(function (series) {
        var box = popupEl.querySelector(".charts");
        if (box) { box.innerHTML = series.map(sparkline).join(""); state.chartsFor = code; }
      }, function (err) { state.errors.push(String(err)); });
    }
    state.showReadings = showReadings;

    return {
      html: html,
      opened: function (code, popupEl) { showExposure(code); state.showReadings(code, popupEl); }
    };
  };
})(window.RiskMap);
