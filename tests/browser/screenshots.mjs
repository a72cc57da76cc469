// Screenshots of every explorer view for the README walkthrough, taken from
// the same filled store as the browser tests (fixture_server.py).
//
//   make explorer-screenshots        (writes docs/explorer/*.png)
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const out = process.argv[2] || path.join(repo, "docs", "explorer");
const python = process.env.STACKSIGHT_PYTHON || path.join(repo, ".venv", "bin", "python");
mkdirSync(out, { recursive: true });

const fixture = spawn(python, [path.join(here, "fixture_server.py")], { stdio: ["pipe", "pipe", "inherit"] });
const server = await new Promise((resolve) => createInterface({ input: fixture.stdout }).once("line", (l) => resolve(JSON.parse(l))));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });

async function shot(name, url, { dark = false, act = null, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height }, colorScheme: dark ? "dark" : "light" });
  const page = await context.newPage();
  await page.goto(server.url + url);
  await page.waitForFunction(() => document.body.dataset.graphLoaded || document.body.dataset.loaded);
  if (act) await act(page);
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(out, name + ".png") });
  await context.close();
  console.log("wrote", path.join(out, name + ".png"));
}

const loads = (page, n) => page.waitForFunction((k) => Number(document.body.dataset.graphLoaded || 0) >= k, n);
const hover = async (page, name) => {
  const point = await page.evaluate((n) => stacksightGraphs.main.clientPoint(stacksightGraphs.main.framesNamed(n)[0]), name);
  await page.mouse.move(point.x, point.y);
};
const py = server.ids.python ? server.ids.python[server.ids.python.length - 1] : server.ids.big;

try {
  await shot("01-list", "/");
  await shot("02-cpu-real-upload", `/profiles/${py}?type=cpu-time`, { act: (p) => hover(p, "parse_order") });
  await shot("03-wall-14k-stacks", `/profiles/${server.ids.big}?type=wall-time`, { act: (p) => hover(p, "selector_select_wait") });
  await shot("04-more-frames", `/profiles/${server.ids.big}?type=cpu-time&max_nodes=600`);
  await shot("05-bottom-up", `/profiles/${server.ids.big}?type=cpu-time&view=inverted`);
  await shot("06-sandwich", `/profiles/${py}?type=cpu-time&view=sandwich&function=parse_order`, { height: 1000 });
  await shot("07-group-by-exception", `/profiles/${server.ids.labels}?type=exception-samples&group=exception+type`);
  await shot("08-functions-table", `/profiles/${server.ids.big}?type=wall-time`, {
    act: async (p) => { await p.fill("#table-filter", "parse"); await p.locator("#top-table").scrollIntoViewIfNeeded(); } });
  await shot("09-lost-samples", `/profiles/${server.ids.lossy}`);
  await shot("10-merged-heap-snapshot", `/merged?service=heapy&type=heap-space`);
  await shot("11-dark-mode", `/profiles/${py}?type=wall-time`, { dark: true });
  await shot("12-search", `/profiles/${py}?type=cpu-time&q=render`);
  const [from, to] = server.ids.metered_range;
  await shot("13-metrics", `/profiles/${server.ids.metered[3]}?tab=metrics&from=${from}&to=${to}`, { height: 1300, act: async (p) => {
    await p.waitForFunction(() => document.body.dataset.metricsLoaded); } });
  await shot("14-compare-versions", `/compare?service=compare-py&a.version=1&b.version=2&type=cpu-time`, {
    height: 1000, act: (p) => hover(p, "render_v2") });
  await shot("15-focused-frame", `/profiles/${server.ids.compare["1"]}?type=cpu-time`, { act: async (p) => {
    await p.focus("#flame-search");
    for (let i = 0; i < 3; i++) await p.keyboard.press("Tab");
    for (let i = 0; i < 3; i++) await p.keyboard.press("ArrowDown"); } });
  await shot("17-compare-side-by-side", `/compare?service=compare-py&a.version=1&b.version=2&type=cpu-time&layout=side`, { height: 700 });
  await shot("16-download-picker", `/profiles/${server.ids.go}`, { height: 500, act: (p) => p.click("#download-picker summary") });
} finally {
  await browser.close();
  fixture.stdin.end();
}
