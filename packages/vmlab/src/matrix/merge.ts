/**
 * Joining results: the suites of one combination from several seeds, shards or worker threads
 * are summed into one row; rows keep registry order, so a merged result reads like a whole run.
 */
import { combinations } from "../registry.js";
import { comboKey } from "./token.js";
import type { ComboResult, MatrixResult, SuiteResult } from "./types.js";

/** An optional count of both results, summed (absent when neither has it). */
function sumOf(a: SuiteResult, b: SuiteResult, k: "runs" | "commands"): { runs?: number; commands?: number } {
  return a[k] === undefined && b[k] === undefined ? {} : { [k]: (a[k] ?? 0) + (b[k] ?? 0) };
}

/** Sum two results of one suite. */
export function addSuite(a: SuiteResult | undefined, b: SuiteResult): SuiteResult {
  if (a === undefined) return b;
  const failures = [...(a.failures ?? []), ...(b.failures ?? [])];
  const detections = [...(a.detections ?? []), ...(b.detections ?? [])];
  const note = a.note ?? b.note;
  return {
    passed: a.passed + b.passed,
    failed: a.failed + b.failed,
    seconds: Math.round((a.seconds + b.seconds) * 1000) / 1000,
    ...sumOf(a, b, "runs"),
    ...sumOf(a, b, "commands"),
    ...(failures.length > 0 ? { failures } : {}),
    ...(detections.length > 0 ? { detections } : {}),
    ...(note !== undefined && a.passed + b.passed + a.failed + b.failed === 0 ? { note } : {}),
  };
}

export function comboOk(suites: Readonly<Record<string, SuiteResult>>): boolean {
  return Object.values(suites).every((s) => s.failed === 0);
}

/** Join results per combination (summing suites); combinations keep registry order. */
export function joinCombos(parts: readonly ComboResult[]): ComboResult[] {
  const order = combinations().map(comboKey);
  const by = new Map<string, { machine: string; pmap: string; vm: string; suites: Record<string, SuiteResult> }>();
  for (const c of parts) {
    const k = comboKey(c);
    let e = by.get(k);
    if (e === undefined) {
      e = { machine: c.machine, pmap: c.pmap, vm: c.vm, suites: {} };
      by.set(k, e);
    }
    for (const [name, s] of Object.entries(c.suites)) e.suites[name] = addSuite(e.suites[name], s);
  }
  const rank = (k: string) => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return [...by.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([, e]) => ({ machine: e.machine, pmap: e.pmap, vm: e.vm, ok: comboOk(e.suites), suites: e.suites }));
}

/** Join shard results (JSON of `runMatrix` with `shard`) into one result. */
export function mergeMatrix(results: readonly MatrixResult[]): MatrixResult {
  if (results.length === 0) return { combos: [] };
  const first = results[0]!;
  return {
    combos: joinCombos(results.flatMap((r) => r.combos)),
    ...(first.size !== undefined ? { size: first.size } : {}),
    ...(first.seed !== undefined ? { seed: first.seed } : {}),
    ...(first.errata !== undefined && first.errata.length > 0 ? { errata: first.errata } : {}),
  };
}
