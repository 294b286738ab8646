import {
  KERN_INVALID_ADDRESS,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  PAGE_SIZE,
  PMAP_WIRED,
  Prot,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { RW, TestSystem } from "./support/system.js";

describe("vm_fault", () => {
  it("zero-fills anonymous memory on first touch, read or write", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * PAGE_SIZE);
    expect(t.load8(s, a)).toBe(0);
    expect(t.load8(s, a + PAGE_SIZE + 17)).toBe(0);
    t.store8(s, a + 2 * PAGE_SIZE + 5, 0x42);
    expect(t.load8(s, a + 2 * PAGE_SIZE + 5)).toBe(0x42);
    expect(t.stat("vm.fault.zerofill")).toBe(3);
    expect(t.stat("vm.fault.cow")).toBe(0);
    t.audit();
  });

  it("maps a read fault read-only only where the data is copy-on-write; private memory is writable", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, PAGE_SIZE);
    t.load8(s, a);
    expect(t.pmapOf(s).protOf(a)).toBe(RW);
    t.audit();
  });

  it("answers KERN_INVALID_ADDRESS outside any entry and KERN_PROTECTION_FAILURE against the entry's protection", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, PAGE_SIZE, { prot: Prot.Read });
    expect(t.vm.fault(s, a + PAGE_SIZE, Prot.Read)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.fault(s, a, Prot.Write)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.fault(s, a, Prot.Read)).toBe(KERN_SUCCESS);
    const none = t.mmap(s, PAGE_SIZE, { prot: Prot.None });
    expect(t.vm.fault(s, none, Prot.Read)).toBe(KERN_PROTECTION_FAILURE);
    t.audit();
  });

  it("passes the access type in pmap_enter's low bits and PMAP_WIRED for wired faults", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, PAGE_SIZE);
    const calls: number[] = [];
    const pm = t.pmapOf(s);
    const enter = pm.enter.bind(pm);
    pm.enter = (va, pg, prot, flags) => {
      calls.push(flags);
      return enter(va, pg, prot, flags);
    };
    t.store8(s, a, 1);
    expect((calls[0] as number) & 7).toBe(Prot.Write);
    expect((calls[0] as number) & PMAP_WIRED).toBe(0);
    expect(t.vm.wire(s, a, PAGE_SIZE, "mlock")).toBe(KERN_SUCCESS);
    expect((calls[1] as number) & PMAP_WIRED).toBe(PMAP_WIRED);
    expect(pm.maps.get(a)?.wired).toBe(true);
    t.audit();
  });

  it("returns KERN_RESOURCE_SHORTAGE when no page is free, and succeeds once one is", () => {
    const t = new TestSystem({ pages: 64 });
    const s = t.spawn();
    const a = t.mmap(s, PAGE_SIZE);
    const held = [];
    for (let pg = t.vm.allocPage({}); pg; pg = t.vm.allocPage({})) held.push(pg);
    expect(t.vm.freePages).toBe(0);
    expect(t.vm.fault(s, a, Prot.Write)).toBe(KERN_RESOURCE_SHORTAGE);
    t.audit();
    for (const pg of held) t.vm.freePage(pg);
    expect(t.vm.fault(s, a, Prot.Write)).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("returns KERN_RESOURCE_SHORTAGE when pmap_enter fails under PMAP_CANFAIL, leaving the page cached", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, PAGE_SIZE);
    t.pmap.failEnters = 1;
    expect(t.vm.fault(s, a, Prot.Write)).toBe(KERN_RESOURCE_SHORTAGE);
    t.audit();
    t.store8(s, a, 7);
    expect(t.load8(s, a)).toBe(7);
    t.audit();
  });

  it("counts every fault in vm.fault", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * PAGE_SIZE);
    t.load8(s, a);
    t.store8(s, a + PAGE_SIZE, 1);
    expect(t.stat("vm.fault")).toBe(2);
  });
});
