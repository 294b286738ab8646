/**
 * Model-based property: random pmap_enter / pmap_remove / pmap_protect / pmap_unwire /
 * pmap_page_protect / pmap_clear_modify sequences on two pmaps (active on CPUs 0 and 1, operated
 * on from any of three CPUs) over a few pages keep audit() clean and agree with a Map model of
 * (pmap, va) → (page, prot, wired) — checked through the MMU of the CPU each pmap runs on, whose
 * TLB is warm from the previous steps, so a missed invalidation shows up as a wrong answer.
 */
import { PAGE_SIZE, PMAP_WIRED, Prot } from "@vmlab/core";
import type { MachineName } from "@vmlab/machine";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MachPmap } from "../src/index.js";
import { bootSystem, MACHINES, type TestPage, type TestSystem, userAccess } from "./support/toy.js";

interface Entry {
  page: number;
  prot: number;
  wired: boolean;
}

type Cmd =
  | { op: "enter"; pm: number; va: number; page: number; prot: number; wired: boolean; cpu: number }
  | { op: "remove"; pm: number; va: number; n: number; cpu: number }
  | { op: "protect"; pm: number; va: number; n: number; prot: number; cpu: number }
  | { op: "unwire"; pm: number; va: number; cpu: number }
  | { op: "pageProtect"; page: number; prot: number; cpu: number }
  | { op: "clearModify"; page: number; cpu: number }
  | { op: "touch"; pm: number; va: number; access: "read" | "write" | "exec" };

function vasFor(name: MachineName, sys: TestSystem): number[] {
  const top = sys.pmap.layout.userMax - PAGE_SIZE;
  const far = name === "amd64" ? 0x7654_3210_0000 : 0x8000_0000;
  return [0x1000, 0x2000, 0x3f_f000, 0x40_0000, 0x40_1000, far, top];
}

const PAGES = 4;
const cpuArb = fc.integer({ min: 0, max: 2 });
const pmArb = fc.integer({ min: 0, max: 1 });
const vaArb = fc.integer({ min: 0, max: 6 });
const pageArb = fc.integer({ min: 0, max: PAGES - 1 });
const protArb = fc.constantFrom(Prot.Read, Prot.Read | Prot.Write, Prot.Read | Prot.Exec, Prot.All);
const anyProt = fc.integer({ min: 0, max: 7 });

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("enter" as const),
      pm: pmArb,
      va: vaArb,
      page: pageArb,
      prot: protArb,
      wired: fc.boolean(),
      cpu: cpuArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("remove" as const),
      pm: pmArb,
      va: vaArb,
      n: fc.integer({ min: 1, max: 3 }),
      cpu: cpuArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("protect" as const),
      pm: pmArb,
      va: vaArb,
      n: fc.integer({ min: 1, max: 3 }),
      prot: anyProt,
      cpu: cpuArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("unwire" as const), pm: pmArb, va: vaArb, cpu: cpuArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("pageProtect" as const),
      page: pageArb,
      prot: fc.constantFrom(0, Prot.Read, Prot.Read | Prot.Exec, Prot.Read | Prot.Write),
      cpu: cpuArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clearModify" as const), page: pageArb, cpu: cpuArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("touch" as const),
      pm: pmArb,
      va: vaArb,
      access: fc.constantFrom("read" as const, "write" as const, "exec" as const),
    }),
  },
);

function lower(prot: number, to: number, nx: boolean): number {
  let p = prot;
  if ((to & Prot.Write) === 0) p &= ~Prot.Write;
  if (nx && (to & Prot.Exec) === 0) p &= ~Prot.Exec;
  return p;
}

