// The explorer as a user meets it, in Debian's Chromium driven by
// playwright-core: a store filled by fixture_server.py with real uploads from
// the project's Python profiler, a generated 14,000-stack profile and a few
// made-to-measure ones.  Each test is one item of issue #16.
//
//   make test-explorer-browser     (npm installs playwright-core here first)
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const python = process.env.STACKSIGHT_PYTHON || path.join(repo, ".venv", "bin", "python");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const HOT_LEAF = "selector_select_wait";

let fixture, server, browser;
// Each test's browser contexts, closed after it: their idle keep-alive
// connections would otherwise hold the server's connection slots (64).
const contexts = [];

before(async () => {
  assert.ok(existsSync(executablePath), `no chromium at ${executablePath} (apt-get install chromium)`);
  fixture = spawn(python, [path.join(here, "fixture_server.py")], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: fixture.stdout });
  server = await new Promise((resolve, reject) => {
    lines.once("line", (line) => resolve(JSON.parse(line)));
    fixture.once("exit", (code) => reject(new Error(`fixture server exited with ${code}`)));
  });
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
});

after(async () => {
  if (browser) await browser.close();
  if (fixture) { fixture.stdin.end(); await new Promise((resolve) => fixture.once("exit", resolve)); }
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

async function openPage(url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, ...options });
  contexts.push(context);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(server.url + url);
  page.errors = errors;
  return page;
}

const graphLoaded = (page, count = 1) => page.waitForFunction((n) => Number(document.body.dataset.graphLoaded || 0) >= n, count);
const frames = (page, name, graph = "main") =>
  page.evaluate(([n, g]) => stacksightGraphs[g].framesNamed(n).map((e) => ({ ...stacksightGraphs[g].clientPoint(e), width: e.width, top: e.top })), [name, graph]);

test("a 14k-stack Wall Time graph draws its 92.8% leaf, with file:line in the tooltip", async () => {
  const page = await openPage(`/profiles/${server.ids.big}?type=wall-time`);
  await graphLoaded(page);
  // Every frame at least 0.35 px wide is drawn: no cap on the count.  The
  // answer is read here independently: a node is visible if it and all its
  // ancestors are that wide.
  const answer = await (await page.request.get(`${server.url}/api/profiles/${server.ids.big}/flamegraph?type=wall-time`)).json();
  assert.equal(answer.cut.nodes, 0, "a 14k-stack profile arrives whole");
  const scale = (await page.evaluate(() => document.getElementById("flamegraph").clientWidth)) / answer.total;
  const visible = new Uint8Array(answer.nodes.value.length);
  let expected = 0;
  answer.nodes.value.forEach((value, i) => {
    const parent = answer.nodes.parent[i];
    visible[i] = (parent < 0 || visible[parent]) && value * scale >= 0.35 ? 1 : 0;
    expected += visible[i];
  });
  const drawn = Number(await page.getAttribute("#flamegraph", "data-drawn"));
  assert.equal(drawn, expected);
  const hot = await frames(page, HOT_LEAF);
  assert.equal(hot.length, 1);
  const width = await page.evaluate(() => document.getElementById("flamegraph").clientWidth);
  assert.ok(Math.abs(hot[0].width / width - 0.928) < 0.005, `hot leaf is ${hot[0].width}px of ${width}px`);
  await page.mouse.move(hot[0].x, hot[0].y);
  const tooltip = await page.textContent("#tooltip");
  assert.match(tooltip, /selectors\.py:468/);
  assert.match(tooltip, /Self: .*\(92\.8%\)/);
  assert.deepEqual(page.errors, []);
});

