// Flame graph on a canvas: draws every node the server sent, however many.
// Data is columnar (frames table + node arrays, parent before child); see
// flame_payload.py.  Nodes too thin to see are drawn merged as one grey
// "tiny frames" block per parent so the picture keeps its width; nodes the
// server left out arrive as "other" nodes (frame -1) that say how many frames
// they stand for and load them when clicked.  Click zooms, Esc or Backspace
// undoes a zoom, arrow keys move between frames, Enter zooms into the one
// selected.  `upward` draws the root at the bottom (callers of a sandwich).
"use strict";

const FLAME_KIND_COLORS = {
  python: [38, 88, 62], ruby: [2, 72, 66], native: [205, 45, 66], profiler: [270, 40, 72],
  label: [140, 45, 62], other: [28, 20, 70], root: [250, 12, 84],
};

class FlameGraph {
  constructor(container, tooltip, options = {}) {
    this.container = container;
    this.tooltip = tooltip;
    this.onStatus = options.onStatus || (() => {});
    this.onNeedFocus = options.onNeedFocus || null;   // (fullTreeId) => fetch that subtree
    this.onLeaveFocus = options.onLeaveFocus || null; // back from a fetched subtree to the whole graph
    this.onZoom = options.onZoom || (() => {});       // (fullTreeId or 0) after every zoom change
    this.onSelectFunction = options.onSelectFunction || null;  // (name, file) => e.g. open the sandwich
    this.upward = Boolean(options.upward);
    this.rowHeight = 18;
    this.minPixels = 0.35;  // thinner frames are drawn merged with their thin siblings
    this.term = "";
    this.data = null;
    this.zoomStack = [];
    this.selected = -1;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "fg-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "flame graph; arrow keys move between frames, Enter zooms, Escape zooms out");
    container.replaceChildren(this.canvas);
    this.canvas.addEventListener("mousemove", (e) => this.showTooltip(e));
    this.canvas.addEventListener("mouseleave", () => { this.tooltip.style.display = "none"; });
    this.canvas.addEventListener("click", (e) => {
      const node = this.nodeAt(e.clientX, e.clientY);
      if (node < 0) return;
      this.selected = node;
      if (e.shiftKey && this.onSelectFunction) this.selectFunction(node); else this.zoom(node);
    });
    this.canvas.addEventListener("contextmenu", (e) => {
      const node = this.nodeAt(e.clientX, e.clientY);
      if (node < 0 || !this.onSelectFunction || this.isOther(node)) return;
      e.preventDefault();
      this.selectFunction(node);
    });
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    if (window.ResizeObserver) {
      new ResizeObserver(() => { if (this.data && this.container.clientWidth !== this.width) this.render(); })
        .observe(container);
    }
  }

  // payload: an answer of the flamegraph API (or a focused part of it).
  setData(payload, unit) {
    const nodes = payload.nodes;
    const count = nodes.frame.length;
    const children = Array.from({ length: count }, () => []);
    for (let i = 1; i < count; i++) if (nodes.parent[i] >= 0) children[nodes.parent[i]].push(i);
    const frame = nodes.frame, value = nodes.value;
    // Biggest first, "other" last: the heavy paths line up on the left.
    for (const list of children) {
      if (list.length > 1) list.sort((a, b) => (frame[a] < 0) - (frame[b] < 0) || Math.abs(value[b]) - Math.abs(value[a]));
    }
    const x = new Float64Array(count), depth = new Int32Array(count);
    const stack = [0];
    while (stack.length) {
      const node = stack.pop();
      let offset = x[node];
      for (const child of children[node]) {
        x[child] = offset;
        depth[child] = depth[node] + 1;
        offset += Math.abs(value[child]);
      }
      for (let k = children[node].length - 1; k >= 0; k--) stack.push(children[node][k]);
    }
    const names = payload.frames.name.map((n) => n.toLowerCase());
    this.data = { payload, nodes, frames: payload.frames, children, x, depth, names, count };
    this.unit = unit;
    this.zoomed = 0;
    this.zoomStack = [];
    this.selected = -1;
    this.render();
  }

  isOther(node) { return this.data.nodes.frame[node] < 0; }

  name(node) {
    const d = this.data;
    if (node < 0) return "";
    if (d.nodes.frame[node] < 0) {
      const hidden = d.nodes.hidden[node];
      return `${hidden.toLocaleString("en")} more frame${hidden === 1 ? "" : "s"}`;
    }
    return d.frames.name[d.nodes.frame[node]];
  }

