/**
 * What a workload is: a deterministic program over the public process API, sized by `scale`,
 * with every random choice drawn from a seeded Prng. A workload verifies what it reads (a
 * finished run is also a coarse correctness check), reports how many operations it performed,
 * and calls `sample()` at the moments its footprint is largest so the runner can record peaks
 * (live pv entries, shadow-chain depth, ...) that are gone again by the time processes exit.
 */
import { SignalError } from "@vmlab/core";
import type { System } from "@vmlab/kernel";

export interface WorkloadOptions {
  /** Size multiplier (1 = a quick run). */
  scale: number;
  seed: number;
  /** Called as work progresses (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Record the system's gauges now (the runner keeps the maximum of each). */
  sample?: () => void;
}

export interface WorkloadResult {
  /** Operations performed (loads, stores, system calls, kernel allocations). */
  ops: number;
  /** Figures only this workload can measure (a phase's counter deltas), by stable metric name. */
  metrics?: Record<string, number>;
}

/** The machine a workload wants (memory, CPUs, swap), given the scale. */
export interface SystemNeeds {
  memoryMiB?: number;
  cpus?: number;
  swapMiB?: number;
  diskMiB?: number;
}

export interface Workload {
  readonly name: string;
  readonly description: string;
  /** The system this workload runs on; the runner's defaults apply to what it leaves out. */
  system?(scale: number): SystemNeeds;
  run(sys: System, opts: WorkloadOptions): WorkloadResult;
}

/** A workload's own consistency check failed: the system returned wrong data. */
export class WorkloadCheckError extends Error {
  override readonly name = "WorkloadCheckError";
}

export function check(cond: boolean, what: string): void {
  if (!cond) throw new WorkloadCheckError(`workload check failed: ${what}`);
}

/** The word stored at a page in a generation: distinct per page and generation, never 0. */
export const pattern = (page: number, gen: number): number =>
  ((Math.imul(page + 1, 0x9e37_79b1) ^ Math.imul(gen + 1, 0x85eb_ca6b)) | 1) >>> 0;

/** Create a file with its parent directories (sys.fs.writeFile needs them to exist). */
export function writeFileP(sys: System, path: string, bytes: Uint8Array): void {
  const parts = path.split("/").filter(Boolean);
  let dir = "";
  for (const p of parts.slice(0, -1)) {
    dir += `/${p}`;
    if (!sys.fs.exists(dir)) sys.fs.mkdir(dir);
  }
  sys.fs.writeFile(path, bytes);
}

/** Run `fn`, expecting a signal; returns it (a missing signal or another error is a failed check). */
export function expectSignal(fn: () => unknown, what: string): SignalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SignalError) return e;
    throw e;
  }
  throw new WorkloadCheckError(`workload check failed: ${what} did not fault`);
}

/**
 * The counters' changes over a phase of a workload: `const end = phaseOf(sys)` at its start,
 * `end()` at its end gives every counter's delta (gauges included, so read only totals).
 */
export function phaseOf(sys: System): () => Record<string, number> {
  const before = sys.stats();
  return () => {
    const after = sys.stats();
    const out: Record<string, number> = {};
    for (const k of Object.keys(after)) {
      const b = before[k];
      if (b !== undefined) out[k] = (after[k] as number) - b;
    }
    return out;
  };
}
