/* The hidden-hazard pages (清单, 详情, 上报): the server renders the page for the signed-in user, this
 * script fills it from the API (the session cookie goes with every call, and the page's CSRF token
 * with every change) and posts the forms. */
(function () {
  "use strict";
  var UNSAFE = { POST: true, PUT: true, PATCH: true, DELETE: true };
  var page = document.body.dataset.page;
  var $ = function (id) { return document.getElementById(id); };

  function esc(v) {
    return String(v == null ? "" : v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function day(iso) { return iso ? new Date(iso).toLocaleDateString("zh-CN", { timeZone: "Asia/Shanghai" }) : "—"; }
  function when(iso) { return iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "—"; }
  function endOfDay(d) { return d ? d + "T17:00:00+08:00" : null; }
  // Who acted, said in Chinese: the audit actor's kind, then its name.
  function actor(a) {
    var kinds = { "token:": "令牌：", "user:": "用户：", "platform:": "平台自动：", "sample:": "示例数据：" };
    var prefix = Object.keys(kinds).filter(function (k) { return a.indexOf(k) === 0; })[0];
    return prefix ? kinds[prefix] + a.slice(prefix.length) : a;
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function toLogin() { window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }

  function showError(msg) { var e = $("error"); e.textContent = msg; e.hidden = !msg; }

  function detailOf(body) {
    if (!body || body.detail == null) { return "请求失败"; }
    if (typeof body.detail === "string") { return body.detail; }
    return body.detail.map(function (d) { return d.msg; }).join("；");
  }

  function api(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers);
    if (UNSAFE[(options.method || "GET").toUpperCase()]) { headers["X-CSRF-Token"] = csrf(); }
    var init = Object.assign({}, options, { headers: headers, credentials: "same-origin" });
    return fetch(url, init).then(function (r) {
      if (r.status === 401) { toLogin(); throw new Error("登录已失效，请重新登录"); }
      return r;
    });
  }
  function json(url, options) {
    return api(url, options).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(detailOf(body)); }
        return body;
      });
    });
  }
  function post(url, body) {
    return json(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  function tags(h) {
    return '<span class="tag' + (h.major ? " major" : "") + '">' + esc(h.grade_zh) + "</span>" +
      '<span class="tag">' + esc(h.state_zh) + "</span>" +
      (h.overdue ? '<span class="tag overdue">已逾期</span>' : "") +
      (h.supervised ? '<span class="tag">挂牌督办</span>' : "");
  }

  // --- 清单 ----------------------------------------------------------------------------------
  function query() {
    var q = new URLSearchParams();
    new FormData($("filters")).forEach(function (v, k) {
      if (!v) { return; }
      if (k === "from" || k === "to") { v = v + "T00:00:00+08:00"; }
      q.append(k, v);
    });
    return q;
  }
  function list() {
    var q = query();
    q.set("limit", "200");
    return json("/api/v1/hidden-hazards?" + q).then(function (body) {
      $("count").textContent = "共 " + body.total + " 项" + (body.total > body.items.length ? "，显示前 " + body.items.length + " 项" : "");
      $("hazards").innerHTML = body.items.map(function (h) {
        return '<article class="card' + (h.major ? " major" : "") + (h.overdue ? " overdue" : "") + '" data-id="' + h.id + '">' +
          '<a href="/hazards/' + h.id + '"><b>' + esc(h.title) + "</b></a><br>" + tags(h) + "<br>" +
          esc(h.enterprise) + " · " + esc(h.region) + "<br>发现：" + day(h.found_at) + " · 整改期限：" + day(h.deadline) +
          "</article>";
      }).join("");
    });
  }
  function exportLink(e) {
    e.preventDefault();
    api("/api/v1/hidden-hazards/export.xlsx?" + query()).then(function (r) {
      if (!r.ok) { throw new Error("导出失败"); }
      return r.blob();
    }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "隐患排查治理清单.xlsx";
      a.click();
    }).catch(function (err) { showError(err.message); });
  }

  // --- 详情 ----------------------------------------------------------------------------------
  var FORMS = {
    confirm: { zh: "确认隐患", fields: "reason" },
    plan: { zh: "制定整改方案", fields: "plan" },
    start: { zh: "开始整改", fields: "reason" },
    submit: { zh: "申请验收（须附整改证明材料）", fields: "submit" },
    accept: { zh: "验收通过并销号", fields: "accept" },
    reject: { zh: "验收不通过", fields: "reason" },
    supervise: { zh: "挂牌督办", fields: "supervise" }
  };
  function field(label, html) { return "<label>" + label + " " + html + "</label>"; }
  function formHtml(name, h) {
    var f = FORMS[name], body = "";
    if (f.fields === "plan") {
      body += field("整改措施", '<textarea name="measures" required rows="3"></textarea>') +
        field("整改资金（元）", '<input name="funds_yuan" type="number" min="0" step="1" required>') +
        field("责任人", '<input name="responsible" required maxlength="64">') +
        field("整改期限", '<input name="deadline" type="date" required>');
    } else if (f.fields === "submit") {
      body += "<p>选择证明材料：</p>" + (h.files.length ? h.files.map(function (x) {
        return '<label><input type="checkbox" name="attachments" value="' + x.id + '" checked> ' + esc(x.name) + "</label>";
      }).join("") : "<p>请先在上方上传整改照片或文件。</p>");
    } else if (f.fields === "accept" && h.supervised) {
      body += field("现场核查人员", '<input name="inspectors" required maxlength="256">') +
        field("核查日期", '<input name="accepted_on" type="date" required>');
    } else if (f.fields === "supervise") {
      body += field("督办文号", '<input name="order_no" required maxlength="64">') +
        field("督办整改期限", '<input name="deadline" type="date" required>') +
        '<label><input type="checkbox" name="ordered_by" value="city_safety_committee"> 由市安委会挂牌督办</label>' +
        '<label><input type="checkbox" name="interim_measures" value="suspend"> 临时措施：停产停业</label>' +
        '<label><input type="checkbox" name="interim_measures" value="evacuate"> 临时措施：撤出人员</label>';
    }
    body += field(name === "reject" ? "不通过理由" : "说明", '<textarea name="reason" rows="2"' + (name === "reject" ? " required" : "") + "></textarea>");
    return '<form class="step" data-step="' + name + '"><h3>' + f.zh + "</h3>" + body +
      '<button type="submit">' + f.zh.replace(/（.*/, "") + "</button></form>";
  }
  function stepBody(form) {
    var fd = new FormData(form), body = { reason: fd.get("reason") || "" };
    ["measures", "responsible", "order_no", "inspectors"].forEach(function (k) { if (fd.get(k)) { body[k] = fd.get(k); } });
    if (fd.get("funds_yuan")) { body.funds_yuan = Number(fd.get("funds_yuan")); }
    if (fd.get("deadline")) { body.deadline = endOfDay(fd.get("deadline")); }
    if (fd.get("accepted_on")) { body.accepted_on = fd.get("accepted_on") + "T12:00:00+08:00"; }
    if (fd.get("ordered_by")) { body.ordered_by = fd.get("ordered_by"); }
    body.interim_measures = fd.getAll("interim_measures");
    body.attachments = fd.getAll("attachments").map(Number);
    return body;
  }
  function render(h) {
    $("title").textContent = h.title;
    var rows = [
      ["企业", h.enterprise], ["站点", h.site_name + "（" + h.site + "）"], ["所在地区", h.region],
      ["等级与状态", null], ["判定依据", h.basis || "—"], ["发现方式", h.found_by_zh], ["发现时间", when(h.found_at)],
      ["整改期限", day(h.deadline)], ["整改措施", h.measures || "—"], ["整改资金", h.funds_yuan == null ? "—" : h.funds_yuan + " 元"],
      ["责任人", h.responsible || "—"], ["督办单位", h.supervising_org || "—"], ["督办文号", h.order_no || "—"],
      ["临时措施", h.interim_measures.join("、") || "—"], ["验收期限", day(h.review_deadline)],
      ["现场核查", h.inspectors ? h.inspectors + "（" + day(h.accepted_on) + "）" : "—"], ["销号日期", day(h.closed_at)]
    ];
    $("facts").innerHTML = rows.map(function (r) {
      return "<dt>" + r[0] + "</dt><dd>" + (r[1] === null ? tags(h) : esc(r[1])) + "</dd>";
    }).join("");
    $("files").innerHTML = h.files.length ? h.files.map(function (f) {
      return '<li><a href="#" data-url="' + f.url + '" data-name="' + esc(f.name) + '">' + esc(f.name) + "</a>（" +
        Math.ceil(f.size / 1024) + " KB）</li>";
    }).join("") : "<li>暂无附件</li>";
    $("timeline").innerHTML = h.events.map(function (e) {
      return '<li data-event="' + e.event + '"><b>' + esc(e.event_zh) + "</b> · " + when(e.at) + " · " + esc(actor(e.actor)) +
        (e.reason ? "<br>" + esc(e.reason) : "") + (e.attachments.length ? "<br>附件 " + e.attachments.length + " 个" : "") + "</li>";
    }).join("");
    $("upload").hidden = h.next.length === 0;
    $("none").hidden = h.next.length > 0;
    $("forms").innerHTML = h.next.map(function (n) { return formHtml(n, h); }).join("");
  }
  function detail() {
    var id = document.body.dataset.hazard;
    return json("/api/v1/hidden-hazards/" + id).then(function (h) { window.riskmapHazard = h; render(h); });
  }

  // --- 上报 ----------------------------------------------------------------------------------
  function loadCriteria() {
    var site = document.querySelector("#report [name=site]").value.trim();
    if (!site) { return; }
    json("/api/v1/hidden-hazards/criteria?site=" + encodeURIComponent(site)).then(function (items) {
      $("criterion").innerHTML = '<option value="">（不依据标准条目，由监管部门说明理由）</option>' + items.map(function (c) {
        return '<option value="' + esc(c.key) + '">' + esc(c.title + " 第（" + c.number + "）项：" + c.text) +
          (c.unconfirmed ? "（条文待核对）" : "") + "</option>";
      }).join("");
      showError("");
    }).catch(function (err) { showError(err.message); });
  }

  function start() {
    showError("");
    var work = page === "list" ? list() : page === "detail" ? detail() : Promise.resolve();
    work.catch(function (err) { showError(err.message); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (page === "list") {
      $("filters").addEventListener("submit", function (e) { e.preventDefault(); list().catch(function (err) { showError(err.message); }); });
      $("export").addEventListener("click", exportLink);
    } else if (page === "detail") {
      $("forms").addEventListener("submit", function (e) {
        e.preventDefault();
        var form = e.target;
        post("/api/v1/hidden-hazards/" + document.body.dataset.hazard + "/" + form.dataset.step, stepBody(form))
          .then(function (h) { showError(""); window.riskmapHazard = h; render(h); })
          .catch(function (err) { showError(err.message); });
      });
      $("upload").addEventListener("submit", function (e) {
        e.preventDefault();
        var fd = new FormData();
        if (!$("file").files.length) { showError("请选择文件"); return; }
        fd.append("file", $("file").files[0]);
        json("/api/v1/hidden-hazards/" + document.body.dataset.hazard + "/files", { method: "POST", body: fd })
          .then(function () { $("upload").reset(); return detail(); })
          .catch(function (err) { showError(err.message); });
      });
      $("files").addEventListener("click", function (e) {
        var a = e.target.closest("a[data-url]");
        if (!a) { return; }
        e.preventDefault();
        api(a.dataset.url).then(function (r) { return r.blob(); }).then(function (blob) {
          var link = document.createElement("a");
          link.href = URL.createObjectURL(blob);
          link.download = a.dataset.name;
          link.click();
        });
      });
    } else if (page === "new") {
      var form = $("report");
      form.site.addEventListener("change", loadCriteria);
      form.addEventListener("change", function () { $("major").hidden = form.grade.value !== "major"; });
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var fd = new FormData(form), major = fd.get("grade") === "major";
        var body = {
          site: fd.get("site").trim(), title: fd.get("title"), description: fd.get("description"),
          found_by: fd.get("found_by"), major: major, deadline: endOfDay(fd.get("deadline"))
        };
        if (major && fd.get("criterion")) { body.criterion = fd.get("criterion"); }
        if (major && !fd.get("criterion") && fd.get("major_reason")) { body.major_reason = fd.get("major_reason"); }
        post("/api/v1/hidden-hazards", body).then(function (h) { window.location.href = "/hazards/" + h.id; })
          .catch(function (err) { showError(err.message); });
      });
    }
    start();
  });
})();
