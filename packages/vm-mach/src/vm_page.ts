/**
 * vm_page: the resident page table and its queues (4.4BSD-Lite sys/vm/vm_page.[ch]).
 *
 * One MachPage per managed frame (the RAM segments minus the frames the pmap stole at bootstrap),
 * in a dense array (vm_page_array). A page is on at most one of three queues — free, active,
 * inactive — linked through the page itself (pageq), and wired pages are on none. Pages handed to
 * the pmap or the kernel through the PmapHost (page-table pages, pv pages, held pages) belong to
 * no object and sit on no queue (PG_HOST, a vmlab flag).
 */
import { hex, type KernelServices, type PAddr, PAGE_SIZE, type PhysSegment, type PmapModule, Prot } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import type { VmObject } from "./vm_object.js";

// vm_page.h flag values (4.4BSD), plus vmlab's PG_FREE and PG_HOST.
export const PG_INACTIVE = 0x0001;
export const PG_ACTIVE = 0x0002;
export const PG_LAUNDRY = 0x0004;
export const PG_CLEAN = 0x0008;
export const PG_BUSY = 0x0010;
export const PG_WANTED = 0x0020;
export const PG_TABLED = 0x0040;
export const PG_COPYONWRITE = 0x0080;
export const PG_FICTITIOUS = 0x0100;
export const PG_FAKE = 0x0200;
export const PG_FILLED = 0x0400;
export const PG_DIRTY = 0x0800;
/** On the free queue (4.4BSD kept this implicit; FreeBSD later named it PG_FREE). */
export const PG_FREE = 0x1000;
/** Allocated to the pmap or kernel through PmapHost.allocPage: no object, no queue. */
export const PG_HOST = 0x2000;

/** What I/O a busy page is under (vmlab's record of who holds PG_BUSY between operations). */
export const IO_NONE = 0;
/** A pager read (page-in): the faulting thread sleeps until the completion clears PG_BUSY. */
export const IO_READ = 1;
/** A pager write (pageout, msync): nobody waits; the completion clears PG_BUSY. */
export const IO_WRITE = 2;
export type IoKind = typeof IO_NONE | typeof IO_READ | typeof IO_WRITE;

/** Which queue a page is linked on. */
export const Q_NONE = 0;
export const Q_FREE = 1;
export const Q_ACTIVE = 2;
export const Q_INACTIVE = 3;
export type QueueId = typeof Q_NONE | typeof Q_FREE | typeof Q_ACTIVE | typeof Q_INACTIVE;

const QUEUE_FLAG: Record<QueueId, number> = { 0: 0, 1: PG_FREE, 2: PG_ACTIVE, 3: PG_INACTIVE };

/** struct vm_page, implementing core's VmPage. */
export class MachPage {
  wireCount = 0;
  md: unknown = undefined;
  flags = 0;
  /** The object and offset the page caches (vm_page_insert / vm_page_remove). */
  object: VmObject | null = null;
  offset = 0;
  /** pageq: the queue links. */
  queue: QueueId = Q_NONE;
  qprev: MachPage | null = null;
  qnext: MachPage | null = null;
  /** The pager transfer holding the page busy, if any (paging_in_progress counts it in the object). */
  io: IoKind = IO_NONE;
  /** errno of a failed page-in, recorded by the completion for the sleeping thread. */
  ioError = 0;

  constructor(
    readonly pa: PAddr,
    readonly index: number,
  ) {}
}

/** A queue_head_t of pages, linked through the pages' pageq fields. */
export class PageQueue {
  head: MachPage | null = null;
  tail: MachPage | null = null;
  count = 0;

  constructor(readonly id: QueueId) {}

  insertTail(pg: MachPage): void {
    pg.queue = this.id;
    pg.flags |= QUEUE_FLAG[this.id];
    pg.qnext = null;
    pg.qprev = this.tail;
    if (this.tail) this.tail.qnext = pg;
    else this.head = pg;
    this.tail = pg;
    this.count++;
  }

  remove(pg: MachPage): void {
    if (pg.qprev) pg.qprev.qnext = pg.qnext;
    else this.head = pg.qnext;
    if (pg.qnext) pg.qnext.qprev = pg.qprev;
    else this.tail = pg.qprev;
    pg.qprev = pg.qnext = null;
    pg.queue = Q_NONE;
    pg.flags &= ~QUEUE_FLAG[this.id];
    this.count--;
  }
}

