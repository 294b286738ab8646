/** `vmlab run <workload>`: one workload on one or more combinations, with a counters table. */
import { workload } from "@vmlab/bench";
import type { System } from "@vmlab/kernel";
import { type Combination, combinations, createSystem } from "vmlab";

export interface RunOptions {
  machine: string;
  pmap: string;
  vm: string;
  seed: number;
  scale: number;
  memoryMiB?: number;
  cpus?: number;
  onProgress?: (combo: Combination, done: number, total: number) => void;
}

export interface RunRow {
  machine: string;
  pmap: string;
  vm: string;
  workload: string;
  ops: number;
  hostMs: number;
  stats: Record<string, number>;
}

/** Expand `all` (or a name) per axis against what is implemented. */
export function selectCombinations(o: { machine: string; pmap: string; vm: string }): Combination[] {
  const all = combinations();
  const pick = all.filter(
    (c) =>
      (o.machine === "all" || c.machine === o.machine) &&
      (o.pmap === "all" || c.pmap === o.pmap) &&
      (o.vm === "all" || c.vm === o.vm),
  );
  if (pick.length === 0) {
    // Let createSystem produce the ConfigError naming the bad field.
    createSystem({ machine: o.machine, pmap: o.pmap, vm: o.vm });
  }
  return pick;
}

export function runWorkload(name: string, o: RunOptions): RunRow[] {
  const w = workload(name);
  const rows: RunRow[] = [];
  for (const c of selectCombinations(o)) {
    const sys: System = createSystem({
      ...c,
      seed: o.seed,
      ...(o.memoryMiB !== undefined ? { memoryMiB: o.memoryMiB } : {}),
      ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
    });
    const t0 = performance.now();
    const r = w.run(sys, { scale: o.scale, seed: o.seed, onProgress: (d, t) => o.onProgress?.(c, d, t) });
    const hostMs = performance.now() - t0;
    sys.audit();
    rows.push({ ...c, workload: w.name, ops: r.ops, hostMs, stats: sys.stats() });
  }
  return rows;
}
