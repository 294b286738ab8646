/**
 * Scenarios: named scripts over the public API that the explorer runs one step at a time. A step
 * is one public call — a system call, a memory access, fork, exit, a file-system call — or a
 * group the script names itself with `ctx.step` (for work beyond the public API, such as a
 * stand-in reproducer's deliberate breakage). A reproducer lists the errata it switches on.
 */
import type { Combination, System } from "vmlab";

/** What a running scenario may ask of the explorer. */
export interface ScenarioContext {
  /** Group work into one named step (the calls inside are not steps of their own). */
  step<T>(label: string, fn: () => T): T;
  /** The seed the system was built with (for the scenario's own PRNG). */
  readonly seed: number;
  /** Whether the reproducer's erratum is switched on for this run. */
  readonly erratumOn: boolean;
}

export interface Scenario {
  /** Stable identifier (URL parameter, test selector). */
  readonly id: string;
  readonly title: string;
  readonly kind: "reproducer" | "workload";
  readonly description: string;
  /** Errata passed to createSystem when the erratum is switched on (empty for a stand-in). */
  readonly errata: readonly string[];
  /** What the reproducer shows with its erratum on. */
  readonly expect?: { readonly panic: string };
  /** A stand-in until the errata catalogue has a real reproducer for this failure. */
  readonly standIn?: boolean;
  /** The machine it needs, over the explorer's choices (a benchmark workload's `system()`). */
  readonly needs?: {
    memoryMiB?: number;
    cpus?: number;
    swapMiB?: number;
    diskMiB?: number;
    /** Disk timing and interrupt jitter (a reproducer may depend on where completions land). */
    disk?: { seek?: number; transfer?: number; jitter?: number };
    /** A reproducer that only reproduces with its own seed pins it. */
    seed?: number;
  };
  /** The combinations it applies to (all when absent). */
  applies?(c: Combination): boolean;
  run(sys: System, ctx: ScenarioContext): void;
}

const registry = new Map<string, Scenario>();

/** Register a scenario; a real erratum's reproducer is one call of this. */
export function registerScenario(s: Scenario): Scenario {
  if (registry.has(s.id)) throw new Error(`scenario '${s.id}' is registered twice`);
  registry.set(s.id, s);
  return s;
}

export function scenarios(): Scenario[] {
  return [...registry.values()];
}

export function scenario(id: string): Scenario {
  const s = registry.get(id);
  if (!s) throw new RangeError(`unknown scenario '${id}'; expected one of ${[...registry.keys()].join(", ")}`);
  return s;
}
