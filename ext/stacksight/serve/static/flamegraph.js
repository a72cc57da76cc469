// A small flame graph renderer: absolutely positioned divs, root at the top.
// Click a frame to zoom into it (click an ancestor or "all" to zoom out),
// search to highlight matching functions, hover for value and percentages.
// The tree comes from the server: {n: name, f: file, v: total, s: self, c: children}.
"use strict";

class FlameGraph {
  constructor(container, tooltip, onStatus) {
    this.container = container;
    this.tooltip = tooltip;
    this.onStatus = onStatus || (() => {});
    this.rowHeight = 18;
    this.minWidthPercent = 0.08;  // thinner frames cannot be seen or clicked
    this.maxFrames = 6000;
    this.term = "";
    this.root = null;
    this.zoomed = null;
    container.addEventListener("mousemove", (e) => this.showTooltip(e));
    container.addEventListener("mouseleave", () => { this.tooltip.style.display = "none"; });
    container.addEventListener("click", (e) => {
      const frame = e.target.closest(".fg-frame");
      if (frame && frame.node) this.zoom(frame.node);
    });
  }

  setData(root, unit) {
    this.unit = unit;
    const annotate = (node, parent, depth) => {
      node.parent = parent;
      node.depth = depth;
      for (const child of node.c) annotate(child, node, depth + 1);
    };
    annotate(root, null, 0);
    this.root = root;
    this.zoomed = root;
    this.render();
  }

  zoom(node) {
    this.zoomed = node;
    this.render();
  }

  resetZoom() {
    if (this.root) this.zoom(this.root);
  }

  search(term) {
    this.term = (term || "").trim().toLowerCase();
    this.render();
  }

  matches(node) {
    return this.term !== "" && node.n.toLowerCase().includes(this.term);
  }

  // Sum of the outermost matching frames: nested matches are not counted twice.
  matchedValue(node = this.root) {
    if (!node) return 0;
    if (this.matches(node)) return node.v;
    return node.c.reduce((sum, child) => sum + this.matchedValue(child), 0);
  }

  color(node) {
    let hash = 0;
    const key = node.f + node.n;
    for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
    const hue = 15 + (Math.abs(hash) % 40);
    const light = 62 + (Math.abs(hash >> 8) % 18);
    return `hsl(${hue}, 85%, ${light}%)`;
  }

  addFrame(node, depth, leftPercent, widthPercent, extraClass) {
    const div = document.createElement("div");
    div.className = "fg-frame" + (extraClass ? " " + extraClass : "");
    if (this.term) div.classList.add(this.matches(node) ? "fg-match" : "fg-dim");
    div.style.left = leftPercent + "%";
    div.style.width = widthPercent + "%";
    div.style.top = depth * this.rowHeight + "px";
    div.style.background = this.color(node);
    // Labels in frames too narrow to read only add noise.
    if ((widthPercent / 100) * this.containerWidth >= 24) div.textContent = node.n;
    div.dataset.name = node.n;
    div.node = node;
    this.container.appendChild(div);
    this.frameCount++;
    this.maxDepth = Math.max(this.maxDepth, depth);
  }

  render() {
    this.container.replaceChildren();
    this.frameCount = 0;
    this.maxDepth = 0;
    this.containerWidth = this.container.clientWidth || 1000;
    if (!this.root) return;
    const zoomed = this.zoomed;
    const ancestors = [];
    for (let node = zoomed.parent; node; node = node.parent) ancestors.unshift(node);
    ancestors.forEach((node, depth) => this.addFrame(node, depth, 0, 100, "fg-ancestor"));
    const scale = Math.max(zoomed.v, 0) || 1;
    const draw = (node, depth, left, width) => {
      if (width < this.minWidthPercent || this.frameCount >= this.maxFrames) return;
      this.addFrame(node, depth, left, width);
      let x = left;
      for (const child of node.c) {
        const childWidth = (width * Math.max(child.v, 0)) / Math.max(node.v, 1);
        draw(child, depth + 1, x, childWidth);
        x += childWidth;
      }
    };
    draw(zoomed, ancestors.length, 0, 100);
    this.container.style.height = (this.maxDepth + 1) * this.rowHeight + "px";
    const total = this.root.v;
    const parts = [];
    if (zoomed !== this.root) parts.push(`Zoomed into ${zoomed.n}: ${stacksight.percent(zoomed.v, total)} of total`);
    if (this.term) {
      const matched = this.matchedValue();
      parts.push(`"${this.term}" matches ${stacksight.formatValue(matched, this.unit)} ` +
                 `(${stacksight.percent(matched, total)} of total)`);
    }
    this.onStatus(parts.join(" · "), scale);
  }

  showTooltip(event) {
    const frame = event.target.closest(".fg-frame");
    if (!frame || !frame.node) { this.tooltip.style.display = "none"; return; }
    const node = frame.node;
    const fmt = (v) => stacksight.formatValue(v, this.unit);
    this.tooltip.textContent =
      `${node.n}\n${node.f ? node.f + "\n" : ""}` +
      `Total: ${fmt(node.v)} (${stacksight.percent(node.v, this.root.v)} of all` +
      (this.zoomed !== this.root ? `, ${stacksight.percent(node.v, this.zoomed.v)} of zoom` : "") + ")\n" +
      `Self: ${fmt(node.s)} (${stacksight.percent(node.s, this.root.v)})`;
    this.tooltip.style.display = "block";
    const x = Math.min(event.clientX + 14, window.innerWidth - this.tooltip.offsetWidth - 8);
    this.tooltip.style.left = Math.max(0, x) + "px";
    this.tooltip.style.top = event.clientY + 16 + "px";
  }
}
