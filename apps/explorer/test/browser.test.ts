/**
 * The explorer in a real browser: vite's build() and preview() serve the app, playwright-core
 * drives the system's Chromium. Loads the page, chooses a combination, runs the reproducer with
 * its erratum on, checks that the panic is shown at the step where it happened (the step the
 * same recording in Node panics at), takes screenshots of the main views, and checks the page
 * logged no console errors.
 *
 * Screenshots go to a temporary directory; with VMLAB_SCREENSHOTS=<dir> (e.g. docs/screenshots)
 * they are written there instead — that is how the ones in docs/ were made.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runBench } from "@vmlab/bench";
import { type Browser, chromium, type Page } from "playwright-core";
import { build, type PreviewServer, preview } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { combinations, createSystem } from "vmlab";
import "../src/model/scenarios.js";
import { record } from "../src/model/session.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = mkdtempSync(path.join(tmpdir(), "vmlab-explorer-"));
const SHOTS = process.env.VMLAB_SCREENSHOTS
  ? path.resolve(ROOT, "../..", process.env.VMLAB_SCREENSHOTS)
  : path.join(OUT, "screenshots");

let server: PreviewServer;
let browser: Browser;
let url: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  const dist = path.join(OUT, "dist");
  const configFile = path.join(ROOT, "vite.config.ts");
  await build({ root: ROOT, configFile, logLevel: "error", build: { outDir: dist, emptyOutDir: true } });
  // A benchmark report as `vmlab bench --json` writes it, served beside the app for ?bench=.
  // At most nine combinations, spread over the machines, keep the test's time bounded as parts land.
  const all = combinations();
  const every = Math.ceil(all.length / 9);
  const report = await runBench({
    combinations: all.filter((_, i) => i % every === 0),
    createSystem: (req) => createSystem(req),
    workloads: ["seq-touch", "random-touch"],
    scale: 1,
    memoryMiB: 16,
    audit: false,
  });
  writeFileSync(path.join(dist, "bench.json"), JSON.stringify(report));
  server = await preview({
    root: ROOT,
    configFile,
    logLevel: "error",
    build: { outDir: dist },
    preview: { port: 0, host: "127.0.0.1", strictPort: false },
  });
  url = server.resolvedUrls?.local[0] ?? "";
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.httpServer.close(() => resolve()) : resolve()));
  rmSync(path.join(OUT, "dist"), { recursive: true, force: true });
  if (!process.env.VMLAB_SCREENSHOTS) rmSync(OUT, { recursive: true, force: true });
});

/** A page that collects console errors and uncaught exceptions. */
async function open(query = ""): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`${e.name}: ${e.message}`));
  await page.goto(`${url}${query}`);
  await page.waitForSelector("body[data-state=ready], body[data-state=failed]");
  return { page, errors };
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

