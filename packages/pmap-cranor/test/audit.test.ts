/**
 * audit() catches what it promises: each corruption made behind the pmap's back is reported as
 * InvariantViolation("pmap", rule, details) with the right rule.
 */
import { InvariantViolation, PAGE_SIZE, type VmPage } from "@vmlab/core";
import { pteFrame } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import type { CranorPmap } from "../src/index.js";
import { bootSystem, MACHINES, RW, type TestSystem } from "./support/host.js";

const VA = 0x40_0000;

/** Physical address of the level-`level` entry for va in pm's tables (a walk, as the audit does). */
function entryPa(sys: TestSystem, pm: CranorPmap, va: number, level: number): number {
  const L = sys.pmap.L;
  const mem = sys.machine.memory;
  const span = sys.pmap.win.span;
  const e = L.entryBytes;
  const t = Math.floor(va / (span[L.levels - 1] as number));
  let ea = L.pdpSize === 4 ? (pm.pdirPa[t >> 9] as number) + (t & 511) * 8 : (pm.pdirPa[0] as number) + t * e;
  for (let l = L.levels - 1; l > level; l--) {
    const f = pteFrame(mem.read32(ea), e === 8 ? mem.read32(ea + 4) : 0);
    ea = f + (Math.floor(va / (span[l - 1] as number)) % 2 ** L.indexBits) * e;
  }
  return ea;
}

function rule(sys: TestSystem): string {
  try {
    sys.pmap.audit();
  } catch (e) {
    if (e instanceof InvariantViolation) {
      expect(e.layer).toBe("pmap");
      return e.rule;
    }
    throw e;
  }
  return "(clean)";
}

function setup(name: (typeof MACHINES)[number]) {
  const sys = bootSystem(name, { cpus: 1 });
  const pm = sys.create();
  const pg = sys.host.page();
  pm.enter(VA, pg, RW, 0);
  pm.enter(VA + PAGE_SIZE, pg, RW, 0);
  expect(rule(sys)).toBe("(clean)");
  return { sys, pm, pg };
}

describe.each(MACHINES)("%s: audit", (name) => {
  it("pv-of-pte: a mapping whose pv entry vanished", () => {
    const { sys, pg } = setup(name);
    const h = sys.pmap.pv.peek(pg)!;
    h.list = h.list!.next;
    expect(rule(sys)).toBe("pv-of-pte");
  });

  it("pte-of-pv: a pv entry whose PTE was zapped behind the pmap's back", () => {
    const { sys, pm } = setup(name);
    sys.machine.memory.write32(entryPa(sys, pm, VA, 0), 0);
    expect(["pte-of-pv", "ptp-wire", "counts"]).toContain(rule(sys));
  });

  it("ptp-wire: a PTP whose wire_count is not 1 + its valid PTEs", () => {
    const { sys, pm } = setup(name);
    (pm.obj[0]!.values().next().value as VmPage).wireCount++;
    expect(rule(sys)).toBe("ptp-wire");
  });

  it("ptp-obj: a page table missing from pm_obj", () => {
    const { sys, pm } = setup(name);
    pm.obj[0]!.clear();
    expect(rule(sys)).toBe("ptp-obj");
  });

  it("pv-ptp: a pv entry naming the wrong page-table page", () => {
    const { sys, pg } = setup(name);
    sys.pmap.pv.peek(pg)!.list!.ptp = pg;
    expect(rule(sys)).toBe("pv-ptp");
  });

  it("counts: resident_count and wired_count", () => {
    const { sys, pm } = setup(name);
    pm.residentCount++;
    expect(rule(sys)).toBe("counts");
    pm.residentCount--;
    pm.wiredCount++;
    expect(rule(sys)).toBe("counts");
  });

  it("self-slot, kernel-slots, apte-slot", () => {
    const { sys, pm } = setup(name);
    const L = sys.pmap.L;
    const mem = sys.machine.memory;
    const top = (t: number) =>
      L.pdpSize === 4 ? (pm.pdirPa[t >> 9] as number) + (t & 511) * 8 : (pm.pdirPa[0] as number) + t * L.entryBytes;
    const self = mem.read32(top(L.slotPte));
    mem.write32(top(L.slotPte), self ^ 0x1000);
    expect(rule(sys)).toBe("self-slot");
    mem.write32(top(L.slotPte), self);
    const k = mem.read32(top(L.slotKern));
    mem.write32(top(L.slotKern), k ^ 0x2);
    expect(rule(sys)).toBe("kernel-slots");
    mem.write32(top(L.slotKern), k);
    mem.write32(top(L.slotApte), 0x7000 | 3);
    expect(rule(sys)).toBe("apte-slot");
  });

  it("managed: a user PTE without PG_U, or without PG_PVLIST", () => {
    const { sys, pm } = setup(name);
    const ea = entryPa(sys, pm, VA, 0);
    const lo = sys.machine.memory.read32(ea);
    sys.machine.memory.write32(ea, lo & ~0x4);
    expect(rule(sys)).toBe("managed");
    sys.machine.memory.write32(ea, lo & ~0x400);
    expect(rule(sys)).toBe("managed");
  });

  it("pv-pages: free-list accounting", () => {
    const { sys } = setup(name);
    sys.pmap.pv.nfpvents++;
    expect(rule(sys)).toBe("pv-pages");
    sys.pmap.pv.nfpvents--;
    const p = [...sys.pmap.pv.pages][0]!;
    p.nfree--;
    expect(rule(sys)).toBe("pv-pages");
  });

  if (name === "i386-pae") {
    it("pdpt: a PDPTE that does not name the pmap's page directory", () => {
      const { sys, pm } = setup(name);
      sys.machine.memory.write32(pm.cr3 + 8, sys.machine.memory.read32(pm.cr3) as number);
      expect(rule(sys)).toBe("pdpt");
    });
  }
});
