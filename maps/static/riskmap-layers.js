/* The four-colour risk map, part 3 of 6: the region layers (one base layer per view) and the
 * site markers, switched on and off by kind and by colour, with the legend. */
(function (RM) {
  "use strict";

  var esc = RM.esc;
  var REGION_VIEWS = [
    ["county", "区县四色分布"], ["prefecture", "市州四色分布"], ["grid", "网格四色分布 (H3)"]
  ];

  // Regions: one base layer per view, coloured by the most severe site level inside.
  function regions(ctx) {
    var map = ctx.map, state = ctx.state;
    var loaded = Promise.all(REGION_VIEWS.map(function (view) {
      return ctx.load("regions_" + view[0], "/risk/regions?by=" + view[0]).then(function (fc) {
        state.regions[view[0]] = L.geoJSON(fc, {
          style: function (f) {
            var lv = ctx.levels[f.properties.level];
            return { color: "#555", weight: view[0] === "grid" ? 0.5 : 1,
                     fillColor: lv ? lv.hex : "#f2efe9", fillOpacity: lv ? 0.35 : 0.15 };
          },
          onEachFeature: function (f, l) {
            var p = f.properties, c = p.counts;
            l.bindTooltip(esc(p.name || p.cell) + "<br>红 " + c.red + " · 橙 " + c.orange + " · 黄 " + c.yellow +
              " · 蓝 " + c.blue, { sticky: true });
          }
        });
      });
    })).then(function () {
      REGION_VIEWS.forEach(function (view) { ctx.control.addBaseLayer(state.regions[view[0]], view[1]); });
      state.regions.county.addTo(map).bringToBack();
    });
    map.on("baselayerchange", function (e) { e.layer.bringToBack(); });
    return loaded;
  }

  // Sites: one layer group per kind and colour, shown when both its kind and its colour are on.
  function sites(ctx, popup) {
    var map = ctx.map, state = ctx.state, config = ctx.config, levels = ctx.levels, UNGRADED = RM.UNGRADED;

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
      ctx.control.addOverlay(t, label);
      t.addTo(map);
      return t;
    }
    map.on("overlayadd overlayremove", function (e) {
      if (e.layer.riskmapToggle) {
        e.layer.riskmapToggle.flags[e.layer.riskmapToggle.key] = e.type === "overlayadd";
        refreshVisibility();
      }
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

    return ctx.load("sites", "/risk/sites").then(function (fc) {
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
        m.bindPopup(popup.html(p), { maxWidth: 360 });
        m.on("popupopen", function (e) { popup.opened(p.code, e.popup.getElement()); });
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
  }

  /* Starts loading both; resolves once every region view and every site is drawn. */
  RM.layers = function (ctx, popup) {
    return { loaded: Promise.all([regions(ctx), sites(ctx, popup)]) };
  };
})(window.RiskMap);
