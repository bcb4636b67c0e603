/* The four-colour risk map (四色安全风险空间分布图), part 7 of 7: RiskMap.init puts the parts
 * together. Layers come from the API by URL, or from config.data in an exported report. Exposes
 * window.riskmap for tests and operators; its `ready` resolves once everything is drawn.
 *
 * The page loads, in this order: riskmap-core.js (shared helpers, the one api() that adds the
 * credentials), riskmap-popup.js, riskmap-layers.js, riskmap-alarms.js, riskmap-broadcasts.js,
 * riskmap-hazards.js and this file (maps/build.py, SCRIPTS). */
(function (RM) {
  "use strict";

  RM.init = function (map, config) {
    var ctx = RM.context(map, config), state = ctx.state;
    var popup = RM.popup(ctx);
    var layers = RM.layers(ctx, popup);
    var alarms = RM.alarms(ctx);
    var broadcasts = RM.broadcasts(ctx);
    var hazards = RM.hazards(ctx);

    state.ready = layers.loaded.then(alarms.start).then(broadcasts.start).then(hazards.start).then(function () {
      ctx.status.textContent = "站点 " + state.siteCount + " 个" + (config.data ? " · 导出于 " + config.exportedAt : "");
      return state;
    }, function (err) {
      state.errors.push(String(err));
      ctx.status.textContent = "加载失败: " + err;
      throw err;
    });
    return state;
  };
})(window.RiskMap);
