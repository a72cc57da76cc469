// Search Profiles list page.  All state (facet selections, time range, page)
// lives in the URL so a view can be bookmarked, shared and reloaded.
"use strict";

(() => {
  const { el, fetchJson, formatCores, formatRate, formatDurationNs, formatTime } = stacksight;
  const FACETS = [["env", "Env"], ["service", "Service"], ["version", "Version"], ["host", "Host"],
                  ["runtime", "Runtime"]];
  const RANGES_S = { "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400, "7d": 604800, "30d": 2592000 };
  const PAGE_SIZE = 50;
  const selected = new Map();   // profile id -> start_ns, across pages
  let lastFacets = {};

  function state() { return new URLSearchParams(location.search); }

  function setState(params, resetPage = true) {
    if (resetPage) params.delete("offset");
    history.pushState(null, "", "?" + params.toString());
    refresh();
  }

  // The filter part of the URL as the API understands it.
  function filterParams() {
    const source = state();
    const params = new URLSearchParams();
    for (const [facet] of FACETS) for (const value of source.getAll(facet)) params.append(facet, value);
    for (const tag of source.getAll("tag")) params.append("tag", tag);
    const range = source.get("range") || "all";
    if (RANGES_S[range]) {
      params.set("from", String(Date.now() / 1000 - RANGES_S[range]));
    } else if (range === "custom") {
      if (source.get("from")) params.set("from", String(Date.parse(source.get("from")) / 1000));
      if (source.get("to")) params.set("to", String(Date.parse(source.get("to")) / 1000));
    }
    return params;
  }

  function toggleFacet(facet, value, on) {
    const params = state();
    const values = params.getAll(facet).filter((v) => v !== value);
    if (on) values.push(value);
    params.delete(facet);
    for (const v of values) params.append(facet, v);
    setState(params);
  }

  function renderFacets(facets) {
    const chosen = state();
    const container = document.getElementById("facet-lists");
    container.replaceChildren();
    for (const [facet, title] of FACETS) {
      const section = el("div", { class: "facet", "data-facet": facet }, el("h3", { text: title }));
      const active = chosen.getAll(facet);
      for (const { value, count } of facets[facet] || []) {
        const box = el("input", { type: "checkbox", "data-facet": facet, "data-value": value,
                                  checked: active.includes(value),
                                  onchange: (e) => toggleFacet(facet, value, e.target.checked) });
        section.appendChild(el("label", {}, box,
          el("span", { class: "facet-value", title: value, text: value === "" ? "(none)" : value }),
          el("span", { class: "facet-count", text: String(count) })));
      }
      // A selected value that no longer matches anything must still be removable.
      for (const value of active) {
        if ((facets[facet] || []).some((f) => f.value === value)) continue;
        section.appendChild(el("label", {}, el("input", { type: "checkbox", checked: true,
          "data-facet": facet, "data-value": value, onchange: () => toggleFacet(facet, value, false) }),
          el("span", { class: "facet-value", text: value }), el("span", { class: "facet-count", text: "0" })));
      }
      container.appendChild(section);
    }
  }

  function updateMergeButton() {
    const button = document.getElementById("merge-selected");
    button.textContent = `Merge selected (${selected.size})`;
    button.disabled = selected.size === 0;
    document.getElementById("compare-selected").disabled = selected.size !== 2;
    // The header box says whether this page's rows are all, some or none selected.
    const boxes = [...document.querySelectorAll(".row-select")];
    const ticked = boxes.filter((box) => box.checked).length;
    const all = document.getElementById("select-all");
    all.checked = boxes.length > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }

  // This time range (B) and the one of the same length just before it (A).
  function periods() {
    const filters = filterParams();
    const from = Number(filters.get("from")), to = filters.get("to") ? Number(filters.get("to")) : Date.now() / 1000;
    if (!filters.get("from") || !(to > from)) return null;
    return { a: [from - (to - from), from], b: [from, to] };
  }

  function renderCompareChoices() {
    document.getElementById("compare-period").disabled = periods() === null;
    const facet = document.getElementById("compare-facet").value;
    const values = (lastFacets[facet] || []).map((entry) => entry.value);
    for (const [id, pick] of [["compare-a", 0], ["compare-b", 1]]) {
      const select = document.getElementById(id);
      const keep = select.value;
      select.replaceChildren(...values.map((value) => el("option", { value, text: value === "" ? "(none)" : value })));
      select.value = values.includes(keep) ? keep : values[Math.min(pick, values.length - 1)] || "";
    }
    document.getElementById("compare-values").disabled = values.length < 2;
  }

  // A profile that lost samples has low figures: say so next to its CPU.
  function lostBadge(lost) {
    if (!lost || !lost.dropped) return null;
    return el("span", { class: "badge lost", title: `${lost.dropped} samples dropped at the profiler's stack limit ` +
      `(of ${lost.taken || "?"} taken): this profile's figures are low by about that share`,
      text: `⚠ ${stacksight.percent(lost.dropped_share, 1)} lost` });
  }

  function renderRows(listing) {
    const filters = filterParams();
    const body = document.getElementById("profile-rows");
    body.replaceChildren();
    for (const row of listing.profiles) {
      const box = el("input", { type: "checkbox", class: "row-select", "data-id": row.id, "data-start": row.start_ns,
                                checked: selected.has(row.id), "aria-label": `select profile ${row.id}`,
                                onclick: (e) => e.stopPropagation(),
                                onchange: (e) => { e.target.checked ? selected.set(row.id, row.start_ns) : selected.delete(row.id);
                                                   updateMergeButton(); } });
      // The list's time range goes along: the Metrics tab shows the same span.
      const range = new URLSearchParams();
      for (const key of ["from", "to"]) if (filters.get(key)) range.set(key, filters.get(key));
      const href = `/profiles/${row.id}` + (String(range) ? "?" + range : "");
      // The service cell is a real link (open in a new tab, copy link); a
      // click anywhere else on the row follows it too, in a new tab with
      // Ctrl/Cmd or the middle button as links do.
      const follow = (e) => {
        if (e.target.closest("a, input")) return;
        if (e.button === 1 || e.ctrlKey || e.metaKey) window.open(href, "_blank", "noopener");
        else if (e.button === 0) location.href = href;
      };
      const tr = el("tr", { class: "profile-row", "data-id": row.id, onclick: follow, onauxclick: follow },
        el("td", {}, box),
        el("td", { class: "col-service" }, el("a", { class: "row-link", href, text: row.service || "(none)" })),
        el("td", { class: "col-env", text: row.env }),
        el("td", { class: "col-version", text: row.version }),
        el("td", { class: "col-host", text: row.host }),
        el("td", { class: "col-runtime", text: row.runtime }),
        el("td", { class: "col-start", text: formatTime(row.start_ns) }),
        el("td", { class: "num", text: formatDurationNs(row.duration_ns) }),
        el("td", { class: "num col-cpu" }, lostBadge(row.lost), formatCores(row.cpu_cores)),
        el("td", { class: "num col-alloc", text: formatRate(row.alloc_bytes_per_sec) }));
      body.appendChild(tr);
    }
    if (!listing.profiles.length) {
      body.appendChild(el("tr", {}, el("td", { colspan: 10, class: "empty",
        text: "No profiles match. Point a profiler at this server: DD_TRACE_AGENT_URL=" + location.origin })));
    }
    const offset = listing.offset, shown = listing.profiles.length;
    document.getElementById("result-count").textContent = `${listing.total} profiles`;
    document.getElementById("page-info").textContent =
      listing.total ? `${offset + 1}–${offset + shown} of ${listing.total}` : "";
    document.getElementById("page-prev").disabled = offset === 0;
    document.getElementById("page-next").disabled = offset + shown >= listing.total;
    updateMergeButton();
  }

  function syncTimeControls() {
    const params = state();
    const range = params.get("range") || "all";
    document.getElementById("time-range").value = range;
    document.getElementById("custom-range").hidden = range !== "custom";
    document.getElementById("range-from").value = params.get("from") || "";
    document.getElementById("range-to").value = params.get("to") || "";
  }

  async function refresh() {
    syncTimeControls();
    const filters = filterParams();
    const listParams = new URLSearchParams(filters);
    listParams.set("limit", PAGE_SIZE);
    listParams.set("offset", state().get("offset") || "0");
    const errorBox = document.getElementById("list-error");
    try {
      const [listing, facets] = await Promise.all([
        fetchJson("/api/profiles?" + listParams), fetchJson("/api/facets?" + filters)]);
      errorBox.replaceChildren();
      renderFacets(facets.facets);
      lastFacets = facets.facets;
      renderCompareChoices();
      renderRows(listing);
      document.body.dataset.loaded = "true";
    } catch (error) {
      errorBox.replaceChildren(el("div", { class: "error-box", text: String(error.message || error) }));
    }
  }

  document.getElementById("time-range").addEventListener("change", (e) => {
    const params = state();
    params.set("range", e.target.value);
    if (e.target.value !== "custom") { params.delete("from"); params.delete("to"); }
    setState(params);
  });
  for (const id of ["range-from", "range-to"]) {
    document.getElementById(id).addEventListener("change", (e) => {
      const params = state();
      params.set(id === "range-from" ? "from" : "to", e.target.value);
      setState(params);
    });
  }
  document.getElementById("page-prev").addEventListener("click", () => {
    const params = state();
    params.set("offset", Math.max(0, Number(params.get("offset") || 0) - PAGE_SIZE));
    setState(params, false);
  });
  document.getElementById("page-next").addEventListener("click", () => {
    const params = state();
    params.set("offset", Number(params.get("offset") || 0) + PAGE_SIZE);
    setState(params, false);
  });
  document.getElementById("select-all").addEventListener("change", (e) => {
    for (const box of document.querySelectorAll(".row-select")) {
      box.checked = e.target.checked;
      const id = Number(box.dataset.id);
      e.target.checked ? selected.set(id, Number(box.dataset.start)) : selected.delete(id);
    }
    updateMergeButton();
  });
  document.getElementById("merge-selected").addEventListener("click", () => {
    location.href = "/merged?ids=" + [...selected.keys()].join(",");
  });
  document.getElementById("compare-selected").addEventListener("click", () => {
    const [a, b] = [...selected].sort((x, y) => x[1] - y[1] || x[0] - y[0]).map(([id]) => id);
    location.href = `/compare?a.ids=${a}&b.ids=${b}`;
  });
  document.getElementById("compare-facet").addEventListener("change", renderCompareChoices);
  document.getElementById("compare-period").addEventListener("click", () => {
    const sides = periods();
    const params = filterParams();
    params.delete("from");
    params.delete("to");
    for (const side of ["a", "b"]) {
      params.set(`${side}.from`, String(sides[side][0]));
      params.set(`${side}.to`, String(sides[side][1]));
    }
    location.href = "/compare?" + params;
  });
  document.getElementById("compare-values").addEventListener("click", () => {
    const facet = document.getElementById("compare-facet").value;
    const params = filterParams();
    params.delete(facet);  // the two sides differ in it; the rest of the filter is shared
    params.set("a." + facet, document.getElementById("compare-a").value);
    params.set("b." + facet, document.getElementById("compare-b").value);
    location.href = "/compare?" + params;
  });
  document.getElementById("merge-filtered").addEventListener("click", () => {
    location.href = "/merged?" + filterParams();
  });
  window.addEventListener("popstate", refresh);
  refresh();
})();
