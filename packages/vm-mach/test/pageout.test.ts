import { KERN_SUCCESS, PAGE_SIZE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { PG_LAUNDRY, Q_ACTIVE, Q_INACTIVE } from "../src/vm_page.js";
import { TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("vm_pageout_scan", () => {
  it("sets its thresholds like vm_pageout(): free_min in [3, 40], free_target above it", () => {
    const t = new TestSystem({ pages: 1024 });
    expect(t.vm.pageout.freeMin).toBe(40);
    expect(t.vm.pageout.freeTarget).toBe(53);
    const small = new TestSystem({ pages: 40 });
    expect(small.vm.pageout.freeMin).toBe(3);
    expect(small.vm.pageout.freeTarget).toBe(4);
  });

  it("a wakeup nobody waits on is one pass: pages it deactivates keep their second chance (conformance #8)", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 2 * P);
    // Free memory under free_min, with no thread short of pages (no allocation was refused).
    const held = [];
    while (t.vm.freePages >= t.vm.freeMin) held.push(t.vm.allocPage({}));
    t.store8(s, a, 1); // the fault enters the first page of an access crossing two pages
    expect(t.vm.pages.pagesNeeded).toBe(false);
    t.vm.pagedaemon(); // the daemon run at the end of that fault
    const pg = t.vm.pages.pageOf(t.pmapOf(s).extract(a) ?? 0);
    expect(pg?.queue).toBe(Q_INACTIVE); // deactivated, not laundered: still mapped
    expect(t.stat("vm.swapout")).toBe(0);
    // The retried access references it before faulting on the second page; the next pass keeps it.
    expect(t.load8(s, a)).toBe(1);
    t.store8(s, a + P, 2);
    t.vm.pagedaemon();
    expect(t.pmapOf(s).extract(a)).toBe(pg?.pa);
    expect(t.pmapOf(s).extract(a + P)).toBeDefined();
    expect(t.stat("vm.swapout")).toBe(0);
    for (const h of held) if (h) t.vm.freePage(h);
    t.audit();
  });

  it("deactivates active pages (clearing their reference bits) and reactivates referenced ones (no swap)", () => {
    const t = new TestSystem({ swapSlots: 0 });
    const s = t.spawn();
    const a = t.mmap(s, 30 * P);
    t.fillPages(s, a, 30 * P, 1);
    const pa0 = t.pmapOf(s).extract(a) ?? 0;
    const pg0 = t.vm.pages.pageOf(pa0);
    expect(pg0?.queue).toBe(Q_ACTIVE);
    expect(t.vm.pages.active.count).toBe(30);
    t.vm.pagedaemon();
    // inactive_target = max((30 + 0) / 3, free_target + 1): all 30 move.
    expect(t.vm.pages.inactive.count).toBe(30);
    expect(pg0?.queue).toBe(Q_INACTIVE);
    expect(t.pmap.isReferenced(pg0 as never)).toBe(false);
    expect((pg0?.flags ?? 0) & PG_LAUNDRY).toBe(PG_LAUNDRY);
    t.audit();
    // Touch page 0 again: the next scan gives it a second chance.
    expect(t.load8(s, a)).toBe(1);
    t.kernel.counters.reset();
    // Make the free count look short so the inactive queue is scanned.
    const held = [];
    while (t.vm.freePages >= t.vm.pageout.freeTarget) held.push(t.vm.allocPage({}));
    t.vm.pageout.scan(); // one vm_pageout_scan (a daemon wakeup may run more than one)
    expect(t.stat("vm.pageout.reactivated")).toBe(1);
    // Dirty anonymous pages cannot be cleaned without swap space: nothing is freed, the data stays;
    // they go back to the active queue (VM_PAGER_FAIL) and the refill deactivates them again.
    expect(t.stat("vm.pageout.freed")).toBe(0);
    expect(t.stat("vm.pageout.nopager")).toBe(29);
    expect(t.stat("vm.pageout.deactivated")).toBe(30);
    expect(pg0?.queue).toBe(Q_INACTIVE);
    t.audit();
    for (const pg of held) if (pg) t.vm.freePage(pg);
    expect(t.readPages(s, a, 30 * P)).toEqual(new Array(30).fill(1));
    t.audit();
  });

  it("counts scans and keeps wired pages off the queues", () => {
    const t = new TestSystem();
    const s = t.spawn();
    const a = t.mmap(s, 4 * P);
    expect(t.vm.wire(s, a, 4 * P, "mlock")).toBe(KERN_SUCCESS);
    t.vm.pagedaemon();
    t.vm.pagedaemon();
    expect(t.stat("vm.pageout.scan")).toBe(2);
    expect(t.vm.pages.active.count + t.vm.pages.inactive.count).toBe(0);
    t.audit();
  });

  it("collapses the chain of a dirty page's object before it would be paged out (no swap)", () => {
    const t = new TestSystem({ swapSlots: 0 });
    const p = t.spawn();
    const a = t.mmap(p, 2 * P);
    t.fillPages(p, a, 2 * P, 1);
    const c = t.fork(p);
    t.store8(p, a, 2); // p: shadow over the original, which c still references
    t.exit(c); // the original now has one reference: collapsible
    expect(t.stat("vm.object.shadow_depth.max")).toBe(2);
    t.vm.pagedaemon(); // deactivate everything
    const held = [];
    while (t.vm.freePages >= t.vm.pageout.freeTarget) held.push(t.vm.allocPage({}));
    t.vm.pagedaemon();
    expect(t.stat("vm.object.shadow_depth.max")).toBe(1);
    for (const pg of held) if (pg) t.vm.freePage(pg);
    expect(t.readPages(p, a, 2 * P)).toEqual([2, 1]);
    t.audit();
  });
});
