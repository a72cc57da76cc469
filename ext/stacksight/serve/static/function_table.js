// The summary table under the flame graph: every function of the view with
// self and total, sortable by any column, filtered by a text box, shown a
// page at a time so all rows stay reachable without a huge DOM.
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
    for (const th of table.querySelectorAll("th[data-sort]")) {
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
    filterInput.addEventListener("input", () => { this.page = 0; this.render(); });
  }

  setData(functions, total, unit) {
    this.total = functions.whole !== undefined ? functions.whole : total;
    this.unit = unit;
    this.rows = functions.name.map((name, i) => ({
      name, file: functions.file[i], line: functions.line[i], kind: functions.kind[i],
      self: functions.self[i], total: functions.total[i] }));
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
      el("td", { class: "num", text: fmt(fn.self) }), el("td", { class: "num", text: percent(fn.self, this.total) }),
      el("td", { class: "num", text: fmt(fn.total) }), el("td", { class: "num", text: percent(fn.total, this.total) }))));
    this.pager.replaceChildren(
      el("span", { class: "table-count", text: `${rows.length} function${rows.length === 1 ? "" : "s"}` +
        (pages > 1 ? ` · page ${this.page + 1} of ${pages}` : "") }),
      el("button", { disabled: this.page === 0, text: "Previous", onclick: () => { this.page--; this.render(); } }),
      el("button", { disabled: this.page >= pages - 1, text: "Next", onclick: () => { this.page++; this.render(); } }));
  }
}
