/**
 * Erratum freebsd-2009-promote-litter (seed 001), the VM half and its detection: kmem_object pages
 * are PG_UNMANAGED (no pv entries, never on a paging queue); with the erratum, kernel unmapping
 * leaves PTEs behind and kmem_malloc's first pmap_enter over a complete page table promotes, so the
 * second panics. vm.pmap.pg_ps_enabled=0 hides it. The conformance properties catch the litter
 * by the pmap audit (resident/wired counts) without any kernel-memory command.
 */

import { runProperties } from "@vmlab/conformance";
import { PAGE_SIZE } from "@vmlab/core";
import { createSystem, type System } from "@vmlab/kernel";
import { freebsdPmap } from "@vmlab/pmap-freebsd";
import { describe, expect, it } from "vitest";
import { freebsdVm } from "../src/index.js";
import { MACHINES, type MachineFactory } from "./systems.js";

const ID = "freebsd-2009-promote-litter";

function system(machine: MachineFactory, errata: readonly string[], pgPsEnabled = true): System {
  return createSystem({
    machine: machine({ memoryMiB: 32, cpus: 1 }),
    pmap: freebsdPmap({ pgPsEnabled }),
    vm: freebsdVm(),
    seed: 1,
    errata,
  });
}

/**
 * The seed's sequence on CPU 0: A = NPTEPG-2 pages at a superpage boundary, B = the last page,
 * freed (litter with the erratum), X = the last two pages. Returns X's address.
 */
function litterThenMalloc(sys: System): { base: number; x: number } {
  const cpu = sys.machine.cpus[0] as (typeof sys.machine.cpus)[number];
  const sp = sys.pmap.layout.superpageSize as number;
  const n = sp / PAGE_SIZE;
  return sys.machine.runOn(cpu, () => {
    let base = 0;
    for (;;) {
      const va = sys.vm.kvaAlloc(PAGE_SIZE);
      if (va % sp === 0) {
        sys.vm.kvaFree(va, PAGE_SIZE);
        base = va;
        break;
      }
    }
    expect(sys.vm.kmemAlloc((n - 2) * PAGE_SIZE)).toBe(base);
    const k = sys.vm.kvaAlloc(PAGE_SIZE);
    const b = sys.vm.kmemAlloc(PAGE_SIZE);
    expect(b).toBe(base + (n - 1) * PAGE_SIZE);
    sys.vm.kmemFree(b, PAGE_SIZE);
    sys.vm.kvaFree(k, PAGE_SIZE);
    const x = sys.vm.kmemAlloc(2 * PAGE_SIZE);
    return { base, x };
  });
}

describe.each(MACHINES)("erratum %s: pmap freebsd × FreeBSD VM", (name, machine) => {
  const ps = name === "i386" ? "4MB" : "2MB";

  it("kmem pages are unmanaged: no pv entries, off the queues; default: no litter, promotion at the last page", () => {
    const sys = system(machine, []);
    const { base, x } = litterThenMalloc(sys);
    expect(x).toBe(base + ((sys.pmap.layout.superpageSize as number) / PAGE_SIZE - 2) * PAGE_SIZE);
    expect(sys.trace({ layer: "pmap", name: "promote" }).some((t) => t.fields.va === base)).toBe(true);
    const pa = sys.pmap.kernelPmap.extract(base) as number;
    const pg = sys.vm.pageOf(pa);
    expect(pg?.unmanaged).toBe(true);
    sys.audit();
  });

  it(`with the erratum: kmem_free leaves the PTE, kmem_malloc panics on the ${ps} page`, () => {
    const sys = system(machine, [ID]);
    expect(() => litterThenMalloc(sys)).toThrow(`panic: pmap_enter: attempted pmap_enter on ${ps} page`);
  });

  it("with the erratum and vm.pmap.pg_ps_enabled=0: no promotion, no panic (the litter stays)", () => {
    const sys = system(machine, [ID], false);
    litterThenMalloc(sys);
    expect(sys.trace({ layer: "pmap", name: "promote" })).toEqual([]);
    expect(() => sys.audit()).toThrow(/counts/);
  });
});

describe("the conformance properties catch the erratum without kernel-memory commands", () => {
  it.each(MACHINES)("on %s: the pmap audit finds the litter's counts", { timeout: 600_000 }, (_name, machine) => {
    const factory = () =>
      createSystem({
        machine: machine({ memoryMiB: 32, cpus: 2 }),
        pmap: freebsdPmap(),
        vm: freebsdVm(),
        seed: 1,
        errata: [ID],
      });
    const report = runProperties(factory, { runs: 5, commands: 30, seed: 0x5eed });
    expect(report.failed).toBeGreaterThan(0);
  });
});
