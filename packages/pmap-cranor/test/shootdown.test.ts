/**
 * The remove record (pmap_remove_record): up to 16 pages invalidated one by one, more than that
 * a full flush; sent to every CPU where the pmap may be cached (IPIs); kernel mappings are
 * global (PG_G) and go everywhere, a full flush then dropping global entries too.
 */
import { PAGE_SIZE, PMAP_WIRED } from "@vmlab/core";
import { TlbBatch } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { bootSystem, kernPa, MACHINES, RW, userPa } from "./support/host.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: TLB shootdown", (name) => {
  it("a remove on CPU 0 shoots down CPU 1, INVLPG per page up to 16", () => {
    const sys = bootSystem(name, { cpus: 3 });
    const pm = sys.create();
    pm.activate(1);
    const pgs = Array.from({ length: 4 }, () => sys.host.page());
    pgs.forEach((pg, i) => {
      pm.enter(VA + i * PAGE_SIZE, pg, RW, 0);
    });
    for (let i = 0; i < 4; i++) expect(userPa(sys, 1, VA + i * PAGE_SIZE)).toBe(pgs[i]!.pa);
    const inv1 = sys.cpu(1).invlpgs;
    const inv2 = sys.cpu(2).invlpgs;
    const ipis = sys.counter("pmap.shootdown");
    sys.on(0, () => pm.remove(VA, VA + 4 * PAGE_SIZE));
    expect(sys.counter("pmap.shootdown") - ipis).toBe(1); // CPU 1 only: CPU 2 never ran pm
    // the four pages, and the emptied page table(s) at their PTE_BASE addresses
    expect(sys.cpu(1).invlpgs - inv1).toBe(4 + sys.pmap.L.levels - 1);
    expect(sys.cpu(2).invlpgs).toBe(inv2);
    for (let i = 0; i < 4; i++) expect(userPa(sys, 1, VA + i * PAGE_SIZE)).toBe("fault");
    sys.check();
  });

  it("more than 16 pages: a full flush instead", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const pm = sys.create();
    pm.activate(1);
    const pg = sys.host.page();
    for (let i = 0; i < 20; i++) pm.enter(VA + i * PAGE_SIZE, pg, RW, 0);
    for (let i = 0; i < 20; i++) userPa(sys, 1, VA + i * PAGE_SIZE);
    const inv = sys.cpu(1).invlpgs;
    const fl = sys.cpu(1).flushes;
    sys.on(0, () => pm.remove(VA, VA + 20 * PAGE_SIZE));
    expect(sys.cpu(1).invlpgs).toBe(inv);
    expect(sys.cpu(1).flushes).toBeGreaterThan(fl);
    for (let i = 0; i < 20; i++) expect(userPa(sys, 1, VA + i * PAGE_SIZE)).toBe("fault");
    sys.check();
  });

  it("a CPU that deactivated the pmap but still has it in CR3 is shot down too", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const pm = sys.create();
    pm.activate(1);
    const pg = sys.host.page();
    pm.enter(VA, pg, RW, 0);
    expect(userPa(sys, 1, VA)).toBe(pg.pa);
    pm.deactivate(1); // lazy: CR3 unchanged
    sys.on(0, () => pm.remove(VA, VA + PAGE_SIZE));
    expect(userPa(sys, 1, VA)).toBe("fault");
  });

  it("kernel mappings are global and invalidated on every CPU", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    a.activate(1);
    const kva = sys.host.kvaAlloc(20 * PAGE_SIZE);
    const pg = sys.host.page();
    for (let i = 0; i < 20; i++) sys.pmap.kernelPmap.enter(kva + i * PAGE_SIZE, pg, RW, PMAP_WIRED);
    for (let i = 0; i < 20; i++) expect(kernPa(sys, 1, kva + i * PAGE_SIZE)).toBe(pg.pa);
    const g = sys
      .cpu(1)
      .tlbEntries()
      .filter((e) => e.va === kva);
    expect(g[0]?.global).toBe(true);
    a.activate(1); // a CR3 reload keeps global entries...
    sys.on(1, () => sys.cpu(1).loadCr3(sys.cpu(1).cr3));
    expect(
      sys
        .cpu(1)
        .tlbEntries()
        .some((e) => e.va === kva),
    ).toBe(true);
    sys.on(0, () => sys.pmap.kernelPmap.remove(kva, kva + 20 * PAGE_SIZE)); // ...the full flush does not
    for (let i = 0; i < 20; i++) expect(kernPa(sys, 1, kva + i * PAGE_SIZE)).toBe("fault");
    sys.pmap.kenter(kva, pg.pa, RW);
    expect(kernPa(sys, 1, kva)).toBe(pg.pa);
    sys.on(0, () => sys.pmap.kremove(kva, 1));
    expect(kernPa(sys, 1, kva)).toBe("fault");
    sys.check();
  });
});

describe("TlbBatch (@vmlab/machine)", () => {
  it("records up to max pages, then becomes a full flush; sends IPIs to the other targets only", () => {
    const sys = bootSystem("i386", { cpus: 3 });
    const b = new TlbBatch(sys.machine, 2);
    expect(b.empty).toBe(true);
    b.add(0x1000);
    b.add(0x2000);
    expect(b.count).toBe(2);
    b.add(0x3000);
    expect(b.count).toBe(3);
    let flushed = 0;
    b.onFlushAll = () => flushed++;
    const ipis = sys.on(0, () => b.send(sys.cpu(0), 0b101, false));
    expect(ipis).toBe(1);
    expect(flushed).toBe(2);
    expect(b.empty).toBe(true);
    b.add(0x4000);
    const inv = sys.cpu(1).invlpgs;
    expect(sys.on(0, () => b.send(sys.cpu(0), 0b010, false))).toBe(1);
    expect(sys.cpu(1).invlpgs - inv).toBe(1);
  });
});
