// The summary table under the flame graph: every function of the view with
// self and total, sortable by any column, filtered by a text box, shown a
// page at a time so all rows stay reachable without a huge DOM.  A diff
// answer (base_self/base_total: side A) shows both sides and the change.
"use strict";

class FunctionTable {
  constructor(table, filterInput, pager, options = {}) {
    this.table = table;
    this.filterInput = filterInput;
    this.pager = pager;
    this.onPick = options.onPick || (() => {});        // (name) => highlight in the graph
    this.onSandwich = options.onSandwich || (() => {});  // (name, file) => open its sandwich
    this.pageSize = 100;
    this.sortKey = "self";
    this.descending = true;
    this.page = 0;
    this.rows = [];
    this.diff = false;
    this.wireHeader();
    filterInput.addEventListener("input", () => { this.page = 0; this.render(); });
  }

  wireHeader() {
    for (const th of this.table.querySelectorAll("th[data-sort]")) {
      th.tabIndex = 0;
      const pick = () => {
        const key = th.dataset.sort;
        this.descending = key === this.sortKey ? !this.descending : key !== "name";
        this.sortKey = key;
        this.page = 0;
        this.render();
      };
      th.addEventListener("click", pick);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
    }
  }

  // Columns of a plain view or of a diff (side A, side B, change of self share).
  setHeader(diff) {
    if (diff === this.diff) return;
    this.diff = diff;
    const { el } = stacksight;
    const th = (text, sort, cls) => el("th", { "data-sort": sort || null, class: cls || null, text });
    const cells = diff
      ? [th("Function", "name"), th("File:line"), th("Self A", "base_self", "num"), th("Self B", "self", "num"),
         th("Self share change", "change", "num"), th("Total A", "base_total", "num"), th("Total B", "total", "num")]
      : [th("Function", "name"), th("File:line"), th("Self", "self", "num"), th("Self %", null, "num"),
         th("Total", "total", "num"), th("Total %", null, "num")];
    this.table.querySelector("thead").replaceChildren(el("tr", {}, cells));
    this.sortKey = diff ? "change" : "self";
    this.descending = true;
    this.wireHeader();
  }

  setData(functions, total, unit) {
    this.total = functions.whole !== undefined ? functions.whole : total;
    this.baseTotal = functions.base_whole || 0;
    this.unit = unit;
    const diff = Boolean(functions.base_total);
    this.setHeader(diff);
    this.rows = functions.name.map((name, i) => {
      const row = { name, file: functions.file[i], line: functions.line[i], kind: functions.kind[i],
                    self: functions.self[i], total: functions.total[i] };
      if (diff) {
        row.base_self = functions.base_self[i];
        row.base_total = functions.base_total[i];
        row.change = (this.total ? row.self / this.total : 0) - (this.baseTotal ? row.base_self / this.baseTotal : 0);
      }
      return row;
    });
    this.render();
  }

  filtered() {
    const term = this.filterInput.value.trim().toLowerCase();
    const rows = term ? this.rows.filter((r) => r.name.toLowerCase().includes(term) || r.file.toLowerCase().includes(term)) : this.rows.slice();
    const key = this.sortKey, sign = this.descending ? -1 : 1;
    rows.sort((a, b) => {
      const order = key === "name" ? a.name.localeCompare(b.name) : a[key] - b[key];
      return sign * order || a.name.localeCompare(b.name);
    });
    return rows;
  }

  render() {
    const { el, formatValue, percent } = stacksight;
    const rows = this.filtered();
    const pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    this.page = Math.min(this.page, pages - 1);
    const shown = rows.slice(this.page * this.pageSize, (this.page + 1) * this.pageSize);
    const fmt = (v) => formatValue(v, this.unit);
    for (const th of this.table.querySelectorAll("th[data-sort]")) {
      th.dataset.order = th.dataset.sort === this.sortKey ? (this.descending ? "desc" : "asc") : "";
      th.setAttribute("aria-sort", th.dataset.order ? (this.descending ? "descending" : "ascending") : "none");
    }
    this.table.querySelector("tbody").replaceChildren(...shown.map((fn) => el("tr", { class: "fn-row", "data-name": fn.name },
      el("td", { class: "fn" },
        el("span", { class: "kind-dot kind-" + fn.kind, title: fn.kind }),
        el("a", { href: "#", class: "fn-name", title: "highlight in the flame graph", text: fn.name,
                  onclick: (e) => { e.preventDefault(); this.onPick(fn.name); } }),
        " ",
        el("button", { class: "mini", title: "callers and callees of this function", text: "sandwich",
                       onclick: () => this.onSandwich(fn.name, fn.file) }),
        el("button", { class: "mini", title: "copy the function name", text: "copy",
                       onclick: () => navigator.clipboard && navigator.clipboard.writeText(fn.name).catch(() => {}) })),
      el("td", { class: "fn", text: fn.file + (fn.line ? ":" + fn.line : "") }),
      ...(this.diff ? this.diffCells(fn, fmt) : [
        el("td", { class: "num", text: fmt(fn.self) }), el("td", { class: "num", text: percent(fn.self, this.total) }),
        el("td", { class: "num", text: fmt(fn.total) }), el("td", { class: "num", text: percent(fn.total, this.total) })]))));
    this.pager.replaceChildren(
      el("span", { class: "table-count", text: `${rows.length} function${rows.length === 1 ? "" : "s"}` +
        (pages > 1 ? ` · page ${this.page + 1} of ${pages}` : "") }),
      el("button", { disabled: this.page === 0, text: "Previous", onclick: () => { this.page--; this.render(); } }),
      el("button", { disabled: this.page >= pages - 1, text: "Next", onclick: () => { this.page++; this.render(); } }));
  }

  diffCells(fn, fmt) {
    const { el, percent } = stacksight;
    const points = 100 * fn.change;
    const shown = Math.abs(points) < 0.005 ? "0" : (points > 0 ? "+" : "") + Number(points.toPrecision(2));
    return [
      el("td", { class: "num", text: `${fmt(fn.base_self)} (${percent(fn.base_self, this.baseTotal)})` }),
      el("td", { class: "num", text: `${fmt(fn.self)} (${percent(fn.self, this.total)})` }),
      el("td", { class: "num " + (points > 0.005 ? "grew" : points < -0.005 ? "shrank" : ""), text: `${shown} pts` }),
      el("td", { class: "num", text: fmt(fn.base_total) }), el("td", { class: "num", text: fmt(fn.total) })];
  }
}
