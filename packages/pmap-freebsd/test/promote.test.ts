/**
 * Superpages (FreeBSD 7–8, Alan Cox): a superpage-aligned, physically contiguous, fully populated
 * reservation behind a fully populated page table is promoted by pmap_enter; the MMU then
 * translates through a large-page TLB entry; pmap_protect of one page demotes it (the kept page
 * table comes back) and the MMU goes back to 4 KiB entries; a re-enter repromotes.
 */
import { PAGE_SIZE, PMAP_WIRED, Prot } from "@vmlab/core";
import { PG_PS } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import type { FreebsdPmap } from "../src/pmap.js";
import { bootSystem, MACHINES, panicText, RO, RW, type TestSystem, userPa } from "./support/host.js";

function pdeOf(sys: TestSystem, pm: FreebsdPmap, va: number): number {
  return sys.on(0, () => {
    const ea = sys.pmap.pdeVa(sys.cpu(0), pm, va);
    return ea < 0 ? 0 : sys.pmap.win.load(sys.cpu(0), ea);
  });
}

/** Map a whole reservation at va (write access: PG_M preset, as a write fault would). */
function populate(sys: TestSystem, pm: FreebsdPmap, va: number, flags = 0): number[] {
  const run = sys.host.contiguousRun(sys.pmap.nptepg);
  if (run === null) throw new Error("no contiguous run");
  sys.on(0, () => {
    for (let i = 0; i < run.length; i++) pm.enter(va + i * PAGE_SIZE, run[i] as never, RW, Prot.Write | flags);
  });
  return run.map((p) => p.pa);
}

