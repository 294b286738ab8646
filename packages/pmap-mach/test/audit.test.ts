/**
 * audit(): each invariant is checked, and corruption written behind the pmap's back (physically,
 * as a stray DMA or a bug elsewhere would) is caught with the rule and the address named.
 */
import { InvariantViolation, PAGE_SIZE } from "@vmlab/core";
import { PG_RW, PG_U, PG_V } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { PG_PVLIST } from "../src/index.js";
import { bootSystem, MACHINES, RW, type TestSystem } from "./support/toy.js";

const VA = 0x40_0000;

function violation(sys: TestSystem): InvariantViolation {
  try {
    sys.pmap.audit();
  } catch (e) {
    if (e instanceof InvariantViolation) return e;
    throw e;
  }
  throw new Error("audit passed");
}

/** The physical address of va's PTE in pm (walking through its PT page's UPT mapping). */
function ptePa(sys: TestSystem, pm: ReturnType<TestSystem["create"]>, va: number): number {
  const ptva = sys.pmap.win.ptw.tablePageVa(va, 0);
  const ptpa = pm.extract(ptva) as number;
  return ptpa + (Math.floor(va / PAGE_SIZE) % (PAGE_SIZE / sys.pmap.L.entryBytes)) * sys.pmap.L.entryBytes;
}

describe.each(MACHINES)("%s: audit", (name) => {
  it("catches a bogus PTE written physically (no pv entry, counts off)", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, 0);
    sys.pmap.audit();
    sys.machine.memory.write32(ptePa(sys, pm, VA + PAGE_SIZE), sys.vm.page().pa | PG_V | PG_RW | PG_U | PG_PVLIST);
    const v = violation(sys);
    expect(v.layer).toBe("pmap");
    expect(v.rule).toBe("counts");
    expect(v.details).toMatch(new RegExp(`pmap ${pm.id}`));
  });

  it("catches a PTE without PG_PVLIST in a user pmap", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.enter(VA, sys.vm.page(), RW, 0);
    sys.machine.memory.write32(ptePa(sys, pm, VA + PAGE_SIZE), sys.vm.page().pa | PG_V | PG_U);
    const v = violation(sys);
    expect(v.rule).toBe("managed");
    expect(v.details).toContain(`0x${(VA + PAGE_SIZE).toString(16)}`);
  });

  it("catches a PTE redirected to another frame (pv entry names a page the PTE no longer maps)", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, 0);
    const pa = ptePa(sys, pm, VA);
    const lo = sys.machine.memory.read32(pa);
    sys.machine.memory.write32(pa, (lo & 0xfff) | sys.vm.page().pa);
    expect(violation(sys).rule).toBe("pte-of-pv");
  });

  it("catches a broken self slot", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const L = sys.pmap.L;
    const t = L.selfSlot;
    const pa =
      L.windowSlots === 4 ? (pm.topPa[t >> 9] as number) + (t & 511) * 8 : (pm.topPa[0] as number) + t * L.entryBytes;
    sys.machine.memory.write32(pa, sys.machine.memory.read32(pa) | PG_U);
    const v = violation(sys);
    expect(v.rule).toBe("self-slot");
  });

  it("catches a kernel slot that differs from the kernel pmap's", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const L = sys.pmap.L;
    const t = L.kernSlotFirst;
    const pa =
      L.windowSlots === 4 ? (pm.topPa[t >> 9] as number) + (t & 511) * 8 : (pm.topPa[0] as number) + t * L.entryBytes;
    sys.machine.memory.write32(pa, 0);
    expect(violation(sys).rule).toBe("kernel-slots");
  });

  it("catches a lost pv entry", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    const pg = sys.vm.page();
    pm.enter(VA, pg, RW, 0);
    const h = sys.pmap.pv.head(pg);
    h.pmap = null;
    expect(violation(sys).rule).toBe("pv-of-pte");
  });
});
