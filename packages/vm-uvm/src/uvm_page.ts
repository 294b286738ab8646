/**
 * vm_page: the page array, the free list and the paging queues (NetBSD sys/uvm/uvm_page.[ch],
 * uvm_pglist; netbsd_uvm.md §2.5).
 *
 * One UvmPage per managed frame (the RAM segments minus the frames the pmap stole at bootstrap).
 * A page belongs to a uvm_object at an offset (`uobject`), to an anon (`uanon`, PQ_ANON), to the
 * pmap/kernel through the PmapHost (PG_HOST, a vmlab flag: page-table pages, pv pages), or to
 * nobody (free). Unwired owned pages sit on the active or inactive queue; wired pages sit on none
 * (uvm_pagewire dequeues them). `wireCount` counts wirings, not mappings (§2.5).
 */
import { hex, type KernelServices, type PAddr, PAGE_SIZE, type PhysSegment, type PmapModule, Prot } from "@vmlab/core";
import type { VmAnon } from "./uvm_anon.js";
import type { UvmObject } from "./uvm_object.js";
import type { UvmCounters } from "./uvm_stat.js";

// uvm_page.h pg->flags (NetBSD 1.4 values).
export const PG_BUSY = 0x0001;
export const PG_WANTED = 0x0002;
export const PG_TABLED = 0x0004;
export const PG_CLEAN = 0x0008;
export const PG_PAGEOUT = 0x0010;
export const PG_RELEASED = 0x0020;
export const PG_FAKE = 0x0040;
export const PG_RDONLY = 0x0080;
/** vmlab: allocated to the pmap or kernel through PmapHost.allocPage (no owner, no queue). */
export const PG_HOST = 0x1000;
/** vmlab: the last transfer of this page failed (EIO); the fault that waited reports it. */
export const PG_IOERROR = 0x2000;
/**
 * vmlab: a transfer is in flight. A synchronous read (PGO_SYNCIO) leaves PG_BUSY to the thread
 * that started it when it completes — the page is returned to it busy, as pgo_get does — so
 * nothing (the pagedaemon least of all) can take the page between the interrupt and its use.
 */
export const PG_INIO = 0x4000;

// uvm_page.h pg->pqflags.
export const PQ_FREE = 0x0001;
export const PQ_INACTIVE = 0x0002;
export const PQ_ACTIVE = 0x0004;
export const PQ_ANON = 0x0010;
export const PQ_AOBJ = 0x0020;
export const PQ_SWAPBACKED = PQ_ANON | PQ_AOBJ;

/** struct vm_page */
export class UvmPage {
  wireCount = 0;
  /** loan_count: loans of this page to the kernel or to anons (uvm_loan.c). */
  loanCount = 0;
  md: unknown = undefined;
  flags = 0;
  pqflags = 0;
  uobject: UvmObject | null = null;
  offset = 0;
  uanon: VmAnon | null = null;
  /** pageq links */
  qprev: UvmPage | null = null;
  qnext: UvmPage | null = null;

  constructor(
    readonly pa: PAddr,
    readonly index: number,
  ) {}
}

/** A TAILQ of pages linked through pageq; `flag` is the PQ_ bit of pages on it. */
export class PageQueue {
  head: UvmPage | null = null;
  tail: UvmPage | null = null;
  count = 0;

  constructor(
    readonly flag: number,
    readonly name: string,
  ) {}

  insertTail(pg: UvmPage): void {
    pg.pqflags |= this.flag;
    pg.qnext = null;
    pg.qprev = this.tail;
    if (this.tail) this.tail.qnext = pg;
    else this.head = pg;
    this.tail = pg;
    this.count++;
  }

  remove(pg: UvmPage): void {
    if (pg.qprev) pg.qprev.qnext = pg.qnext;
    else this.head = pg.qnext;
    if (pg.qnext) pg.qnext.qprev = pg.qprev;
    else this.tail = pg.qprev;
    pg.qprev = pg.qnext = null;
    pg.pqflags &= ~this.flag;
    this.count--;
  }
}

interface SegmentIndex {
  readonly base: PAddr;
  readonly frames: number;
  readonly index: Int32Array;
}

/** What the page layer calls when free memory runs low (uvm_pagealloc's wakeup of the daemon). */
export type LowMemory = () => void;

/**
 * uvm_page_init, uvm_pagealloc, uvm_pagefree, uvm_pagewire, uvm_pageunwire,
 * uvm_pageactivate, uvm_pagedeactivate, uvm_pagezero, uvm_pagecopy, and uvmpd_tune's thresholds.
 */
