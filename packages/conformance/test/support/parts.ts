/**
 * Whole systems for the tests that need a real kernel: every machine, pmap and VM layer by name,
 * imported by path (conformance depends on no concrete part; the VM packages' tests import it),
 * and a helper that runs commands one by one as fast-check would (precondition, then run, which
 * audits every layer afterwards).
 */
import type { System, SystemOptions } from "@vmlab/kernel";
import { createSystem } from "@vmlab/kernel";
import type { Real, VmCommand, World } from "../../src/commands.js";

type Factory = (o?: unknown) => never;
type Parts = Pick<SystemOptions, "machine" | "pmap" | "vm">;

const hw386 = await import("@vmlab/hw-i386" as string);
const hw64 = await import("@vmlab/hw-amd64" as string);
const MACHINES: Record<string, Factory> = { i386: hw386.i386, "i386-pae": hw386.i386Pae, amd64: hw64.amd64 };
const PMAPS: Record<string, Factory> = {
  mach: (await import("@vmlab/pmap-mach" as string)).machPmap,
  cranor: (await import("../../../pmap-cranor/src/index.ts" as string)).cranorPmap,
  freebsd: (await import("../../../pmap-freebsd/src/index.ts" as string)).freebsdPmap,
};
const VMS: Record<string, Factory> = {
  mach: (await import("@vmlab/vm-mach" as string)).machVm,
  uvm: (await import("../../../vm-uvm/src/index.ts" as string)).uvm,
  freebsd: (await import("../../../vm-freebsd/src/index.ts" as string)).freebsdVm,
};

/**
 * Boot "machine pmap/vm" (e.g. "i386 freebsd/freebsd") as the matrix does: 32 MiB, two CPUs,
 * seed 1, swap as large as RAM unless `swapMiB` says otherwise.
 */
export function bootSystem(name: string, opts: { swapMiB?: number } = {}): System {
  const m = /^(\S+) (\S+)\/(\S+)$/.exec(name);
  const machine = m && MACHINES[m[1]!];
  const pmap = m && PMAPS[m[2]!];
  const vm = m && VMS[m[3]!];
  if (!machine || !pmap || !vm) throw new Error(`no such system: ${name}`);
  const parts: Parts = { machine: machine({ memoryMiB: 32, cpus: 2 }), pmap: pmap(), vm: vm() };
  return createSystem({ ...parts, seed: 1, ...opts });
}

/** Run commands in order, each only if its precondition holds (as fast-check would). */
export function runCommands(w: World, r: Real, ...cmds: VmCommand[]): void {
  for (const c of cmds) {
    if (!c.check(w)) throw new Error(`precondition of ${c.toString()} does not hold`);
    c.run(w, r);
  }
}

/** Transcript lines of outcomes the model accepted under held memory pressure. */
export const acceptedUnderPressure = (r: Real): string[] =>
  r.transcript.filter((l) => l.includes("under memory pressure (accepted"));
