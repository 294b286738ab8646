import { KERN_INVALID_ADDRESS, KERN_PROTECTION_FAILURE, KERN_SUCCESS, PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { UVM_AMAP_CHUNK } from "../src/uvm_amap.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("uvm_fault: the four cases", () => {
  it("2B zero-fill: a private anonymous page reads zero and gets an amap at the first write", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    const [e] = t.entries(s);
    expect(e?.needsCopy).toBe(true);
    expect(e?.amap).toBeNull();
    expect(t.load8(s, a)).toBe(0);
    expect(t.stat("vm.fault.zerofill")).toBe(1);
    t.store8(s, a + P, 7);
    expect(t.load8(s, a + P)).toBe(7);
    const [e2] = t.entries(s);
    expect(e2?.needsCopy).toBe(false);
    expect(e2?.amap?.nused).toBe(2);
    t.audit();
  });

  it("an untouched large entry is chunked around the fault by amap_copy (UVM_AMAP_CHUNK)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 512 * P);
    t.store8(s, a + 100 * P, 1);
    const es = t.entries(s);
    expect(es.length).toBe(3);
    expect(es[1]?.pages).toBe(UVM_AMAP_CHUNK);
    const chunk = es[1] as { start: number; end: number };
    expect(chunk.start % (UVM_AMAP_CHUNK * P)).toBe(0);
    expect(chunk.start <= a + 100 * P && a + 100 * P < chunk.end).toBe(true);
    t.audit();
  });

  it("1A: the anon is used in place; 1B: copy-on-write of a shared anon after fork", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 5);
    const c = t.fork(p);
    expect(t.pageAtVa(c, a)).toBeUndefined();
    expect(t.load8(c, a)).toBe(5);
    // Shared anon, mapped read-only in both.
    expect(t.pageAtVa(c, a)).toBe(t.pageAtVa(p, a));
    expect(t.pmapOf(c).protOf(a)).toBe(Prot.Read);
    t.store8(c, a, 6);
    expect(t.stat("vm.fault.cow")).toBe(1);
    expect(t.pageAtVa(c, a)).not.toBe(t.pageAtVa(p, a));
    expect(t.load8(p, a)).toBe(5);
    // The parent's anon is back to one reference: its write is 1A, no copy.
    t.store8(p, a, 9);
    expect(t.stat("vm.fault.cow")).toBe(1);
    expect(t.load8(c, a)).toBe(6);
    t.audit();
  });

  it("protection and unmapped addresses", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { prot: Prot.Read });
    expect(t.vm.fault(s, a, Prot.Write)).toBe(KERN_PROTECTION_FAILURE);
    expect(t.vm.fault(s, a + 16 * P, Prot.Read)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.fault(s, a, Prot.Read)).toBe(KERN_SUCCESS);
    t.audit();
  });

  it("MAP_SHARED anonymous memory has its amap at once and is shared with the child", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P, { shared: true });
    expect(t.entries(p)[0]?.amap).not.toBeNull();
    const c = t.fork(p);
    t.store8(c, a, 3);
    expect(t.load8(p, a)).toBe(3);
    t.store8(p, a + P, 4);
    expect(t.load8(c, a + P)).toBe(4);
    expect(t.entries(p)[0]?.amap).toBe(t.entries(c)[0]?.amap);
    t.audit();
    t.exit(c);
    t.audit();
  });

  it("copy-inheriting a shared amap copies it for the child now; the parent stays shared", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P, { shared: true });
    t.fillPages(p, a, 2 * P, 1);
    const sib = t.fork(p);
    expect(t.vm.inherit(p, a, 2 * P, 1)).toBe(KERN_SUCCESS);
    const c = t.fork(p);
    t.store8(p, a, 2);
    expect(t.load8(sib, a)).toBe(2);
    expect(t.load8(c, a)).toBe(1);
    t.store8(c, a + P, 3);
    expect(t.load8(p, a + P)).toBe(1);
    t.audit();
  });

  it("fork chains share amaps instead of shadow chains, and exits free everything", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 4 * P);
    t.fillPages(p, a, 4 * P, 1);
    const free0 = t.vm.freePages;
    let cur = p;
    const kids = [];
    for (let i = 0; i < 5; i++) {
      const c = t.fork(cur);
      t.store8(c, a + (i % 4) * P, 10 + i);
      kids.push(c);
      cur = c;
    }
    t.audit();
    expect(t.readPages(p, a, 4 * P)).toEqual([1, 1, 1, 1]);
    expect(t.readPages(cur, a, 4 * P)).toEqual([14, 11, 12, 13]);
    for (const c of kids.reverse()) t.exit(c);
    t.audit();
    expect(t.vm.freePages).toBeGreaterThanOrEqual(free0);
  });

  it("INHERIT_NONE and INHERIT_ZERO", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    const b = t.mmap(p, P);
    t.store8(p, a, 1);
    t.store8(p, b, 2);
    t.vm.inherit(p, a, P, 2);
    t.vm.inherit(p, b, P, 4);
    const c = t.fork(p);
    expect(t.vm.fault(c, a, Prot.Read)).toBe(KERN_INVALID_ADDRESS);
    expect(t.load8(c, b)).toBe(0);
    expect(t.load8(p, b)).toBe(2);
    t.audit();
  });

  it("mprotect never grants write on copy-on-write memory; the write fault copies", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, P);
    t.store8(p, a, 1);
    const c = t.fork(p);
    expect(t.vm.protect(p, a, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    expect(t.vm.protect(p, a, P, RW, false)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(p).protOf(a)).toBe(Prot.Read);
    t.store8(p, a, 2);
    expect(t.load8(c, a)).toBe(1);
    t.audit();
  });

  it("clipping splits the amap reference (ppref) and unmapping part frees only that part's anons", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 1);
    const amap = t.entries(s)[0]?.amap;
    expect(amap?.ppref).toBeNull();
    const anonsBefore = t.stat("vm.anon.free");
    expect(t.vm.unmap(s, a + P, P)).toBe(KERN_SUCCESS);
    expect(amap?.ref).toBe(2);
    expect(amap?.ppref).not.toBeNull();
    expect(t.stat("vm.anon.free")).toBe(anonsBefore + 1);
    expect(t.readPages(s, a, P)).toEqual([1]);
    expect(t.readPages(s, a + 2 * P, 2 * P)).toEqual([1, 1]);
    t.audit();
  });
});
