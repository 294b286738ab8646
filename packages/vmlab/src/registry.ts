/**
 * The registry of parts: names → factories. `combinations()` lists what exists so far (it grows
 * to all 27 as pmaps and VM layers land).
 */

import type { VmFactory } from "@vmlab/core";
import { ConfigError } from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import type { MachineOptions, MachineSpec, PmapFactory } from "@vmlab/machine";
import { cranorPmap } from "@vmlab/pmap-cranor";
import { freebsdPmap } from "@vmlab/pmap-freebsd";
import { machPmap } from "@vmlab/pmap-mach";
import { freebsdVm } from "@vmlab/vm-freebsd";
import { machVm } from "@vmlab/vm-mach";
import { uvm } from "@vmlab/vm-uvm";

export type MachineName = "i386" | "i386-pae" | "amd64";
export type PmapName = "mach" | "freebsd" | "cranor";
export type VmName = "mach" | "uvm" | "freebsd";

export const MACHINES: Readonly<Record<MachineName, (o: MachineOptions) => MachineSpec>> = {
  i386: i386,
  "i386-pae": i386Pae,
  amd64: amd64,
};

/** Pmaps implemented so far. */
export const PMAPS: Readonly<Partial<Record<PmapName, () => PmapFactory>>> = {
  mach: machPmap,
  freebsd: freebsdPmap,
  cranor: cranorPmap,
};
/** VM layers implemented so far. */
export const VMS: Readonly<Partial<Record<VmName, () => VmFactory>>> = {
  mach: machVm,
  uvm: uvm,
  freebsd: freebsdVm,
};

export interface Combination {
  machine: MachineName;
  pmap: PmapName;
  vm: VmName;
}

/** Every implemented machine × pmap × VM layer, in a stable order. */
export function combinations(): Combination[] {
  const out: Combination[] = [];
  for (const machine of Object.keys(MACHINES) as MachineName[]) {
    for (const pmap of Object.keys(PMAPS) as PmapName[]) {
      for (const vm of Object.keys(VMS) as VmName[]) out.push({ machine, pmap, vm });
    }
  }
  return out;
}

function pick<T>(field: string, table: Readonly<Partial<Record<string, T>>>, name: unknown, all: readonly string[]): T {
  const v = typeof name === "string" ? table[name] : undefined;
  if (v === undefined) {
    const have = Object.keys(table);
    const missing = all.filter((n) => !have.includes(n));
    throw new ConfigError(
      field,
      name,
      `one of ${have.map((n) => `'${n}'`).join(", ")}${missing.length ? ` (not yet implemented: ${missing.join(", ")})` : ""}`,
    );
  }
  return v;
}

export function machineFactory(name: unknown): (o: MachineOptions) => MachineSpec {
  return pick("machine", MACHINES, name, ["i386", "i386-pae", "amd64"]);
}

export function pmapFactory(name: unknown): () => PmapFactory {
  return pick("pmap", PMAPS, name, ["mach", "freebsd", "cranor"]);
}

export function vmFactory(name: unknown): () => VmFactory {
  return pick("vm", VMS, name, ["mach", "uvm", "freebsd"]);
}
