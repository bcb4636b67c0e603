/* The platform's map layers, fetched from the API by URL. Exposes window.riskmap for tests. */
(function () {
  "use strict";

  function escapeHtml(value) {
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

  function sitePopup(p) {
    var rows = [
      ["编码", p.code], ["类型", p.kind_zh], ["企业", p.enterprise],
      ["状态", STATUS_ZH[p.status] || p.status], ["地区", p.region_name + " (" + p.region_adcode + ")"]
    ];
    return '<div class="riskmap-popup"><h4>' + escapeHtml(p.name) + "</h4><table>" +
      rows.map(function (r) { return "<tr><th>" + r[0] + "</th><td>" + escapeHtml(r[1]) + "</td></tr>"; }).join("") +
      "</table></div>";
  }

  function legend(config) {
    var control = L.control({ position: "bottomright" });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "riskmap-legend");
      div.innerHTML = Object.keys(config.kinds).map(function (k) {
        return '<div><i style="background:' + config.kinds[k].color + '"></i>' + config.kinds[k].label + "</div>";
      }).join("");
      return div;
    };
    return control;
  }

  function init(map, config) {
    var state = { map: map, config: config, counties: null, sites: {}, siteCount: 0, errors: [] };
    window.riskmap = state;
    var control = L.control.layers(null, null, { collapsed: false }).addTo(map);
    legend(config).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    var status = L.DomUtil.create("div", "riskmap-status", map.getContainer());
    status.textContent = "加载中…";

    var counties = fetchJson(config.api + "/regions?level=county&simplify_m=100").then(function (fc) {
      state.counties = L.geoJSON(fc, {
        style: { color: "#555", weight: 1, fillColor: "#f2efe9", fillOpacity: 0.35 },
        onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name, { sticky: true }); }
      }).addTo(map);
      state.counties.bringToBack();
      control.addOverlay(state.counties, "区县边界");
    });

    function loadSites(url, acc) {
      return fetchJson(url).then(function (fc) {
        acc.push.apply(acc, fc.features);
        var next = fc.offset + fc.numberReturned;
        if (fc.numberReturned > 0 && next < fc.total) {
          return loadSites(config.api + "/sites?limit=" + fc.limit + "&offset=" + next, acc);
        }
        return acc;
      });
    }

    var sites = loadSites(config.api + "/sites?limit=5000", []).then(function (features) {
      Object.keys(config.kinds).forEach(function (kind) {
        var style = config.kinds[kind];
        var layer = L.geoJSON({ type: "FeatureCollection", features: features.filter(function (f) { return f.properties.kind === kind; }) }, {
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, { radius: 6, color: "#222", weight: 1, fillColor: style.color, fillOpacity: 0.9 });
          },
          onEachFeature: function (f, l) { l.bindPopup(sitePopup(f.properties)); }
        }).addTo(map);
        state.sites[kind] = layer;
        control.addOverlay(layer, style.label + " (" + layer.getLayers().length + ")");
      });
      state.siteCount = features.length;
    });

    state.ready = Promise.all([counties, sites]).then(function () {
      status.textContent = "站点 " + state.siteCount + " 个";
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
