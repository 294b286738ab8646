/** Synthetic reports and uPlot's real files for the report tests (no system is booted here). */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { BenchReport, BenchResult, HtmlAssets } from "../src/index.js";

export function uplotAssets(): HtmlAssets {
  const req = createRequire(import.meta.url);
  return {
    uplotJs: readFileSync(req.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
    uplotCss: readFileSync(req.resolve("uplot/dist/uPlot.min.css"), "utf8"),
  };
}

export const COMBOS = [
  { machine: "i386", pmap: "mach", vm: "mach" },
  { machine: "i386", pmap: "cranor", vm: "mach" },
  { machine: "amd64", pmap: "mach", vm: "mach" },
  { machine: "amd64", pmap: "cranor", vm: "mach" },
];

/** A report over COMBOS × workloads with metrics from `fill` (undefined: the cell failed). */
export function syntheticReport(
  workloads: string[],
  fill: (c: (typeof COMBOS)[number], w: string, i: number) => Record<string, number> | undefined,
): BenchReport {
  const results: BenchResult[] = [];
  let i = 0;
  for (const c of COMBOS) {
    for (const w of workloads) {
      const m = fill(c, w, i++);
      results.push(
        m === undefined
          ? { ...c, workload: w, hostMs: 1, metrics: {}, error: "SyscallError: mmap: ENOMEM <boom> & co" }
          : { ...c, workload: w, hostMs: 10 + i, metrics: m },
      );
    }
  }
  return {
    meta: {
      tool: "vmlab bench",
      seed: 1,
      scale: 1,
      workloads,
      combinations: COMBOS,
      hostMs: 1234,
      command: "vmlab bench --scale 1 --seed 1",
    },
    results,
  };
}
