/**
 * vmlab — the front door: createSystem by name, combinations(), the registry of parts, and the
 * constants, errors and types of the public API re-exported from the packages that define them.
 */
export * from "@vmlab/core";
export type { Process, System, SystemConfig, Thread, Tunables } from "@vmlab/kernel";
export { benchSystem, type RunBenchOptions, runBench, selectCombinations } from "./bench.js";
export { createSystem, type NamedSystemOptions } from "./create.js";
export {
  type Erratum,
  type ErratumReport,
  type ErratumRun,
  errata,
  KNOWN_ERRATA,
  knownErrata,
  registerErratum,
} from "./errata/index.js";
export {
  type ComboResult,
  MATRIX_SIZES,
  MATRIX_SUITES,
  type MatrixFailure,
  type MatrixOptions,
  type MatrixResult,
  type MatrixSize,
  type MatrixSuite,
  type MutationReport,
  mergeMatrix,
  mutationMisses,
  parseShard,
  parseToken,
  runMatrix,
  runMutation,
  type SuiteResult,
} from "./matrix/index.js";
export {
  type Combination,
  combinations,
  MACHINES,
  type MachineName,
  machineFactory,
  PMAPS,
  type PmapName,
  pmapFactory,
  VMS,
  type VmName,
  vmFactory,
} from "./registry.js";
export {
  newContext,
  runSteps,
  type Scenario,
  type ScenarioContext,
  type ScenarioOutcome,
  type Step,
  step,
} from "./scenario.js";