test("frames the server did not send are shown as 'more frames' and load on click", async () => {
  const page = await openPage(`/profiles/${server.ids.big}?type=cpu-time&max_nodes=400`);
  await graphLoaded(page);
  assert.match(await page.textContent("#flame-status"), /frames not sent, under grey "more frames" blocks that hold [\d.]+% of the total/);
  const others = await page.evaluate(() => stacksightGraphs.main.drawn
    .filter((e) => stacksightGraphs.main.isOther(e.node)).sort((a, b) => b.width - a.width)
    .map((e) => ({ ...stacksightGraphs.main.clientPoint(e), name: stacksightGraphs.main.name(e.node) })));
  assert.ok(others.length > 0 && /more frames?/.test(others[0].name));
  await page.mouse.click(others[0].x, others[0].y);
  await page.waitForFunction(() => document.body.dataset.focusLoaded);
  const zoom = await page.evaluate(() => new URLSearchParams(location.search).get("zoom"));
  assert.ok(Number(zoom) > 0);
  assert.match(await page.textContent("#flame-status"), /Zoomed into/);
  // Reloading the link comes back to the same zoom.
  await page.reload();
  await graphLoaded(page);
  assert.match(await page.textContent("#flame-status"), /Zoomed into/);
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => !new URLSearchParams(location.search).get("zoom"));
});

test("bottom-up view puts leaf functions first; the sandwich shows callers and callees", async () => {
  const page = await openPage(`/profiles/${server.ids.big}?type=wall-time`);
  await graphLoaded(page);
  await page.click("#view-switch button[data-view=inverted]");
  await graphLoaded(page, 2);
  const hot = await frames(page, HOT_LEAF);
  assert.equal(hot[0].top, 18, "the hot leaf is a child of the root in bottom-up");
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).get("view")), "inverted");
  await page.mouse.click(hot[0].x, hot[0].y, { button: "right" });
  await graphLoaded(page, 3);
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).get("view")), "sandwich");
  assert.ok(await page.isVisible("#flamegraph-callers"));
  assert.equal((await frames(page, HOT_LEAF, "callers")).length, 1);
  assert.equal((await frames(page, HOT_LEAF, "main")).length, 1);
  assert.match(await page.textContent("#flame-total"), new RegExp(`sandwich of ${HOT_LEAF}`));
});

test("group by exception type and lock name; labels as the first level", async () => {
  const page = await openPage(`/profiles/${server.ids.labels}?type=exception-samples`);
  await graphLoaded(page);
  await page.selectOption("#group-by", "exception type");
  await graphLoaded(page, 2);
  assert.equal((await frames(page, "exception type: builtins.ValueError")).length, 1);
  await page.click("#type-switch button[data-type=lock-acquire-wait]");
  await graphLoaded(page, 3);
  await page.selectOption("#group-by", "lock name");
  await graphLoaded(page, 4);
  assert.equal((await frames(page, "lock name: cache.py:12:cache_lock")).length, 1);
  assert.match(await page.textContent("#legend"), /label group/);
});

test("function table: sortable, filterable, every row reachable, small shares not 0%", async () => {
  // Wall time: one leaf has 92.8%, so every other function's share is tiny.
  const page = await openPage(`/profiles/${server.ids.big}?type=wall-time`);
  await graphLoaded(page);
  const count = await page.textContent(".table-count");
  const [, total, pages] = count.match(/(\d+) functions · page 1 of (\d+)/);
  assert.ok(Number(total) > 1000 && Number(pages) > 10);
  // Small shares keep two significant digits instead of reading 0%.
  const first = await page.$$eval("#top-table tbody tr", (rows) => rows.map((r) => [r.cells[2].textContent, r.cells[3].textContent]));
  assert.ok(first.every(([, share]) => share !== "0%"), JSON.stringify(first));
  assert.ok(first.some(([, share]) => /^0\.00\d+%$/.test(share)), JSON.stringify(first));
  for (let i = 1; i < Number(pages); i++) await page.click("#table-pager button:text('Next')");
  assert.match(await page.textContent(".table-count"), new RegExp(`page ${pages} of ${pages}`));
  assert.ok((await page.$$("#top-table tbody tr")).length > 0, "the last page has rows");
  await page.click("#top-table th[data-sort=name]");
  const names = await page.$$eval("#top-table tbody td.fn a.fn-name", (links) => links.map((a) => a.textContent));
  assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
  await page.fill("#table-filter", HOT_LEAF.slice(0, 12));
  assert.match(await page.textContent(".table-count"), /^1 function/);
  assert.match(await page.textContent("#top-table tbody"), /selectors\.py:468/);
});

