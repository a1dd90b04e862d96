// kubefort HTML report: pages and filters the findings held in #kubefort-data. Builds rows with
// textContent only: text from the scanned files never becomes markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kubefort-data").textContent);
  var rules = data.rules, rows = data.findings, sevs = data.severities, snippets = data.snippets;
  var size = data.page_size, page = 0, matched = rows;
  var $ = function (id) { return document.getElementById(id); };
  var ids = ["f-severity", "f-area", "f-rule", "f-namespace", "f-kind", "f-text"];
  var lower = rows.map(function (r) {
    var rule = rules[r[1]];
    return [rule[0], rule[1], r[2], r[3], r[4], r[5], r[6], r[7]].join("\n").toLowerCase();
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function para(label, text, cls, code) {
    var p = el("p", cls), s = el("strong", null, label + " ");
    p.appendChild(s);
    p.appendChild(code ? el("code", null, text) : document.createTextNode(text));
    return p;
  }

  function row(r) {
    var rule = rules[r[1]], sev = sevs[r[0]];
    var tr = el("tr", "finding sev-" + sev);
    var td = el("td", "sev"); td.appendChild(el("span", "badge sev-" + sev, sev)); tr.appendChild(td);
    tr.appendChild(el("td", "rule", rule[0]));
    tr.appendChild(el("td", "obj", r[2] + "/" + (r[3] ? r[3] + "/" : "") + r[4]));
    var msg = el("td", "msg"), det = el("details"), sum = el("summary", null, r[5]);
    det.appendChild(sum);
    var d = el("div", "detail");
    var head = el("p"); head.appendChild(el("strong", null, rule[1])); head.appendChild(document.createTextNode(" (" + rule[2] + ")"));
    d.appendChild(head);
    d.appendChild(para("Why:", rule[3], "rationale"));
    d.appendChild(para("Fix:", rule[4], "remediation"));
    d.appendChild(para("Field:", r[6], "path", true));
    var at = r[7] + (r[8] ? ":" + r[8] : "");
    d.appendChild(para("At:", at, "where", true));
    if (r[9] >= 0) {
      var sn = snippets[r[9]], pre = el("pre", "src");
      for (var i = 0; i < sn[1].length; i++) {
        var n = sn[0] + i, num = String(n);
        while (num.length < 5) num = " " + num;
        pre.appendChild(el("span", n === r[8] ? "hit" : "ln", num + "  " + sn[1][i]));
        pre.appendChild(document.createTextNode("\n"));
      }
      d.appendChild(pre);
    }
    det.appendChild(d);
    msg.appendChild(det);
    tr.appendChild(msg);
    tr.appendChild(el("td", "loc", at));
    return tr;
  }

  function show() {
    var pages = Math.max(1, Math.ceil(matched.length / size));
    if (page >= pages) page = pages - 1;
    var body = $("rows"), frag = document.createDocumentFragment();
    var slice = matched.slice(page * size, page * size + size);
    for (var i = 0; i < slice.length; i++) frag.appendChild(row(slice[i]));
    body.textContent = "";
    body.appendChild(frag);
    $("match-count").textContent = String(matched.length);
    $("page-info").textContent = matched.length ? "; page " + (page + 1) + " of " + pages : "";
    $("prev").disabled = page === 0;
    $("next").disabled = page >= pages - 1;
  }

  function filter() {
    var v = ids.map(function (id) { return $(id).value; });
    var sev = v[0] ? sevs.indexOf(v[0]) : -1, text = v[5].trim().toLowerCase();
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], rule = rules[r[1]];
      if (sev >= 0 && r[0] !== sev) continue;
      if (v[1] && rule[2] !== v[1]) continue;
      if (v[2] && rule[0] !== v[2]) continue;
      if (v[3] !== "" && r[3] !== v[3]) continue;
      if (v[4] && r[2] !== v[4]) continue;
      if (text && lower[i].indexOf(text) < 0) continue;
      out.push(r);
    }
    matched = out;
    page = 0;
    show();
  }

  var timer = null;
  ids.forEach(function (id) {
    $(id).addEventListener(id === "f-text" ? "input" : "change", function () {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(filter, id === "f-text" ? 150 : 0);
    });
  });
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  $("prev").addEventListener("click", function () { if (page > 0) { page--; show(); } });
  $("next").addEventListener("click", function () { page++; show(); });
  $("filters").hidden = false;
  $("page-buttons").hidden = false;
  show();
})();
