/**
 * The matrix in worker threads. Workers run the compiled package (dist/matrix/worker.js; `pnpm
 * test` builds it first), so this test drives the compiled runMatrix as a user's program does and
 * compares it with a run in the calling thread: the same results, whatever thread ran each suite.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { MatrixResult, SuiteResult } from "../src/index.js";

const dist = new URL("../dist/index.js", import.meta.url);

/** A result without host times (the only thing that differs between two runs). */
function untimed(r: MatrixResult): unknown {
  const strip = (s: SuiteResult) => ({ ...s, seconds: 0 });
  return r.combos.map((c) => ({
    ...c,
    suites: Object.fromEntries(Object.entries(c.suites).map(([k, s]) => [k, strip(s)])),
  }));
}

describe("runMatrix in worker threads", () => {
  it("gives the same result as the calling thread, and reports the threads it used", async () => {
    expect(existsSync(dist), "build the package first (pnpm test runs tsc -b)").toBe(true);
    const { runMatrix } = (await import(dist.href)) as typeof import("../src/index.js");
    const opts = {
      size: "quick" as const,
      combos: ["i386/mach/mach", "amd64/cranor/uvm", "i386-pae/freebsd/freebsd"],
      suites: ["pressure", "smp", "scenarios"] as const,
      seed: 11,
    };
    const started: string[] = [];
    const finished: number[] = [];
    const threaded = await runMatrix({
      ...opts,
      workers: 2,
      onProgress: (c, suite) => started.push(`${c.machine}/${c.pmap}/${c.vm} ${suite}`),
      onResult: (_c, _s, _r, done, total) => {
        expect(total).toBe(9);
        finished.push(done);
      },
    });
    const here = await runMatrix({ ...opts, workers: 1 });
    expect(threaded.workers).toBe(2);
    expect(here.workers).toBe(1);
    expect(untimed(threaded)).toEqual(untimed(here));
    expect(threaded.combos.map((c) => c.ok)).toEqual([true, true, true]);
    expect(started).toHaveLength(9);
    expect(new Set(started).size).toBe(9);
    expect(finished).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Rows in registry order, suites in the order asked for.
    expect(threaded.combos.map((c) => `${c.machine}/${c.pmap}/${c.vm}`)).toEqual([
      "i386/mach/mach",
      "i386-pae/freebsd/freebsd",
      "amd64/cranor/uvm",
    ]);
    for (const c of threaded.combos) expect(Object.keys(c.suites)).toEqual(["pressure", "smp", "scenarios"]);
  }, 300_000);
});

describe("compiledExecArgv", () => {
  it("drops the source condition the workers must not inherit, keeps every other flag", async () => {
    const { compiledExecArgv } = await import("../src/matrix/pool.js");
    expect(
      compiledExecArgv([
        "--conditions",
        "@vmlab/source",
        "--conditions",
        "node",
        "-C",
        "@vmlab/source",
        "--conditions=@vmlab/source",
        "--max-old-space-size=4096",
      ]),
    ).toEqual(["--conditions", "node", "--max-old-space-size=4096"]);
  });
});
