/**
 * vm_phys: the physical memory allocator, a binary buddy system (FreeBSD sys/vm/vm_phys.c, Alan
 * Cox 2007; freebsd.md 4.5).
 *
 * Physical memory is a set of segments (vm_phys_segs: the RAM ranges minus the frames the pmap
 * stole at bootstrap). Free memory is kept as power-of-two blocks of pages, aligned to their size,
 * on free lists indexed by pool and order (vm_freelist [VM_NFREEPOOL][VM_NFREEORDER]). The first
 * page of a free block carries the block's order; every other page has order VM_NFREEORDER.
 * Freeing coalesces with the buddy (pa XOR block size) while the buddy is a free block of the same
 * order in the same segment; allocating splits larger blocks, returning the upper halves.
 *
 * The free lists are doubly linked through the pages (plinks), as in FreeBSD: no allocation per
 * operation.
 */
import { hex, type KernelServices, type PAddr, PAGE_SIZE } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import type { FbsdPage } from "./vm_page.js";
import { VM_NFREEPOOL, type VmParam } from "./vm_param.js";

/** struct vm_phys_seg */
export interface PhysSeg {
  readonly start: PAddr;
  readonly end: PAddr;
  /** Index in the page array of the segment's first page (first_page). */
  readonly firstIndex: number;
}

/** struct vm_freelist: a list of free blocks of one order in one pool. */
class FreeList {
  head: FbsdPage | null = null;
  lcnt = 0;
}

export class VmPhys {
  readonly segs: PhysSeg[] = [];
  /** free_queues[pool][order] */
  readonly freeQueues: FreeList[][] = [];
  /** Pages in buddy free blocks (pages free inside reservations are counted by vm_reserv). */
  buddyFree = 0;

  constructor(
    private readonly kernel: KernelServices,
    private readonly param: VmParam,
    private readonly counters: VmCounters,
    private readonly pages: readonly FbsdPage[],
  ) {
    for (let p = 0; p < VM_NFREEPOOL; p++) {
      const lists: FreeList[] = [];
      for (let o = 0; o < param.nfreeorder; o++) lists.push(new FreeList());
      this.freeQueues.push(lists);
    }
  }

  /** vm_phys_create_seg */
  addSeg(start: PAddr, end: PAddr, firstIndex: number): void {
    this.segs.push({ start, end, firstIndex });
  }

