// Profile page: wires the header, the three tabs and the flame graph to the
// JSON API.  Serves both a single profile (/profiles/<id>) and a merged view
// of several (/merged?ids=… or /merged?<facet filter>).
"use strict";

(() => {
  const { el, fetchJson, formatValue, formatCores, formatRate, formatTime, formatDurationNs, percent } = stacksight;
  const idMatch = location.pathname.match(/^\/profiles\/(\d+)$/);
  const profileId = idMatch ? Number(idMatch[1]) : null;
  const merged = profileId === null;
  const pageParams = new URLSearchParams(location.search);
  let detail = null;
  let metricsLoaded = false;

  function showError(error) {
    document.getElementById("page-error").replaceChildren(
      el("div", { class: "error-box", text: String(error.message || error) }));
  }

  function setPageParam(key, value) {
    if (value) pageParams.set(key, value); else pageParams.delete(key);
    history.replaceState(null, "", location.pathname + "?" + pageParams);
  }

  const graphs = profileGraph.init({ merged, profileId, pageParams, setPageParam, showError });
  window.stacksightGraphs = graphs;  // the flame graphs, for the console and the browser tests
  const loadGraph = () => graphs.load();

  function badge(label, value) {
    return el("span", { class: "badge" }, el("b", { text: label + ": " }), value || "(none)");
  }

  function renderHeader() {
    document.title = `${detail.service || "profile"} #${detail.id} · stacksight`;
    document.getElementById("profile-title").textContent = detail.service || "(no service)";
    document.getElementById("profile-badges").replaceChildren(
      badge("env", detail.env), " ", badge("version", detail.version), " ", badge("host", detail.host), " ",
      badge("runtime", detail.runtime), " ",
      el("span", { class: "badge", text: `${formatTime(detail.start_ns)} · ${formatDurationNs(detail.duration_ns)}` }));
    const lost = detail.lost;
    if (lost) {
      const badges = document.getElementById("profile-badges");
      badges.append(" ", el("span", { class: "badge lost", id: "lost-badge",
        text: lost.dropped ? `⚠ ${percent(lost.dropped_share, 1)} of samples lost` : `${percent(lost.folded_share, 1)} of samples folded` }));
      const parts = [];
      if (lost.dropped) parts.push(`${lost.dropped.toLocaleString("en")} of ${(lost.taken || lost.dropped).toLocaleString("en")} samples ` +
        `(${percent(lost.dropped_share, 1)}) were dropped by the profiler (too many distinct stacks in the period): ` +
        "every figure of this profile, and its CPU in the list, is low by about that share.");
      if (lost.folded) parts.push(`${lost.folded.toLocaleString("en")} samples (${percent(lost.folded_share, 1)}) ` +
        "were kept under \"[other stacks]\" per thread: totals are right, their stacks are not known.");
      document.getElementById("lost-notice").replaceChildren(
        el("div", { class: "notice" + (lost.dropped ? " lost" : ""), text: parts.join(" ") }));
    }
    const link = document.getElementById("download-link");
    link.href = `/api/profiles/${detail.id}/download`;
    link.setAttribute("download", "");
    link.hidden = false;
  }

  function kvTable(rows) {
    return el("table", { class: "kv-table" }, el("tbody", {}, rows.map(([key, value]) =>
      el("tr", {}, el("td", { text: key }), el("td", { text: typeof value === "string" ? value : JSON.stringify(value) })))));
  }

  // Nested settings read best as dotted paths: {"a": {"b": 1}} → a.b = 1.
  function flatten(value, prefix = "", out = []) {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
    } else if (prefix) {
      out.push([prefix, value]);
    }
    return out;
  }

  function renderRuntimeInfo() {
    const panel = document.getElementById("tab-runtime");
    const event = detail.event || {};
    const sections = [
      ["Tags", detail.tags.map((t) => [t.key, t.value])],
      ["Profile", [["id", String(detail.id)], ["family", event.family || ""], ["protocol version", String(event.version || "")],
                   ["start", event.start || ""], ["end", event.end || ""], ["duration", formatDurationNs(detail.duration_ns)],
                   ["CPU", formatCores(detail.cpu_cores)], ["memory allocation", formatRate(detail.alloc_bytes_per_sec)],
                   ["received", formatTime(detail.received_at_ns)], ["source", detail.source]]],
      ["Measures", detail.totals.map((t) => [t.display, formatValue(t.total, t.unit)])],
      ["Profiler settings (info)", flatten(event.info || {})],
      ["Profiler internals (internal)", flatten(event.internal || {})],
      ["Endpoint counts", Object.entries(event.endpoint_counts || {})],
      ["Upload client", Object.entries(detail.request_headers || {})],
      ["Attachments", detail.attachments.map((a) => [a.name, `${a.kind}, ${a.encoding}, ${a.size} bytes`])],
    ];
    panel.replaceChildren();
    for (const [title, rows] of sections) {
      panel.appendChild(el("h4", { text: title }));
      panel.appendChild(rows.length ? kvTable(rows) : el("p", { text: "(none)" }));
    }
    panel.appendChild(el("h4", { text: "Downloads" }));
    for (const a of detail.attachments) {
      panel.appendChild(el("div", {}, el("a", { href: `/api/profiles/${detail.id}/download?attachment=${encodeURIComponent(a.name)}`,
                                                download: "", text: a.name })));
    }
  }

  async function loadMetrics() {
    if (metricsLoaded || !detail) return;
    metricsLoaded = true;
    const params = new URLSearchParams({ service: detail.service });
    params.append("env", detail.env);
    const caption = document.getElementById("metrics-caption");
    try {
      const metrics = await fetchJson("/api/metrics?" + params);
      caption.textContent = `${metrics.points.length} profiles of service ${detail.service || "(none)"} in env ${detail.env || "(none)"}.`;
      const toPoints = (key) => metrics.points.map((p) => ({
        x: p.start_ns / 1e6, y: p[key], current: p.id === detail.id, href: `/profiles/${p.id}` }));
      renderLineChart(document.getElementById("chart-cpu"), toPoints("cpu_cores"),
                      { title: "CPU (cores)", format: (v) => formatCores(v) });
      renderLineChart(document.getElementById("chart-alloc"), toPoints("alloc_bytes_per_sec"),
                      { title: "Memory allocation rate", format: (v) => formatRate(v) });
      document.body.dataset.metricsLoaded = "true";
    } catch (error) { showError(error); }
  }

  function showTab(name) {
    for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
    for (const tab of ["profiles", "metrics", "runtime"]) document.getElementById("tab-" + tab).hidden = tab !== name;
    if (name === "metrics") loadMetrics();
  }

  document.getElementById("tabs").addEventListener("click", (e) => {
    const button = e.target.closest("button");
    if (button) showTab(button.dataset.tab);
  });
  document.getElementById("fullscreen-button").addEventListener("click", () => {
    const panel = document.getElementById("flame-panel");
    const on = !panel.classList.contains("fullscreen");
    panel.classList.toggle("fullscreen", on);
    if (on && panel.requestFullscreen) panel.requestFullscreen().catch(() => {});
    else if (!on && document.fullscreenElement) document.exitFullscreen().catch(() => {});
    graphs.main.render();
  });
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement) document.getElementById("flame-panel").classList.remove("fullscreen");
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") document.getElementById("flame-panel").classList.remove("fullscreen");
  });

  if (merged) {
    for (const tab of ["metrics", "runtime"]) document.querySelector(`#tabs button[data-tab=${tab}]`).hidden = true;
    loadGraph();
  } else {
    fetchJson(`/api/profiles/${profileId}`).then((payload) => {
      detail = payload;
      renderHeader();
      renderRuntimeInfo();
      if (!pageParams.get("type") && detail.default_type) setPageParam("type", detail.default_type);
      return loadGraph();
    }).catch(showError);
  }
})();
