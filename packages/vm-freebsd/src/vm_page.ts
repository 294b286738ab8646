/**
 * vm_page: the resident page structures, the page queues and the page allocator front end
 * (FreeBSD sys/vm/vm_page.[ch], 8.x with the later laundry queue of 11.x).
 *
 * One FbsdPage per managed frame (vm_page_array), grouped in vm_phys segments. A page is free
 * (PG_FREE: in a vm_phys buddy block or unpopulated inside an active reservation), held by the
 * pmap or kernel without an object (PG_HOST, VM_ALLOC_NOOBJ), or an object page. An unwired
 * object page is on exactly one paging queue — active, inactive or laundry — except while a
 * kernel path holds it exclusive-busy (VPO_BUSY); wired pages are on none. I/O in progress holds
 * the page soft-busy (m->busy, vm_page_io_start / vm_page_io_finish).
 */
import { hex, type KernelServices, type PAddr, PAGE_SIZE, type PhysSegment, type PmapModule, Prot } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import { OBJ_UNMANAGED, type VmObject } from "./vm_object.js";
import { VM_FREEPOOL_DEFAULT, VM_FREEPOOL_DIRECT, type VmParam } from "./vm_param.js";
import { VmPhys } from "./vm_phys.js";
import { ReservSystem } from "./vm_reserv.js";

/** Free: on a vm_phys free list or unpopulated inside a reservation. */
export const PG_FREE = 0x0001;
/** Allocated without an object (VM_ALLOC_NOOBJ) to the pmap or kernel through PmapHost. */
export const PG_HOST = 0x0002;
/** PGA_REFERENCED: a software reference bit (vm_page_reference). */
export const PG_REFERENCED = 0x0004;
/** VPO_BUSY: a kernel path holds the page exclusively (fault, pager). */
export const PG_BUSY = 0x0010;
/** VPO_WANTED: someone sleeps waiting for the page to be unbusied. */
export const PG_WANTED = 0x0020;

/** Page queues (PQ_*). */
export const PQ_NONE = 0;
export const PQ_INACTIVE = 1;
export const PQ_ACTIVE = 2;
export const PQ_LAUNDRY = 3;
export type QueueId = typeof PQ_NONE | typeof PQ_INACTIVE | typeof PQ_ACTIVE | typeof PQ_LAUNDRY;

/** vm_page_alloc request classes: how deep into the free reserve an allocation may dig. */
export const VM_ALLOC_NORMAL = 0;
export const VM_ALLOC_SYSTEM = 1;
export const VM_ALLOC_INTERRUPT = 2;

/** struct vm_page, implementing core's VmPage. */
export class FbsdPage {
  wireCount = 0;
  md: unknown = undefined;
  /** PG_UNMANAGED: a page of an OBJ_UNMANAGED object (kmem_object): no pv entries, no paging queue. */
  unmanaged = false;
  flags = PG_FREE;
  /** m->busy: soft-busy count, held while paging I/O is in progress. */
  busy = 0;
  object: VmObject | null = null;
  pindex = 0;
  /** m->valid (whole-page granularity): the page holds the object's data. */
  valid = false;
  /** m->dirty: the page differs from its backing store. */
  dirty = false;
  queue: QueueId = PQ_NONE;
  qprev: FbsdPage | null = null;
  qnext: FbsdPage | null = null;
  /** vm_phys: order of the free block this page heads, VM_NFREEORDER if none; pool of the block. */
  order: number;
  pool = VM_FREEPOOL_DEFAULT;
  fprev: FbsdPage | null = null;
  fnext: FbsdPage | null = null;

  constructor(
    readonly pa: PAddr,
    readonly index: number,
    nfreeorder: number,
  ) {
    this.order = nfreeorder;
  }
}

/** struct vm_pagequeue: a TAILQ of pages linked through plinks.q. */
export class PageQueue {
  head: FbsdPage | null = null;
  tail: FbsdPage | null = null;
  count = 0;

  constructor(
    readonly id: QueueId,
    readonly name: string,
  ) {}

  insertTail(pg: FbsdPage): void {
    pg.queue = this.id;
    pg.qnext = null;
    pg.qprev = this.tail;
    if (this.tail) this.tail.qnext = pg;
    else this.head = pg;
    this.tail = pg;
    this.count++;
  }

  remove(pg: FbsdPage): void {
    if (pg.qprev) pg.qprev.qnext = pg.qnext;
    else this.head = pg.qnext;
    if (pg.qnext) pg.qnext.qprev = pg.qprev;
    else this.tail = pg.qprev;
    pg.qprev = pg.qnext = null;
    pg.queue = PQ_NONE;
    this.count--;
  }
}

