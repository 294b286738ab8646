/** vm_phys: the buddy allocator — coalescing on free, splitting on allocation, contiguous runs. */
import { InvariantViolation, PAGE_SIZE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { PG_FREE } from "../src/vm_page.js";
import { VM_FREEPOOL_DEFAULT } from "../src/vm_param.js";
import { LAYOUT_4M, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("vm_phys buddy allocator", () => {
  it("boots with maximal aligned free blocks and one segment per run of managed frames", () => {
    const t = new TestSystem({ pages: 4096 });
    const { phys, param } = t.vm.pages;
    // Two RAM segments, the first four frames stolen: [4p, 160p) and [1 MiB, ...).
    expect(phys.segs.map((s) => [s.start, s.end])).toEqual([
      [4 * P, 160 * P],
      [0x10_0000, 0x10_0000 + (4096 - 160) * P],
    ]);
    expect(phys.buddyFree).toBe(t.vm.freePages);
    // 2 MiB PAE-style parameters: blocks up to order 9 (i386-like layout below 4 GiB).
    expect(param.level0Order).toBe(9);
    expect(param.nfreeorder).toBe(10);
    expect(phys.listCount(VM_FREEPOOL_DEFAULT, 9)).toBeGreaterThan(0);
    t.audit();
  });

  it("non-PAE i386 superpages: 4 MiB reservations, VM_NFREEORDER 11", () => {
    const t = new TestSystem({ pages: 4096, layout: LAYOUT_4M });
    expect(t.vm.pages.param.level0Npages).toBe(1024);
    expect(t.vm.pages.param.nfreeorder).toBe(11);
    t.audit();
  });

  it("splits a larger block for a single page and coalesces it back on free", () => {
    const t = new TestSystem({ pages: 4096 });
    const { phys } = t.vm.pages;
    const before = [0, 1, 2, 3, 9].map((o) => phys.listCount(VM_FREEPOOL_DEFAULT, o) + phys.listCount(1, o));
    const pg = t.vm.allocPage({});
    expect(pg).not.toBeNull();
    expect(t.stat("vm.phys.split")).toBeGreaterThan(0);
    t.audit();
    t.vm.freePage(pg as NonNullable<typeof pg>);
    expect(t.stat("vm.phys.merge")).toBeGreaterThan(0);
    const after = [0, 1, 2, 3, 9].map((o) => phys.listCount(VM_FREEPOOL_DEFAULT, o) + phys.listCount(1, o));
    expect(after).toEqual(before);
    t.audit();
  });

  it("allocates physically contiguous, aligned runs and gives back the excess", () => {
    const t = new TestSystem({ pages: 4096 });
    const { phys } = t.vm.pages;
    const free0 = phys.buddyFree;
    const m = phys.allocContig(5, 0, 2 ** 32, 0x4000, 0);
    expect(m).not.toBeNull();
    const head = m as NonNullable<typeof m>;
    expect(head.pa % 0x4000).toBe(0);
    for (let i = 0; i < 5; i++) {
      const pg = t.vm.pages.pages[head.index + i];
      expect(pg?.pa).toBe(head.pa + i * P);
    }
    expect(phys.buddyFree).toBe(free0 - 5);
    // Hand the run back (as vm_page_free would) and everything coalesces again.
    for (let i = 0; i < 5; i++) phys.freePages(t.vm.pages.pages[head.index + i] as NonNullable<typeof m>, 0);
    expect(phys.buddyFree).toBe(free0);
    t.audit();
    // Nothing fits above the end of RAM, or across a boundary it cannot avoid.
    expect(phys.allocContig(4, 2 ** 40, 2 ** 41, 0, 0)).toBeNull();
    expect(phys.allocContig(2, 0, 2 ** 32, 0, P)).toBeNull();
  });

  it("the audit catches a page missing from the free lists and an uncoalesced buddy", () => {
    const t = new TestSystem({ pages: 1024 });
    const pg = t.vm.pages.pages[10];
    if (!pg) throw new Error("no page");
    pg.flags &= ~PG_FREE;
    expect(() => t.audit()).toThrow(InvariantViolation);
    pg.flags |= PG_FREE;
    t.audit();
    const { phys } = t.vm.pages;
    const m = phys.allocPages(VM_FREEPOOL_DEFAULT, 1) as NonNullable<ReturnType<typeof phys.allocPages>>;
    // Put the two halves back as two order-0 blocks without letting them merge: not coalesced.
    const lists = phys.freeQueues[VM_FREEPOOL_DEFAULT] as { head: unknown; lcnt: number }[];
    const second = t.vm.pages.pages[m.index + 1] as typeof m;
    for (const x of [m, second]) {
      x.order = 0;
      x.pool = 0;
      x.fprev = null;
      x.fnext = lists[0]?.head as typeof m | null;
      if (x.fnext) x.fnext.fprev = x;
      (lists[0] as { head: unknown }).head = x;
      (lists[0] as { lcnt: number }).lcnt++;
    }
    phys.buddyFree += 2;
    expect(() => t.audit()).toThrow(/buddy coalesced/);
  });
});
