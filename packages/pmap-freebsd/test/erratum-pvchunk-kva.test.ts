/**
 * Erratum freebsd-2006-pvchunk-kva-recursion: with the 2006 dynamic chunk KVA (kmem_alloc_nofault /
 * kmem_free under the pmap lock) whole systems show the witness reversal and the recursion panic;
 * the conformance properties catch it without the reproducer; the fixed block (default) is clean.
 */
import { runProperties } from "@vmlab/conformance";
import { KernelPanic, MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { createSystem, type System } from "@vmlab/kernel";
import type { MachineSpec } from "@vmlab/machine";
import { machVm } from "@vmlab/vm-mach";
import { describe, expect, it } from "vitest";
import { freebsdPmap } from "../src/index.js";
import type { FreebsdModule } from "../src/module.js";

const ID = "freebsd-2006-pvchunk-kva-recursion";
type MachineFactory = (o: { memoryMiB?: number; cpus?: number }) => MachineSpec;

function boot(machine: MachineFactory, on: boolean): System {
  return createSystem({
    machine: machine({ memoryMiB: 32, cpus: 1 }),
    pmap: freebsdPmap(),
    vm: machVm(),
    seed: 1,
    errata: on ? [ID] : [],
  });
}

/** A process that touches a few pages and exits; the panic text, or "" if none. */
function lifecycle(sys: System): string {
  try {
    const p = sys.spawn();
    const va = p.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < 4; i++) p.store32(va + i * PAGE_SIZE, i);
    p.exit(0);
    return "";
  } catch (e) {
    if (e instanceof KernelPanic) return e.message;
    throw e;
  }
}

describe(ID, () => {
  for (const [name, machine] of [
    ["i386", i386],
    ["i386-pae", i386Pae],
  ] as const) {
    it(`${name}: chunk KVA comes from kernel_map, and a process lifecycle panics on the recursion`, () => {
      const sys = boot(machine, true);
      const m = sys.pmap as FreebsdModule;
      expect(m.pv.dynamicKva).toBe(true);
      expect(m.pv.chunkBase).toBe(0);
      expect(lifecycle(sys)).toMatch(
        /recurs(ed on non-recursive mutex kernel_map|ing but non-recursive rw pvh global)/,
      );
    });

    it(`${name}: the fixed block (the fix) never takes kernel_map under the pmap lock`, () => {
      const sys = boot(machine, false);
      const m = sys.pmap as FreebsdModule;
      expect(m.pv.dynamicKva).toBe(false);
      expect(m.pv.chunkBase).toBeGreaterThan(0);
      expect(lifecycle(sys)).toBe("");
      expect(lifecycle(sys)).toBe("");
      sys.audit();
    });

    it(`${name}: the conformance properties fail with the erratum on`, () => {
      const report = runProperties(() => boot(machine, true), { runs: 2, commands: 10, seed: 1 });
      expect(report.failed).toBeGreaterThan(0);
      expect(report.failures.map((f) => f.message).join("\n")).toMatch(/recurs|lock order reversal/);
    });
  }

  it("amd64 ignores it: chunks through the direct map", () => {
    const sys = boot(amd64, true);
    expect((sys.pmap as FreebsdModule).pv.dynamicKva).toBe(false);
    expect(lifecycle(sys)).toBe("");
    sys.audit();
  });
});
