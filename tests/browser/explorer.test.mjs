// The explorer as a user meets it, in Debian's Chromium driven by
// playwright-core: a store filled by fixture_server.py with real uploads from
// the project's Python profiler, a generated 14,000-stack profile and a few
// made-to-measure ones.  Each test is one item of issue #16.
//
//   make test-explorer-browser     (npm installs playwright-core here first)
import { test, before, after } from "node:test";
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

async function openPage(url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, ...options });
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

test("lost samples are flagged in the list and on the profile", async () => {
  const list = await openPage("/?service=lossy");
  await list.waitForFunction(() => document.body.dataset.loaded);
  assert.match(await list.textContent("tr.profile-row .col-cpu"), /⚠ 46% lost/);
  const page = await openPage(`/profiles/${server.ids.lossy}`);
  await graphLoaded(page);
  assert.match(await page.textContent("#lost-badge"), /46% of samples lost/);
  assert.match(await page.textContent("#lost-notice"), /460 of 1,000 samples/);
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
