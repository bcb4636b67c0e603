/* The four-colour risk map (四色安全风险空间分布图), part 7 of 7: RiskMap.init puts the parts
 * together. Layers come from the API by URL, or from config.data in an exported report. Exposes
 * window.riskmap for tests and operators; its `ready` resolves once everything is drawn. On a
 * phone the panels open one at a time from a tab bar (RM.tabs).
 *
 * The page loads, in this order: riskmap-core.js (shared helpers, the one api() that adds the
 * credentials), riskmap-popup.js, riskmap-layers.js, riskmap-alarms.js, riskmap-broadcasts.js,
 * riskmap-hazards.js and this file (maps/build.py, SCRIPTS). */
(function (RM) {
  "use strict";

  /* On a phone (narrow screen, riskmap.css) the panels would cover one another and the layer
   * control: a tab bar at the bottom opens one of them at a time as a drawer above it. On a wide
   * screen the bar is hidden by the stylesheet and the panels stay where they are. */
  var TABS = [
    { key: "alarms", label: "报警", panel: ".riskmap-alerts" },
    { key: "broadcasts", label: "叫应", panel: ".riskmap-broadcasts" },
    { key: "layers", label: "图层", panel: ".leaflet-control-layers" },
    { key: "legend", label: "图例", panel: ".riskmap-legend" }
  ];
  RM.tabs = function (map) {
    var box = map.getContainer(), open = null;
    var bar = L.DomUtil.create("nav", "riskmap-tabs", box);
    L.DomEvent.disableClickPropagation(bar);
    bar.innerHTML = TABS.map(function (t) {
      return '<button type="button" data-tab="' + t.key + '">' + t.label + "</button>";
    }).join("");
    function show(key) {
      open = key === open ? null : key;  // the open tab tapped again closes its drawer
      box.classList.toggle("riskmap-drawer-open", open !== null);
      TABS.forEach(function (t) {
        box.classList.toggle("riskmap-tab-" + t.key, t.key === open);
        bar.querySelector('[data-tab="' + t.key + '"]').classList.toggle("on", t.key === open);
      });
    }
    bar.addEventListener("click", function (e) {
      var key = e.target.getAttribute("data-tab");
      if (key) { show(key); }
    });
    // Only the panels this page has (an exported map has no alarm or broadcast panel).
    function prune() {
      TABS.forEach(function (t) {
        bar.querySelector('[data-tab="' + t.key + '"]').hidden = !box.querySelector(t.panel);
      });
    }
    return { show: show, prune: prune, bar: bar };
  };

  RM.init = function (map, config) {
    var ctx = RM.context(map, config), state = ctx.state;
    var popup = RM.popup(ctx);
    var layers = RM.layers(ctx, popup);
    var alarms = RM.alarms(ctx);
    var broadcasts = RM.broadcasts(ctx);
    var hazards = RM.hazards(ctx);
    var tabs = RM.tabs(map);

    state.ready = layers.loaded.then(alarms.start).then(broadcasts.start).then(hazards.start).then(function () {
      tabs.prune();
      ctx.status.textContent = "站点 " + state.siteCount + " 个" + (config.data ? " · 导出于 " + config.exportedAt : "");
      return state;
    }, function (err) {
      state.errors.push(String(err));
      tabs.prune();
      ctx.status.textContent = "加载失败: " + err;
      throw err;
    });
    return state;
  };
})(window.RiskMap);
