/**
 * Host wall-clock time, for reporting how long a run took — never for any simulation decision
 * (those use simulated cycles and the seeded PRNG). `performance` exists in Node and browsers but
 * is not in the ES2022 library this isomorphic package compiles against.
 */
const perf = (globalThis as { performance?: { now(): number } }).performance;

export function hostMs(): number {
  return perf ? perf.now() : 0;
}
