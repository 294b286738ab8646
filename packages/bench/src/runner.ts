/**
 * The comparative runner: every workload on every combination it is given, each cell on a
 * freshly booted system (so cells are independent and replayable from (combination, workload,
 * scale, seed)). It receives the combinations and a system factory — it never imports a part —
 * so it runs over whatever the registry holds. A cell that fails records its error and the run
 * goes on.
 */
import type { System } from "@vmlab/kernel";
import { hostNow, yieldToHost } from "./host.js";
import { computeMetrics, PeakTracker } from "./metrics.js";
import type { SystemNeeds, Workload } from "./workload.js";
import { WORKLOADS, workload as workloadByName } from "./workloads.js";

export interface Combo {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
}

/** What the runner asks the system factory for. */
export interface BenchSystemRequest extends Combo {
  seed: number;
  memoryMiB: number;
  cpus: number;
  swapMiB?: number;
  diskMiB?: number;
}

/**
 * Default scale of `vmlab bench` and `pnpm start`: about 3 s of CPU per combination on the
 * project's 2-core VM (docs/benchmarks.md), so 27 combinations stay well under 5 minutes.
 */
export const DEFAULT_SCALE = 4;
export const DEFAULT_SEED = 1;
/** The machine a workload gets unless it asks otherwise. */
export const DEFAULT_MEMORY_MIB = 64;
export const DEFAULT_CPUS = 1;

export interface BenchOptions {
  /** The combinations to run, in the order the report shows them. */
  combinations: readonly Combo[];
  /** Boot a system for one cell (vmlab binds this to its registry). */
  createSystem: (req: BenchSystemRequest) => System;
  /** Workloads by name or value (default: every workload). */
  workloads?: readonly (string | Workload)[];
  scale?: number;
  seed?: number;
  /** Override the machine size for every cell (workloads' own needs win otherwise). */
  memoryMiB?: number;
  cpus?: number;
  /**
   * Audit every layer at the workload's sample points and after it (default true). A violation
   * is recorded in the cell's `audit` (the first one found); the run goes on.
   */
  audit?: boolean;
  onProgress?: (p: BenchProgress) => void;
  /** The host's resident memory in bytes (Node: `process.memoryUsage.rss`); absent in a browser. */
  hostMemory?: () => number;
  /** Host clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

export interface BenchProgress {
  /** This cell's index (the cells finished before it), and the number of cells. */
  readonly cell: number;
  readonly cells: number;
  readonly combo: Combo;
  readonly workload: string;
  /** Progress within the cell. */
  readonly done: number;
  readonly total: number;
  /** Set once the cell has finished. */
  readonly result?: BenchResult;
}

/** One cell: a workload on a combination (API.md's `results[]` element). */
export interface BenchResult {
  machine: string;
  pmap: string;
  vm: string;
  workload: string;
  hostMs: number;
  /** Stable metric names → values; a metric the parts cannot provide is absent. */
  metrics: Record<string, number>;
  /** Why the cell failed (error name and message); its metrics are then empty. */
  error?: string;
  /** The first invariant violation the audits found (at a sample point or after the workload). */
  audit?: string;
}

export interface BenchMeta {
  tool: "vmlab bench";
  seed: number;
  scale: number;
  workloads: string[];
  combinations: Combo[];
  /** Wall time of the whole run. */
  hostMs: number;
  /** Host description, when the caller supplies it (Node version, CPUs). */
  host?: string;
  /** ISO date of the run, when the caller supplies it. */
  date?: string;
  /** The command that reproduces it, when the caller supplies it. */
  command?: string;
}

export interface BenchReport {
  meta: BenchMeta;
  results: BenchResult[];
}

