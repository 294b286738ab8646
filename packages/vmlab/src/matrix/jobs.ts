/**
 * What a run covers: the combinations a filter names, the jobs (combinations × seeds) and the
 * deterministic split of those jobs into shards, so a campaign can run across machines.
 */
import { ConfigError } from "@vmlab/core";
import { type Combination, combinations } from "../registry.js";
import { comboKey } from "./token.js";
import type { MatrixJob } from "./types.js";

/** Seeds of one run are this far apart (runProperties uses seed + property index). */
export const SEED_STRIDE = 0x10000;

/** "i/n" → { index, count }, with the checks a CLI user needs. */
export function parseShard(s: string | { index: number; count: number }): { index: number; count: number } {
  const v = typeof s === "string" ? /^(\d+)\/(\d+)$/.exec(s.trim()) : null;
  const index = typeof s === "string" ? Number(v?.[1]) : s.index;
  const count = typeof s === "string" ? Number(v?.[2]) : s.count;
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
    throw new ConfigError("shard", s, "i/n with 0 ≤ i < n (for example 0/4)");
  }
  return { index, count };
}

/** The combinations a filter names, in registry order (unknown names are a ConfigError). */
export function selectCombos(filter?: readonly (string | Combination)[]): Combination[] {
  const all = combinations();
  if (filter === undefined || filter.length === 0) return all;
  const keys = filter.map((f) => (typeof f === "string" ? f.trim() : comboKey(f)));
  for (const k of keys) {
    if (!all.some((c) => comboKey(c) === k)) {
      throw new ConfigError("combos", k, `one of ${all.map(comboKey).join(", ")}`);
    }
  }
  return all.filter((c) => keys.includes(comboKey(c)));
}

/**
 * The jobs of a run — combinations × seeds, combination-major — and the ones shard i of n takes:
 * every n-th job starting at i. The split depends only on the list, so every shard of a CI matrix
 * computes the same partition and together they cover each job exactly once.
 */
export function matrixJobs(
  combos: readonly Combination[],
  seeds: number,
  seed: number,
  shard?: { index: number; count: number },
): MatrixJob[] {
  const jobs: MatrixJob[] = [];
  for (const combo of combos) for (let s = 0; s < seeds; s++) jobs.push({ combo, seed: seed + s * SEED_STRIDE });
  return shard === undefined ? jobs : jobs.filter((_, i) => i % shard.count === shard.index);
}
