/**
 * The comparison view's data: a benchmark report as `vmlab bench --json` writes it (API.md,
 * "Machine-readable outputs"): { results: [{ machine, pmap, vm, workload, hostMs, metrics }] },
 * and a quick in-page run of the benchmark workloads over every combination that produces the
 * same shape, for when no report file is at hand.
 */
import { runBench } from "@vmlab/bench";
import { combinations, createSystem } from "vmlab";

export interface BenchResult {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
  readonly workload: string;
  readonly hostMs: number;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface BenchReport {
  readonly results: readonly BenchResult[];
}

const str = (v: unknown): v is string => typeof v === "string";

/** Parse and check a report; throws an Error naming the first bad field. */
export function parseBenchReport(text: string): BenchReport {
  const raw = JSON.parse(text) as unknown;
  const results = (raw as { results?: unknown })?.results;
  if (!Array.isArray(results)) throw new Error("not a bench report: no `results` array");
  return {
    results: results.map((r: unknown, i) => {
      const o = r as Record<string, unknown>;
      for (const k of ["machine", "pmap", "vm", "workload"]) {
        if (!str(o[k])) throw new Error(`results[${i}].${k} is not a string`);
      }
      const metrics = o.metrics as Record<string, unknown> | undefined;
      if (!metrics || typeof metrics !== "object") throw new Error(`results[${i}].metrics is not an object`);
      const m: Record<string, number> = {};
      for (const [k, v] of Object.entries(metrics)) if (typeof v === "number") m[k] = v;
      return {
        machine: o.machine as string,
        pmap: o.pmap as string,
        vm: o.vm as string,
        workload: o.workload as string,
        hostMs: typeof o.hostMs === "number" ? o.hostMs : Number.NaN,
        metrics: m,
      };
    }),
  };
}

export function comboLabel(r: { machine: string; pmap: string; vm: string }): string {
  return `${r.machine}/${r.pmap}/${r.vm}`;
}

export function workloadsOf(rep: BenchReport): string[] {
  return [...new Set(rep.results.map((r) => r.workload))];
}

/** Metric names present for a workload, host time first. */
export function metricsOf(rep: BenchReport, workload: string): string[] {
  const names = new Set<string>();
  for (const r of rep.results) if (r.workload === workload) for (const k of Object.keys(r.metrics)) names.add(k);
  return ["hostMs", ...[...names].sort()];
}

/** One bar per combination for a workload and a metric. */
export function series(rep: BenchReport, workload: string, metric: string): { labels: string[]; values: number[] } {
  const rows = rep.results.filter((r) => r.workload === workload);
  return {
    labels: rows.map(comboLabel),
    values: rows.map((r) => (metric === "hostMs" ? r.hostMs : (r.metrics[metric] ?? Number.NaN))),
  };
}

/** Run every benchmark workload at scale 1 on every combination, in the page (@vmlab/bench's runner). */
export async function quickBench(
  progress?: (done: number, total: number) => void,
  seed = 1,
  memoryMiB = 16,
): Promise<BenchReport> {
  const rep = await runBench({
    onProgress: (p) => progress?.(p.cell, p.cells),
    combinations: combinations(),
    createSystem: (req) => createSystem(req),
    scale: 1,
    seed,
    memoryMiB,
    audit: false,
  });
  return parseBenchReport(JSON.stringify(rep));
}
