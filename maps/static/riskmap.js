/* The four-colour risk map (四色安全风险空间分布图). Layers come from the API by URL, or from
 * config.data in an exported report. Exposes window.riskmap for tests and operators. */
(function () {
  "use strict";

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fetchJson(url) {
    return fetch(url, { headers: { Accept: "application/geo+json, application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  var STATUS_ZH = { operating: "正常生产", suspended: "停产", closed: "关闭" };
  var REGION_VIEWS = [
    ["county", "区县四色分布"], ["prefecture", "市州四色分布"], ["grid", "网格四色分布 (H3)"]
  ];

  function init(map, config) {
    var levels = {}, byColor = {};
    config.levels.forEach(function (l) { levels[l.level] = l; byColor[l.color] = l; });
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
      var lv = levels[p.level];
      var reasons = (p.reasons || []).map(function (r) {
        return '<li><i style="background:' + levels[r.level].hex + '"></i>' + esc(r.summary) +
          '<div class="basis">' + esc(r.basis) + "</div></li>";
      }).join("");
      return '<div class="riskmap-popup"><h4>' + esc(p.name) + '</h4><div class="badge" style="background:' +
        lv.hex + '">' + lv.name_zh + "</div><table>" +
        [["编码", p.code], ["类型", p.kind_zh], ["企业", p.enterprise], ["状态", STATUS_ZH[p.status] || p.status],
         ["固有风险", levels[p.inherent_level].name_zh]].map(function (r) {
          return "<tr><th>" + r[0] + "</th><td>" + esc(r[1]) + "</td></tr>";
        }).join("") + '</table><ul class="reasons">' + reasons + "</ul></div>";
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
      });
      fc.features.forEach(function (f) {
        var p = f.properties, lv = levels[p.level];
        var m = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
          radius: p.level === 1 ? 8 : 6, color: config.kinds[p.kind].color, weight: 2,
          fillColor: lv.hex, fillOpacity: 0.95
        });
        m.feature = f;
        m.bindPopup(popup(p), { maxWidth: 360 });
        m.on("popupopen", function () { showExposure(p.code); });
        state.sites[p.kind][p.color].addLayer(m);
        state.markers.push(m);
      });
      Object.keys(config.kinds).forEach(function (kind) {
        var n = fc.features.filter(function (f) { return f.properties.kind === kind; }).length;
        toggle(config.kinds[kind].label + " (" + n + ")", state.shownKinds, kind);
      });
      config.levels.forEach(function (l) {
        var n = fc.features.filter(function (f) { return f.properties.color === l.color; }).length;
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

    state.ready = Promise.all([regionsLoaded, sitesLoaded]).then(function () {
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
