import {
  KERN_MEMORY_ERROR,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  PAGE_SIZE,
  Prot,
  type VmPage,
  type VmSpace,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { SwapPager } from "../src/swap_pager.js";
import { IO_NONE, IO_WRITE, PG_BUSY, PG_CLEAN, Q_ACTIVE, Q_INACTIVE } from "../src/vm_page.js";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

/** Take free pages until the daemon would have to work; give them back with the returned function. */
function squeeze(t: TestSystem, below = t.vm.pageout.freeTarget): () => void {
  const held: VmPage[] = [];
  while (t.vm.freePages >= below) {
    const pg = t.vm.allocPage({});
    if (!pg) break;
    held.push(pg);
  }
  return () => {
    for (const pg of held) t.vm.freePage(pg);
  };
}

function pageAt(t: TestSystem, s: VmSpace, va: number) {
  const pa = t.pmapOf(s).extract(va);
  return pa === undefined ? undefined : t.vm.pages.pageOf(pa);
}

describe("swap pager and vm_pageout_scan", () => {
  it("launders dirty anonymous pages to swap asynchronously: busy until the completion interrupt, then clean and freed", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 8 * P);
    for (let i = 0; i < 8; i++) t.store8(s, a + i * P, 10 + i);
    const pg3 = pageAt(t, s, a + 3 * P);
    t.vm.pagedaemon(); // deactivate
    const release = squeeze(t, t.vm.freeMin);
    t.kernel.counters.reset();
    t.vm.pagedaemon(); // launder
    expect(t.stat("vm.swapout")).toBe(8);
    expect(t.stat("vm.pageout.freed")).toBe(0);
    expect(t.io.queue.length).toBe(8);
    // In flight: busy, under a pager write, still on the inactive queue, mappings gone.
    expect((pg3?.flags ?? 0) & PG_BUSY).toBe(PG_BUSY);
    expect(pg3?.io).toBe(IO_WRITE);
    expect(pg3?.queue).toBe(Q_INACTIVE);
    expect(t.pmapOf(s).extract(a + 3 * P)).toBeUndefined();
    t.audit();
    // Another pass never frees a busy page.
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout.freed")).toBe(0);
    t.io.complete();
    expect((pg3?.flags ?? 0) & (PG_BUSY | PG_CLEAN)).toBe(PG_CLEAN);
    t.audit();
    // Clean now: the next pass frees them.
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout.freed")).toBe(8);
    expect(pg3?.object).toBeNull();
    t.audit();
    release();
    // Read back from swap.
    for (let i = 0; i < 8; i++) expect(t.load8(s, a + i * P)).toBe(10 + i);
    expect(t.stat("vm.swapin")).toBe(8);
    t.audit();
    t.exit(s);
    expect(t.io.swapFreeSlots).toBe(t.io.swapSlots);
    expect(t.vm.swapInUse).toBe(0);
    t.audit();
  });

  it("a page read back from swap keeps its slot while clean and is freed again without a write", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    t.store8(s, a, 1);
    t.store8(s, a + P, 2);
    t.vm.pagedaemon();
    let release = squeeze(t);
    t.vm.pagedaemon();
    t.io.complete();
    t.vm.pagedaemon();
    release();
    expect(t.load8(s, a)).toBe(1); // read: clean again
    expect(t.vm.swapInUse).toBe(2);
    t.kernel.counters.reset();
    t.vm.pagedaemon();
    release = squeeze(t);
    t.vm.pagedaemon();
    expect(t.stat("vm.swapout")).toBe(0);
    expect(t.stat("vm.pageout.freed")).toBeGreaterThanOrEqual(1);
    release();
    expect(t.load8(s, a)).toBe(1);
    t.store8(s, a, 7); // dirty again: the next pageout rewrites the same slot
    t.vm.pagedaemon();
    release = squeeze(t);
    t.vm.pagedaemon();
    t.io.complete();
    t.vm.pagedaemon();
    release();
    expect(t.vm.swapInUse).toBe(2);
    expect(t.readPages(s, a, 2 * P)).toEqual([7, 2]);
    t.audit();
  });

  it("a fault on a page being written out sleeps until it is unbusied (PG_WANTED, vm.page.busy_wait)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 42);
    const pg = pageAt(t, s, a);
    t.vm.pagedaemon();
    const release = squeeze(t);
    t.vm.pagedaemon();
    release();
    expect(t.io.queue.length).toBe(1);
    t.kernel.counters.reset();
    t.store8(s, a, 43); // the write fault waits for the pageout's completion
    expect(t.stat("vm.page.busy_wait")).toBe(1);
    expect(t.io.queue.length).toBe(0);
    expect(pageAt(t, s, a)).toBe(pg);
    expect(pg?.queue).toBe(Q_ACTIVE);
    expect(t.load8(s, a)).toBe(43);
    t.audit();
    // Modified after the write started: dirty again, so the daemon writes it again.
    t.vm.pagedaemon();
    const r2 = squeeze(t);
    t.kernel.counters.reset();
    t.vm.pagedaemon();
    expect(t.stat("vm.swapout")).toBe(1);
    t.io.complete();
    r2();
    t.audit();
  });

  it("second chance: a page referenced after deactivation is reactivated, an unreferenced one laundered", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    t.store8(s, a, 1);
    t.store8(s, a + P, 2);
    t.vm.pagedaemon(); // both inactive, reference bits cleared
    const p0 = pageAt(t, s, a);
    const p1 = pageAt(t, s, a + P);
    expect(t.pmap.isReferenced(p0 as VmPage)).toBe(false);
    t.load8(s, a); // referenced again
    const release = squeeze(t);
    t.kernel.counters.reset();
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout.reactivated")).toBe(1);
    expect(t.stat("vm.swapout")).toBe(1);
    // p0 went back to the active queue (the refill may deactivate it again, bits cleared); p1 is laundered.
    expect(p0?.io).toBe(IO_NONE);
    expect((p0?.flags ?? 0) & PG_BUSY).toBe(0);
    expect(p1?.io).toBe(IO_WRITE);
    t.io.complete();
    release();
    expect(t.readPages(s, a, 2 * P)).toEqual([1, 2]);
    t.audit();
  });

  it("the swap pager is allocated lazily, at the first pageout of an object, and moves up in a collapse", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 5);
    const obj = pageAt(t, s, a)?.object;
    expect(obj?.pager).toBeNull();
    t.vm.pagedaemon();
    const release = squeeze(t);
    t.vm.pagedaemon();
    expect(obj?.pager).toBeInstanceOf(SwapPager);
    t.io.complete();
    release();
    t.audit();
    // Fork + child write + child exit: the parent's backing object has the pager.
    const c = t.fork(s);
    t.store8(s, a, 6); // parent shadows
    t.exit(c);
    t.audit();
    expect(t.load8(s, a)).toBe(6);
    t.exit(s);
    expect(t.vm.swapInUse).toBe(0);
    t.audit();
  });

  it("an I/O error on swap-in is KERN_MEMORY_ERROR (SIGBUS), and the data stays on swap", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 9);
    t.vm.pagedaemon();
    const release = squeeze(t);
    t.vm.pagedaemon();
    t.io.complete();
    t.vm.pagedaemon();
    release();
    t.io.failNext = 1;
    expect(t.vm.fault(s, a, Prot.Read)).toBe(KERN_MEMORY_ERROR);
    expect(t.stat("vm.pager.error")).toBe(1);
    t.audit();
    expect(t.load8(s, a)).toBe(9);
    t.audit();
  });

  it("a failed swap write leaves the page dirty for the next scan; nothing is lost", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, P);
    t.store8(s, a, 3);
    const pg = pageAt(t, s, a);
    t.vm.pagedaemon();
    const release = squeeze(t);
    t.io.failNext = 1;
    t.vm.pagedaemon();
    t.io.complete();
    expect((pg?.flags ?? 0) & PG_CLEAN).toBe(0);
    t.vm.pagedaemon(); // retried
    t.io.complete();
    t.vm.pagedaemon();
    release();
    expect(t.load8(s, a)).toBe(3);
    t.audit();
  });

  it("out of swap: dirty anonymous pages stay; a fault that can never get a page is KERN_RESOURCE_SHORTAGE", () => {
    const t = new TestSystem({ pages: 96, swapSlots: 16 });
    const victim = t.spawn();
    const v = t.mmap(victim, 40 * P);
    for (let i = 0; i < 40; i++) t.store8(victim, v + i * P, i + 1);
    const other = t.spawn();
    const o = t.mmap(other, 8 * P);
    for (let i = 0; i < 8; i++) t.store8(other, o + i * P, 100 + i);
    // Grow the victim until memory and swap are gone.
    const big = t.mmap(victim, 200 * P);
    let rv = KERN_SUCCESS;
    for (let i = 0; i < 200 && rv === KERN_SUCCESS; i++) rv = t.tryStore(victim, big + i * P, 7);
    expect(rv).toBe(KERN_RESOURCE_SHORTAGE);
    expect(t.io.swapFreeSlots).toBe(0);
    t.audit();
    // The kernel kills the largest process; the other one has lost nothing.
    t.exit(victim);
    t.audit();
    for (let i = 0; i < 8; i++) expect(t.load8(other, o + i * P)).toBe(100 + i);
    t.audit();
    t.exit(other);
    expect(t.vm.swapInUse).toBe(0);
    expect(t.io.swapFreeSlots).toBe(16);
    t.audit();
  });

  it("under memory pressure faults sleep in VM_WAIT while the daemon swaps: more data than RAM survives", () => {
    const t = new TestSystem({ pages: 128, swapSlots: 512 });
    const s = t.spawn();
    const n = 300;
    const a = t.mmap(s, n * P);
    for (let i = 0; i < n; i++) t.store8(s, a + i * P, (i * 7) & 0xff);
    expect(t.stat("vm.swapout")).toBeGreaterThan(150);
    expect(t.stat("vm.page.wait")).toBeGreaterThan(0);
    t.audit();
    for (let i = 0; i < n; i++) expect(t.load8(s, a + i * P)).toBe((i * 7) & 0xff);
    expect(t.stat("vm.swapin")).toBeGreaterThan(150);
    t.audit();
    const c = t.fork(s);
    for (let i = 0; i < n; i += 3) t.store8(c, a + i * P, 1);
    for (let i = 0; i < n; i++) {
      expect(t.load8(s, a + i * P)).toBe((i * 7) & 0xff);
      expect(t.load8(c, a + i * P)).toBe(i % 3 === 0 ? 1 : (i * 7) & 0xff);
    }
    t.audit();
    t.exit(c);
    t.exit(s);
    expect(t.vm.swapInUse).toBe(0);
    t.audit();
  });

  it("never frees wired pages; mlock pages them back in", () => {
    const t = new TestSystem({ pages: 128 });
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    for (let i = 0; i < 4; i++) t.store8(s, a + i * P, 20 + i);
    t.vm.pagedaemon();
    const release = squeeze(t);
    t.vm.pagedaemon();
    t.io.complete();
    t.vm.pagedaemon();
    release();
    expect(t.pmapOf(s).extract(a)).toBeUndefined();
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    for (let i = 0; i < 4; i++) expect(pageAt(t, s, a + i * P)?.wireCount).toBe(1);
    const r2 = squeeze(t);
    t.vm.pagedaemon();
    t.vm.pagedaemon();
    r2();
    for (let i = 0; i < 4; i++) expect(t.pmapOf(s).extract(a + i * P)).toBeDefined();
    expect(t.readPages(s, a, 4 * P)).toEqual([20, 21, 22, 23]);
    t.audit();
  });
});