export class PageArray {
  readonly pages: UvmPage[] = [];
  readonly free = new PageQueue(PQ_FREE, "free");
  readonly active = new PageQueue(PQ_ACTIVE, "active");
  readonly inactive = new PageQueue(PQ_INACTIVE, "inactive");
  /** uvmexp.wired: managed object/anon pages with wire_count > 0 (host pages excluded). */
  wired = 0;
  /** Pages handed out through the PmapHost. */
  hostPages = 0;
  /** uvmexp.freemin / freetarg (uvmpd_tune). */
  readonly freeMin: number;
  readonly freeTarg: number;
  lowMemory: LowMemory = () => {};
  private readonly segs: SegmentIndex[] = [];

  constructor(
    private readonly kernel: KernelServices,
    private readonly pmap: PmapModule,
    private readonly counters: UvmCounters,
    segments: readonly PhysSegment[],
    stolen: readonly PAddr[],
  ) {
    const stolenSet = new Set(stolen);
    const sorted = [...segments].sort((a, b) => a.base - b.base);
    for (const seg of sorted) {
      const base = Math.ceil(seg.base / PAGE_SIZE) * PAGE_SIZE;
      const end = Math.floor((seg.base + seg.size) / PAGE_SIZE) * PAGE_SIZE;
      if (end <= base) continue;
      const frames = (end - base) / PAGE_SIZE;
      const index = new Int32Array(frames).fill(-1);
      for (let i = 0; i < frames; i++) {
        const pa = base + i * PAGE_SIZE;
        if (stolenSet.has(pa)) continue;
        const pg = new UvmPage(pa, this.pages.length);
        index[i] = pg.index;
        this.pages.push(pg);
        this.free.insertTail(pg);
      }
      this.segs.push({ base, frames, index });
    }
    // uvmpd_tune: freemin = npages/30 clamped to [16 KiB, 512 KiB] worth of pages; freetarg 4/3 of it.
    let freeMin = Math.floor(this.pages.length / 30);
    if (freeMin < (16 * 1024) / PAGE_SIZE) freeMin = (16 * 1024) / PAGE_SIZE;
    if (freeMin > (512 * 1024) / PAGE_SIZE) freeMin = (512 * 1024) / PAGE_SIZE;
    this.freeMin = freeMin;
    const targ = Math.floor((freeMin * 4) / 3);
    this.freeTarg = targ <= freeMin ? freeMin + 1 : targ;
  }

  get freeCount(): number {
    return this.free.count;
  }

  /** PHYS_TO_VM_PAGE */
  pageOf(pa: PAddr): UvmPage | undefined {
    for (const s of this.segs) {
      if (pa < s.base) continue;
      const i = Math.floor((pa - s.base) / PAGE_SIZE);
      if (i >= s.frames) continue;
      const idx = s.index[i] as number;
      return idx < 0 ? undefined : this.pages[idx];
    }
    return undefined;
  }

  private takeFree(): UvmPage | null {
    const pg = this.free.head;
    if (!pg) {
      this.lowMemory();
      return null;
    }
    this.free.remove(pg);
    this.counters.pageAlloc.value++;
    // uvm_pagealloc: "wake the pagedaemon if we are getting low".
    if (this.free.count < this.freeMin) this.lowMemory();
    return pg;
  }

  /**
   * uvm_pagealloc(obj, off, anon): a page for an object at an offset or for an anon, returned
   * PG_BUSY|PG_FAKE|PG_CLEAN and on no queue. Null when the free list is empty (the caller
   * sleeps in uvm_wait and refaults).
   */
  alloc(obj: UvmObject | null, offset: number, anon: VmAnon | null): UvmPage | null {
    const pg = this.takeFree();
    if (!pg) return null;
    pg.flags = PG_BUSY | PG_CLEAN | PG_FAKE;
    pg.wireCount = 0;
    pg.loanCount = 0;
    if (anon) {
      pg.uanon = anon;
      pg.pqflags |= PQ_ANON;
      anon.page = pg;
    } else if (obj) {
      this.insert(pg, obj, offset);
    }
    return pg;
  }

  /** A page for the pmap or the kernel (PmapHost.allocPage). */
  allocHost(zero: boolean): UvmPage | null {
    const pg = this.takeFree();
    if (!pg) return null;
    pg.flags = PG_HOST;
    pg.wireCount = 0;
    this.hostPages++;
    if (zero) this.pmap.zeroPage(pg);
    return pg;
  }

  freeHost(pg: UvmPage): void {
    if ((pg.flags & PG_HOST) === 0) {
      this.kernel.panic(`uvm_pagefree: page ${hex(pg.pa)} was not allocated to the pmap or kernel`);
    }
    pg.flags = 0;
    pg.wireCount = 0;
    this.hostPages--;
    this.free.insertTail(pg);
    this.counters.pageFreed.value++;
  }

