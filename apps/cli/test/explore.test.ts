import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { startExplorer } from "../src/explore.js";

const outDir = mkdtempSync(path.join(tmpdir(), "vmlab-explore-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

it("vmlab explore builds the explorer with vite and serves it on the chosen port", async () => {
  const s = await startExplorer({ port: 0, host: "127.0.0.1", outDir });
  try {
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const html = await (await fetch(s.url)).text();
    expect(html).toContain("<title>vmlab explorer</title>");
    const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(new URL(script as string, s.url));
    expect(js.status).toBe(200);
    // The bundle carries the simulator itself (the packages' sources), not a stub.
    expect(await js.text()).toContain("double fault");
  } finally {
    await s.close();
  }
}, 60_000);

it("--machine/--pmap/--vm/--seed open the page on that system (the query the page reads)", async () => {
  const { explorerUrl, runExplore } = await import("../src/explore.js");
  const base = "http://127.0.0.1:5173/";
  expect(explorerUrl(base, { machine: "amd64", pmap: "freebsd", vm: "uvm", seed: 7 })).toBe(
    `${base}?machine=amd64&pmap=freebsd&vm=uvm&seed=7`,
  );
  expect(explorerUrl(base, { machine: "all", pmap: "all", vm: "all" })).toBe(base);
  // A name no combination has is refused before anything is built.
  await expect(
    runExplore({ port: 0, host: "127.0.0.1", build: false, machine: "vax" }, () => undefined),
  ).rejects.toThrow(/machine/);
});
