/**
 * The locking protocol under the witness: a random workload over every entry point — map → pv
 * paths (enter, remove, collect) with pmap_main_lock shared, pv → map paths (page protect,
 * clear/test attributes, ts_referenced) with it exclusive, two pmap locks in address order for
 * foreign pmaps, pv_head and pvalloc locks, pmaps_lock in pinit/release/growkernel — on several
 * CPUs with interrupt handlers that map pages. No lock-order reversal or duplicate is reported.
 */
import { IPL, PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { CranorPmap } from "../src/index.js";
import { bootSystem, MACHINES, RW, type ToyPage } from "./support/host.js";

const BASE = 0x40_0000;
const STEPS = 1500;

describe.each(MACHINES)("%s: witness over a random workload", (name) => {
  it("reports no lock-order reversal", () => {
    const sys = bootSystem(name, { cpus: 3 });
    const prng = sys.kernel.prng;
    const m = sys.pmap;
    const pages: ToyPage[] = [];
    for (let i = 0; i < 12; i++) pages.push(sys.host.page());
    const pms: CranorPmap[] = [sys.create(), sys.create(), sys.create()];
    pms.forEach((pm, i) => {
      pm.activate(i);
    });
    const kva = sys.host.kvaAlloc(64 * PAGE_SIZE);
    // Interrupt handlers map into the kernel pmap and a driver's pmap that lives for the whole run.
    const driver = sys.create();
    const page = () => prng.pick(pages);
    const va = () => BASE + prng.int(0, 40) * PAGE_SIZE;
    for (let step = 0; step < STEPS; step++) {
      const cpu = prng.int(0, 2);
      const pm = prng.pick(pms);
      if (prng.chance(1, 10)) {
        sys.on(cpu, () =>
          sys.cpu(cpu).post({
            name: "disk",
            level: IPL.BIO,
            handler: () => {
              if (prng.chance(1, 2)) m.kernelPmap.enter(kva + prng.int(0, 63) * PAGE_SIZE, page(), RW, PMAP_WIRED);
              else driver.enter(va(), page(), Prot.Read, PMAP_CANFAIL);
            },
          }),
        );
      }
      sys.on(cpu, () => {
        switch (prng.int(0, 13)) {
          case 0:
          case 1:
          case 2:
            pm.enter(va(), page(), prng.pick([Prot.Read, RW, Prot.All]), prng.chance(1, 4) ? PMAP_WIRED : 0);
            break;
          case 3: {
            const a = va();
            pm.remove(a, a + prng.int(1, 8) * PAGE_SIZE);
            break;
          }
          case 4: {
            const a = va();
            pm.protect(a, a + prng.int(1, 8) * PAGE_SIZE, prng.int(0, 7));
            break;
          }
          case 5: {
            const a = va();
            if (pm.extract(a) !== undefined) pm.unwire(a);
            break;
          }
          case 6:
            m.pageProtect(page(), prng.pick([Prot.None, Prot.Read, Prot.Read | Prot.Exec]));
            break;
          case 7:
            m.clearModify(page());
            m.clearReference(page());
            break;
          case 8:
            m.isModified(page());
            m.isReferenced(page());
            break;
          case 9:
            m.tsReferenced(page());
            break;
          case 10:
            m.collect(pm);
            break;
          case 11: {
            // a process exits and a new one is made
            const i = pms.indexOf(pm);
            m.kernelPmap.activate(i);
            pm.destroy();
            const fresh = sys.create();
            fresh.activate(i);
            pms[i] = fresh;
            break;
          }
          case 12: {
            const v = sys.host.kvaAlloc(PAGE_SIZE);
            m.kenter(v, page().pa, RW);
            m.kremove(v, 1);
            break;
          }
          case 13:
            sys.cpu(cpu).load32(sys.pmap.layout.kernelBase, false); // deliver what is pending
            break;
        }
      });
      if (step % 100 === 0) sys.check();
    }
    for (let i = 0; i < 3; i++) sys.on(i, () => sys.cpu(i).load32(sys.pmap.layout.kernelBase, false));
    expect(sys.witness.reports).toEqual([]);
    expect(sys.panics).toEqual([]);
    expect(sys.counter("pmap.window.switch")).toBeGreaterThan(0);
    sys.check();
  });
});
