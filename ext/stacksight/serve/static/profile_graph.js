// The Profiles tab: type switch, view (top-down, bottom-up, sandwich),
// thread filter, group-by label, search, the flame graph(s) and the function
// table, all kept in the URL (type, view, thread, group, function, file,
// q for the search, zoom for the zoomed node, max_nodes for a smaller answer
// on a slow link).  On /compare the same controls drive a diff of side B
// against side A (/api/diff).  Answers are kept per URL so
// switching back is instant; a request slower than 300 ms shows progress.
"use strict";

const profileGraph = (() => {
  const { el, fetchJson, formatValue, percent } = stacksight;
  const PROGRESS_AFTER_MS = 300;

  function init({ merged, compare, profileId, pageParams, setPageParam, showError, onLoaded }) {
    const answers = new Map();   // URL -> payload
    let current = null;          // the unfocused payload on screen
    let loadSerial = 0;
    const status = (text) => { document.getElementById("flame-status").textContent = text; };
    const tooltip = document.getElementById("tooltip");
    const main = new FlameGraph(document.getElementById("flamegraph"), tooltip, {
      onStatus: status, onNeedFocus: (id) => loadFocus(id), onLeaveFocus: () => { setPageParam("zoom", ""); show(current); },
      onSelectFunction: (name, file) => openSandwich(name, file),
      onZoom: (id) => setPageParam("zoom", id ? String(id) : ""),
    });
    const callers = new FlameGraph(document.getElementById("flamegraph-callers"), tooltip, {
      upward: true, onSelectFunction: (name, file) => openSandwich(name, file) });
    const table = new FunctionTable(document.getElementById("top-table"), document.getElementById("table-filter"),
      document.getElementById("table-pager"), {
        onPick: (name) => { const box = document.getElementById("flame-search"); box.value = name; search(name); },
        onSandwich: (name, file) => openSandwich(name, file) });

    function apiUrl(extra = {}) {
      const params = new URLSearchParams();
      if (merged) for (const [key, value] of pageParams) if (!GRAPH_KEYS.includes(key)) params.append(key, value);
      for (const key of ["type", "thread", "task", "group", "max_nodes"]) if (pageParams.get(key)) params.set(key, pageParams.get(key));
      const view = pageParams.get("view") || "tree";
      if (view === "sandwich") {
        params.set("view", extra.half || "callees");
        params.set("function", pageParams.get("function") || "");
        if (pageParams.has("file")) params.set("file", pageParams.get("file"));
      } else if (view !== "tree") params.set("view", view);
      if (extra.focus) params.set("focus", String(extra.focus));
      return (compare ? "/api/diff?" : merged ? "/api/merged?" : `/api/profiles/${profileId}/flamegraph?`) + params;
    }
    const GRAPH_KEYS = ["type", "thread", "task", "group", "view", "function", "file", "q", "zoom", "max_nodes", "layout"];

    // Side by side (compare, ?layout=side): each side merged on its own, as
    // /api/merged merges it: its keys without the a./b. prefix plus the
    // shared ones, with the graph's own type, thread, group and view.
    const sides = compare ? { a: new FlameGraph(document.getElementById("flamegraph-a"), tooltip, {}),
                              b: new FlameGraph(document.getElementById("flamegraph-b"), tooltip, {}) } : {};
    function sideUrl(side, type) {
      const params = new URLSearchParams();
      for (const [key, value] of pageParams) {
        if (GRAPH_KEYS.includes(key)) continue;
        if (/^[ab]\./.test(key)) { if (key[0] === side) params.append(key.slice(2), value); } else params.append(key, value);
      }
      const graph = new URL(apiUrl(), location.origin).searchParams;
      for (const key of ["thread", "task", "group", "max_nodes", "view", "function", "file"]) if (graph.get(key)) params.set(key, graph.get(key));
      if (type) params.set("type", type);
      return "/api/merged?" + params;
    }
    const sideBySide = () => compare && pageParams.get("layout") === "side";

    async function loadSides(diffPayload) {
      const on = sideBySide();
      document.getElementById("side-by-side").hidden = !on;
      document.getElementById("flamegraph").hidden = on;
      const button = document.getElementById("layout-side");
      button.classList.toggle("active", on);
      button.textContent = on ? "Differential" : "Side by side";
      if (!on) return;
      const answers = await Promise.all(["a", "b"].map((side) => fetchAnswer(sideUrl(side, diffPayload.type))));
      ["a", "b"].forEach((side, index) => {
        const payload = answers[index];
        const title = document.getElementById(`side-${side}-title`);
        const filter = sideText(diffPayload.diff[side], payload.profile_ids);
        const container = document.getElementById(`flamegraph-${side}`);
        container.dataset.total = payload.total;
        container.dataset.type = payload.type || "";
        const empty = payload.type !== diffPayload.type || !payload.total;
        container.hidden = empty;  // never another type's graph in its place
        if (empty) {
          title.textContent = `${side.toUpperCase()}: ${filter}: no ${diffPayload.display} samples`;
          return;
        }
        title.textContent = `${side.toUpperCase()}: ${filter} · ${payload.display} ${formatValue(payload.total, payload.unit)}`;
        sides[side].setData(payload, payload.unit);
        sides[side].search(document.getElementById("flame-search").value);
      });
    }

    async function fetchAnswer(url) {
      if (answers.has(url)) return answers.get(url);
      const panel = document.getElementById("flame-panel");
      const started = performance.now();
      const progress = document.getElementById("flame-progress");
      const timer = setTimeout(() => {
        panel.classList.add("loading");
        progress.hidden = false;
        const tick = () => {
          if (progress.hidden) return;
          progress.textContent = `Loading… ${((performance.now() - started) / 1000).toFixed(1)} s`;
          setTimeout(tick, 100);
        };
        tick();
      }, PROGRESS_AFTER_MS);
      try {
        const payload = await fetchJson(url);
        if (answers.size > 40) answers.delete(answers.keys().next().value);
        answers.set(url, payload);
        return payload;
      } finally {
        clearTimeout(timer);
        progress.hidden = true;
        panel.classList.remove("loading");
      }
    }

    function renderTypeSwitch(payload) {
      document.getElementById("type-switch").replaceChildren(...payload.sample_types.map((entry) => el("button", {
        "data-type": entry.type, class: entry.type === payload.type ? "active" : "",
        title: `${entry.type} (${entry.unit}): ${formatValue(entry.total, entry.unit)}` +
          (entry.snapshot ? " · a snapshot: merged as the latest of each process" : ""),
        onclick: () => { setPageParam("type", entry.type); setPageParam("zoom", ""); load(); },
      }, entry.display)));
    }

    function renderSelect(id, values, current, allLabel) {
      const select = document.getElementById(id);
      const names = values.slice();
      if (current && !names.includes(current)) names.unshift(current);
      select.replaceChildren(el("option", { value: "" }, allLabel),
        ...names.map((name) => el("option", { value: name, selected: name === current }, name)));
      select.value = current || "";
    }

    function sideText(side, ids) {
      const filter = Object.entries(side.filter).map(([key, values]) => `${key}=${values.join(",")}`).join(" ");
      return `${ids.length} profile${ids.length === 1 ? "" : "s"} (${filter})` + (side.truncated ? ", the newest only" : "");
    }

    function renderNotices(payload) {
      const notes = [];
      if (payload.diff) {
        notes.push(el("div", { class: "notice diff-note", text:
          `Comparing B: ${sideText(payload.diff.b, payload.profile_ids)} with A: ${sideText(payload.diff.a, payload.base_profile_ids)}. ` +
          (sideBySide() ? "Each side's own flame graph, widths its own shares." :
            "Widths add each side's share; red is a larger share in B, blue a smaller one.") }));
      }
      if (payload.type_notice) notes.push(el("div", { class: "notice", text: payload.type_notice }));
      if (payload.snapshot) {
        notes.push(el("div", { class: "notice snapshot-note", text:
          `${payload.display} is a snapshot: showing the latest profile of each of ${payload.snapshot.processes} ` +
          `process${payload.snapshot.processes === 1 ? "" : "es"} (${payload.snapshot.profiles} profiles), summed over processes, not over time.` }));
      }
      document.getElementById("graph-notices").replaceChildren(...notes);
    }

    function search(term) {
      setPageParam("q", term);
      main.search(term);
      callers.search(term);
      for (const graph of Object.values(sides)) if (graph.data) graph.search(term);
    }

    function show(payload) {
      const view = pageParams.get("view") || "tree";
      main.setData(payload, payload.unit);
      main.search(document.getElementById("flame-search").value);
      const graph = document.getElementById("flamegraph");
      graph.dataset.type = payload.type || "";
      graph.dataset.total = payload.total;
      graph.dataset.view = view;
    }

    async function load() {
      const serial = ++loadSerial;
      const view = pageParams.get("view") || "tree";
      if (view === "sandwich" && !pageParams.get("function")) {
        status("Pick a function for the sandwich: right-click (or shift-click) a frame, or \"sandwich\" in the table.");
        setPageParam("view", "tree");
        return load();
      }
      let payload, callerPayload = null;
      try {
        [payload, callerPayload] = await Promise.all([fetchAnswer(apiUrl()),
          view === "sandwich" ? fetchAnswer(apiUrl({ half: "callers" })) : Promise.resolve(null)]);
      } catch (error) { showError(error); return; }
      if (serial !== loadSerial) return;
      document.getElementById("page-error").replaceChildren();
      current = payload;
      if (payload.type && pageParams.get("type") && pageParams.get("type") !== payload.type) setPageParam("type", payload.type);
      renderTypeSwitch(payload);
      renderSelect("thread-filter", payload.threads.map((t) => t.name), payload.thread, "All threads");
      // Only profiles with asyncio task samples get the task filter.
      renderSelect("task-filter", payload.tasks.map((t) => t.name), payload.task, "All tasks");
      document.getElementById("task-filter-label").hidden = !payload.tasks.length && !payload.task;
      renderSelect("group-by", payload.label_keys, payload.group, "No grouping");
      for (const button of document.querySelectorAll("#view-switch button")) button.classList.toggle("active", button.dataset.view === view);
      renderNotices(payload);
      const totals = payload.diff ? `A ${formatValue(payload.base_total, payload.unit)} → B ${formatValue(payload.total, payload.unit)}`
        : formatValue(payload.total, payload.unit);
      document.getElementById("flame-total").textContent = payload.type
        ? `${payload.display}: ${totals}` + (payload.thread ? ` in thread ${payload.thread}` : "") + (payload.task ? ` in task ${payload.task}` : "") +
          (view === "sandwich" ? ` · sandwich of ${payload.function}` : view === "inverted" ? " · bottom-up" : "")
        : "This profile has no samples.";
      const sandwich = view === "sandwich";
      document.getElementById("callers-panel").hidden = !sandwich;
      if (sandwich) callers.setData(callerPayload, callerPayload.unit);
      show(payload);
      if (compare) {
        try { await loadSides(payload); } catch (error) { showError(error); }
        if (serial !== loadSerial) return;
      }
      if (payload.functions) table.setData(payload.functions, payload.total, payload.unit);
      document.getElementById("legend").replaceChildren(...legendItems(payload));
      const zoom = Number(pageParams.get("zoom") || 0);
      if (zoom) {
        const local = payload.nodes.id.indexOf(zoom);
        if (local > 0 && payload.nodes.frame[local] >= 0) main.zoom(local); else await loadFocus(zoom);
      }
      if (compare) {
        document.getElementById("profile-title").textContent =
          `Compare: B (${payload.profile_ids.length}) against A (${payload.base_profile_ids.length})`;
        document.title = "Compare · stacksight";
      } else if (merged) {
        document.getElementById("profile-title").textContent =
          `Merged flame graph of ${payload.profile_ids.length} profile${payload.profile_ids.length === 1 ? "" : "s"}`;
        document.getElementById("profile-badges").replaceChildren(
          payload.truncated ? el("span", { class: "badge", text: "only the newest are merged" }) : "");
      }
      document.body.dataset.graphLoaded = String(Number(document.body.dataset.graphLoaded || 0) + 1);
      if (onLoaded) onLoaded(payload);
    }

    async function loadFocus(id) {
      let payload;
      try { payload = await fetchAnswer(apiUrl({ focus: id })); } catch (error) { showError(error); return; }
      setPageParam("zoom", String(id));
      main.setData(payload, payload.unit);
      main.search(document.getElementById("flame-search").value);
      document.body.dataset.focusLoaded = String(Number(document.body.dataset.focusLoaded || 0) + 1);
    }

    function legendItems(payload) {
      if (payload.diff && !sideBySide()) {
        return [["diff-more", "larger share in B"], ["diff-less", "smaller share in B"], ["diff-same", "about the same"]]
          .map(([cls, text]) => el("span", { class: "legend-item" }, el("span", { class: "kind-dot " + cls }), text));
      }
      const kinds = new Set(payload.frames.kind.slice(payload.focus ? 0 : 1));  // not the root "all"
      if (payload.frames.file.includes("<label>")) kinds.add("label");
      const names = { python: "Python", ruby: "Ruby", native: "native / C", profiler: "profiler's own", label: "label group", other: "other" };
      const items = [...kinds].map((kind) => el("span", { class: "legend-item" },
        el("span", { class: "kind-dot kind-" + kind }), names[kind] || kind));
      if (payload.cut && payload.cut.nodes) items.push(el("span", { class: "legend-item" }, el("span", { class: "kind-dot kind-cut" }), "frames not sent (click)"));
      return items;
    }

    function openSandwich(name, file) {
      setPageParam("view", "sandwich");
      setPageParam("function", name);
      setPageParam("file", file);
      setPageParam("zoom", "");
      load();
    }

    // Wiring.
    document.getElementById("thread-filter").addEventListener("change", (e) => { setPageParam("thread", e.target.value); setPageParam("zoom", ""); load(); });
    document.getElementById("task-filter").addEventListener("change", (e) => { setPageParam("task", e.target.value); setPageParam("zoom", ""); load(); });
    document.getElementById("group-by").addEventListener("change", (e) => { setPageParam("group", e.target.value); setPageParam("zoom", ""); load(); });
    document.getElementById("view-switch").addEventListener("click", (e) => {
      const button = e.target.closest("button");
      if (!button) return;
      setPageParam("view", button.dataset.view === "tree" ? "" : button.dataset.view);
      setPageParam("zoom", "");
      load();
    });
    if (compare) {
      const button = document.getElementById("layout-side");
      button.hidden = false;
      button.addEventListener("click", () => { setPageParam("layout", sideBySide() ? "" : "side"); load(); });
    }
    const searchBox = document.getElementById("flame-search");
    searchBox.value = pageParams.get("q") || "";
    searchBox.addEventListener("input", (e) => search(e.target.value));
    document.getElementById("reset-zoom").addEventListener("click", () => {
      setPageParam("zoom", "");
      if (main.data && main.data.payload.focus) show(current); else main.resetZoom();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || e.target.tagName === "INPUT" || e.target === main.canvas || main.overlay.contains(e.target)) return;
      // Esc undoes a zoom first; with nothing zoomed it leaves full screen.
      if (main.zoomOut()) e.stopImmediatePropagation();
    }, true);
    return { load, main, callers, table, sideA: sides.a, sideB: sides.b };
  }

  return { init };
})();