interface SegmentIndex {
  readonly base: PAddr;
  readonly frames: number;
  /** Page-array index of each frame of the segment, -1 for a stolen frame. */
  readonly index: Int32Array;
}

/**
 * The page array and queues (vm_page_startup, vm_page_alloc/free, vm_page_wire/unwire,
 * vm_page_activate/deactivate, vm_page_zero_fill, vm_page_copy).
 */
export class PageArray {
  readonly pages: MachPage[] = [];
  readonly free = new PageQueue(Q_FREE);
  readonly active = new PageQueue(Q_ACTIVE);
  readonly inactive = new PageQueue(Q_INACTIVE);
  /** cnt.v_wire_count: managed pages with wireCount > 0 (host pages excluded). */
  wired = 0;
  /** Pages handed out through the PmapHost. */
  hostPages = 0;
  /** vm_pages_needed: set when an allocation found the free list short; the pagedaemon clears it. */
  pagesNeeded = false;
  private readonly segs: SegmentIndex[] = [];

  constructor(
    private readonly kernel: KernelServices,
    private readonly pmap: PmapModule,
    private readonly counters: VmCounters,
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
        const pg = new MachPage(pa, this.pages.length);
        index[i] = pg.index;
        this.pages.push(pg);
        this.free.insertTail(pg);
      }
      this.segs.push({ base, frames, index });
    }
  }

  get freeCount(): number {
    return this.free.count;
  }

  /** PHYS_TO_VM_PAGE: the managed page of a frame, undefined for unmanaged memory. */
  pageOf(pa: PAddr): MachPage | undefined {
    for (const s of this.segs) {
      if (pa < s.base) continue;
      const i = Math.floor((pa - s.base) / PAGE_SIZE);
      if (i >= s.frames) continue;
      const idx = s.index[i] as number;
      return idx < 0 ? undefined : this.pages[idx];
    }
    return undefined;
  }

  private takeFree(): MachPage | null {
    const pg = this.free.head;
    if (!pg) {
      this.pagesNeeded = true;
      return null;
    }
    this.free.remove(pg);
    this.counters.pageAlloc.value++;
    return pg;
  }

  /**
   * vm_page_alloc(object, offset): the head of the free queue, inserted busy, clean and fake
   * (VM_PAGE_INIT). Null when the free queue is empty (the caller's VM_WAIT becomes
   * KERN_RESOURCE_SHORTAGE here).
   */
  alloc(object: VmObject, offset: number): MachPage | null {
    const pg = this.takeFree();
    if (!pg) return null;
    pg.flags = PG_BUSY | PG_CLEAN | PG_FAKE;
    pg.wireCount = 0;
    this.insert(pg, object, offset);
    return pg;
  }

  /** A page for the pmap or the kernel (PmapHost.allocPage): no object, no queue. */
  allocHost(zero: boolean): MachPage | null {
    const pg = this.takeFree();
    if (!pg) return null;
    pg.flags = PG_HOST;
    pg.wireCount = 0;
    this.hostPages++;
    if (zero) this.pmap.zeroPage(pg);
    return pg;
  }

  /** PmapHost.freePage: a host page goes back on the free queue, whatever the pmap did to wireCount. */
  freeHost(pg: MachPage): void {
    if ((pg.flags & PG_HOST) === 0) {
      this.kernel.panic(`vm_page_free: page ${hex(pg.pa)} was not allocated to the pmap or kernel`);
    }
    pg.flags = 0;
    pg.wireCount = 0;
    this.hostPages--;
    this.free.insertTail(pg);
    this.counters.pageFreed.value++;
  }

  /** vm_page_insert: enter the page in the object's memq at offset. */
  insert(pg: MachPage, object: VmObject, offset: number): void {
    if (object.pages.has(offset)) {
      this.kernel.panic(`vm_page_insert: object ${object.id} already has a page at ${hex(offset)}`);
    }
    pg.object = object;
    pg.offset = offset;
    pg.flags |= PG_TABLED;
    object.pages.set(offset, pg);
  }

  /** vm_page_remove: take the page out of its object. */
  removeFromObject(pg: MachPage): void {
    const obj = pg.object;
    if (!obj) return;
    obj.pages.delete(pg.offset);
    pg.object = null;
    pg.offset = 0;
    pg.flags &= ~PG_TABLED;
  }

  /** vm_page_rename: move a page to another object/offset (vm_object_collapse). */
  rename(pg: MachPage, object: VmObject, offset: number): void {
    this.removeFromObject(pg);
    this.insert(pg, object, offset);
  }

  /** Take a page off the active or inactive queue (the fault path, vm_page_wire, vm_page_free). */
  dequeue(pg: MachPage): void {
    if (pg.queue === Q_ACTIVE) this.active.remove(pg);
    else if (pg.queue === Q_INACTIVE) this.inactive.remove(pg);
  }

  /**
   * vm_page_free: remove from the object and the paging queues, drop any pmap mappings, and put
   * it on the free queue. 4.4BSD silently dropped a remaining wiring here; a wired page being
   * freed means the wiring bookkeeping is wrong, so it panics.
   */
  freePage(pg: MachPage): void {
    if (pg.wireCount !== 0) {
      this.kernel.panic(`vm_page_free: freeing wired page ${hex(pg.pa)} (wire_count ${pg.wireCount})`);
    }
    if (pg.queue === Q_FREE || pg.flags & PG_HOST) {
      this.kernel.panic(`vm_page_free: page ${hex(pg.pa)} is not an object page`);
    }
    if (pg.io !== IO_NONE) this.kernel.panic(`vm_page_free: page ${hex(pg.pa)} has pager I/O in flight`);
    // The mappings must go before the frame is reused (vm_map_delete removes them first; this
    // also covers stale read-only mappings of pages in backing objects).
    this.pmap.pageProtect(pg, Prot.None);
    this.removeFromObject(pg);
    this.dequeue(pg);
    pg.flags = 0;
    pg.ioError = 0;
    this.free.insertTail(pg);
    this.counters.pageFreed.value++;
  }

  /** vm_page_wire: on 0→1 the page leaves the paging queues. */
  wire(pg: MachPage): void {
    if (pg.wireCount === 0) {
      this.dequeue(pg);
      this.wired++;
    }
    pg.wireCount++;
  }

  /**
   * vm_page_unwire: on 1→0 the page goes to the tail of the active queue — unless a fault holds
   * it busy (the fault queues it when done); a page busy under a pager write is queued now.
   */
  unwire(pg: MachPage): void {
    if (pg.wireCount <= 0) {
      this.kernel.panic(`vm_page_unwire: wire_count underflow (page ${hex(pg.pa)})`);
    }
    pg.wireCount--;
    if (pg.wireCount === 0) {
      this.wired--;
      if (pg.object && ((pg.flags & PG_BUSY) === 0 || pg.io === IO_WRITE)) this.active.insertTail(pg);
    }
  }

  /** vm_page_activate: off the inactive queue; onto the tail of active unless wired. */
  activate(pg: MachPage): void {
    if (pg.queue === Q_INACTIVE) this.inactive.remove(pg);
    if (pg.wireCount === 0) {
      if (pg.queue === Q_ACTIVE) this.kernel.panic(`vm_page_activate: already active (page ${hex(pg.pa)})`);
      this.active.insertTail(pg);
    }
  }

  /**
   * vm_page_deactivate: only an active page moves. Clear its reference bits first (so the next
   * scan sees only new references), then set PG_LAUNDRY if the hardware says it was modified.
   */
  deactivate(pg: MachPage): void {
    if (pg.queue !== Q_ACTIVE) return;
    this.pmap.clearReference(pg);
    this.active.remove(pg);
    this.inactive.insertTail(pg);
    if (this.pmap.isModified(pg)) pg.flags &= ~PG_CLEAN;
    if (pg.flags & PG_CLEAN) pg.flags &= ~PG_LAUNDRY;
    else pg.flags |= PG_LAUNDRY;
  }

  /** vm_page_zero_fill: the page now holds data that exists nowhere else (not clean). */
  zeroFill(pg: MachPage): void {
    pg.flags &= ~PG_CLEAN;
    this.pmap.zeroPage(pg);
  }

  /** vm_page_copy */
  copy(src: MachPage, dst: MachPage): void {
    dst.flags &= ~PG_CLEAN;
    this.pmap.copyPage(src, dst);
  }
}