  /** vm_phys_paddr_to_segind; -1 if the address is in no segment. */
  segOf(pa: PAddr): number {
    const segs = this.segs;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] as PhysSeg;
      if (pa >= s.start && pa < s.end) return i;
    }
    return -1;
  }

  /** PHYS_TO_VM_PAGE */
  pageOf(pa: PAddr): FbsdPage | undefined {
    const i = this.segOf(pa);
    if (i < 0) return undefined;
    const s = this.segs[i] as PhysSeg;
    return this.pages[s.firstIndex + Math.floor((pa - s.start) / PAGE_SIZE)];
  }

  private enqueue(m: FbsdPage, pool: number, order: number): void {
    const fl = (this.freeQueues[pool] as FreeList[])[order] as FreeList;
    m.order = order;
    m.pool = pool;
    m.fprev = null;
    m.fnext = fl.head;
    if (fl.head) fl.head.fprev = m;
    fl.head = m;
    fl.lcnt++;
  }

  private dequeue(m: FbsdPage): void {
    const fl = (this.freeQueues[m.pool] as FreeList[])[m.order] as FreeList;
    if (m.fprev) m.fprev.fnext = m.fnext;
    else fl.head = m.fnext;
    if (m.fnext) m.fnext.fprev = m.fprev;
    m.fprev = m.fnext = null;
    m.order = this.param.nfreeorder;
    fl.lcnt--;
  }

  /**
   * vm_phys_alloc_pages(pool, order): a block of 2^order free pages from the pool's lists (the
   * smallest order that has one), then from the other pools; larger blocks are split and the
   * unused halves go back on the lower lists (vm_phys_split_pages). Null if no block is large
   * enough. The pages keep PG_FREE: the caller accounts for them.
   */
  allocPages(pool: number, order: number): FbsdPage | null {
    const nfo = this.param.nfreeorder;
    for (let p = 0; p < VM_NFREEPOOL; p++) {
      const fpool = (pool + p) % VM_NFREEPOOL;
      const lists = this.freeQueues[fpool] as FreeList[];
      for (let o = order; o < nfo; o++) {
        const m = (lists[o] as FreeList).head;
        if (!m) continue;
        this.dequeue(m);
        this.splitPages(m, o, order, pool);
        this.buddyFree -= 1 << order;
        return m;
      }
    }
    return null;
  }

  /** vm_phys_split_pages: return the upper halves of an order-`o` block until it is order `order`. */
  private splitPages(m: FbsdPage, o: number, order: number, pool: number): void {
    while (o > order) {
      o--;
      const buddy = this.pages[m.index + (1 << o)] as FbsdPage;
      this.enqueue(buddy, pool, o);
      this.counters.physSplit.value++;
    }
    m.pool = pool;
  }

  /**
   * vm_phys_free_pages(m, order): put a block back, coalescing with its buddy while the buddy is
   * a free block of the same order in the same segment (freebsd.md 4.5). The pages must already
   * be marked PG_FREE.
   */
  freePages(m: FbsdPage, order: number): void {
    const nfo = this.param.nfreeorder;
    if (m.order !== nfo) this.kernel.panic(`vm_phys_free_pages: page ${hex(m.pa)} has unexpected order ${m.order}`);
    if (order >= nfo) this.kernel.panic(`vm_phys_free_pages: order ${order} is out of range`);
    const segi = this.segOf(m.pa);
    if (segi < 0) this.kernel.panic(`vm_phys_paddr_to_segind: paddr ${hex(m.pa)} is not in any segment`);
    const seg = this.segs[segi] as PhysSeg;
    this.buddyFree += 1 << order;
    let pa = m.pa;
    const pool = m.pool;
    while (order < nfo - 1) {
      const size = PAGE_SIZE * 2 ** order;
      // pa ^ size without 32-bit operators (physical addresses may exceed 2^32).
      const paBuddy = Math.floor(pa / size) % 2 === 0 ? pa + size : pa - size;
      if (paBuddy < seg.start || paBuddy >= seg.end) break;
      const buddy = this.pages[seg.firstIndex + (paBuddy - seg.start) / PAGE_SIZE] as FbsdPage;
      if (buddy.order !== order) break;
      this.dequeue(buddy);
      order++;
      pa = Math.floor(pa / (size * 2)) * size * 2;
      this.counters.physMerge.value++;
    }
    const head = this.pages[seg.firstIndex + (pa - seg.start) / PAGE_SIZE] as FbsdPage;
    this.enqueue(head, pool, order);
  }

  /**
   * vm_phys_alloc_contig(npages, low, high, alignment, boundary): `npages` physically contiguous
   * free pages in [low, high), starting at a multiple of `alignment`, not crossing a multiple of
   * `boundary` (0: none). Searches the free blocks of every order large enough, lowest order
   * first; the block is split down and the pages past `npages` are freed again. Null if no block
   * qualifies (the caller may break reservations and retry).
   */
  allocContig(npages: number, low: PAddr, high: PAddr, alignment: number, boundary: number): FbsdPage | null {
    if (npages <= 0) return null;
    let order = 0;
    while (1 << order < npages) order++;
    const nfo = this.param.nfreeorder;
    if (order >= nfo) return null;
    const size = npages * PAGE_SIZE;
    for (let o = order; o < nfo; o++) {
      for (let pool = 0; pool < VM_NFREEPOOL; pool++) {
        for (let m = ((this.freeQueues[pool] as FreeList[])[o] as FreeList).head; m; m = m.fnext) {
          // Within a block of order o, the first address ≥ m.pa that satisfies the alignment.
          const align = Math.max(alignment, PAGE_SIZE);
          const pa = Math.ceil(m.pa / align) * align;
          const blockEnd = m.pa + PAGE_SIZE * 2 ** o;
          if (pa + size > blockEnd || pa < low || pa + size > high) continue;
          if (boundary > 0 && Math.floor(pa / boundary) !== Math.floor((pa + size - 1) / boundary)) continue;
          this.dequeue(m);
          this.buddyFree -= 1 << o;
          // Take the whole block, then give back every page outside [pa, pa + size).
          const first = m.index + (pa - m.pa) / PAGE_SIZE;
          for (let i = 0; i < 1 << o; i++) {
            const pg = this.pages[m.index + i] as FbsdPage;
            pg.order = nfo;
          }
          for (let i = 0; i < 1 << o; i++) {
            const idx = m.index + i;
            if (idx >= first && idx < first + npages) continue;
            this.freePages(this.pages[idx] as FbsdPage, 0);
          }
          this.counters.physContig.value++;
          return this.pages[first] as FbsdPage;
        }
      }
    }
    return null;
  }

  /** The free blocks of one list, for the audit. */
  *blocks(pool: number, order: number): Generator<FbsdPage> {
    for (let m = ((this.freeQueues[pool] as FreeList[])[order] as FreeList).head; m; m = m.fnext) yield m;
  }

  listCount(pool: number, order: number): number {
    return ((this.freeQueues[pool] as FreeList[])[order] as FreeList).lcnt;
  }
}
