/* The map's layer of open hidden hazards (隐患): a dot per hazard, red for 重大隐患, orange for
 * 一般隐患, a thick dashed black outline when past its deadline (逾期). The API shows a caller only
 * the hazards of its jurisdiction and needs a signed-in user (or a program's token), so the layer
 * stays empty for the public (it never asks by itself). Clicking a dot opens the hazard's page. */
(function (RM) {
  "use strict";

  RM.hazards = function (ctx) {
    var map = ctx.map, config = ctx.config, state = ctx.state;
    var layer = L.layerGroup();
    state.hazards = [];

    function style(p) {
      return {
        radius: p.major ? 8 : 6, renderer: ctx.ringRenderer, fillOpacity: 0.85,
        fillColor: p.major ? "#d7191c" : "#fd8d3c",
        color: p.overdue ? "#000000" : "#ffffff", weight: p.overdue ? 3 : 1.5, dashArray: p.overdue ? "4 3" : null
      };
    }

    function load() {
      if (!RM.signedIn() && !RM.token()) { return Promise.resolve(); }  // the public: nothing to show
      return RM.api(config.api + "/hidden-hazards/map", { noPrompt: true }).then(function (r) {
        if (!r.ok) { return; }
        return r.json().then(function (fc) {
          layer.clearLayers();
          state.hazards = fc.features.map(function (f) { return f.properties; });
          fc.features.forEach(function (f) {
            var p = f.properties, c = f.geometry.coordinates;
            var m = L.circleMarker([c[1], c[0]], style(p)).addTo(layer);
            m.bindTooltip((p.major ? "重大隐患" : "一般隐患") + "：" + RM.esc(p.title) + "（" + RM.esc(p.state_zh) +
              (p.overdue ? "，已逾期" : "") + "）");
            m.on("click", function () { window.location.href = "/hazards/" + p.id; });
          });
        });
      });
    }

    function start() {
      if (config.data) { return Promise.resolve(); }
      ctx.control.addOverlay(layer, "隐患（红：重大，橙：一般，虚线：逾期）");
      layer.addTo(map);
      return load().catch(function (e) { state.errors.push(String(e)); });
    }

    return { start: start, load: load };
  };
})(window.RiskMap);
