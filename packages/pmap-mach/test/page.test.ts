/**
 * pmap_zero_page / pmap_copy_page through the per-CPU temporary mappings CMAP1/CADDR1 and
 * CMAP2/CADDR2 (NetBSD): the frame touched is the one the MMU translates CADDR to.
 */
import { PAGE_SIZE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { bootSystem, MACHINES } from "./support/toy.js";

describe.each(MACHINES)("%s: zero and copy page", (name) => {
  it("zeroes a page through CADDR2 and charges the CPU", () => {
    const sys = bootSystem(name);
    const pg = sys.vm.page();
    const mem = sys.machine.memory;
    for (let off = 0; off < PAGE_SIZE; off += 4) mem.write32(pg.pa + off, 0xdeadbeef);
    const cpu = sys.cpu(1);
    const before = cpu.cycles;
    sys.on(1, () => sys.pmap.zeroPage(pg));
    for (let off = 0; off < PAGE_SIZE; off += 4) expect(mem.read32(pg.pa + off)).toBe(0);
    expect(cpu.cycles - before).toBeGreaterThanOrEqual(sys.machine.costs.pageZero);
    expect(sys.counter("pmap.zero_page")).toBeGreaterThan(0);
  });

  it("copies a page through CADDR1 → CADDR2, back to back on one CPU (each CMAP is invalidated)", () => {
    const sys = bootSystem(name);
    const mem = sys.machine.memory;
    const [a, b, c, d] = [sys.vm.page(), sys.vm.page(), sys.vm.page(), sys.vm.page()];
    for (let off = 0; off < PAGE_SIZE; off += 4) {
      mem.write32(a.pa + off, off ^ 0x5a5a);
      mem.write32(c.pa + off, off ^ 0x1234);
    }
    sys.on(0, () => {
      sys.pmap.copyPage(a, b);
      sys.pmap.copyPage(c, d); // stale CMAP TLB entries would copy a → b again
    });
    for (let off = 0; off < PAGE_SIZE; off += 4) {
      expect(mem.read32(b.pa + off)).toBe(off ^ 0x5a5a);
      expect(mem.read32(d.pa + off)).toBe(off ^ 0x1234);
    }
    expect(sys.counter("pmap.copy_page")).toBe(2);
  });

  it("each CPU has its own temporary mappings", () => {
    const sys = bootSystem(name, { cpus: 3 });
    const addrs = new Set([...sys.pmap.caddr1, ...sys.pmap.caddr2]);
    expect(addrs.size).toBe(6);
    for (const va of addrs) expect(va).toBeGreaterThanOrEqual(sys.pmap.layout.kernelBase);
  });
});