function run(name: MachineName, cmds: Cmd[]): void {
  const sys = bootSystem(name, { cpus: 3 });
  const nx = name !== "i386";
  const pms: MachPmap[] = [sys.create(), sys.create()];
  pms.forEach((pm, i) => {
    pm.activate(i);
  });
  const pages: TestPage[] = Array.from({ length: PAGES }, () => sys.vm.page());
  const vas = vasFor(name, sys);
  const model = [new Map<number, Entry>(), new Map<number, Entry>()];

  const check = (): void => {
    sys.pmap.audit();
    for (let p = 0; p < 2; p++) {
      const pm = pms[p] as MachPmap;
      const m = model[p] as Map<number, Entry>;
      let wired = 0;
      for (const e of m.values()) if (e.wired) wired++;
      expect(pm.residentCount).toBe(m.size + sys.vm.ptCount(pm));
      expect(pm.wiredCount).toBe(wired + sys.vm.ptCount(pm));
      for (const va of vas) {
        const e = m.get(va);
        const pa = e ? (pages[e.page] as TestPage).pa : undefined;
        expect(pm.extract(va)).toBe(pa);
        const r = userAccess(sys, p, va, "read");
        expect("pa" in r ? r.pa : undefined).toBe(pa);
        const w = userAccess(sys, p, va, "write");
        expect("pa" in w).toBe(e !== undefined && (e.prot & Prot.Write) !== 0);
        const x = userAccess(sys, p, va, "exec");
        expect("pa" in x).toBe(e !== undefined && (!nx || (e.prot & Prot.Exec) !== 0));
      }
    }
  };

  for (const c of cmds) {
    switch (c.op) {
      case "enter": {
        const va = vas[c.va] as number;
        sys.on(c.cpu, () => pms[c.pm]?.enter(va, pages[c.page] as TestPage, c.prot, c.wired ? PMAP_WIRED : 0));
        model[c.pm]?.set(va, { page: c.page, prot: c.prot, wired: c.wired });
        break;
      }
      case "remove": {
        const va = vas[c.va] as number;
        const end = va + c.n * PAGE_SIZE;
        sys.on(c.cpu, () => pms[c.pm]?.remove(va, end));
        for (const k of [...(model[c.pm]?.keys() ?? [])]) if (k >= va && k < end) model[c.pm]?.delete(k);
        break;
      }
      case "protect": {
        const va = vas[c.va] as number;
        const end = va + c.n * PAGE_SIZE;
        sys.on(c.cpu, () => pms[c.pm]?.protect(va, end, c.prot));
        const m = model[c.pm] as Map<number, Entry>;
        for (const [k, e] of [...m]) {
          if (k < va || k >= end) continue;
          if ((c.prot & Prot.Read) === 0) m.delete(k);
          else e.prot = lower(e.prot, c.prot, nx);
        }
        break;
      }
      case "unwire": {
        const va = vas[c.va] as number;
        sys.on(c.cpu, () => pms[c.pm]?.unwire(va));
        const e = model[c.pm]?.get(va);
        if (e) e.wired = false;
        break;
      }
      case "pageProtect": {
        sys.on(c.cpu, () => sys.pmap.pageProtect(pages[c.page] as TestPage, c.prot));
        for (const m of model) {
          for (const [k, e] of [...m]) {
            if (e.page !== c.page) continue;
            if ((c.prot & Prot.Read) === 0) m.delete(k);
            else e.prot = lower(e.prot, c.prot, nx);
          }
        }
        break;
      }
      case "clearModify": {
        const pg = pages[c.page] as TestPage;
        sys.on(c.cpu, () => sys.pmap.clearModify(pg));
        expect(sys.pmap.isModified(pg)).toBe(false);
        break;
      }
      case "touch": {
        const va = vas[c.va] as number;
        const r = userAccess(sys, c.pm, va, c.access);
        const e = model[c.pm]?.get(va);
        if (c.access === "write" && "pa" in r && e) expect(sys.pmap.isModified(pages[e.page] as TestPage)).toBe(true);
        break;
      }
    }
    check();
  }
  // Tear down as a VM would: user range, then the page tables, then the pmaps.
  for (const pm of pms) {
    pm.remove(0, sys.pmap.layout.userMax);
    sys.vm.releasePageTables(pm);
    expect(pm.residentCount).toBe(0);
    expect(pm.wiredCount).toBe(0);
    pm.destroy();
  }
  expect(sys.pmap.pv.pages.size).toBe(0);
  sys.pmap.audit();
}

describe.each(MACHINES)("%s: model-based property", (name) => {
  it("random enter/remove/protect/unwire/page-protect sequences agree with the model through the MMU", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), (cmds) => run(name, cmds)),
      { numRuns: 60 },
    );
  });
});
