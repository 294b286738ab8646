/**
 * TLB shootdown: after a PTE of a pmap changes, every CPU where the pmap is active (every CPU for
 * the kernel pmap) drops the old translation before the call returns. The TLBs are real: a
 * missed shootdown would leave the other CPU using the old mapping.
 */
import { PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { SHOOTDOWN_BATCH } from "../src/index.js";
import { bootSystem, MACHINES, RW, userPa } from "./support/toy.js";

const VA = 0x40_0000;

describe.each(MACHINES)("%s: shootdown", (name) => {
  it("after pmap_remove on CPU 0, user loads on CPU 1 (where the pmap is active) fault", () => {
    const sys = bootSystem(name, { cpus: 3 });
    const pm = sys.create();
    pm.activate(1);
    pm.activate(2);
    const pg = sys.vm.page();
    sys.on(0, () => pm.enter(VA, pg, RW, 0));
    expect(userPa(sys, 1, VA, "write")).toBe(pg.pa); // cached in CPU 1's TLB
    expect(userPa(sys, 2, VA)).toBe(pg.pa);
    const ipis = sys.counter("pmap.shootdown");
    sys.on(0, () => pm.remove(VA, VA + PAGE_SIZE));
    expect(sys.counter("pmap.shootdown") - ipis).toBe(2);
    expect(userPa(sys, 1, VA)).toBe("fault");
    expect(userPa(sys, 2, VA)).toBe("fault");
    sys.pmap.audit();
  });

  it("after pmap_protect on CPU 0, writes on CPU 1 fault", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(1);
    const pg = sys.vm.page();
    sys.on(0, () => pm.enter(VA, pg, RW, 0));
    expect(userPa(sys, 1, VA, "write")).toBe(pg.pa);
    sys.on(0, () => pm.protect(VA, VA + PAGE_SIZE, Prot.Read));
    expect(userPa(sys, 1, VA, "write")).toBe("fault");
    expect(userPa(sys, 1, VA)).toBe(pg.pa);
  });

  it("sends nothing to CPUs where the pmap is not active", () => {
    const sys = bootSystem(name, { cpus: 4 });
    const pm = sys.create();
    pm.activate(0);
    sys.on(0, () => pm.enter(VA, sys.vm.page(), RW, 0));
    userPa(sys, 0, VA);
    const sent = sys.machine.ipisSent;
    sys.on(0, () => pm.remove(VA, VA + PAGE_SIZE));
    expect(sys.machine.ipisSent).toBe(sent);
    expect(userPa(sys, 0, VA)).toBe("fault");
  });

  it(`more than ${SHOOTDOWN_BATCH} pages: one full flush instead of INVLPG per page`, () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(1);
    const n = SHOOTDOWN_BATCH + 8;
    const pages = Array.from({ length: n }, () => sys.vm.page());
    sys.on(0, () => {
      pages.forEach((pg, i) => {
        pm.enter(VA + i * PAGE_SIZE, pg, RW, 0);
      });
    });
    pages.forEach((pg, i) => {
      expect(userPa(sys, 1, VA + i * PAGE_SIZE)).toBe(pg.pa);
    });
    const cpu1 = sys.cpu(1);
    const inv = cpu1.invlpgs;
    const fl = cpu1.flushes;
    sys.on(0, () => pm.remove(VA, VA + n * PAGE_SIZE));
    expect(cpu1.invlpgs).toBe(inv);
    expect(cpu1.flushes).toBe(fl + 1);
    pages.forEach((_, i) => {
      expect(userPa(sys, 1, VA + i * PAGE_SIZE)).toBe("fault");
    });
  });

  it("kernel mappings are shot down on every CPU", () => {
    const sys = bootSystem(name, { cpus: 3 });
    const va = sys.pmap.layout.kernelMin;
    const a = sys.vm.page();
    const b = sys.vm.page();
    sys.machine.memory.write32(a.pa, 0xaaaa);
    sys.machine.memory.write32(b.pa, 0xbbbb);
    sys.on(0, () => sys.pmap.kenter(va, a.pa, RW));
    for (let i = 0; i < 3; i++) expect(sys.on(i, () => sys.cpu(i).load32(va, false))).toBe(0xaaaa);
    sys.on(0, () => sys.pmap.kenter(va, b.pa, RW));
    for (let i = 0; i < 3; i++) expect(sys.on(i, () => sys.cpu(i).load32(va, false))).toBe(0xbbbb);
    sys.on(2, () => sys.pmap.kremove(va, 1));
    for (let i = 0; i < 3; i++) expect(sys.on(i, () => sys.cpu(i).load32(va, false))).toBe(-1);
  });

  it("a pmap still in a CPU's CR3 after pmap_deactivate keeps getting shootdowns", () => {
    const sys = bootSystem(name);
    const pm = sys.create();
    pm.activate(1);
    const pg = sys.vm.page();
    sys.on(0, () => pm.enter(VA, pg, RW, 0));
    expect(userPa(sys, 1, VA)).toBe(pg.pa);
    pm.deactivate(1);
    sys.on(0, () => pm.remove(VA, VA + PAGE_SIZE));
    expect(userPa(sys, 1, VA)).toBe("fault");
  });
});
