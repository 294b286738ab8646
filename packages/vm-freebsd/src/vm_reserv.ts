/**
 * vm_reserv: superpage reservations (FreeBSD sys/vm/vm_reserv.c, Alan Cox 2007-2008, after
 * Navarro, Iyer, Druschel and Cox, OSDI 2002; freebsd.md 4.3-4.4).
 *
 * The first page allocated for an object at a pindex whose superpage-aligned neighbourhood holds
 * none of the object's pages takes a whole VM_LEVEL_0_ORDER block from vm_phys and reserves it
 * for the object's pindexes [first, first + NPAGES). Later allocations for those pindexes take the
 * matching page of the block, so a fully touched, superpage-aligned region ends up physically
 * contiguous and aligned: the pmap can promote it (vm_reserv_level_iffullpop).
 *
 * Each reservation counts its allocated pages (popcnt, with the popmap bitmap); a reservation with
 * 0 < popcnt < NPAGES sits on the partially-populated queue, least recently changed at the head.
 * Freeing the last page returns the whole block to vm_phys; under a shortage the head of the queue
 * is broken (vm_reserv_reclaim_inactive): its free pages go back to vm_phys one by one and its
 * allocated pages carry on as ordinary pages.
 */
import { hex, type KernelServices, PAGE_SIZE } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import type { VmObject } from "./vm_object.js";
import type { FbsdPage } from "./vm_page.js";
import { PG_FREE } from "./vm_page.js";
import { VM_FREEPOOL_DEFAULT, type VmParam } from "./vm_param.js";
import type { VmPhys } from "./vm_phys.js";

/** struct vm_reserv */
export class VmReserv {
  /** The owning object; null when the reservation is free (not active). */
  object: VmObject | null = null;
  /** First object pindex covered. */
  pindex = 0;
  popcnt = 0;
  /** popmap: which of the superpage's pages are allocated. */
  readonly popmap: Uint8Array;
  inpartpopq = false;

  constructor(
    /** Page-array index of the superpage's first page (rv->pages). */
    readonly first: number,
    npages: number,
  ) {
    this.popmap = new Uint8Array(npages);
  }
}

export class ReservSystem {
  /** vm_reserv_array, by physical superpage number (pa >> VM_LEVEL_0_SHIFT). */
  readonly array = new Map<number, VmReserv>();
  /** vm_rvq_partpop: insertion order is queue order, head = least recently changed. */
  readonly partpopq = new Set<VmReserv>();
  /** Free pages inside active reservations (part of v_free_count, not on the buddy lists). */
  freeInside = 0;
  /** VM_NRESERVLEVEL > 0: reservations are made at all. */
  enabled = true;

  constructor(
    private readonly kernel: KernelServices,
    readonly param: VmParam,
    private readonly counters: VmCounters,
    private readonly pages: readonly FbsdPage[],
    private readonly phys: VmPhys,
  ) {
    // vm_reserv_init: a reservation for every superpage frame wholly inside one segment.
    const size = param.level0Size;
    for (const seg of phys.segs) {
      for (let sp = Math.ceil(seg.start / size) * size; sp + size <= seg.end; sp += size) {
        const first = seg.firstIndex + (sp - seg.start) / PAGE_SIZE;
        this.array.set(sp / size, new VmReserv(first, param.level0Npages));
      }
    }
  }

  /** vm_reserv_from_page */
  fromPage(m: FbsdPage): VmReserv | undefined {
    return this.array.get(Math.floor(m.pa / this.param.level0Size));
  }

  /** VM_RESERV_INDEX(object, pindex): the page's index within its reservation. */
  index(object: VmObject, pindex: number): number {
    const n = this.param.level0Npages;
    return (((object.pgColor + pindex) % n) + n) % n;
  }

  /** Move a reservation to the tail of the partially-populated queue, or off it when empty/full. */
  private requeue(rv: VmReserv): void {
    if (rv.inpartpopq) this.partpopq.delete(rv);
    rv.inpartpopq = rv.popcnt > 0 && rv.popcnt < this.param.level0Npages;
    if (rv.inpartpopq) this.partpopq.add(rv);
  }

  /** vm_reserv_populate: one more page of the reservation is allocated. */
  private populate(rv: VmReserv, index: number): void {
    if (rv.object === null)
      this.kernel.panic(`vm_reserv_populate: reserv ${hex(this.pages[rv.first]?.pa ?? 0)} is free`);
    if (rv.popmap[index])
      this.kernel.panic(`vm_reserv_populate: reserv ${hex(this.pages[rv.first]?.pa ?? 0)} is already populated`);
    if (rv.popcnt === this.param.level0Npages) this.kernel.panic("vm_reserv_populate: reserv is already full");
    rv.popmap[index] = 1;
    rv.popcnt++;
    this.freeInside--;
    this.requeue(rv);
  }

