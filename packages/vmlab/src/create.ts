/** createSystem by name (API.md "Composing a system"). */
import { ConfigError } from "@vmlab/core";
import { createSystem as compose, type System, type Tunables } from "@vmlab/kernel";
import { machineFactory, pmapFactory, vmFactory } from "./registry.js";

export interface NamedSystemOptions {
  machine: string;
  pmap: string;
  vm: string;
  memoryMiB?: number;
  cpus?: number;
  seed?: number;
  errata?: readonly string[];
  auditEveryOp?: boolean;
  tunables?: Partial<Tunables>;
}

/** Errata known to the catalogue (none can be switched on until the errata issue lands). */
export const KNOWN_ERRATA: readonly string[] = [];

export function createSystem(opts: NamedSystemOptions): System {
  if (!opts || typeof opts !== "object") throw new ConfigError("options", opts, "an object with machine, pmap and vm");
  const machine = machineFactory(opts.machine);
  const pmap = pmapFactory(opts.pmap);
  const vm = vmFactory(opts.vm);
  for (const id of opts.errata ?? []) {
    if (!KNOWN_ERRATA.includes(id)) {
      throw new ConfigError(
        "errata",
        id,
        KNOWN_ERRATA.length ? `one of ${KNOWN_ERRATA.join(", ")}` : "no erratum yet (the catalogue is empty)",
      );
    }
  }
  const spec = machine({
    ...(opts.memoryMiB !== undefined ? { memoryMiB: opts.memoryMiB } : {}),
    ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
  });
  return compose({
    machine: spec,
    pmap: pmap(),
    vm: vm(),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.errata !== undefined ? { errata: opts.errata } : {}),
    ...(opts.auditEveryOp !== undefined ? { auditEveryOp: opts.auditEveryOp } : {}),
    ...(opts.tunables !== undefined ? { tunables: opts.tunables } : {}),
  });
}