  kind(node) {
    const d = this.data;
    const f = d.nodes.frame[node];
    if (f < 0) return "other";
    if (node === 0 && !d.payload.focus) return "root";
    return d.frames.file[f] === "<label>" ? "label" : d.frames.kind[f];
  }

  zoom(node, remember = true) {
    if (!this.data) return;
    if (this.isOther(node)) {
      // The frames under "other" were not sent: ask for that subtree.
      if (this.onNeedFocus) this.onNeedFocus(this.data.nodes.id[node]);
      return;
    }
    if (remember && node !== this.zoomed) this.zoomStack.push(this.zoomed);
    this.zoomed = node;
    this.render();
    this.onZoom(node ? this.data.nodes.id[node] : this.data.payload.focus || 0);
  }

  // Undo the last zoom; false when there was none.
  zoomOut() {
    if (!this.data) return false;
    if (!this.zoomStack.length) {
      // At the top of a subtree fetched for a zoom: go back to the whole graph.
      if (this.data.payload.focus && this.onLeaveFocus) { this.onLeaveFocus(); return true; }
      return false;
    }
    this.zoomed = this.zoomStack.pop();
    this.render();
    this.onZoom(this.zoomed ? this.data.nodes.id[this.zoomed] : this.data.payload.focus || 0);
    return true;
  }

  resetZoom() {
    if (!this.data) return;
    this.zoomStack = [];
    this.zoomed = 0;
    this.render();
    this.onZoom(this.data.payload.focus || 0);
  }

  selectFunction(node) {
    const d = this.data;
    const f = d.nodes.frame[node];
    if (f >= 0 && d.frames.file[f] !== "<label>") this.onSelectFunction(d.frames.name[f], d.frames.file[f]);
  }

  search(term) {
    this.term = (term || "").trim().toLowerCase();
    if (this.data) this.render();
  }

  matches(node) {
    const f = this.data.nodes.frame[node];
    return this.term !== "" && f >= 0 && this.data.names[f].includes(this.term);
  }

  // Sum of the outermost matching frames: nested matches are not counted twice.
  matchedValue() {
    if (!this.data || !this.term) return 0;
    let sum = 0;
    const stack = [0];
    while (stack.length) {
      const node = stack.pop();
      if (this.matches(node)) { sum += this.data.nodes.value[node]; continue; }
      for (const child of this.data.children[node]) stack.push(child);
    }
    return sum;
  }

  color(node) {
    const kind = this.kind(node);
    const [hue, sat, light] = FLAME_KIND_COLORS[kind] || FLAME_KIND_COLORS.other;
    const key = this.name(node);
    let hash = 0;
    for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
    const dark = matchMedia && matchMedia("(prefers-color-scheme: dark)").matches;
    return `hsl(${hue + (Math.abs(hash) % 14) - 7}, ${sat}%, ${light + (Math.abs(hash >> 8) % 12) - 6 - (dark ? 18 : 0)}%)`;
  }

  ancestorsOfZoom() {
    // Server-side ancestors (a focused subtree) first, then the local chain.
    const d = this.data;
    const local = [];
    for (let node = d.nodes.parent[this.zoomed]; node >= 0; node = d.nodes.parent[node]) local.unshift(node);
    return { remote: d.payload.ancestors || [], local };
  }

  rowTop(depth, rows) {
    return this.upward ? (rows - 1 - depth) * this.rowHeight : depth * this.rowHeight;
  }