/** The vmmeter thresholds vm_pageout() computes at boot (see the constructor). */
export interface Thresholds {
  readonly interruptFreeMin: number;
  readonly pageoutFreeMin: number;
  readonly freeReserved: number;
  readonly freeMin: number;
  readonly freeSevere: number;
  readonly freeTarget: number;
}

/**
 * The page array, vm_phys and vm_reserv behind it, and the queues: vm_page_startup,
 * vm_page_alloc / vm_page_free, wiring, queue moves, busy.
 */
export class VmPages {
  readonly pages: FbsdPage[] = [];
  readonly phys: VmPhys;
  readonly reserv: ReservSystem;
  readonly inactive = new PageQueue(PQ_INACTIVE, "inactive");
  readonly active = new PageQueue(PQ_ACTIVE, "active");
  readonly laundry = new PageQueue(PQ_LAUNDRY, "laundry");
  /** cnt.v_wire_count: object pages with wireCount > 0. */
  wired = 0;
  hostPages = 0;
  readonly thresholds: Thresholds;
  /** Set when free pages fell under v_free_min: wake the pageout daemon (pagedaemon_wakeup). */
  wakeup: () => void = () => {};

  constructor(
    private readonly kernel: KernelServices,
    private readonly pmap: PmapModule,
    private readonly counters: VmCounters,
    readonly param: VmParam,
    segments: readonly PhysSegment[],
    stolen: readonly PAddr[],
  ) {
    this.phys = new VmPhys(kernel, param, counters, this.pages);
    // vm_page_startup: phys_avail is RAM minus the frames the pmap stole; each maximal run of
    // managed frames is a vm_phys segment.
    const stolenSet = new Set(stolen);
    const sorted = [...segments].sort((a, b) => a.base - b.base);
    for (const seg of sorted) {
      const base = Math.ceil(seg.base / PAGE_SIZE) * PAGE_SIZE;
      const end = Math.floor((seg.base + seg.size) / PAGE_SIZE) * PAGE_SIZE;
      let runStart = -1;
      for (let pa = base; pa <= end; pa += PAGE_SIZE) {
        const managed = pa < end && !stolenSet.has(pa);
        if (managed && runStart < 0) runStart = pa;
        if (!managed && runStart >= 0) {
          this.addSegment(runStart, pa);
          runStart = -1;
        }
      }
    }
    this.reserv = new ReservSystem(kernel, param, counters, this.pages, this.phys);
    // vm_phys_add_page for every page: freeing coalesces them into maximal buddy blocks.
    for (const pg of this.pages) this.phys.freePages(pg, 0);
    this.thresholds = computeThresholds(this.pages.length);
  }

  private addSegment(start: PAddr, end: PAddr): void {
    this.phys.addSeg(start, end, this.pages.length);
    for (let pa = start; pa < end; pa += PAGE_SIZE) {
      this.pages.push(new FbsdPage(pa, this.pages.length, this.param.nfreeorder));
    }
  }

  /** cnt.v_free_count: pages on the buddy lists plus unpopulated pages of active reservations. */
  get freeCount(): number {
    return this.phys.buddyFree + this.reserv.freeInside;
  }

  pageOf(pa: PAddr): FbsdPage | undefined {
    return this.phys.pageOf(pa);
  }

  /** Whether a request class may take a page now (vm_page_alloc's reserve test). */
  private mayAlloc(req: number): boolean {
    const free = this.freeCount;
    const t = this.thresholds;
    if (req === VM_ALLOC_INTERRUPT) return free > 0;
    if (req === VM_ALLOC_SYSTEM) return free > t.interruptFreeMin;
    return free > t.freeReserved;
  }

  /** Whether a normal allocation could succeed (what vm_wait sleeps for). */
  allocOk(): boolean {
    return this.freeCount > this.thresholds.freeReserved;
  }

  /**
   * vm_page_alloc(object, pindex, req): a page for the object (from its reservation when one
   * applies, else vm_phys), inserted exclusive-busy and invalid; or a page without an object
   * (object null) from the direct pool. Null when the request class may not dig deeper into the
   * free reserve or memory is exhausted; the pageout daemon is woken either way when free pages
   * fall under v_free_min.
   */
  alloc(object: VmObject | null, pindex: number, req: number): FbsdPage | null {
    if (!this.mayAlloc(req)) {
      this.wakeup();
      return null;
    }
    let m: FbsdPage | null = null;
    for (;;) {
      if (object !== null) m = this.reserv.allocPage(object, pindex);
      if (m === null) m = this.phys.allocPages(object !== null ? VM_FREEPOOL_DEFAULT : VM_FREEPOOL_DIRECT, 0);
      if (m !== null || !this.reserv.reclaimInactive()) break;
    }
    if (m === null) {
      this.wakeup();
      return null;
    }
    if ((m.flags & PG_FREE) === 0) this.kernel.panic(`vm_page_alloc: page ${hex(m.pa)} is not free`);
    m.flags = object !== null ? PG_BUSY : PG_HOST;
    // vm_page_alloc: PG_UNMANAGED for a page of an OBJT_PHYS (OBJ_UNMANAGED) object. Pages without
    // an object stay managed, as in FreeBSD 6 (8.x marked them unmanaged too; only the 2006
    // erratum's pmap path ever enters one with pmap_enter).
    m.unmanaged = object !== null && (object.flags & OBJ_UNMANAGED) !== 0;
    m.wireCount = 0;
    m.busy = 0;
    m.valid = false;
    m.dirty = false;
    if (object !== null) this.insert(m, object, pindex);
    this.counters.pageAlloc.value++;
    if (this.freeCount < this.thresholds.freeMin) this.wakeup();
    return m;
  }

