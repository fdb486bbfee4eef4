// `npm start`'s dashboard in a real browser: the built simulator as a user runs it, and
// Debian's chromium driven by puppeteer-core. The page must show every product's card with
// live plots, send a command from a console form and show the device's answer, and show a
// device's link going down and coming back when a fault is triggered from the page. The
// server's refusals (bad JSON, unknown device, oversize body) are checked over plain HTTP.
// Skipped only when there is no chromium (`apt-get install chromium`; npm test's set-up
// installs it). DASHBOARD_SCREENSHOT=1 saves docs/dashboard.png from this run.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";
import type { Browser, Page } from "puppeteer-core";
import { products } from "../../modules/products/index.js";

// The functions given to the page run there, with the DOM (the tests compile without it).
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, "../../hosts/node/main.js");
const SCREENSHOT = path.resolve(here, "../../../docs/dashboard.png");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** The first line of the child's output that matches, or a rejection with the output so far. */
function line(child: ChildProcess, test: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => { off(); reject(new Error(`no line matching ${test} within ${ms} ms; output:\n${text.slice(-4000)}`)); }, ms);
    const onData = (chunk: string): void => {
      text += chunk;
      const match = text.match(test);
      if (match) { off(); resolve(match); }
    };
    const off = (): void => { clearTimeout(timer); child.stdout!.off("data", onData); };
    child.stdout!.on("data", onData);
  });
}

const labelOf = (name: string): string => {
  const p = products.find((q) => q.name === name)!;
  return `${p.name}/${p.deviceId(0)}`;
};
const card = (label: string): string => `.card[data-label="${label}"]`;

