/** createSystem by name (API.md "Composing a system"). */
import { ConfigError } from "@vmlab/core";
import { createSystem as compose, type DiskTiming, type System, type Tunables } from "@vmlab/kernel";
import { checkErrata } from "./errata/index.js";
import { type Combination, machineFactory, pmapFactory, vmFactory } from "./registry.js";

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
  /** File-system disk size (default 64 MiB). */
  diskMiB?: number;
  /** Swap device size (default: the RAM size; 0 = no swap). */
  swapMiB?: number;
  /** Disk timing and the interrupt injector's jitter, in cycles. */
  disk?: Partial<DiskTiming>;
}

export function createSystem(opts: NamedSystemOptions): System {
  if (!opts || typeof opts !== "object") throw new ConfigError("options", opts, "an object with machine, pmap and vm");
  const machine = machineFactory(opts.machine);
  const pmap = pmapFactory(opts.pmap);
  const vm = vmFactory(opts.vm);
  checkErrata(opts.errata ?? [], { machine: opts.machine, pmap: opts.pmap, vm: opts.vm } as Combination);
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
    ...(opts.diskMiB !== undefined ? { diskMiB: opts.diskMiB } : {}),
    ...(opts.swapMiB !== undefined ? { swapMiB: opts.swapMiB } : {}),
    ...(opts.disk !== undefined ? { disk: opts.disk } : {}),
  });
}
