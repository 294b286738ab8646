/**
 * vmlab — the front door: createSystem by name, combinations(), the registry of parts, and the
 * constants, errors and types of the public API re-exported from the packages that define them.
 */
export * from "@vmlab/core";
export type { Process, System, SystemConfig, Thread, Tunables } from "@vmlab/kernel";
export { createSystem, KNOWN_ERRATA, type NamedSystemOptions } from "./create.js";
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
