/** Whole systems for the tests: a machine, a pmap and the FreeBSD VM composed by the kernel. */
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { createSystem, type System } from "@vmlab/kernel";
import type { MachineSpec, PmapFactory } from "@vmlab/machine";
import { cranorPmap } from "@vmlab/pmap-cranor";
import { freebsdPmap } from "@vmlab/pmap-freebsd";
import { machPmap } from "@vmlab/pmap-mach";
import { freebsdVm } from "../src/index.js";

export type MachineFactory = (o: { memoryMiB?: number; cpus?: number }) => MachineSpec;

export const MACHINES: readonly [string, MachineFactory][] = [
  ["i386", i386],
  ["i386-pae", i386Pae],
  ["amd64", amd64],
];

export const PMAPS: readonly [string, () => PmapFactory][] = [
  ["mach", () => machPmap()],
  ["cranor", () => cranorPmap()],
  ["freebsd", () => freebsdPmap()],
];

export function boot(
  machine: MachineFactory,
  pmap: PmapFactory,
  o: { cpus?: number; memoryMiB?: number; audit?: boolean; swapMiB?: number } = {},
): System {
  return createSystem({
    machine: machine({ memoryMiB: o.memoryMiB ?? 32, cpus: o.cpus ?? 1 }),
    pmap,
    vm: freebsdVm(),
    auditEveryOp: o.audit ?? true,
    seed: 1,
    ...(o.swapMiB !== undefined ? { swapMiB: o.swapMiB } : {}),
  });
}
