// Hand-written SVG line chart for the Metrics tab: several series (one per
// host or version) over time.  The SVG is laid out at the container's own
// pixel size (no stretched viewBox, so text stays crisp) and redrawn when it
// changes size.  A line breaks where a series has no data: a profile without
// the measure, or a pause longer than 1.5 of its profiles' typical length.
// Points are clickable: they open the profile they came from.
"use strict";

const SERIES_COLORS = ["#632ca6", "#e0702b", "#1f8a70", "#c2185b", "#1f5fbf", "#8a6d00", "#5d6d7e", "#d84315"];

function niceStep(range, ticks) {
  const raw = range / ticks;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const scaled = raw / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

// series: [{name, color, points: [{x: ms, end: ms, y, href, current}]}]
// options: {title, format(value), from (ms), to (ms)}
function renderLineChart(container, series, options) {
  const NS = "http://www.w3.org/2000/svg";
  container.replaceChildren();
  container.appendChild(Object.assign(document.createElement("h4"), { textContent: options.title }));
  const usable = series.flatMap((s) => s.points.filter((p) => p.y !== null && p.y !== undefined));
  if (!usable.length) {
    container.appendChild(Object.assign(document.createElement("div"),
      { className: "empty", textContent: "No data for this measure." }));
    return;
  }
  const legend = document.createElement("div");
  legend.className = "legend chart-legend";
  for (const s of series) {
    const item = document.createElement("span");
    item.className = "legend-item";
    const dot = document.createElement("span");
    dot.className = "kind-dot";
    dot.style.background = s.color;
    item.append(dot, s.name === "" ? "(none)" : s.name);
    legend.appendChild(item);
  }
  container.appendChild(legend);
  const width = Math.max(320, Math.floor(container.clientWidth - 16) || 900);
  const height = 220, left = 76, right = 16, top = 12, bottom = 30;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", options.title);
  const add = (tag, attrs, text, parent = svg) => {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  };
  let minX = options.from ?? Math.min(...usable.map((p) => p.x));
  let maxX = options.to ?? Math.max(...usable.map((p) => p.end ?? p.x));
  if (maxX <= minX) { minX -= 30000; maxX += 30000; }
  const step = niceStep(Math.max(...usable.map((p) => p.y)) || 1, 4);
  const maxY = step * Math.ceil((Math.max(...usable.map((p) => p.y)) || 1) / step);
  const sx = (x) => left + ((x - minX) / (maxX - minX)) * (width - left - right);
  const sy = (y) => top + (1 - y / maxY) * (height - top - bottom);
  for (let value = 0; value <= maxY + step / 2; value += step) {
    const y = Math.round(sy(value)) + 0.5;
    add("line", { class: "grid-line", x1: left, x2: width - right, y1: y, y2: y });
    add("text", { x: left - 6, y: y + 3, "text-anchor": "end" }, options.format(value));
  }
  add("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom + 0.5, y2: height - bottom + 0.5 });
  const labels = Math.max(2, Math.min(6, Math.floor((width - left - right) / 130)));
  for (let i = 0; i <= labels; i++) {
    const x = minX + ((maxX - minX) * i) / labels;
    const anchor = i === 0 ? "start" : i === labels ? "end" : "middle";
    add("text", { x: sx(x), y: height - bottom + 16, "text-anchor": anchor }, stacksight.formatTime(x * 1e6).slice(5));
  }
  for (const s of series) {
    const points = s.points.filter((p) => p.x >= minX && p.x <= maxX);
    const lengths = points.map((p) => (p.end ?? p.x) - p.x).filter((d) => d > 0).sort((a, b) => a - b);
    const typical = lengths.length ? lengths[lengths.length >> 1] : 60000;
    let run = [];
    const flush = () => {
      if (run.length > 1) add("polyline", { class: "series", style: `stroke:${s.color}`, points: run.join(" ") });
      run = [];
    };
    let previous = null;
    for (const p of points) {
      if (p.y === null || p.y === undefined) { flush(); previous = null; continue; }
      if (previous && p.x - (previous.end ?? previous.x) > 1.5 * typical) flush();
      run.push(`${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`);
      previous = p;
    }
    flush();
    for (const p of points) {
      if (p.y === null || p.y === undefined) continue;
      const circle = add("circle", { class: "point" + (p.current ? " current" : ""), style: `fill:${s.color}`,
                                     cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: p.current ? 5 : 3 });
      add("title", {}, `${s.name || "(none)"} · ${stacksight.formatTime(p.x * 1e6)}: ${options.format(p.y)}`, circle);
      if (p.href) circle.addEventListener("click", () => { location.href = p.href; });
    }
  }
  container.appendChild(svg);
  container.dataset.series = String(series.length);
}