describe("explorer in Chromium", () => {
  it("runs the u-area reproducer with the erratum on and shows the panic at its step", async () => {
    const combo = { machine: "i386", pmap: "mach", vm: "mach" } as const;
    const expected = record({
      ...combo,
      memoryMiB: 16,
      cpus: 1,
      seed: 1,
      scenario: "uarea-double-fault",
      erratumOn: true,
      audit: false,
    });
    expect(expected.failure).toBeDefined();

    const { page, errors } = await open();
    await page.selectOption("#machine", combo.machine);
    await page.selectOption("#pmap", combo.pmap);
    await page.selectOption("#vm", combo.vm);
    await page.selectOption("#memory", "16");
    await page.selectOption("#scenario", "uarea-double-fault");
    await page.check("#erratum");
    await page.click("#load");
    await page.waitForSelector("#panic:not([hidden])");
    expect(await page.textContent("#panic")).toContain("panic: double fault");
    expect(await page.getAttribute("#panic", "data-position")).toBe(String(expected.failure));

    // Run from boot: the run stops at the failing step.
    await page.click("#boot");
    await page.waitForSelector("body[data-position='0']");
    await page.click("#play");
    await page.waitForSelector("body[data-state=failed]", { timeout: 20_000 });
    expect(await page.getAttribute("body", "data-position")).toBe(String(expected.failure));
    const failing = page.locator(`#steps li[data-position='${expected.failure}']`);
    expect(await failing.getAttribute("class")).toContain("failure");
    expect(await failing.textContent()).toMatch(/pid 2: load32.*panic: double fault/);
    expect(await page.textContent("#step-outcome")).toContain("panic: double fault");

    // Step back and forth; jump to the failure.
    await page.click("#back");
    await page.waitForSelector(`body[data-position='${(expected.failure ?? 0) - 1}'][data-state=ready]`);
    await page.click("#boot");
    await page.click("#jump");
    await page.waitForSelector(`body[data-position='${expected.failure}'][data-state=failed]`);

    // The trace of the failing step shows the panic event.
    await page.click("#tab-trace");
    await page.waitForSelector("#trace-list li.panic");
    await shot(page, "panic");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("with the erratum off the same reproducer completes", async () => {
    const { page, errors } = await open("?machine=amd64&pmap=cranor&vm=mach&scenario=uarea-double-fault&erratum=0");
    await page.click("#end");
    await page.waitForSelector("body[data-state=ready]");
    expect(await page.isHidden("#panic")).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows the address space, page tables, TLB, physical memory, pv list and counters of a step", async () => {
    const { page, errors } = await open(
      "?machine=i386-pae&pmap=mach&vm=mach&scenario=fork-cow-small&pos=9&tab=address",
    );
    await page.waitForSelector("#as-graph .box.object");
    expect(await page.locator("#as-entries tr").count()).toBeGreaterThan(1);
    await shot(page, "address-space");

    await page.click("#tab-pagetables");
    await page.waitForSelector("#pt-tree .kind-page");
    expect(await page.locator("#pt-tree .window-recursive").count()).toBeGreaterThan(0);
    await shot(page, "page-tables");

    await page.click("#tab-tlb");
    await page.waitForSelector("table.tlb");

    await page.click("#tab-physmem");
    await page.waitForSelector("#physmem-canvas");
    for (const role of ["user", "pagetable", "free", "kernel"]) {
      const n = Number(await page.getAttribute(`#physmem-legend li[data-role=${role}]`, "data-count"));
      expect(n, role).toBeGreaterThan(0);
    }
    await shot(page, "physical-memory");

    // A user frame from the page tables: its pv list names the mapping.
    await page.click("#tab-pagetables");
    await page.locator("#pt-tree li.leaf a.frame").first().click();
    await page.waitForSelector("#pv-list tr:nth-child(2)");
    expect(await page.locator("#pv-list tr.stale").count()).toBe(0);

    await page.click("#tab-counters");
    await page.waitForSelector("#counters-table tr.changed");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows a UVM process's amaps, their anons and the anons shared across fork", async () => {
    // fork-cow-small at step 9: parent and child have written one page each since the fork, so
    // each has its own amap, and the two untouched pages' anons are shared (an_ref 2).
    const { page, errors } = await open("?machine=amd64&pmap=cranor&vm=uvm&scenario=fork-cow-small&pos=9&tab=address");
    await page.waitForSelector("#as-graph .box.amap");
    expect(await page.locator("#as-nodes .node-detail.amap").count()).toBe(1);
    expect(await page.locator("#as-nodes .node-detail.amap tr[data-anon]").count()).toBe(4);
    expect(await page.locator("#as-nodes .node-detail.amap tr[data-anon-ref='2']").count()).toBe(2);
    await shot(page, "uvm-amaps");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows interrupts nested in the code they interrupted in the trace", async () => {
    // fs.writeFile waits for its disk writes: their completion interrupts arrive inside the call.
    const rec = record({
      machine: "i386",
      pmap: "cranor",
      vm: "mach",
      memoryMiB: 16,
      cpus: 1,
      seed: 1,
      scenario: "share-wire-file",
      erratumOn: false,
      audit: false,
    });
    const step = rec.steps.find((x) => x.events.some((e) => e.depth > 0));
    expect(step).toBeDefined();
    const { page, errors } = await open(
      `?machine=i386&pmap=cranor&vm=mach&scenario=share-wire-file&pos=${step?.position}&tab=trace`,
    );
    await page.waitForSelector("#trace-list ol.nested li[data-depth='1']");
    await shot(page, "trace");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("charts a `vmlab bench --json` report for a workload across combinations", async () => {
    const { page, errors } = await open("?scenario=fork-cow-small&tab=compare&bench=./bench.json");
    await page.waitForSelector("#bench-charts .chart canvas");
    expect(await page.locator("#bench-charts .chart").count()).toBeGreaterThan(1);
    await page.selectOption("#bench-workload", "random-touch");
    await page.waitForSelector("#bench-charts .chart canvas");
    await shot(page, "comparison");
    expect(errors).toEqual([]);
    await page.close();
  });
});
