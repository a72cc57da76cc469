// Profile page: wires the header, the three tabs and the flame graph to the
// JSON API.  Serves both a single profile (/profiles/<id>) and a merged view
// of several (/merged?ids=… or /merged?<facet filter>), and the diff of two
// such sets (/compare?a.ids=…&b.ids=…, /compare?service=x&a.version=1&b.version=2).
"use strict";

(() => {
  const { el, fetchJson, formatValue, formatCores, formatRate, formatTime, formatDurationNs, percent } = stacksight;
  const idMatch = location.pathname.match(/^\/profiles\/(\d+)$/);
  const profileId = idMatch ? Number(idMatch[1]) : null;
  const merged = profileId === null;   // /merged and /compare: no one profile's header
  const compare = location.pathname === "/compare";
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

  const graphs = profileGraph.init({ merged, compare, profileId, pageParams, setPageParam, showError });
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
    findPrevious();
    const link = document.getElementById("download-link");
    link.href = `/api/profiles/${detail.id}/download`;
    link.setAttribute("download", "");
    link.title = detail.download_default ? `download ${detail.download_default}` : "";
    link.hidden = false;
    renderDownloadPicker();
  }

  // A multi-attachment upload (Go: cpu, heap, mutex, block, goroutines,
  // go.trace) lets the header's Download pick the attachment; a zstd pprof
  // goes out as gzip pprof, and also as received.
  function renderDownloadPicker() {
    const attachments = detail.attachments || [];
    if (attachments.length < 2) return;
    const base = `/api/profiles/${detail.id}/download?attachment=`;
    const items = [];
    for (const a of attachments) {
      const href = base + encodeURIComponent(a.name);
      const zstdPprof = a.kind === "pprof" && a.encoding === "zstd";
      items.push(el("a", { href, download: "", role: "menuitem", class: "download-item", "data-attachment": a.name,
        text: `${a.name}${a.name === detail.download_default ? " (default)" : ""} · ` +
          `${a.kind}${zstdPprof ? ", as gzip" : ", " + a.encoding}, ${stacksight.formatBytes(a.size)}` }));
      if (zstdPprof) {
        items.push(el("a", { href: href + "&as=received", download: "", role: "menuitem", class: "download-item",
          text: `${a.name} · as received (zstd)` }));
      }
    }
    document.getElementById("download-menu").replaceChildren(...items);
    document.getElementById("download-picker").hidden = false;
  }

  // The profile before this one of the same service, env and host: the
  // "Compare with previous" link (A = previous, B = this one).
  async function findPrevious() {
    const params = new URLSearchParams({ service: detail.service, env: detail.env, host: detail.host, limit: "2",
                                         to: String((detail.start_ns - 1e6) / 1e9) });
    try {
      const listing = await fetchJson("/api/profiles?" + params);
      const previous = listing.profiles.find((p) => p.id !== detail.id);
      if (!previous) return;
      const link = document.getElementById("compare-previous");
      link.href = `/compare?a.ids=${previous.id}&b.ids=${detail.id}` + (pageParams.get("type") ? `&type=${encodeURIComponent(pageParams.get("type"))}` : "");
      link.hidden = false;
    } catch (error) { /* no link: the page works without it */ }
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

  // Metrics of the same service and env: a chart per measure, one line per
  // host (or version, env, runtime), in the time range the list had (from/to
  // in this page's URL, put there by the list's row links).
  const METRIC_FORMATS = {
    // One unit per axis (never "0 mcores" under "0.4 cores").
    cores: (v) => `${Number(v.toPrecision(3))} cores`, threads: (v) => `${Number(v.toPrecision(3))} threads`,
    "bytes/s": (v) => formatRate(v),
    bytes: (v) => stacksight.formatBytes(v), "per second": (v) => `${Number(v.toPrecision(3))}/s`,
  };
  let metricsAnswer = null;

  function renderMetrics() {
    const container = document.getElementById("metrics-charts");
    container.replaceChildren();
    const from = metricsAnswer.from_ns !== null ? metricsAnswer.from_ns / 1e6 : undefined;
    const to = metricsAnswer.to_ns !== null ? metricsAnswer.to_ns / 1e6 : undefined;
    const series = (key) => metricsAnswer.series.map((s, i) => ({
      name: s.name, color: SERIES_COLORS[i % SERIES_COLORS.length],
      points: s.points.map((p) => ({ x: p.start_ns / 1e6, end: p.end_ns / 1e6, y: p.values[key],
                                     current: p.id === detail.id, href: `/profiles/${p.id}` })) }));
    for (const measure of metricsAnswer.measures) {
      const has = metricsAnswer.points.some((p) => p.values[measure.key] !== null);
      if (!has && !["cpu", "alloc"].includes(measure.key)) continue;  // say "no data" only for the usual two
      const chart = el("div", { class: "chart", id: "chart-" + measure.key, "data-measure": measure.key });
      container.appendChild(chart);
      renderLineChart(chart, series(measure.key), { title: `${measure.title} (${measure.unit})`,
        format: METRIC_FORMATS[measure.unit] || String, from, to });
    }
  }

  async function loadMetrics(force = false) {
    if ((metricsLoaded && !force) || !detail) return;
    metricsLoaded = true;
    const params = new URLSearchParams({ service: detail.service, group: pageParams.get("metrics_by") || "host" });
    params.append("env", detail.env);
    for (const key of ["from", "to"]) if (pageParams.get(key)) params.set(key, pageParams.get(key));
    const caption = document.getElementById("metrics-caption");
    try {
      metricsAnswer = await fetchJson("/api/metrics?" + params);
      const select = document.getElementById("metrics-group");
      select.replaceChildren(...metricsAnswer.groups.map((g) => el("option", { value: g, selected: g === metricsAnswer.group }, g)));
      const range = metricsAnswer.from_ns !== null || metricsAnswer.to_ns !== null
        ? ` from ${metricsAnswer.from_ns !== null ? formatTime(metricsAnswer.from_ns) : "the start"} to ` +
          `${metricsAnswer.to_ns !== null ? formatTime(metricsAnswer.to_ns) : "now"} (the list's time range)` : "";
      caption.textContent = `${metricsAnswer.points.length} profiles of service ${detail.service || "(none)"} in env ` +
        `${detail.env || "(none)"}${range}${metricsAnswer.truncated ? ", the newest only" : ""}; ` +
        `${metricsAnswer.series.length} ${metricsAnswer.group}${metricsAnswer.series.length === 1 ? "" : "s"}.`;
      renderMetrics();
      document.body.dataset.metricsLoaded = "true";
    } catch (error) { showError(error); }
  }
  document.getElementById("metrics-group").addEventListener("change", (e) => {
    setPageParam("metrics_by", e.target.value === "host" ? "" : e.target.value);
    loadMetrics(true);
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (metricsAnswer && !document.getElementById("tab-metrics").hidden) renderMetrics(); }, 150);
  });

  function showTab(name) {
    for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
    for (const tab of ["profiles", "metrics", "runtime"]) document.getElementById("tab-" + tab).hidden = tab !== name;
    setPageParam("tab", name === "profiles" ? "" : name);  // a link keeps the tab
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
      if (["metrics", "runtime"].includes(pageParams.get("tab"))) showTab(pageParams.get("tab"));
      if (!pageParams.get("type") && detail.default_type) setPageParam("type", detail.default_type);
      return loadGraph();
    }).catch(showError);
  }
})();
