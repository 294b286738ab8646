import { KERN_INVALID_ADDRESS, KERN_SUCCESS, MADV_DONTNEED, MADV_FREE, MADV_WILLNEED, PAGE_SIZE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("madvise", () => {
  it("MADV_DONTNEED drops the translations; the data stays", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 3 * P);
    t.fillPages(s, a, 3 * P, 4);
    expect(t.vm.advise(s, a, 2 * P, MADV_DONTNEED)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.pmapOf(s).extract(a + 2 * P)).toBeDefined();
    expect(t.readPages(s, a, 3 * P)).toEqual([4, 4, 4]);
    t.audit();
  });

  it("MADV_DONTNEED keeps the translations of wired memory", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P, { wired: true });
    expect(t.vm.advise(s, a, P, MADV_DONTNEED)).toBe(KERN_SUCCESS);
    expect(t.pmapOf(s).extract(a)).toBeDefined();
    t.audit();
  });

  it("MADV_FREE frees private anonymous pages: not resident after, zeros on the next read (t_mincore)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    t.fillPages(s, a, 4 * P, 7);
    const free0 = t.vm.freePages;
    expect(t.vm.advise(s, a, 4 * P, MADV_FREE)).toBe(KERN_SUCCESS);
    expect(t.vm.freePages).toBe(free0 + 4);
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.readPages(s, a, 4 * P)).toEqual([0, 0, 0, 0]);
    t.audit();
  });

  it("MADV_FREE leaves copy-on-write and shared memory alone (never exposes older data)", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 1);
    const c = t.fork(p);
    t.store8(c, a, 2); // c: shadow with page 0 over the original
    expect(t.vm.advise(c, a, 2 * P, MADV_FREE)).toBe(KERN_SUCCESS);
    expect(t.readPages(c, a, 2 * P)).toEqual([2, 1]);
    expect(t.readPages(p, a, 2 * P)).toEqual([1, 1]);
    const sh = t.mmap(p, P, { shared: true });
    t.store8(p, sh, 3);
    const c2 = t.fork(p);
    expect(t.vm.advise(p, sh, P, MADV_FREE)).toBe(KERN_SUCCESS);
    expect(t.load8(c2, sh)).toBe(3);
    t.audit();
  });

  it("MADV_FREE frees a shadow's pages that have nothing below them, and keeps the others", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 3 * P);
    t.fillPages(p, a, 2 * P, 1); // the original object has pages 0 and 1
    const c = t.fork(p);
    t.store8(c, a + 2 * P, 9); // zero-filled into c's shadow: nothing below it
    t.store8(c, a, 8); // copied up: the original's page 0 is below it
    const free0 = t.vm.freePages;
    expect(t.vm.advise(c, a, 3 * P, MADV_FREE)).toBe(KERN_SUCCESS);
    expect(t.vm.freePages).toBe(free0 + 1);
    expect(t.readPages(c, a, 3 * P)).toEqual([8, 1, 0]);
    t.audit();
  });

  it("MADV_FREE after the chain collapsed frees everything", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.store8(p, a, 1);
    const c = t.fork(p);
    t.exit(p);
    t.store8(c, a + P, 9);
    t.store8(c, a, 8); // the copy-on-write fault collapses c's shadow into the lone original
    expect(t.stat("vm.object.collapse")).toBe(1);
    expect(t.vm.advise(c, a, 2 * P, MADV_FREE)).toBe(KERN_SUCCESS);
    expect(t.readPages(c, a, 2 * P)).toEqual([0, 0]);
    t.audit();
  });

  it("MADV_DONTNEED and MADV_FREE refuse holes; other advice is only recorded", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    expect(t.vm.advise(s, a, 2 * P, MADV_DONTNEED)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.advise(s, a, 2 * P, MADV_FREE)).toBe(KERN_INVALID_ADDRESS);
    expect(t.vm.advise(s, a, P, MADV_WILLNEED)).toBe(KERN_SUCCESS);
    t.audit();
  });
});