describe.each(MACHINES)("superpages on %s", (name) => {
  it("promotes a fully populated reservation, translates through a large TLB entry, demotes on mprotect of one page", () => {
    const sys = bootSystem(name, { cpus: 2, memoryMiB: 64 });
    sys.host.reservations = true;
    const m = sys.pmap;
    const pm = sys.create();
    sys.on(0, () => pm.activate(0));
    const va = 4 * m.nbpdr;
    const pas = populate(sys, pm, va);
    expect(sys.counter("vm.pmap.pde.promotions")).toBe(1);
    expect(pdeOf(sys, pm, va) & PG_PS).toBe(PG_PS);
    expect(pm.ptRoot.size).toBe(1);
    expect(pm.residentCount).toBe(m.nptepg + (name === "amd64" ? 3 : 1));
    sys.check();
    // The MMU: a user read anywhere in the range, through one large-page TLB entry.
    expect(userPa(sys, 0, va + 5 * PAGE_SIZE + 8)).toBe((pas[5] as number) + 8);
    expect(userPa(sys, 0, va + (m.nptepg - 1) * PAGE_SIZE, "write")).toBe(pas[m.nptepg - 1]);
    const large = sys
      .cpu(0)
      .tlbEntries()
      .filter((e) => e.size === m.nbpdr && e.va === va);
    expect(large).toHaveLength(1);
    expect(large[0]?.pa).toBe(pas[0]);
    expect(sys.on(0, () => pm.extract(va + 7 * PAGE_SIZE + 3))).toBe((pas[7] as number) + 3);
    sys.check();

    // mprotect of one page: demotion, then 4 KiB translations again.
    sys.on(0, () => pm.protect(va + 3 * PAGE_SIZE, va + 4 * PAGE_SIZE, RO));
    expect(sys.counter("vm.pmap.pde.demotions")).toBe(1);
    expect(pdeOf(sys, pm, va) & PG_PS).toBe(0);
    expect(pm.ptRoot.size).toBe(0);
    sys.check();
    expect(userPa(sys, 0, va + 3 * PAGE_SIZE, "write")).toBe("fault");
    expect(userPa(sys, 0, va + 3 * PAGE_SIZE)).toBe(pas[3]);
    expect(userPa(sys, 0, va + 4 * PAGE_SIZE, "write")).toBe(pas[4]);
    const small = sys
      .cpu(0)
      .tlbEntries()
      .filter((e) => e.va === va + 3 * PAGE_SIZE);
    expect(small.map((e) => e.size)).toEqual([PAGE_SIZE]);
    expect(
      sys
        .cpu(0)
        .tlbEntries()
        .some((e) => e.size === m.nbpdr && e.va === va),
    ).toBe(false);
    sys.check();

    // A write fault's pmap_enter makes the run uniform again: repromotion.
    sys.on(0, () => pm.enter(va + 3 * PAGE_SIZE, sys.host.pageOf(pas[3] as number) as never, RW, Prot.Write));
    expect(sys.counter("vm.pmap.pde.promotions")).toBe(2);
    expect(pdeOf(sys, pm, va) & PG_PS).toBe(PG_PS);
    expect(userPa(sys, 0, va + 3 * PAGE_SIZE, "write")).toBe(pas[3]);
    expect(
      sys
        .cpu(0)
        .tlbEntries()
        .some((e) => e.size === m.nbpdr && e.va === va),
    ).toBe(true);
    sys.check();

    // Removing the whole superpage (pmap_remove_pde) frees the kept page table and the pv entry.
    sys.on(0, () => pm.remove(va, va + m.nbpdr));
    expect(pm.residentCount).toBe(0);
    expect(pm.pvHead).toBe(null);
    expect(userPa(sys, 0, va)).toBe("fault");
    sys.check();
  });

  it("a partial munmap demotes and removes only the range; the modified bit reaches every page", () => {
    const sys = bootSystem(name, { cpus: 2, memoryMiB: 64 });
    sys.host.reservations = true;
    const m = sys.pmap;
    const pm = sys.create();
    sys.on(1, () => pm.activate(1));
    const va = 2 * m.nbpdr;
    const pas = populate(sys, pm, va);
    expect(sys.counter("vm.pmap.pde.promotions")).toBe(1);
    expect(userPa(sys, 1, va + PAGE_SIZE, "write")).toBe(pas[1]);
    sys.on(0, () => pm.remove(va, va + 2 * PAGE_SIZE));
    expect(sys.counter("vm.pmap.pde.demotions")).toBe(1);
    expect(userPa(sys, 1, va + PAGE_SIZE)).toBe("fault");
    expect(userPa(sys, 1, va + 2 * PAGE_SIZE)).toBe(pas[2]);
    expect(pm.residentCount).toBe(m.nptepg - 2 + (name === "amd64" ? 3 : 1));
    const pg = sys.host.pageOf(pas[100] as number) as never;
    expect(sys.on(0, () => m.isModified(pg))).toBe(true);
    sys.check();
  });

  it("pmap_page_protect of one constituent page demotes, then write-protects that page only", () => {
    const sys = bootSystem(name, { cpus: 1, memoryMiB: 64 });
    sys.host.reservations = true;
    const m = sys.pmap;
    const pm = sys.create();
    sys.on(0, () => pm.activate(0));
    const va = 3 * m.nbpdr;
    const pas = populate(sys, pm, va);
    const pg = sys.host.pageOf(pas[9] as number) as never;
    sys.on(0, () => m.pageProtect(pg, RO));
    expect(sys.counter("vm.pmap.pde.demotions")).toBe(1);
    expect(userPa(sys, 0, va + 9 * PAGE_SIZE, "write")).toBe("fault");
    expect(userPa(sys, 0, va + 10 * PAGE_SIZE, "write")).toBe(pas[10]);
    sys.on(0, () => m.pageProtect(pg, Prot.None));
    expect(userPa(sys, 0, va + 9 * PAGE_SIZE)).toBe("fault");
    sys.check();
  });

  it("no promotion without a full reservation or with pg_ps_enabled off; mixed PG_W is a p_failure", () => {
    for (const [reserv, enabled] of [
      [false, true],
      [true, false],
    ] as const) {
      const sys = bootSystem(name, { cpus: 1, memoryMiB: 64, pmap: { pgPsEnabled: enabled } });
      sys.host.reservations = reserv;
      const pm = sys.create();
      sys.on(0, () => pm.activate(0));
      populate(sys, pm, 4 * sys.pmap.nbpdr);
      expect(sys.counter("vm.pmap.pde.promotions")).toBe(0);
      sys.check();
    }
    // Mixed wiring: the PG_W bits differ, so promotion fails (p_failures) and nothing changes.
    const sys = bootSystem(name, { cpus: 1, memoryMiB: 64 });
    sys.host.reservations = true;
    const pm = sys.create();
    const n = sys.pmap.nptepg;
    const run = sys.host.contiguousRun(n) as NonNullable<ReturnType<typeof sys.host.contiguousRun>>;
    const va = 4 * sys.pmap.nbpdr;
    sys.on(0, () => {
      for (let i = 0; i < n; i++)
        pm.enter(va + i * PAGE_SIZE, run[i] as never, RW, Prot.Write | (i === 7 ? PMAP_WIRED : 0));
    });
    expect(sys.counter("vm.pmap.pde.promotions")).toBe(0);
    expect(sys.counter("vm.pmap.pde.p_failures")).toBe(1);
    sys.check();
  });

  it("a wired superpage stays wired; unwiring one page demotes it", () => {
    const sys = bootSystem(name, { cpus: 1, memoryMiB: 64 });
    sys.host.reservations = true;
    const m = sys.pmap;
    const pm = sys.create();
    const va = 4 * m.nbpdr;
    populate(sys, pm, va, PMAP_WIRED);
    expect(sys.counter("vm.pmap.pde.promotions")).toBe(1);
    expect(pm.wiredCount).toBe(m.nptepg);
    sys.on(0, () => pm.unwire(va + PAGE_SIZE));
    expect(sys.counter("vm.pmap.pde.demotions")).toBe(1);
    expect(pm.wiredCount).toBe(m.nptepg - 1);
    sys.check();
  });

  it("pmap_enter over a kernel superpage panics as FreeBSD 8.0 did", () => {
    const sys = bootSystem(name, { cpus: 1, memoryMiB: 64 });
    const m = sys.pmap;
    // Forge a kernel PS PDE at the end of the kernel page tables' reach, as a promotion would leave.
    const va = m.kernelPtEnd - m.nbpdr;
    sys.on(0, () => {
      const ea = m.pdeVa(sys.cpu(0), m.kernelPmap, va);
      m.win.store(sys.cpu(0), ea, (m.win.load(sys.cpu(0), ea) | PG_PS) >>> 0);
    });
    const pg = sys.host.page();
    expect(panicText(() => sys.on(0, () => m.kernelPmap.enter(va, pg, RW, 0)))).toBe(
      `pmap_enter: attempted pmap_enter on ${m.L.psName} page`,
    );
  });
});
