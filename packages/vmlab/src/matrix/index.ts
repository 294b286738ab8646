/** The conformance matrix: run it, replay a failure, merge shards (run.ts has the overview). */
export { matrixJobs, parseShard, selectCombos } from "./jobs.js";
export { mergeMatrix } from "./merge.js";
export { MUTATION_SUITES, type MutationCombo, type MutationReport, mutationMisses, runMutation } from "./mutation.js";
export { replayMatrix } from "./replay.js";
export { DEFAULT_MATRIX_SEED, runMatrix } from "./run.js";
export { MATRIX_SIZES, SUITE_PROPERTIES } from "./suites.js";
export { parseToken, type ReplayCase } from "./token.js";
export * from "./types.js";