  render() {
    const d = this.data;
    if (!d) return;
    const width = this.container.clientWidth || 1000;
    this.width = width;
    const { remote, local } = this.ancestorsOfZoom();
    const base = remote.length + local.length;
    // Depth of what is visible decides the height.
    const zoomDepth = d.depth[this.zoomed];
    let maxDepth = zoomDepth;
    const scale = width / Math.max(Math.abs(d.nodes.value[this.zoomed]), 1);
    const visible = [];       // [node, left px, width px]
    const tiny = [];          // [depth, left px, width px, count, value]
    const walk = (node, left) => {
      const w = Math.abs(d.nodes.value[node]) * scale;
      visible.push([node, left, w]);
      if (d.depth[node] > maxDepth) maxDepth = d.depth[node];
      let runLeft = -1, runWidth = 0, runCount = 0, runValue = 0;
      for (const child of d.children[node]) {
        const cw = Math.abs(d.nodes.value[child]) * scale;
        const cl = left + (d.x[child] - d.x[node]) * scale;
        if (cw < this.minPixels) {
          if (runLeft < 0) runLeft = cl;
          runWidth = cl + cw - runLeft; runCount++; runValue += d.nodes.value[child];
          continue;
        }
        if (runCount) { tiny.push([d.depth[node] + 1, runLeft, runWidth, runCount, runValue]); runLeft = -1; runWidth = 0; runCount = 0; runValue = 0; }
        walk(child, cl);
      }
      if (runCount) tiny.push([d.depth[node] + 1, runLeft, runWidth, runCount, runValue]);
    };
    walk(this.zoomed, 0);
    for (const block of tiny) if (block[0] > maxDepth) maxDepth = block[0];
    const rows = base + (maxDepth - zoomDepth) + 1;
    const ratio = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(rows * this.rowHeight * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = rows * this.rowHeight + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, rows * this.rowHeight);
    ctx.font = "11px ui-monospace, Menlo, Consolas, monospace";
    ctx.textBaseline = "middle";
    const charWidth = ctx.measureText("m").width || 6.6;
    this.hits = Array.from({ length: rows }, () => []);   // per row: [left, right, node] by left
    this.drawn = [];
    const dark = matchMedia && matchMedia("(prefers-color-scheme: dark)").matches;
    const drawBox = (row, left, w, fill, label, node, dim) => {
      const top = this.rowTop(row, rows);
      ctx.globalAlpha = dim ? 0.3 : 1;
      ctx.fillStyle = fill;
      ctx.fillRect(left, top, Math.max(w - (w > 3 ? 1 : 0), 0.5), this.rowHeight - 1);
      if (w >= 3 * charWidth && label) {
        const room = Math.floor((w - 6) / charWidth);
        const text = label.length > room ? label.slice(0, Math.max(room - 1, 1)) + "…" : label;
        ctx.fillStyle = dark ? "#111" : "#1c1c28";
        ctx.fillText(text, left + 3, top + this.rowHeight / 2);
      }
      ctx.globalAlpha = 1;
      if (node !== null) {
        this.hits[row].push([left, left + w, node]);
        this.drawn.push({ node, row, left, width: w, top });
      }
    };
    const full = (node) => this.name(node);
    remote.forEach((entry, i) => drawBox(i, 0, width, "#d8d5e4", d.frames.name[entry.frame], null, Boolean(this.term)));
    local.forEach((node, i) => drawBox(remote.length + i, 0, width, "#d8d5e4", full(node), node, Boolean(this.term) && !this.matches(node)));
    for (const [node, left, w] of visible) {
      const row = base + d.depth[node] - zoomDepth;
      const other = this.isOther(node);
      const fill = this.term && this.matches(node) ? "#e637bf" : other ? "#bdbdc9" : this.color(node);
      const label = other ? `${full(node)} not shown (${stacksight.percent(d.nodes.value[node], d.nodes.value[0])})` : full(node);
      drawBox(row, left, w, fill, label, node, Boolean(this.term) && !this.matches(node));
    }
    this.tinyBlocks = tiny;
    for (const [depth, left, w, count, value] of tiny) {
      const row = base + depth - zoomDepth;
      if (w >= 0.5) drawBox(row, left, w, "#cfcfd8", `${count} tiny`, null, false);
      this.hits[row].push([left, left + Math.max(w, 1), -1 - count, value]);
    }
    for (const row of this.hits) row.sort((a, b) => a[0] - b[0]);
    this.container.dataset.drawn = String(visible.length);
    this.container.dataset.rows = String(rows);
    this.rows = rows;
    const parts = [];
    const total = d.nodes.value[0] + 0;
    const rootTotal = (d.payload.ancestors && d.payload.ancestors.length) ? d.payload.ancestors[0].value : total;
    if (this.zoomed !== 0 || remote.length) parts.push(`Zoomed into ${full(this.zoomed)}: ${stacksight.percent(d.nodes.value[this.zoomed], rootTotal)} of total (Esc zooms out)`);
    if (this.term) {
      const matched = this.matchedValue();
      parts.push(`"${this.term}" matches ${stacksight.formatValue(matched, this.unit)} (${stacksight.percent(matched, rootTotal)} of total)`);
    }
    const cut = d.payload.cut;
    if (cut && cut.nodes) parts.push(`${cut.nodes.toLocaleString("en")} frames not sent, under grey "more frames" blocks ` +
      `that hold ${stacksight.percent(cut.value, rootTotal)} of the total: click one to load it`);
    this.onStatus(parts.join(" · "));
  }