  /** A page for the pmap or kernel (PmapHost.allocPage). */
  allocHost(zero: boolean, interrupt: boolean): FbsdPage | null {
    const m = this.alloc(null, 0, interrupt ? VM_ALLOC_INTERRUPT : VM_ALLOC_SYSTEM);
    if (!m) return null;
    this.hostPages++;
    if (zero) this.pmap.zeroPage(m);
    return m;
  }

  /** PmapHost.freePage. */
  freeHost(m: FbsdPage): void {
    if ((m.flags & PG_HOST) === 0) {
      this.kernel.panic(`vm_page_free: page ${hex(m.pa)} was not allocated to the pmap or kernel`);
    }
    this.hostPages--;
    m.wireCount = 0;
    this.freeToq(m);
  }

  /** vm_page_insert */
  insert(m: FbsdPage, object: VmObject, pindex: number): void {
    if (object.pages.has(pindex)) {
      this.kernel.panic(`vm_page_insert: object ${object.id} already has a page at pindex ${pindex}`);
    }
    m.object = object;
    m.pindex = pindex;
    object.pages.set(pindex, m);
  }

  /** vm_page_remove */
  remove(m: FbsdPage): void {
    const obj = m.object;
    if (!obj) return;
    obj.pages.delete(m.pindex);
    m.object = null;
    m.pindex = 0;
  }

  /** vm_page_rename: move to another object (vm_object_collapse, the COW optimisation). */
  rename(m: FbsdPage, object: VmObject, pindex: number): void {
    this.remove(m);
    this.insert(m, object, pindex);
    // The new object has no backing store for it (vm_page_rename's vm_page_dirty).
    m.dirty = true;
  }

  /** vm_pageq_remove */
  dequeue(m: FbsdPage): void {
    if (m.queue === PQ_ACTIVE) this.active.remove(m);
    else if (m.queue === PQ_INACTIVE) this.inactive.remove(m);
    else if (m.queue === PQ_LAUNDRY) this.laundry.remove(m);
  }

  /**
   * vm_page_free: every mapping goes, then the page leaves its object and queue and returns to
   * its reservation or to vm_phys. Freeing a wired or busy page is a bookkeeping error.
   */
  free(m: FbsdPage): void {
    if (m.wireCount !== 0) this.kernel.panic(`vm_page_free: freeing wired page ${hex(m.pa)}`);
    if (m.busy !== 0) this.kernel.panic(`vm_page_free: freeing busy page ${hex(m.pa)}`);
    if (m.flags & (PG_FREE | PG_HOST)) this.kernel.panic(`vm_page_free: page ${hex(m.pa)} is not an object page`);
    this.pmap.pageProtect(m, Prot.None);
    this.remove(m);
    this.dequeue(m);
    this.freeToq(m);
  }

  /** vm_page_free_toq: back to the reservation or the buddy lists. */
  private freeToq(m: FbsdPage): void {
    m.flags = PG_FREE;
    m.unmanaged = false;
    m.valid = false;
    m.dirty = false;
    this.counters.pageFreed.value++;
    if (!this.reserv.freePage(m)) this.phys.freePages(m, 0);
  }

  /** vm_page_wire: on 0→1 the page leaves the paging queues. */
  wire(m: FbsdPage): void {
    if (m.wireCount === 0) {
      this.dequeue(m);
      this.wired++;
    }
    m.wireCount++;
  }

  /**
   * vm_page_unwire(m, activate): on 1→0 the page goes back to the active queue — unless it is
   * PG_UNMANAGED, which never enters a paging queue.
   */
  unwire(m: FbsdPage): void {
    if (m.wireCount <= 0) this.kernel.panic(`vm_page_unwire: invalid wire count: ${m.wireCount} (page ${hex(m.pa)})`);
    m.wireCount--;
    if (m.wireCount === 0) {
      this.wired--;
      if ((m.flags & PG_BUSY) === 0 && m.object && !m.unmanaged) this.active.insertTail(m);
    }
  }