test("real profiler uploads: CPU graph, thread filter, search and keyboard zoom", async () => {
  assert.ok(server.ids.python && server.ids.python.length, "the profiled Python program uploaded nothing");
  const id = server.ids.python[server.ids.python.length - 1];
  const page = await openPage(`/profiles/${id}?type=cpu-time`);
  await graphLoaded(page);
  assert.ok((await frames(page, "parse_order")).length >= 1, "parse_order is in the CPU graph");
  await page.fill("#flame-search", "render_page");
  assert.match(await page.textContent("#flame-status"), /"render_page" matches/);
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).get("q")), "render_page");
  await page.selectOption("#thread-filter", "order-worker");
  await graphLoaded(page, 2);
  assert.equal((await frames(page, "render_page")).length, 0);
  await page.focus("#flamegraph canvas");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  assert.match(await page.textContent("#flame-status"), /Zoomed into/);
  await page.keyboard.press("Escape");
  assert.doesNotMatch(await page.textContent("#flame-status"), /Zoomed into/);
  assert.deepEqual(page.errors, []);
});

test("asyncio task filter: listed only where tasks were sampled, keeps one task's stacks", async () => {
  assert.ok(server.ids.asyncio && server.ids.asyncio.length, "the profiled asyncio program uploaded nothing");
  const page = await openPage(`/profiles/${server.ids.asyncio[0]}?type=wall-time`);
  await graphLoaded(page);
  assert.ok(await page.isVisible("#task-filter"));
  assert.ok((await frames(page, "read_cache")).length >= 1, "read_cache is in the unfiltered graph");
  await page.selectOption("#task-filter", "orders");
  await graphLoaded(page, 2);
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).get("task")), "orders");
  assert.ok((await frames(page, "load_orders")).length >= 1, "load_orders is in the orders task's graph");
  assert.equal((await frames(page, "read_cache")).length, 0);
  assert.match(await page.textContent("#flame-total"), /in task orders/);
  const plain = await openPage(`/profiles/${server.ids.python[0]}?type=cpu-time`);
  await graphLoaded(plain);
  assert.equal(await plain.isVisible("#task-filter"), false, "a profile without tasks offers no task filter");
  assert.deepEqual(page.errors, []);
});

test("lost samples are flagged in the list and on the profile", async () => {
  const list = await openPage("/?service=lossy");
  await list.waitForFunction(() => document.body.dataset.loaded);
  assert.match(await list.textContent("tr.profile-row .col-cpu"), /⚠ 46% lost/);
  const page = await openPage(`/profiles/${server.ids.lossy}`);
  await graphLoaded(page);
  assert.match(await page.textContent("#lost-badge"), /46% of samples lost/);
  assert.match(await page.textContent("#lost-notice"), /460 of 1,000 samples/);
});

