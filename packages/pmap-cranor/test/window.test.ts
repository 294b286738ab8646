/**
 * pmap_map_ptes: the current pmap through PTE_BASE, any other through APDP_PDE (APTE_BASE),
 * flushing only when the old alternate entry was valid; both pmaps locked in address order; and
 * pmap_tmpmap_pvepte reaching one PTE without touching APDP_PDE.
 */
import { PAGE_SIZE, PMAP_WIRED } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES, RW, userPa } from "./support/host.js";

const VA = 0x80_0000;

describe.each(MACHINES)("%s: pmap_map_ptes", (name) => {
  it("a foreign pmap is entered through APTE_BASE; the first switch of an empty slot does not flush", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const a = sys.create();
    const b = sys.create();
    const c = sys.create();
    a.activate(0);
    const pa = sys.host.page();
    const pb = sys.host.page();
    const pc = sys.host.page();
    a.enter(VA, pa, RW, 0); // current: PTE_BASE
    const sw0 = sys.counter("pmap.window.switch");
    const fl0 = sys.counter("pmap.window.flush");
    b.enter(VA, pb, RW, 0); // a's APDP_PDE was invalid: load it, no flush
    expect(sys.counter("pmap.window.switch") - sw0).toBe(1);
    expect(sys.counter("pmap.window.flush") - fl0).toBe(0);
    b.enter(VA + PAGE_SIZE, pb, RW, 0); // same pmap: the slot already names it
    expect(sys.counter("pmap.window.switch") - sw0).toBe(1);
    expect(sys.counter("pmap.window.flush") - fl0).toBe(0);
    c.enter(VA, pc, RW, 0); // the old entry (b) was valid: switch and flush
    expect(sys.counter("pmap.window.switch") - sw0).toBe(2);
    expect(sys.counter("pmap.window.flush") - fl0).toBe(1);
    expect(b.extract(VA)).toBe(pb.pa); // back to b: valid old entry again
    expect(sys.counter("pmap.window.switch") - sw0).toBe(3);
    expect(sys.counter("pmap.window.flush") - fl0).toBe(2);
    // a's own mapping was never touched
    expect(userPa(sys, 0, VA)).toBe(pa.pa);
    b.activate(0);
    expect(userPa(sys, 0, VA)).toBe(pb.pa);
    expect(userPa(sys, 0, VA + PAGE_SIZE)).toBe(pb.pa);
    c.activate(0);
    expect(userPa(sys, 0, VA)).toBe(pc.pa);
    sys.check();
  });

  it("the current pmap and the kernel pmap never switch the window", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const a = sys.create();
    a.activate(0);
    const sw0 = sys.counter("pmap.window.switch");
    a.enter(VA, sys.host.page(), RW, 0);
    a.remove(VA, VA + PAGE_SIZE);
    sys.host.kmemAlloc(2 * PAGE_SIZE); // kernel pmap_enter
    sys.pmap.kenter(sys.host.kvaAlloc(PAGE_SIZE), sys.host.page().pa, RW);
    expect(sys.counter("pmap.window.switch")).toBe(sw0);
    sys.check();
  });

  it("locks the foreign and the current pmap, in address order, and releases both", () => {
    const sys = bootSystem(name, { cpus: 1, witness: "panic" });
    const low = sys.create();
    const high = sys.create();
    high.activate(0);
    const held: string[][] = [];
    const spy = (pm: typeof low) => {
      const lock = pm.lock;
      const orig = lock.lock.bind(lock);
      lock.lock = (where?: string) => {
        orig(where);
        held.push(sys.witness.heldBy().map((h) => h.name));
      };
    };
    spy(low);
    spy(high);
    low.enter(VA, sys.host.page(), RW, 0);
    // low (id smaller) was taken first, then high (the current pmap)
    const last = held[held.length - 1] as string[];
    expect(last.indexOf(`pmap ${low.id}`)).toBeLessThan(last.indexOf(`pmap ${high.id}`));
    expect(sys.witness.heldBy()).toEqual([]);
    high.enter(VA, sys.host.page(), RW, 0);
    expect(sys.witness.reports).toEqual([]);
  });

  it("pmap_is_modified reads a foreign PTE with pmap_tmpmap_pvepte, not through APDP_PDE", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const a = sys.create();
    const b = sys.create();
    const pg = sys.host.page();
    b.enter(VA, pg, RW, 0);
    b.activate(0);
    expect(userPa(sys, 0, VA, "write")).toBe(pg.pa); // the MMU sets PG_M
    a.activate(0);
    const sw0 = sys.counter("pmap.window.switch");
    expect(sys.pmap.isModified(pg)).toBe(true);
    expect(sys.counter("pmap.window.switch")).toBe(sw0);
    // the temporary mapping is gone again
    expect(
      sys.on(0, () => sys.cpu(0).translate(sys.pmap.win.specialPage(0, 3), { access: "read", user: false })),
    ).toHaveProperty("fault");
    sys.check();
  });

  it("SMP: a CPU flushes APTE translations of another pmap even when the shared slot already matches", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    const b = sys.create();
    const c = sys.create();
    a.activate(0);
    a.activate(1);
    const pb = sys.host.page();
    const pc = sys.host.page();
    sys.on(0, () => {
      b.enter(VA, pb, RW, 0);
      c.enter(VA, pc, RW, 0);
    });
    expect(sys.on(1, () => b.extract(VA))).toBe(pb.pa); // CPU 1 caches b through APTE_BASE
    expect(sys.on(0, () => c.extract(VA))).toBe(pc.pa); // the shared slot now names c
    expect(sys.on(1, () => c.extract(VA))).toBe(pc.pa);
    expect(sys.on(1, () => b.extract(VA))).toBe(pb.pa);
    sys.check();
  });

  it("a page-table page freed and replaced behind APTE_BASE is not read through a stale translation", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const b = sys.create();
    const p1 = sys.host.page();
    const p2 = sys.host.page();
    sys.on(1, () => b.enter(VA, p1, RW, PMAP_WIRED));
    expect(sys.on(1, () => b.extract(VA))).toBe(p1.pa);
    sys.on(0, () => {
      b.remove(VA, VA + PAGE_SIZE); // frees b's page tables
      sys.host.page(); // take the freed frames so new tables land elsewhere
      sys.host.page();
      sys.host.page();
      b.enter(VA, p2, RW, 0);
    });
    expect(sys.on(1, () => b.extract(VA))).toBe(p2.pa);
    sys.check();
  });
});