  /** vm_page_activate */
  activate(m: FbsdPage): void {
    if (m.wireCount > 0 || m.flags & PG_BUSY || !m.object || m.unmanaged) return;
    if (m.queue === PQ_ACTIVE) return;
    this.dequeue(m);
    this.active.insertTail(m);
  }

  /** vm_page_deactivate: to the tail of the inactive queue, reference bits cleared. */
  deactivate(m: FbsdPage): void {
    if (m.wireCount > 0 || m.flags & PG_BUSY || !m.object || m.unmanaged) return;
    if (m.queue === PQ_INACTIVE) return;
    m.flags &= ~PG_REFERENCED;
    this.pmap.clearReference(m);
    this.dequeue(m);
    this.inactive.insertTail(m);
  }

  /**
   * Move a page to the tail of the inactive queue without touching the pmap: the interrupt-safe
   * queue move of the I/O completion paths (vm_page_deactivate_noreuse's queue work).
   */
  moveToInactive(m: FbsdPage): void {
    if (m.wireCount > 0 || m.flags & PG_BUSY || !m.object || m.unmanaged) return;
    this.dequeue(m);
    this.inactive.insertTail(m);
  }

  /** vm_page_launder: a dirty page found by the inactive scan goes to the laundry queue. */
  launder(m: FbsdPage): void {
    if (m.wireCount > 0 || m.flags & PG_BUSY || !m.object || m.unmanaged) return;
    this.dequeue(m);
    this.laundry.insertTail(m);
  }

  /** vm_page_requeue: to the tail of the queue it is on. */
  requeue(m: FbsdPage): void {
    const q =
      m.queue === PQ_ACTIVE
        ? this.active
        : m.queue === PQ_INACTIVE
          ? this.inactive
          : m.queue === PQ_LAUNDRY
            ? this.laundry
            : null;
    if (!q) return;
    q.remove(m);
    q.insertTail(m);
  }

  /** Take the page exclusive-busy, off the queues (the fault path's vm_page_busy + vm_pageq_remove). */
  busyPage(m: FbsdPage): void {
    this.dequeue(m);
    m.flags |= PG_BUSY;
  }

  /** vm_page_wakeup: drop exclusive busy (sleepers poll their condition). */
  wakeupPage(m: FbsdPage): void {
    m.flags &= ~(PG_BUSY | PG_WANTED);
  }

  /** vm_page_io_start / vm_page_io_finish: soft-busy for paging I/O. */
  ioStart(m: FbsdPage): void {
    m.busy++;
  }

  ioFinish(m: FbsdPage): void {
    if (m.busy <= 0) this.kernel.panic(`vm_page_io_finish: page ${hex(m.pa)} is not busy`);
    m.busy--;
    if (m.busy === 0 && m.flags & PG_WANTED && (m.flags & PG_BUSY) === 0) m.flags &= ~PG_WANTED;
  }

  /** Exclusive- or soft-busy. */
  static isBusy(m: FbsdPage): boolean {
    return (m.flags & PG_BUSY) !== 0 || m.busy > 0;
  }

  /** vm_page_test_dirty: pick up the pmap's modified bit. */
  testDirty(m: FbsdPage): void {
    if (!m.dirty && this.pmap.isModified(m)) m.dirty = true;
  }

  /** pmap_zero_page; the page is now valid. */
  zeroFill(m: FbsdPage): void {
    this.pmap.zeroPage(m);
    m.valid = true;
  }

  /** pmap_copy_page; the destination is valid and dirty (its data exists nowhere else). */
  copy(src: FbsdPage, dst: FbsdPage): void {
    this.pmap.copyPage(src, dst);
    dst.valid = true;
    dst.dirty = true;
  }
}

/**
 * vm_pageout()'s boot-time thresholds (FreeBSD 4-8 vm_pageout.c), with the one change that our
 * paging transfers are one page rather than MAXBSIZE clusters: v_pageout_free_min is two pages
 * plus v_interrupt_free_min, and vm_pageout_page_count (clustering) is not added to the reserve.
 */
function computeThresholds(pageCount: number): Thresholds {
  const interruptFreeMin = 2;
  const pageoutFreeMin = 2 + interruptFreeMin;
  const freeReserved = pageoutFreeMin + Math.floor(pageCount / 768);
  const base = pageCount > 1024 ? 4 + Math.floor((pageCount - 1024) / 200) : 4;
  const freeMin = base + freeReserved;
  const freeSevere = Math.floor(base / 2) + freeReserved;
  const freeTarget = pageCount > 6144 ? 4 * freeMin + freeReserved : 2 * freeMin + freeReserved;
  return { interruptFreeMin, pageoutFreeMin, freeReserved, freeMin, freeSevere, freeTarget };
}
