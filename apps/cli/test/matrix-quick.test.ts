/**
 * Issue #9's CI promise: `vmlab matrix --quick --json` on all 27 combinations — the compiled CLI
 * in a child process, its suites in worker threads — lists every combination, all passing, with
 * per-suite counts; errata detection catches every erratum that applies to each combination.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { combinations, errata, type MatrixResult } from "vmlab";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

describe("vmlab matrix --quick (the CI run)", () => {
  it("27 combinations, all passing, with per-suite counts", async () => {
    expect(existsSync(main), "build first: pnpm test runs tsc -b").toBe(true);
    const t0 = performance.now();
    const { stdout } = await promisify(execFile)(process.execPath, [main, "matrix", "--quick", "--json"], {
      maxBuffer: 64 << 20,
      timeout: 600_000,
    });
    const wall = (performance.now() - t0) / 1000;
    const r = JSON.parse(stdout) as MatrixResult;
    expect(r.combos).toHaveLength(27);
    expect(r.combos.map((c) => `${c.machine}/${c.pmap}/${c.vm}`)).toEqual(
      combinations().map((c) => `${c.machine}/${c.pmap}/${c.vm}`),
    );
    const failures = r.combos.flatMap((c) =>
      Object.values(c.suites).flatMap((s) =>
        (s.failures ?? []).map((f) => `${c.machine}/${c.pmap}/${c.vm}: ${f.replay}\n${f.message}`),
      ),
    );
    expect(failures).toEqual([]);
    let cpu = 0;
    for (const c of r.combos) {
      const key = `${c.machine}/${c.pmap}/${c.vm}`;
      expect(c.ok, key).toBe(true);
      expect(c.suites.properties, key).toMatchObject({ passed: 6, failed: 0 });
      expect(c.suites.pressure, key).toMatchObject({ passed: 3, failed: 0 });
      expect(c.suites.smp, key).toMatchObject({ passed: 1, failed: 0 });
      for (const s of ["properties", "pressure", "smp"]) expect(c.suites[s]!.runs, `${key} ${s}`).toBeGreaterThan(0);
      expect(c.suites.scenarios!.passed, key).toBeGreaterThan(30);
      const applicable = errata.known().filter((id) => errata.erratum(id).applies(c as never).applies);
      const e = c.suites["errata-detection"]!;
      expect(e.passed, key).toBe(applicable.length);
      expect((e.detections ?? []).map((d) => d.erratum).sort(), key).toEqual([...applicable].sort());
      for (const s of Object.values(c.suites)) cpu += s.seconds;
    }
    console.log(
      `vmlab matrix --quick: 27 combinations in ${wall.toFixed(1)} s on ${r.workers} worker threads ` +
        `(${cpu.toFixed(1)} s of suites)`,
    );
  }, 600_000);
});
