/**
 * The mutation check of the matrix (issue #9): switch one erratum on and run the ordinary suites —
 * properties, scenarios, pressure, smp — on every combination where it can occur. The check holds
 * when the matrix fails on each of them; the report names the suites that failed and the first
 * failure, with its replay token, so the catch can be rerun and watched.
 *
 * This is the converse of errata detection (suites.ts), which asks the same question one check at
 * a time, per combination, and compares against the erratum switched off.
 */
import { erratum, knownErrata } from "../errata/index.js";
import { type Combination, combinations } from "../registry.js";
import { selectCombos } from "./jobs.js";
import { runMatrix } from "./run.js";
import { nowMs } from "./suites.js";
import { comboKey } from "./token.js";
import type { MatrixFailure, MatrixOptions, MatrixSize, MatrixSuite } from "./types.js";

/** The suites a mutation run uses: all but errata detection, which switches errata itself. */
export const MUTATION_SUITES: readonly MatrixSuite[] = ["properties", "scenarios", "pressure", "smp"];

export interface MutationCombo extends Combination {
  /** The matrix failed on this combination with the erratum on. */
  readonly caught: boolean;
  /** The suites with failures. */
  readonly suites: readonly MatrixSuite[];
  /** The first failure (suite order), with its replay token. */
  readonly first?: MatrixFailure & { readonly suite: MatrixSuite };
}

export interface MutationReport {
  readonly errata: readonly { readonly id: string; readonly combos: readonly MutationCombo[] }[];
  readonly size: MatrixSize;
  readonly seed?: number;
  readonly seconds: number;
}

export interface MutationOptions extends Pick<MatrixOptions, "size" | "seed" | "workers" | "combos" | "onResult"> {
  /** The errata to check (default: the whole catalogue). */
  readonly errata?: readonly string[];
}

/** Run the mutation check; each erratum on the combinations it applies to (within `combos`). */
export async function runMutation(opts: MutationOptions = {}): Promise<MutationReport> {
  const t0 = nowMs();
  const ids = (opts.errata ?? knownErrata()).map((id) => erratum(id).id);
  const within = opts.combos === undefined ? combinations() : selectCombos(opts.combos);
  const size = opts.size ?? "quick";
  const out: { id: string; combos: MutationCombo[] }[] = [];
  for (const id of ids) {
    const applicable = within.filter((c) => erratum(id).applies(c).applies);
    if (applicable.length === 0) {
      out.push({ id, combos: [] });
      continue;
    }
    const r = await runMatrix({
      size,
      suites: MUTATION_SUITES,
      combos: applicable,
      errata: [id],
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.onResult !== undefined ? { onResult: opts.onResult } : {}),
    });
    out.push({
      id,
      combos: r.combos.map((c) => {
        const failing = MUTATION_SUITES.filter((s) => (c.suites[s]?.failed ?? 0) > 0);
        const s0 = failing[0];
        const f0 = s0 === undefined ? undefined : c.suites[s0]?.failures?.[0];
        return {
          machine: c.machine,
          pmap: c.pmap,
          vm: c.vm,
          caught: !c.ok,
          suites: failing,
          ...(s0 !== undefined && f0 !== undefined ? { first: { ...f0, suite: s0 } } : {}),
        } as MutationCombo;
      }),
    });
  }
  return {
    errata: out,
    size,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    seconds: Math.round(nowMs() - t0) / 1000,
  };
}

/** Every (erratum, combination) pair the check missed, as "id on machine/pmap/vm". */
export function mutationMisses(r: MutationReport): string[] {
  return r.errata.flatMap((e) => e.combos.filter((c) => !c.caught).map((c) => `${e.id} on ${comboKey(c)}`));
}
