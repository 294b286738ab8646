/**
 * runBench bound to the registry (API.md "Machine-readable outputs": `vmlab bench --json` ≡
 * `await runBench({ ... })`): the combinations default to everything `combinations()` lists
 * (6 today, 27 once every part has landed) and systems are built by name with `createSystem`.
 */
import { type BenchOptions, type BenchReport, type BenchSystemRequest, runBench as runBenchOn } from "@vmlab/bench";
import type { System } from "@vmlab/kernel";
import { createSystem } from "./create.js";
import { type Combination, combinations } from "./registry.js";

export interface RunBenchOptions extends Omit<BenchOptions, "combinations" | "createSystem"> {
  /** Default: every registered combination. */
  combinations?: readonly Combination[];
  /** Machine, pmap and VM names (or `all`) to filter `combinations()` by, as the CLI's flags do. */
  machine?: string;
  pmap?: string;
  vm?: string;
}

/** A bench cell's system, built by name from the registry. */
export function benchSystem(req: BenchSystemRequest): System {
  return createSystem(req);
}

/** The registered combinations matching the name filters (`all` or undefined matches every name). */
export function selectCombinations(o: {
  machine?: string | undefined;
  pmap?: string | undefined;
  vm?: string | undefined;
}): Combination[] {
  const want = (v: string | undefined, name: string) => v === undefined || v === "all" || v === name;
  const pick = combinations().filter((c) => want(o.machine, c.machine) && want(o.pmap, c.pmap) && want(o.vm, c.vm));
  if (pick.length === 0) {
    // A name that matches nothing is a ConfigError naming the field and the accepted values.
    const named = (v: string | undefined, fallback: string) => (v === undefined || v === "all" ? fallback : v);
    createSystem({ machine: named(o.machine, "i386"), pmap: named(o.pmap, "mach"), vm: named(o.vm, "mach") });
  }
  return pick;
}

/** Every workload (or the chosen ones) on every registered combination (or the chosen ones). */
export function runBench(o: RunBenchOptions = {}): Promise<BenchReport> {
  const { combinations: chosen, machine, pmap, vm, ...rest } = o;
  return runBenchOn({
    ...rest,
    combinations: chosen ?? selectCombinations({ machine, pmap, vm }),
    createSystem: benchSystem,
  });
}