describe("npm start's dashboard in a real browser", function () {
  this.timeout(120_000);
  let child: ChildProcess | undefined;
  let cwd: string;
  let url: string;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`    skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM to a Chromium/Chrome binary)`);
      this.skip();
    }
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), "dash-"));
    child = spawn(process.execPath, [MAIN, "--port", "0", "--web-port", "0", "--duration", "120"], { cwd, stdio: ["ignore", "pipe", "inherit"] });
    child.stdout!.setEncoding("utf8");
    url = (await line(child, /^dashboard (http:\/\/127\.0\.0\.1:\d+\/)$/m, 15_000))[1];
    const root = process.getuid?.() === 0;
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: root ? ["--no-sandbox"] : [] });
    page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(url);
  });

  after(async () => {
    await browser?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    if (cwd) fs.rmSync(cwd, { recursive: true, force: true });
  });

  it("shows a card for each of the five products, each with its messages in the stream", async () => {
    const labels = products.map((p) => labelOf(p.name));
    await page.waitForFunction((labels: string[]) => labels.every((l) =>
      document.querySelector(`.card[data-label="${l}"]`) &&
      [...document.querySelectorAll("#rows .row")].some((r: any) => r.dataset.device === l && r.querySelector(".dir").textContent === ">")),
    { timeout: 20_000 }, labels);
    const shown = await page.$$eval(".card", (cards) => cards.map((c: any) => c.dataset.product).sort());
    assert.deepEqual(shown, products.map((p) => p.name).sort());
    // The retained status is shown: bess keeps its connection state retained.
    await page.waitForFunction((sel: string) => document.querySelector(sel)?.textContent.includes("online"), { timeout: 10_000 }, `${card(labelOf("bess"))} .retained-body`);
  });

  it("draws every product's readings, and a plot gains points as messages arrive", async () => {
    // Every card's plots have a chart and at least one point (from the history or live).
    await page.waitForFunction(() => [...document.querySelectorAll(".card")].every((c: any) =>
      [...c.querySelectorAll(".plot")].length > 0 &&
      [...c.querySelectorAll(".plot")].some((p: any) => Number(p.dataset.points) > 0 && p.querySelector("canvas"))), { timeout: 45_000 });
    const sel = `${card(labelOf("bess"))} .plot`;
    const before = await page.$eval(sel, (p: any) => Number(p.dataset.points));
    await page.waitForFunction((sel: string, n: number) => Number(document.querySelector(sel).dataset.points) > n, { timeout: 20_000 }, sel, before);
  });

  it("sends a command from a console form and shows the device's answer", async () => {
    const meter = card(labelOf("smart-meter"));
    await page.click(`${meter} .console summary`);
    await page.select(`${meter} select[name=command]`, "balance");
    const field = `${meter} input[name="field-balance"]`;
    await page.$eval(field, (i: any) => { i.value = ""; });
    await page.type(field, "42.5");
    await page.click(`${meter} button[type=submit]`);
    await page.waitForFunction((sel: string) => ["ok", "error"].includes(document.querySelector(sel).dataset.status), { timeout: 20_000 }, `${meter} .answer`);
    const answer = await page.$eval(`${meter} .answer`, (a: any) => ({ status: a.dataset.status, text: a.textContent }));
    assert.equal(answer.status, "ok", answer.text);
    assert.equal(JSON.parse(answer.text).balance, 42.5);
    // The command is in the stream, sent to the meter.
    assert.ok(await page.$$eval("#rows .row", (rows, l) => rows.some((r: any) => r.dataset.device === l && r.querySelector(".dir").textContent === "<"), labelOf("smart-meter")));

    // A command the device refuses: the product's error is shown, not an answer.
    const bess = card(labelOf("bess"));
    await page.click(`${bess} .console summary`);
    await page.select(`${bess} select[name=command]`, "firmware_update");
    await page.type(`${bess} input[name="field-version"]`, "1.2.3");
    await page.type(`${bess} input[name="field-url"]`, "not a url");
    await page.type(`${bess} input[name="field-sha256"]`, "abc");
    await page.click(`${bess} button[type=submit]`);
    await page.waitForFunction((sel: string) => document.querySelector(sel).dataset.status === "error", { timeout: 20_000 }, `${bess} .answer`);
  });

  it("saves docs/dashboard.png (DASHBOARD_SCREENSHOT=1)", async function () {
    if (!process.env.DASHBOARD_SCREENSHOT) this.skip();
    // Two points on every plot: dese and the meter report every 30 s.
    await page.waitForFunction(() => [...document.querySelectorAll(".plot")].every((p: any) => Number(p.dataset.points) >= 2), { timeout: 90_000 });
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it("a cut link shows the device disconnected, with its outage, then connected again", async () => {
    const dese = card(labelOf("dese"));
    await page.waitForFunction((sel: string) => document.querySelector(sel).dataset.state === "up", { timeout: 10_000 }, dese);
    const outages = await page.$eval(dese, (c: any) => Number(c.dataset.outages));
    await page.click(`${dese} .cut`);
    await page.waitForFunction((sel: string, n: number) => Number(document.querySelector(sel).dataset.outages) > n, { timeout: 10_000 }, dese, outages);
    await page.waitForFunction((sel: string) => document.querySelector(sel).dataset.state === "up", { timeout: 30_000 }, dese);
  });

  it("a hardware fault (dese's pH probe unplugged) turns the device's retained status to error, and back when plugged in", async () => {
    const dese = card(labelOf("dese"));
    const status = (want: string) => page.waitForFunction((sel: string, w: string) =>
      [...document.querySelectorAll(`${sel} .retained-entry`)].some((e: any) => e.dataset.topic.endsWith("/status") && e.querySelector(".preview").textContent.includes(`"status":"${w}"`)),
    { timeout: 30_000 }, dese, want);
    await page.click(`${dese} .hw-fault[data-kind="hw:unplug"]`);
    await status("error");
    await page.click(`${dese} .hw-fault[data-kind="hw:unplug"]`);
    await status("online");
  });

  it("black-holing a link is a toggle the page shows", async () => {
    const hawk = card(labelOf("battery-hawk"));
    await page.click(`${hawk} .blackhole`);
    await page.waitForFunction((sel: string) => document.querySelector(sel).getAttribute("aria-pressed") === "true", { timeout: 5_000 }, `${hawk} .blackhole`);
    await page.click(`${hawk} .blackhole`);
    await page.waitForFunction((sel: string) => document.querySelector(sel).getAttribute("aria-pressed") === "false", { timeout: 5_000 }, `${hawk} .blackhole`);
  });

  it("stopping the broker shows the devices disconnected with their outage; starting it brings them back", async () => {
    const always = ["bess", "dese", "smart-meter"].map((name) => card(labelOf(name)));
    await page.click("#broker-stop");
    await page.waitForFunction((cards: string[]) => document.querySelector("#broker").dataset.kind === "bad" &&
      cards.every((c) => document.querySelector(c).dataset.state === "down" && !document.querySelector(`${c} .outage`).hidden), { timeout: 15_000 }, always);
    const outage = await page.$eval(`${always[0]} .outage`, (o: any) => o.textContent as string);
    assert.match(outage, /failed attempt.*last error: .*(next retry in|retrying)/, outage);
    await page.click("#broker-start");
    await page.waitForFunction((cards: string[]) => document.querySelector("#broker").dataset.kind === "ok" &&
      cards.every((c) => document.querySelector(c).dataset.state === "up"), { timeout: 60_000 }, always);
  });

  it("filters the stream by device and by topic text", async () => {
    const meter = labelOf("smart-meter");
    await page.select("#filter-device", meter);
    await page.type("#filter-topic", "/balance");
    const visible = await page.$$eval("#rows .row", (rows) => rows.filter((r: any) => !r.hidden).map((r: any) => [r.dataset.device, r.dataset.topic]));
    assert.ok(visible.length > 0, "the balance command and answer are shown");
    for (const [device, topic] of visible) {
      assert.equal(device, meter);
      assert.ok(topic.includes("/balance"), topic);
    }
    assert.ok(await page.$$eval("#rows .row", (rows) => rows.some((r: any) => r.hidden)), "other rows are hidden");
    await page.select("#filter-device", "");
  });

  it("refuses bad requests with a 4xx and a reason", async () => {
    const post = async (route: string, body: string): Promise<[number, string]> => {
      const res = await fetch(new URL(route, url), { method: "POST", headers: { "content-type": "application/json" }, body });
      return [res.status, ((await res.json()) as { error?: string }).error ?? ""];
    };
    assert.deepEqual(await post("api/command", "{not json"), [400, "request body must be a JSON object"]);
    assert.deepEqual((await post("api/command", JSON.stringify({ device: "nobody", command: "x" })))[0], 404);
    assert.deepEqual((await post("api/command", JSON.stringify({ device: labelOf("dese"), command: "nope" })))[0], 400);
    assert.deepEqual((await post("api/command", JSON.stringify({ device: labelOf("dese"), command: "reboot", params: [1] })))[0], 400);
    assert.deepEqual((await post("api/fault", JSON.stringify({ device: labelOf("dese"), kind: "melt" })))[0], 400);
    assert.deepEqual((await post("api/fault", JSON.stringify({ device: "nobody", kind: "cut" })))[0], 404);
    assert.deepEqual((await post("api/command", JSON.stringify({ pad: "x".repeat(70_000) })))[0], 413);
    // Not JSON (what another site's form can send without asking): refused before it is read.
    const form = await fetch(new URL("api/fault", url), { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ kind: "broker-stop" }) });
    assert.equal(form.status, 415);
  });

  it("ran without a script error in the page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