  /**
   * vm_reserv_alloc_page(object, pindex): the page for (object, pindex) from an existing
   * reservation of the object, or from a new one; null if neither is possible (the caller falls
   * back to vm_phys). The page is still PG_FREE; vm_page_alloc takes it.
   */
  allocPage(object: VmObject, pindex: number): FbsdPage | null {
    if (!this.enabled) return null;
    const n = this.param.level0Npages;
    const index = this.index(object, pindex);
    if (pindex < index || pindex >= object.size) return null;
    const first = pindex - index;
    const rv = object.rvq.get(first);
    if (rv) {
      // Handle vm_page_rename: the page at this index may have moved to another object.
      if (rv.popmap[index]) return null;
      const m = this.pages[rv.first + index] as FbsdPage;
      this.populate(rv, index);
      this.counters.reservPageAlloc.value++;
      return m;
    }
    // A new reservation must not cover pages the object already has (leftcap/rightcap), and a
    // vnode object's reservation must not extend past the end of the file; anonymous memory
    // speculates that the object may grow.
    if (first + n > object.size && object.type === "vnode") return null;
    if (object.pages.size > 0) {
      if (object.pages.size < n) {
        for (const p of object.pages.keys()) if (p >= first && p < first + n) return null;
      } else {
        for (let p = first; p < first + n; p++) if (object.pages.has(p)) return null;
      }
    }
    const head = this.phys.allocPages(VM_FREEPOOL_DEFAULT, this.param.level0Order);
    if (!head) return null;
    const nrv = this.fromPage(head);
    if (!nrv || nrv.first !== head.index) {
      this.kernel.panic(`vm_reserv_alloc_page: reserv for ${hex(head.pa)}'s pages is corrupted`);
    }
    if (nrv.object !== null || nrv.popcnt !== 0 || nrv.inpartpopq) {
      this.kernel.panic(`vm_reserv_alloc_page: reserv ${hex(head.pa)} isn't free`);
    }
    this.freeInside += n;
    nrv.object = object;
    nrv.pindex = first;
    object.rvq.set(first, nrv);
    this.populate(nrv, index);
    this.counters.reservAlloc.value++;
    this.counters.reservPageAlloc.value++;
    return this.pages[nrv.first + index] as FbsdPage;
  }

  /**
   * vm_reserv_free_page(m): if m's reservation is active, the page stays inside it (depopulate)
   * and true is returned; the whole superpage goes back to vm_phys when the last page does.
   * False if the page is not in an active reservation: the caller frees it to vm_phys.
   */
  freePage(m: FbsdPage): boolean {
    const rv = this.fromPage(m);
    if (!rv || rv.object === null) return false;
    const index = m.index - rv.first;
    if (!rv.popmap[index]) this.kernel.panic(`vm_reserv_depopulate: reserv ${hex(m.pa)}'s popmap is corrupted`);
    rv.popmap[index] = 0;
    rv.popcnt--;
    this.freeInside++;
    if (rv.popcnt === 0) {
      this.deactivate(rv);
      this.freeInside -= this.param.level0Npages;
      this.phys.freePages(this.pages[rv.first] as FbsdPage, this.param.level0Order);
      this.counters.reservFreed.value++;
    } else {
      this.requeue(rv);
    }
    return true;
  }

  /** Unlink a reservation from its object and the queue. */
  private deactivate(rv: VmReserv): void {
    const obj = rv.object;
    if (obj && obj.rvq.get(rv.pindex) === rv) obj.rvq.delete(rv.pindex);
    rv.object = null;
    rv.pindex = 0;
    if (rv.inpartpopq) this.partpopq.delete(rv);
    rv.inpartpopq = false;
  }

  /**
   * vm_reserv_break: the reservation stops being one: its free pages go back to vm_phys one by
   * one (coalescing as they go), its allocated pages stay where they are as ordinary pages.
   */
  break(rv: VmReserv): void {
    this.deactivate(rv);
    const n = this.param.level0Npages;
    for (let i = 0; i < n; i++) {
      if (rv.popmap[i]) {
        rv.popmap[i] = 0;
        continue;
      }
      const m = this.pages[rv.first + i] as FbsdPage;
      if ((m.flags & PG_FREE) === 0) this.kernel.panic(`vm_reserv_break: reserv page ${hex(m.pa)} is not free`);
      this.freeInside--;
      this.phys.freePages(m, 0);
    }
    rv.popcnt = 0;
    this.counters.reservBroken.value++;
  }

  /** vm_reserv_break_all(object): at object termination, break what the object still reserves. */
  breakAll(object: VmObject): void {
    for (const rv of [...object.rvq.values()]) this.break(rv);
  }

  /**
   * vm_reserv_reclaim_inactive: break the least recently changed partially-populated reservation
   * to make its free pages available to vm_phys. False if there is none.
   */
  reclaimInactive(): boolean {
    const rv = this.partpopq.values().next().value;
    if (!rv) return false;
    this.break(rv);
    this.counters.reservReclaimed.value++;
    return true;
  }

  /** vm_reserv_reclaim_contig: break partially-populated reservations overlapping [low, high). */
  reclaimContig(low: number, high: number): boolean {
    for (const rv of this.partpopq) {
      const pa = (this.pages[rv.first] as FbsdPage).pa;
      if (pa + this.param.level0Size <= low || pa >= high) continue;
      this.break(rv);
      this.counters.reservReclaimed.value++;
      return true;
    }
    return false;
  }

  /**
   * vm_reserv_rename(m, new_object, old_object, old_offset): when vm_object_collapse moves a page
   * whose reservation belongs to the old object, the reservation moves with it (pindex shifts by
   * the backing offset), so later pages of the range are still allocated from it.
   */
  rename(m: FbsdPage, newObject: VmObject, oldObject: VmObject, oldOffset: number): void {
    const rv = this.fromPage(m);
    if (!rv || rv.object !== oldObject) return;
    const pindex = rv.pindex - oldOffset;
    if (oldObject.rvq.get(rv.pindex) === rv) oldObject.rvq.delete(rv.pindex);
    rv.object = newObject;
    rv.pindex = pindex;
    // Two reservations never share a key: a collision (the new object already reserves that
    // range) leaves the moved one unreachable by lookup, so break it instead.
    if (newObject.rvq.has(pindex)) {
      this.break(rv);
      return;
    }
    newObject.rvq.set(pindex, rv);
  }

  /** vm_reserv_level_iffullpop: 0 if m's reservation is fully populated, else -1. */
  levelIfFullPop(m: FbsdPage): number {
    const rv = this.fromPage(m);
    return rv && rv.popcnt === this.param.level0Npages ? 0 : -1;
  }
}