/** Run the benchmark: every workload on every combination, one fresh system per cell. */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const scale = o.scale ?? DEFAULT_SCALE;
  const seed = o.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`scale must be a positive integer, got ${scale}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const workloads = (o.workloads ?? WORKLOADS).map((w) => (typeof w === "string" ? workloadByName(w) : w));
  const now = o.now ?? hostNow;
  const cells = o.combinations.length * workloads.length;
  const results: BenchResult[] = [];
  const t0 = now();
  for (const combo of o.combinations) {
    for (const w of workloads) {
      const cell = results.length;
      const report = (done: number, total: number, result?: BenchResult) =>
        o.onProgress?.({ cell, cells, combo, workload: w.name, done, total, ...(result ? { result } : {}) });
      report(0, 1);
      await yieldToHost();
      const r = runCell(combo, w, { ...o, scale, seed, now }, report);
      results.push(r);
      report(1, 1, r);
    }
  }
  return {
    meta: {
      tool: "vmlab bench",
      seed,
      scale,
      workloads: workloads.map((w) => w.name),
      combinations: o.combinations.map((c) => ({ machine: c.machine, pmap: c.pmap, vm: c.vm })),
      hostMs: now() - t0,
    },
    results,
  };
}

/** What the system factory is asked for: the workload's needs over the run's defaults. */
export function systemRequest(
  combo: Combo,
  w: Workload,
  o: { scale: number; seed: number; memoryMiB?: number; cpus?: number },
): BenchSystemRequest {
  const needs: SystemNeeds = w.system?.(o.scale) ?? {};
  return {
    machine: combo.machine,
    pmap: combo.pmap,
    vm: combo.vm,
    seed: o.seed,
    memoryMiB: needs.memoryMiB ?? o.memoryMiB ?? DEFAULT_MEMORY_MIB,
    cpus: needs.cpus ?? o.cpus ?? DEFAULT_CPUS,
    ...(needs.swapMiB !== undefined ? { swapMiB: needs.swapMiB } : {}),
    ...(needs.diskMiB !== undefined ? { diskMiB: needs.diskMiB } : {}),
  };
}

/** One cell: boot, run, audit, measure. Any error becomes the cell's `error`. */
function runCell(
  combo: Combo,
  w: Workload,
  o: BenchOptions & { scale: number; seed: number; now: () => number },
  report: (done: number, total: number) => void,
): BenchResult {
  const cell = { machine: combo.machine, pmap: combo.pmap, vm: combo.vm, workload: w.name };
  let rss = 0;
  const sampleRss = () => {
    if (o.hostMemory) rss = Math.max(rss, o.hostMemory());
  };
  let violation: string | undefined;
  let t0 = o.now();
  let auditMs = 0;
  try {
    const sys = o.createSystem(systemRequest(combo, w, o));
    const audit = (when: string) => {
      if (!(o.audit ?? true) || violation !== undefined) return;
      const a0 = o.now();
      try {
        sys.audit();
      } catch (e) {
        if (!(e instanceof Error) || e.name !== "InvariantViolation") throw e;
        violation = `${when}: ${e.message}`;
      }
      auditMs += o.now() - a0;
    };
    const peaks = new PeakTracker();
    const before = sys.stats();
    peaks.sample(before);
    sampleRss();
    t0 = o.now();
    const r = w.run(sys, {
      scale: o.scale,
      seed: o.seed,
      onProgress: (done, total) => {
        sampleRss();
        report(done, total);
      },
      sample: () => {
        peaks.sample(sys.stats());
        audit("during the run");
      },
    });
    const hostMs = o.now() - t0 - auditMs;
    const after = sys.stats();
    peaks.sample(after);
    sampleRss();
    audit("after the workload");
    const measured: Record<string, number> = { ...r.metrics, "sim.ops": r.ops, "host.ms": hostMs };
    if (o.hostMemory) measured["host.peak_rss_mib"] = rss / (1024 * 1024);
    const metrics = computeMetrics(before, after, peaks.peaks, measured);
    return { ...cell, hostMs, metrics, ...(violation !== undefined ? { audit: violation } : {}) };
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { ...cell, hostMs: o.now() - t0 - auditMs, metrics: {}, error: msg };
  }
}