test("the header's Download picks the attachment of a multi-attachment (Go) upload", async () => {
  const page = await openPage(`/profiles/${server.ids.go}`);
  await graphLoaded(page);
  // The plain button gives the CPU profile, as gzip pprof (it came as zstd).
  const main = await page.request.get(server.url + await page.getAttribute("#download-link", "href"));
  assert.deepEqual([...(await main.body()).subarray(0, 2)], [0x1f, 0x8b]);
  assert.match(main.headers()["content-disposition"], /cpu\.pprof/);
  await page.click("#download-picker summary");
  const items = await page.$$eval("#download-menu a", (links) => links.map((a) => [a.textContent, a.getAttribute("href")]));
  assert.deepEqual(items.map(([text]) => text.split(" · ")[0]),
    ["delta-mutex.pprof", "delta-mutex.pprof", "cpu.pprof (default)", "cpu.pprof", "go.trace"]);
  assert.ok(await page.isVisible("#download-menu a[data-attachment='go.trace']"));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-menu a[data-attachment='go.trace']")]);
  const { readFile } = await import("node:fs/promises");
  const trace = await readFile(await download.path());
  assert.ok(trace.subarray(0, 13).toString() === "go 1.23 trace" && trace.length === 16 + 256, `go.trace: ${trace.length} bytes`);
  const mutex = await page.request.get(server.url + items[0][1]);
  assert.deepEqual([...(await mutex.body()).subarray(0, 2)], [0x1f, 0x8b]);
  const received = await page.request.get(server.url + items[1][1]);
  assert.deepEqual([...(await received.body()).subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
  // One attachment: no picker.
  const single = await openPage(`/profiles/${server.ids.lossy}`);
  await graphLoaded(single);
  assert.ok(await single.isHidden("#download-picker"));
  assert.deepEqual(page.errors, []);
});

test("merged heap snapshots are the latest per process, and say so", async () => {
  const page = await openPage(`/merged?service=heapy&type=heap-space`);
  await graphLoaded(page);
  const total = Number(await page.getAttribute("#flamegraph", "data-total"));
  assert.equal(total, (167 + 4 + 50 + 4) * 1024 * 1024);
  assert.match(await page.textContent("#graph-notices"), /latest profile of each of 2 processes \(5 profiles\)/);
});

test("a bad ?type= falls back to the default type; dark mode and favicon", async () => {
  const page = await openPage(`/profiles/${server.ids.big}?type=goroutines`, { colorScheme: "dark" });
  await graphLoaded(page);
  assert.equal(await page.getAttribute("#flamegraph", "data-type"), "cpu-time");
  assert.match(await page.textContent("#graph-notices"), /no .goroutines. samples; showing cpu-time/);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(21, 20, 28)");
  const icon = await page.request.get(server.url + "/favicon.ico");
  assert.equal(icon.status(), 200);
  // Full screen keeps the type switch and the search.
  await page.click("#fullscreen-button");
  assert.ok(await page.isVisible("#flame-panel.fullscreen #type-switch"));
  assert.ok(await page.isVisible("#flame-panel.fullscreen #flame-search"));
});

// Colour of the canvas pixel in the middle of a drawn frame, as [r, g, b].
const pixelOf = (page, name) => page.evaluate((n) => {
  const graph = stacksightGraphs.main;
  const entry = graph.framesNamed(n)[0];
  const ratio = window.devicePixelRatio || 1;
  const data = graph.canvas.getContext("2d").getImageData(Math.round((entry.left + Math.min(entry.width / 2, 40)) * ratio),
    Math.round((entry.top + 3) * ratio), 1, 1).data;
  return [data[0], data[1], data[2]];
}, name);

test("compare two versions from the list: a differential flame graph, its tooltip and table", async () => {
  const list = await openPage("/?service=compare-py");
  await list.waitForFunction(() => document.body.dataset.loaded);
  await list.selectOption("#compare-facet", "version");
  await list.selectOption("#compare-a", "1");
  await list.selectOption("#compare-b", "2");
  await Promise.all([list.waitForNavigation(), list.click("#compare-values")]);
  const params = new URL(list.url()).searchParams;
  assert.equal(new URL(list.url()).pathname, "/compare");
  assert.deepEqual([params.get("service"), params.get("a.version"), params.get("b.version")], ["compare-py", "1", "2"]);
  await graphLoaded(list);
  assert.match(await list.textContent("#profile-title"), /Compare: B \(1\) against A \(1\)/);
  assert.match(await list.textContent("#graph-notices"), /Comparing B: 1 profile \(version=2\) with A: 1 profile \(version=1\)/);
  // Shares: parse 60% -> 20% (blue), render_v2 0 -> 60% (red), io_wait the same (grey).
  const [grown, shrunk, same] = [await pixelOf(list, "render_v2"), await pixelOf(list, "parse"), await pixelOf(list, "io_wait")];
  assert.ok(grown[0] > grown[2] + 60, `render_v2 is red: ${grown}`);
  assert.ok(shrunk[2] > shrunk[0] + 40, `parse is blue: ${shrunk}`);
  assert.ok(Math.abs(same[0] - same[2]) < 30, `io_wait is grey: ${same}`);
  // Gone from B: still drawn (width of A's share), coloured blue.
  assert.equal((await frames(list, "legacy_format")).length, 1);
  const legacy = (await frames(list, "legacy_format"))[0];
  await list.mouse.move(legacy.x, legacy.y);
  const tip = await list.textContent("#tooltip");
  assert.match(tip, /A \(base\): 200 ns \(20% of A\)/);
  assert.match(tip, /B: 0 ns \(0% of B\)/);
  assert.match(tip, /only in A/);
  // Widths add both sides' shares: render_v2 (0 + 60%) as wide as parse's 60% in A... halved over two sides.
  const width = await list.evaluate(() => document.getElementById("flamegraph").clientWidth);
  const render = (await frames(list, "render_v2"))[0];
  assert.ok(Math.abs(render.width / width - 0.3) < 0.01, `render_v2 is ${render.width} of ${width}`);
  assert.match(await list.textContent("#top-table thead"), /Self A.*Self B.*Self share change/);
  const firstRow = await list.$$eval("#top-table tbody tr", (rows) => rows[0].textContent);
  assert.match(firstRow, /render_v2.*\+60 pts/);
  assert.match(await list.textContent("#legend"), /larger share in B/);
  assert.deepEqual(list.errors, []);
});

test("compare side by side: each side's own flame graph next to the differential one", async () => {
  const page = await openPage("/compare?service=compare-py&a.version=1&b.version=2&type=cpu-time");
  await graphLoaded(page);
  assert.ok(await page.isHidden("#side-by-side"));
  await page.click("#layout-side");
  await graphLoaded(page, 2);
  assert.equal(new URL(page.url()).searchParams.get("layout"), "side");
  assert.ok(await page.isHidden("#flamegraph") && await page.isVisible("#flamegraph-a") && await page.isVisible("#flamegraph-b"));
  // Each side drawn from its own merge, widths its own shares.
  const drawn = async (name, side) => (await frames(page, name, side)).length;
  assert.deepEqual([await drawn("legacy_format", "sideA"), await drawn("render_v2", "sideA")], [1, 0]);
  assert.deepEqual([await drawn("legacy_format", "sideB"), await drawn("render_v2", "sideB")], [0, 1]);
  assert.equal(Number(await page.getAttribute("#flamegraph-a", "data-total")), 1000);
  const width = await page.evaluate(() => document.getElementById("flamegraph-b").clientWidth);
  const render = (await frames(page, "render_v2", "sideB"))[0];
  assert.ok(Math.abs(render.width / width - 0.6) < 0.01, `render_v2 is ${render.width} of ${width}`);
  assert.match(await page.textContent("#side-a-title"), /A: 1 profile \(version=1\) · CPU/);
  // The layout is kept in the URL; a type only one side has says so for the other.
  const reloaded = await openPage(new URL(page.url()).pathname + new URL(page.url()).search);
  await graphLoaded(reloaded);
  assert.ok(await reloaded.isVisible("#flamegraph-b"));
  await page.click("#layout-side");
  await graphLoaded(page, 3);
  assert.ok(await page.isVisible("#flamegraph") && await page.isHidden("#side-by-side"));
  assert.deepEqual(page.errors, []);
});

test("compare a time range with the period before it", async () => {
  const [from, to] = server.ids.metered_range;
  const middle = (from + to) / 2;
  const list = await openPage(`/?service=metered&range=custom`);
  await list.waitForFunction(() => document.body.dataset.loaded);
  assert.ok(await list.isDisabled("#compare-period"), "no range, nothing to compare");
  const local = (s) => { const d = new Date(s * 1000); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 19); };
  await list.fill("#range-from", local(middle));
  await list.dispatchEvent("#range-from", "change");
  await list.fill("#range-to", local(to));
  await list.dispatchEvent("#range-to", "change");
  await list.waitForFunction(() => !document.getElementById("compare-period").disabled);
  await Promise.all([list.waitForNavigation(), list.click("#compare-period")]);
  const params = new URL(list.url()).searchParams;
  const [aFrom, aTo, bFrom, bTo] = ["a.from", "a.to", "b.from", "b.to"].map((k) => Number(params.get(k)));
  assert.ok(Math.abs(aTo - bFrom) < 1e-6 && Math.abs((aTo - aFrom) - (bTo - bFrom)) < 1e-3);
  assert.ok(Math.abs(bFrom - Math.floor(middle)) <= 1, `${bFrom} vs ${middle}`);
  await graphLoaded(list);
  const answer = await list.evaluate(() => stacksightGraphs.main.data.payload);
  assert.ok(answer.profile_ids.length > 0 && answer.base_profile_ids.length > 0);
  assert.equal(answer.diff.b.filter["from"][0], params.get("b.from"));
});

test("compare two ticked profiles: the older is A", async () => {
  const list = await openPage("/?service=compare-py");
  await list.waitForFunction(() => document.body.dataset.loaded);
  assert.ok(await list.isDisabled("#compare-selected"));
  const boxes = await list.$$(".row-select");
  await boxes[0].check();
  assert.equal(await list.evaluate(() => document.getElementById("select-all").indeterminate), true);
  await boxes[1].check();
  assert.equal(await list.evaluate(() => document.getElementById("select-all").checked), true);
  await Promise.all([list.waitForNavigation(), list.click("#compare-selected")]);
  const params = new URL(list.url()).searchParams;
  assert.equal(params.get("a.ids"), String(server.ids.compare["1"]));
  assert.equal(params.get("b.ids"), String(server.ids.compare["2"]));
  await graphLoaded(list);
  assert.equal(Number(await list.getAttribute("#flamegraph", "data-total")), 1000);
});

test("a profile links to its diff against the previous profile of its service and host", async () => {
  const page = await openPage(`/profiles/${server.ids.metered[2]}?type=cpu-time`);
  await graphLoaded(page);
  await page.waitForSelector("#compare-previous:not([hidden])");
  const href = await page.getAttribute("#compare-previous", "href");
  assert.equal(href, `/compare?a.ids=${server.ids.metered[1]}&b.ids=${server.ids.metered[2]}&type=cpu-time`);
  await Promise.all([page.waitForNavigation(), page.click("#compare-previous button")]);
  await graphLoaded(page);
  assert.match(await page.textContent("#profile-title"), /Compare: B \(1\) against A \(1\)/);
  // The first profile of a host has none before it.
  const first = await openPage(`/profiles/${server.ids.metered[0]}`);
  await graphLoaded(first);
  await first.waitForTimeout(300);
  assert.ok(await first.isHidden("#compare-previous"));
});

test("profile rows are real links: open in a new tab, keep the list's time range", async () => {
  const list = await openPage("/?service=compare-py&range=30d");
  await list.waitForFunction(() => document.body.dataset.loaded);
  const link = await list.$("tr.profile-row a.row-link");
  const href = await link.getAttribute("href");
  assert.match(href, /^\/profiles\/\d+\?from=[\d.]+$/);
  const [tab] = await Promise.all([list.context().waitForEvent("page"), link.click({ modifiers: ["Control"] })]);
  await tab.waitForLoadState();
  assert.equal(new URL(tab.url()).pathname, href.split("?")[0]);
  assert.equal(new URL(list.url()).pathname, "/", "the list stays where it was");
  // A plain click on the row (not on the link) opens the profile here.
  await Promise.all([list.waitForNavigation(), list.click("tr.profile-row td.col-env")]);
  assert.match(new URL(list.url()).pathname, /^\/profiles\/\d+$/);
});

test("frames are focusable elements: Tab reaches the graph, arrows move focus, Enter zooms, Esc undoes", async () => {
  const page = await openPage(`/profiles/${server.ids.compare["1"]}?type=cpu-time`);
  await graphLoaded(page);
  await page.focus("#flame-search");
  for (let i = 0; i < 3; i++) await page.keyboard.press("Tab");
  const focused = () => page.evaluate(() => ({ role: document.activeElement.getAttribute("role"),
    label: document.activeElement.getAttribute("aria-label") || "", level: document.activeElement.getAttribute("aria-level") }));
  let now = await focused();
  assert.equal(now.role, "treeitem", "Tab lands on a frame");
  assert.match(now.label, /^all: 1 µs/);
  await page.keyboard.press("ArrowDown");
  now = await focused();
  assert.match(now.label, /^main: 1 µs, 100% of all/);
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  now = await focused();
  assert.match(now.label, /^parse: 600 ns, 60% of all, self 600 ns/);
  assert.match(await page.textContent("#tooltip"), /parse/);
  await page.keyboard.press("Enter");
  assert.match(await page.textContent("#flame-status"), /Zoomed into parse/);
  assert.match((await focused()).label, /^parse/);
  await page.keyboard.press("Escape");
  assert.doesNotMatch(await page.textContent("#flame-status"), /Zoomed into/);
  assert.equal((await focused()).role, "treeitem", "focus stays on a frame");
  assert.ok(Number(await page.getAttribute("#flamegraph", "data-focusable")) >= 5);
  assert.deepEqual(page.errors, []);
});

test("Metrics tab: one line per host with gaps, the list's time range, crisp text, wall/exceptions/lock wait", async () => {
  const [from, to] = server.ids.metered_range;
  const id = server.ids.metered[0];
  const page = await openPage(`/profiles/${id}?tab=metrics&from=${from}&to=${to}`);
  await page.waitForFunction(() => document.body.dataset.metricsLoaded);
  assert.match(await page.textContent("#metrics-caption"), /16 profiles of service metered .*\(the list's time range\).* 2 hosts/);
  for (const measure of ["cpu", "wall", "exceptions", "lock_wait"]) {
    assert.equal(await page.getAttribute(`#chart-${measure}`, "data-series"), "2", measure);
  }
  // web-2 paused for four minutes: its line is in two pieces, web-1's in one.
  const lines = await page.$$eval("#chart-cpu polyline", (ps) => ps.map((p) => p.getAttribute("points").split(" ").length));
  assert.deepEqual(lines.sort(), [10, 3, 3].sort());
  // The SVG is drawn at its own pixel size: not stretched.
  const [attr, shown] = await page.$eval("#chart-cpu svg", (svg) => [Number(svg.getAttribute("width")), svg.getBoundingClientRect().width]);
  assert.ok(Math.abs(attr - shown) < 1, `${attr} vs ${shown}`);
  assert.match(await page.textContent("#chart-cpu"), /web-1.*web-2/);
  assert.match(await page.textContent("#chart-wall h4"), /Wall time \(threads\)/);
  assert.match(await page.textContent("#chart-exceptions svg"), /\/s/);
  // By version instead: one line.
  await page.selectOption("#metrics-group", "version");
  await page.waitForFunction(() => document.querySelector("#chart-cpu").dataset.series === "1");
  assert.equal(new URL(page.url()).searchParams.get("metrics_by"), "version");
  assert.deepEqual(page.errors, []);
});
