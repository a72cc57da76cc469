// Shared helpers of the explorer pages: fetching the JSON API and turning
// raw numbers (nanoseconds, bytes, counts) into what people read.
"use strict";

const stacksight = (() => {
  async function fetchJson(url) {
    const response = await fetch(url);
    const text = await response.text();
    let payload;
    try { payload = JSON.parse(text); } catch (e) { payload = { error: text }; }
    if (!response.ok) throw new Error(payload.error || `HTTP ${response.status}`);
    return payload;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function trimNumber(value, digits) {
    return Number(value.toFixed(digits)).toString();
  }

  function formatDurationNs(ns) {
    const abs = Math.abs(ns);
    if (abs >= 3600e9) return trimNumber(ns / 3600e9, 2) + " h";
    if (abs >= 60e9) return trimNumber(ns / 60e9, 2) + " min";
    if (abs >= 1e9) return trimNumber(ns / 1e9, 2) + " s";
    if (abs >= 1e6) return trimNumber(ns / 1e6, 2) + " ms";
    if (abs >= 1e3) return trimNumber(ns / 1e3, 2) + " µs";
    return ns + " ns";
  }

  function formatBytes(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes, index = 0;
    while (Math.abs(value) >= 1024 && index < units.length - 1) { value /= 1024; index++; }
    return trimNumber(value, index ? 2 : 0) + " " + units[index];
  }

  function formatCount(count) {
    if (Math.abs(count) >= 1e6) return trimNumber(count / 1e6, 2) + "M";
    if (Math.abs(count) >= 1e4) return trimNumber(count / 1e3, 1) + "k";
    return String(count);
  }

  function formatValue(value, unit) {
    if (unit === "nanoseconds") return formatDurationNs(value);
    if (unit === "bytes") return formatBytes(value);
    return formatCount(value) + (unit && unit !== "count" ? " " + unit : "");
  }

  function formatCores(cores) {
    if (cores === null || cores === undefined) return "–";
    if (cores >= 0.1) return trimNumber(cores, 2) + " cores";
    return trimNumber(cores * 1000, 1) + " mcores";
  }

  function formatRate(bytesPerSecond) {
    if (bytesPerSecond === null || bytesPerSecond === undefined) return "–";
    return formatBytes(bytesPerSecond) + "/s";
  }

  function formatTime(ns) {
    const date = new Date(ns / 1e6);
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  // Small shares keep two significant digits (0.0042%), so they do not read as 0%.
  function percent(part, whole) {
    if (!whole || !part) return "0%";
    const share = (100 * part) / whole;
    if (Math.abs(share) >= 0.01) return trimNumber(share, 2) + "%";
    return Number(share.toPrecision(2)).toString() + "%";
  }

  return { fetchJson, el, formatDurationNs, formatBytes, formatCount, formatValue, formatCores,
           formatRate, formatTime, percent };
})();
