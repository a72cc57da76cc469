// Hand-written SVG line chart for the Metrics tab: one series over time,
// points clickable (they open the profile they came from).
"use strict";

function renderLineChart(container, points, options) {
  const NS = "http://www.w3.org/2000/svg";
  const width = 900, height = 220, left = 70, right = 16, top = 16, bottom = 30;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  const usable = points.filter((p) => p.y !== null && p.y !== undefined);
  container.replaceChildren();
  container.appendChild(Object.assign(document.createElement("h4"), { textContent: options.title }));
  if (!usable.length) {
    container.appendChild(Object.assign(document.createElement("div"),
      { className: "empty", textContent: "No data for this measure." }));
    return;
  }
  let minX = Math.min(...usable.map((p) => p.x)), maxX = Math.max(...usable.map((p) => p.x));
  if (minX === maxX) { minX -= 30000; maxX += 30000; }
  const maxY = Math.max(...usable.map((p) => p.y)) * 1.1 || 1;
  const sx = (x) => left + ((x - minX) / (maxX - minX)) * (width - left - right);
  const sy = (y) => top + (1 - y / maxY) * (height - top - bottom);

  for (let i = 0; i <= 4; i++) {
    const value = (maxY * i) / 4;
    add("line", { class: "grid-line", x1: left, x2: width - right, y1: sy(value), y2: sy(value) });
    add("text", { x: left - 6, y: sy(value) + 3, "text-anchor": "end" }, options.format(value));
  }
  add("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom });
  for (let i = 0; i <= 4; i++) {
    const x = minX + ((maxX - minX) * i) / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    add("text", { x: sx(x), y: height - bottom + 16, "text-anchor": anchor },
        stacksight.formatTime(x * 1e6).slice(5));
  }
  add("polyline", { class: "series", points: usable.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ") });
  for (const point of usable) {
    const circle = add("circle", { class: "point" + (point.current ? " current" : ""),
                                   cx: sx(point.x), cy: sy(point.y), r: 3 });
    const title = document.createElementNS(NS, "title");
    title.textContent = `${stacksight.formatTime(point.x * 1e6)}: ${options.format(point.y)}`;
    circle.appendChild(title);
    if (point.href) circle.addEventListener("click", () => { location.href = point.href; });
  }
  container.appendChild(svg);
}
