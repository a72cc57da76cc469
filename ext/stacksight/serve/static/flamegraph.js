// Flame graph on a canvas: draws every node the server sent, however many.
// Data is columnar (frames table + node arrays, parent before child); see
// flame_payload.py.  Nodes too thin to see are drawn merged as one grey
// "tiny frames" block per parent so the picture keeps its width; nodes the
// server left out arrive as "other" nodes (frame -1) that say how many frames
// they stand for and load them when clicked.  Click zooms, Esc or Backspace
// undoes a zoom, arrow keys move between frames, Enter zooms into the one
// selected.  Frames are also DOM elements (an overlay of focusable
// role=treeitem boxes over the canvas, one tab stop that moves with the
// arrow keys), so keyboard and screen-reader users reach them.  `upward` draws the root at the bottom (callers of a sandwich).
// A diff answer (nodes.base: side A's value beside side B's) is drawn with
// widths of both sides' shares added and colours by the change of share.
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
    this.canvas.tabIndex = -1;  // the frames below are the tab stop
    this.canvas.setAttribute("aria-hidden", "true");
    this.overlay = document.createElement("div");
    this.overlay.className = "fg-frames";
    this.overlay.setAttribute("role", "tree");
    this.overlay.setAttribute("aria-label", "flame graph; arrow keys move between frames, Enter zooms, Escape zooms out, S opens the sandwich");
    container.replaceChildren(this.canvas, this.overlay);
    this.overlay.addEventListener("focusin", (e) => {
      const item = e.target.closest(".fg-frame");
      if (!item) return;
      this.selected = Number(item.dataset.node);
      this.markRovingStop(item);
      const rect = item.getBoundingClientRect();
      this.showTooltipFor(this.selected, rect.left + Math.min(rect.width / 2, 40), rect.top + this.rowHeight / 2);
    });
    this.overlay.addEventListener("focusout", () => { this.tooltip.style.display = "none"; });
    this.overlay.addEventListener("keydown", (e) => this.onKey(e, true));
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
    const frame = nodes.frame;
    // What a node's width stands for: its value, or in a diff its share of
    // side B plus its share of side A (sides of different sizes count alike).
    const weight = new Float64Array(count);
    const diff = nodes.base ? { totalB: Math.abs(payload.total) || 1, totalA: Math.abs(payload.base_total) || 1 } : null;
    for (let i = 0; i < count; i++) {
      weight[i] = diff ? Math.abs(nodes.value[i]) / diff.totalB + Math.abs(nodes.base[i]) / diff.totalA : Math.abs(nodes.value[i]);
    }
    // Biggest first, "other" last: the heavy paths line up on the left.
    for (const list of children) {
      if (list.length > 1) list.sort((a, b) => (frame[a] < 0) - (frame[b] < 0) || weight[b] - weight[a]);
    }
    const x = new Float64Array(count), depth = new Int32Array(count);
    const stack = [0];
    while (stack.length) {
      const node = stack.pop();
      let offset = x[node];
      for (const child of children[node]) {
        x[child] = offset;
        depth[child] = depth[node] + 1;
        offset += weight[child];
      }
      for (let k = children[node].length - 1; k >= 0; k--) stack.push(children[node][k]);
    }
    const names = payload.frames.name.map((n) => n.toLowerCase());
    this.data = { payload, nodes, frames: payload.frames, children, x, depth, names, count, weight, diff };
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

  // In a diff: (share in B - share in A) / the larger share, -1 (gone) to 1 (new).
  change(node) {
    const d = this.data;
    const b = d.nodes.value[node] / d.diff.totalB, a = d.nodes.base[node] / d.diff.totalA;
    const larger = Math.max(Math.abs(a), Math.abs(b));
    return larger ? (b - a) / larger : 0;
  }

  diffColor(node) {
    const change = this.change(node);
    const dark = matchMedia && matchMedia("(prefers-color-scheme: dark)").matches;
    if (Math.abs(change) < 0.02) return dark ? "hsl(250, 6%, 52%)" : "hsl(250, 8%, 84%)";
    const light = (dark ? 70 : 90) - 38 * Math.min(1, Math.abs(change));
    return change > 0 ? `hsl(4, 78%, ${light}%)` : `hsl(214, 72%, ${light}%)`;
  }

  color(node) {
    if (this.data.diff && node !== 0) return this.diffColor(node);
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
    const scale = width / (d.weight[this.zoomed] || 1);
    const visible = [];       // [node, left px, width px]
    const tiny = [];          // [depth, left px, width px, count, value]
    const walk = (node, left) => {
      const w = d.weight[node] * scale;
      visible.push([node, left, w]);
      if (d.depth[node] > maxDepth) maxDepth = d.depth[node];
      let runLeft = -1, runWidth = 0, runCount = 0, runValue = 0;
      for (const child of d.children[node]) {
        const cw = d.weight[child] * scale;
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
    this.buildOverlay(rows);
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

  // One focusable box per frame wide enough to see (at most MAX_FOCUSABLE;
  // a narrower frame the arrow keys reach gets its box when it is reached).
  buildOverlay(rows) {
    const MAX_FOCUSABLE = 4000;
    this.overlay.style.height = rows * this.rowHeight + "px";
    this.items = new Map();
    const fragment = document.createDocumentFragment();
    const wide = this.drawn.filter((entry) => entry.width >= 3);
    for (const entry of wide.slice(0, MAX_FOCUSABLE)) fragment.appendChild(this.overlayItem(entry));
    this.overlay.replaceChildren(fragment);
    const stop = this.items.get(this.selected >= 0 && this.items.has(this.selected) ? this.selected : this.zoomed)
      || this.overlay.firstElementChild;
    if (stop) stop.tabIndex = 0;
    this.container.dataset.focusable = String(this.items.size);
  }

  overlayItem(entry) {
    const d = this.data;
    const item = document.createElement("div");
    item.className = "fg-frame";
    item.tabIndex = -1;
    item.setAttribute("role", "treeitem");
    item.setAttribute("aria-level", String(d.depth[entry.node] + 1));
    const fmt = (v) => stacksight.formatValue(v, this.unit);
    const value = d.nodes.value[entry.node];
    item.setAttribute("aria-label", d.diff ? this.diffTooltip(entry.node).replace(/\n/g, "; ")
      : `${this.name(entry.node)}: ${fmt(value)}, ${stacksight.percent(value, d.nodes.value[0])} of all, self ${fmt(d.nodes.self[entry.node])}`);
    item.dataset.node = String(entry.node);
    item.style.left = entry.left + "px";
    item.style.top = entry.top + "px";
    item.style.width = Math.max(entry.width, 2) + "px";
    item.style.height = this.rowHeight - 1 + "px";
    this.items.set(entry.node, item);
    return item;
  }

  markRovingStop(item) {
    for (const other of this.overlay.querySelectorAll(".fg-frame[tabindex='0']")) if (other !== item) other.tabIndex = -1;
    item.tabIndex = 0;
  }

  // Move DOM focus to a frame's box (made now if it was too narrow to have one).
  focusNode(node) {
    let item = this.items && this.items.get(node);
    if (!item) {
      const entry = (this.drawn || []).find((e) => e.node === node);
      if (!entry) return;
      item = this.overlayItem(entry);
      this.overlay.appendChild(item);
    }
    this.markRovingStop(item);
    item.focus();
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

  onKey(event, fromOverlay = false) {
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
    } else if (event.key === "Enter" || (fromOverlay && event.key === " ")) {
      this.zoom(node);
      event.preventDefault();
      if (fromOverlay) this.focusNode(this.zoomed);
      return;
    } else if (event.key === "Escape" || event.key === "Backspace") {
      if (this.zoomOut()) {
        event.preventDefault();
        event.stopPropagation();
        if (fromOverlay) this.focusNode(this.zoomed);
      }
      return;
    } else if ((event.key === "s" || event.key === "ContextMenu") && this.onSelectFunction && !this.isOther(node)) {
      event.preventDefault();
      this.selectFunction(node);
      return;
    } else {
      return;
    }
    event.preventDefault();
    this.selected = node;
    this.render();
    if (fromOverlay) { this.focusNode(node); return; }
    const entry = (this.drawn || []).find((e) => e.node === node);
    if (entry) {
      const ctx = this.canvas.getContext("2d");
      ctx.strokeStyle = "#1c1c28";
      ctx.lineWidth = 2;
      ctx.strokeRect(entry.left + 1, entry.top + 1, Math.max(entry.width - 2, 2), this.rowHeight - 3);
      this.showTooltipFor(node, this.clientPoint(entry).x, this.clientPoint(entry).y);
    }
  }

  diffTooltip(node) {
    const d = this.data;
    const fmt = (v) => stacksight.formatValue(v, this.unit);
    const { percent } = stacksight;
    const b = d.nodes.value[node], a = d.nodes.base[node];
    const points = (100 * (b / d.diff.totalB - a / d.diff.totalA));
    const f = d.nodes.frame[node];
    const file = f >= 0 ? d.frames.file[f] : "";
    const where = file && file !== "<label>" ? `${file}${d.frames.line[f] ? ":" + d.frames.line[f] : ""}\n` : "";
    return `${this.name(node)}${this.isOther(node) ? " not shown (click to load)" : ""}\n${where}` +
      `A (base): ${fmt(a)} (${percent(a, d.diff.totalA)} of A)` + (f >= 0 ? `, self ${fmt(d.nodes.base_self[node])}` : "") + "\n" +
      `B: ${fmt(b)} (${percent(b, d.diff.totalB)} of B)` + (f >= 0 ? `, self ${fmt(d.nodes.self[node])}` : "") + "\n" +
      `Change: ${points >= 0 ? "+" : ""}${Number(points.toPrecision(3))} points of share` +
      (a && b ? ` (${b >= a ? "+" : ""}${percent(b - a, a)} in value)` : !a && b ? " (only in B)" : a && !b ? " (only in A)" : "");
  }

  tooltipText(node) {
    const d = this.data;
    if (d.diff) return this.diffTooltip(node);
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