  nodeAt(clientX, clientY) {
    if (!this.data || !this.hits) return -1;
    const rect = this.canvas.getBoundingClientRect();
    const x = clientX - rect.left, y = clientY - rect.top;
    let row = Math.floor(y / this.rowHeight);
    if (this.upward) row = this.rows - 1 - row;
    const list = this.hits[row];
    if (!list) return -1;
    let lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid][0] <= x) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found < 0 || x > list[found][1]) return -1;
    return list[found][2] >= 0 ? list[found][2] : -1;
  }

  // Where a frame is drawn, for tests and keyboard focus: [{node, left, top, width}].
  framesNamed(name) {
    return (this.drawn || []).filter((entry) => this.name(entry.node) === name);
  }

  clientPoint(entry) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: rect.left + entry.left + Math.min(entry.width / 2, 40), y: rect.top + entry.top + this.rowHeight / 2 };
  }

  onKey(event) {
    const d = this.data;
    if (!d) return;
    let node = this.selected >= 0 ? this.selected : this.zoomed;
    const siblings = (n) => (d.nodes.parent[n] >= 0 ? d.children[d.nodes.parent[n]] : [n]);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const deeper = (event.key === "ArrowDown") !== this.upward;
      if (deeper && d.children[node].length) node = d.children[node][0];
      else if (!deeper && d.nodes.parent[node] >= 0) node = d.nodes.parent[node];
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const list = siblings(node);
      const at = list.indexOf(node) + (event.key === "ArrowRight" ? 1 : -1);
      if (at >= 0 && at < list.length) node = list[at];
    } else if (event.key === "Enter") {
      this.zoom(node);
      event.preventDefault();
      return;
    } else if (event.key === "Escape" || event.key === "Backspace") {
      if (this.zoomOut()) event.preventDefault();
      return;
    } else {
      return;
    }
    event.preventDefault();
    this.selected = node;
    this.render();
    const entry = (this.drawn || []).find((e) => e.node === node);
    if (entry) {
      const ctx = this.canvas.getContext("2d");
      ctx.strokeStyle = "#1c1c28";
      ctx.lineWidth = 2;
      ctx.strokeRect(entry.left + 1, entry.top + 1, Math.max(entry.width - 2, 2), this.rowHeight - 3);
      this.showTooltipFor(node, this.clientPoint(entry).x, this.clientPoint(entry).y);
    }
  }

  tooltipText(node) {
    const d = this.data;
    const fmt = (v) => stacksight.formatValue(v, this.unit);
    const rootTotal = (d.payload.ancestors && d.payload.ancestors.length) ? d.payload.ancestors[0].value : d.nodes.value[0];
    const value = d.nodes.value[node];
    if (this.isOther(node)) {
      return `${this.name(node)} not shown\nTotal: ${fmt(value)} (${stacksight.percent(value, rootTotal)} of all)\nClick to load them.`;
    }
    const f = d.nodes.frame[node];
    const file = d.frames.file[f];
    const line = d.frames.line[f];
    const where = file && file !== "<label>" ? `${file}${line ? ":" + line : ""}\n` : "";
    return `${this.name(node)}\n${where}` +
      (file !== "<label>" && node ? `Kind: ${this.kind(node)}\n` : "") +
      `Total: ${fmt(value)} (${stacksight.percent(value, rootTotal)} of all` +
      (this.zoomed !== 0 ? `, ${stacksight.percent(value, d.nodes.value[this.zoomed])} of zoom` : "") + ")\n" +
      `Self: ${fmt(d.nodes.self[node])} (${stacksight.percent(d.nodes.self[node], rootTotal)})`;
  }

  showTooltipFor(node, clientX, clientY) {
    this.tooltip.textContent = this.tooltipText(node);
    this.tooltip.style.display = "block";
    const x = Math.min(clientX + 14, window.innerWidth - this.tooltip.offsetWidth - 8);
    this.tooltip.style.left = Math.max(0, x) + "px";
    this.tooltip.style.top = clientY + 16 + "px";
  }

  showTooltip(event) {
    const node = this.nodeAt(event.clientX, event.clientY);
    if (node < 0) { this.tooltip.style.display = "none"; return; }
    this.canvas.style.cursor = "pointer";
    this.showTooltipFor(node, event.clientX, event.clientY);
  }
}
