/** Test helper: the Mach pmap + Mach VM system on each machine. */
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import type { MachineSpec } from "@vmlab/machine";
import { machPmap } from "@vmlab/pmap-mach";
import { machVm } from "@vmlab/vm-mach";
import { createSystem, type System, type SystemOptions } from "../src/index.js";

export const MACHINES: readonly [string, (o: { memoryMiB?: number; cpus?: number }) => MachineSpec][] = [
  ["i386", i386],
  ["i386-pae", i386Pae],
  ["amd64", amd64],
];

export function boot(
  machine: (o: { memoryMiB?: number; cpus?: number }) => MachineSpec,
  o: { memoryMiB?: number; cpus?: number } & Partial<Omit<SystemOptions, "machine" | "pmap" | "vm">> = {},
): System {
  const { memoryMiB = 32, cpus = 1, ...rest } = o;
  return createSystem({
    machine: machine({ memoryMiB, cpus }),
    pmap: machPmap(),
    vm: machVm(),
    auditEveryOp: true,
    ...rest,
  });
}