  /** uvm_pageinsert */
  insert(pg: UvmPage, obj: UvmObject, offset: number): void {
    if (obj.pages.has(offset)) {
      this.kernel.panic(`uvm_pageinsert: object ${obj.id} already has a page at offset ${hex(offset)}`);
    }
    pg.uobject = obj;
    pg.offset = offset;
    pg.flags |= PG_TABLED;
    if (obj.swapBacked) pg.pqflags |= PQ_AOBJ;
    obj.pages.set(offset, pg);
  }

  /** uvm_pageremove */
  remove(pg: UvmPage): void {
    const obj = pg.uobject;
    if (!obj) return;
    obj.pages.delete(pg.offset);
    pg.uobject = null;
    pg.offset = 0;
    pg.flags &= ~PG_TABLED;
    pg.pqflags &= ~PQ_AOBJ;
  }

  dequeue(pg: UvmPage): void {
    if (pg.pqflags & PQ_ACTIVE) this.active.remove(pg);
    else if (pg.pqflags & PQ_INACTIVE) this.inactive.remove(pg);
  }

  /**
   * uvm_pagefree: take the page from its owner and the paging queues and put it on the free list.
   * A wired page being freed means the wiring bookkeeping is wrong: panic. Every mapping goes first
   * (the callers removed theirs; this also catches a read-only mapping left by a sharer).
   */
  freePage(pg: UvmPage): void {
    if (pg.wireCount !== 0) {
      this.kernel.panic(`uvm_pagefree: freeing wired page ${hex(pg.pa)} (wire_count ${pg.wireCount})`);
    }
    if (pg.pqflags & PQ_FREE || pg.flags & PG_HOST) {
      this.kernel.panic(`uvm_pagefree: page ${hex(pg.pa)} is not an object or anon page`);
    }
    if (pg.flags & PG_BUSY) this.kernel.panic(`uvm_pagefree: freeing busy page ${hex(pg.pa)}`);
    this.pmap.pageProtect(pg, Prot.None);
    this.remove(pg);
    if (pg.uanon) {
      pg.uanon.page = null;
      pg.uanon = null;
    }
    this.dequeue(pg);
    pg.flags = 0;
    pg.pqflags = 0;
    pg.loanCount = 0;
    this.free.insertTail(pg);
    this.counters.pageFreed.value++;
  }

  /** uvm_pagewire: on 0→1 the page leaves the paging queues and uvmexp.wired grows. */
  wire(pg: UvmPage): void {
    if (pg.wireCount === 0) {
      this.dequeue(pg);
      this.wired++;
    }
    pg.wireCount++;
  }

  /**
   * uvm_pageunwire: KASSERT(pg->wire_count != 0) — the "wire page count underflow" of the 2019
   * current-users thread (netbsd_uvm.md §3). On 1→0 the page goes to the active queue.
   */
  unwire(pg: UvmPage): void {
    if (pg.wireCount === 0) {
      this.kernel.panic(
        `kernel diagnostic assertion "pg->wire_count != 0" failed: file "../../../../uvm/uvm_page.c" (page ${hex(pg.pa)})`,
      );
    }
    pg.wireCount--;
    if (pg.wireCount === 0) {
      if (this.wired === 0) this.kernel.panic(`kernel diagnostic assertion "uvmexp.wired != 0" failed`);
      this.wired--;
      if ((pg.flags & PG_BUSY) === 0) this.active.insertTail(pg);
    }
  }

  /** uvm_pageactivate: to the tail of the active queue, unless wired. */
  activate(pg: UvmPage): void {
    this.dequeue(pg);
    if (pg.wireCount === 0) this.active.insertTail(pg);
  }

  /**
   * uvm_pagedeactivate: to the inactive queue, reference bit cleared so the daemon sees only new
   * references; a page the hardware modified loses PG_CLEAN.
   */
  deactivate(pg: UvmPage): void {
    if (pg.wireCount !== 0 || pg.pqflags & PQ_INACTIVE) return;
    this.pmap.clearReference(pg);
    this.dequeue(pg);
    this.inactive.insertTail(pg);
    if (this.pmap.isModified(pg)) pg.flags &= ~PG_CLEAN;
  }

  /** Whether the page's data exists nowhere else (PG_CLEAN clear, or the hardware modified it). */
  isDirty(pg: UvmPage): boolean {
    if ((pg.flags & PG_CLEAN) === 0) return true;
    if (this.pmap.isModified(pg)) {
      pg.flags &= ~PG_CLEAN;
      return true;
    }
    return false;
  }

  /** uvm_pagezero: the page now holds data that exists nowhere else. */
  zero(pg: UvmPage): void {
    pg.flags &= ~PG_CLEAN;
    this.pmap.zeroPage(pg);
  }

  /** uvm_pagecopy */
  copy(src: UvmPage, dst: UvmPage): void {
    dst.flags &= ~PG_CLEAN;
    this.pmap.copyPage(src, dst);
  }
}
