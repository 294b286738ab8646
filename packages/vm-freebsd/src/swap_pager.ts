/**
 * swap_pager: anonymous memory's backing store (FreeBSD sys/vm/swap_pager.c).
 *
 * An OBJT_DEFAULT object has no backing store; the first time the laundry must clean one of its
 * pages, swap_pager_putpages turns it into OBJT_SWAP and records the page's swap slot in the
 * object's swap metadata (swblock). Transfers are one page, asynchronous, through the swap
 * device's strategy routine; swp_pager_async_iodone runs at interrupt time and only does
 * interrupt-safe work: mark the page valid/clean, drop its soft-busy and the object's
 * paging_in_progress, move it to a queue, account. Swap slots are freed when the data they hold
 * can no longer be wanted: the range is unmapped or the object dies (swap_pager_freespace,
 * swap_pager_dealloc), or the page is written again (vm_pager_page_unswapped).
 */
import { hex } from "@vmlab/core";
import { VM_PAGER_ERROR, VM_PAGER_FAIL, VM_PAGER_OK, type VmCore } from "./vm_core.js";
import type { VmObject } from "./vm_object.js";
import { type FbsdPage, PQ_LAUNDRY } from "./vm_page.js";

export class SwapPager {
  /** Page writes started and not yet completed (for the audit). */
  inflight = 0;
  /** Slots this VM holds (for the audit). */
  slots = 0;

  constructor(private readonly vm: VmCore) {}

  /** swap_pager_haspage */
  hasPage(obj: VmObject, pindex: number): boolean {
    return obj.swblk.has(pindex);
  }

  /**
   * swap_pager_getpages for one page: read the slot into the (exclusive-busy) page and sleep
   * until the completion interrupt. VM_PAGER_FAIL if the pindex has no slot.
   */
  getPage(obj: VmObject, m: FbsdPage): number {
    const slot = obj.swblk.get(m.pindex);
    if (slot === undefined) return VM_PAGER_FAIL;
    const vm = this.vm;
    const req = { done: false, error: 0 };
    obj.pip++;
    vm.io.swapStrategy(slot, m.pa, false, (error) => swpPagerReadDone(vm, obj, m, req, error));
    if (!vm.sleep("swread", () => req.done))
      vm.kernel.panic(`swap_pager_getpages: read of slot ${slot} never completed`);
    return req.error ? VM_PAGER_ERROR : VM_PAGER_OK;
  }

  /**
   * swap_pager_putpages for one page, asynchronously: a fresh slot (the old one, if any, is
   * freed), the page soft-busy and write-protected until the completion interrupt. False if
   * the swap device is full (the page stays dirty in the laundry).
   */
  putPage(obj: VmObject, m: FbsdPage): boolean {
    const vm = this.vm;
    const slot = vm.io.swapAlloc();
    if (slot < 0) return false;
    this.slots++;
    const old = obj.swblk.get(m.pindex);
    if (old !== undefined) this.freeSlot(old);
    // The default pager becomes the swap pager at the first pageout.
    if (obj.type === "default") obj.type = "swap";
    obj.swblk.set(m.pindex, slot);
    vm.pages.ioStart(m);
    obj.pip++;
    this.inflight++;
    vm.counters.swapout.value++;
    vm.io.swapStrategy(slot, m.pa, true, (error) => swpPagerWriteDone(vm, this, obj, m, slot, error));
    return true;
  }

  private freeSlot(slot: number): void {
    this.slots--;
    this.vm.io.swapFree(slot);
  }

  /** swap_pager_freespace(object, start, count) over pindexes [start, end). */
  freeSpace(obj: VmObject, start: number, end: number): void {
    if (obj.swblk.size === 0) return;
    for (const [pindex, slot] of [...obj.swblk]) {
      if (pindex < start || pindex >= end) continue;
      obj.swblk.delete(pindex);
      this.freeSlot(slot);
    }
  }

  /** swap_pager_dealloc: the object is dying. */
  dealloc(obj: VmObject): void {
    for (const slot of obj.swblk.values()) this.freeSlot(slot);
    obj.swblk.clear();
  }

  /** vm_pager_page_unswapped: the page is being written; its slot's copy is stale. */
  pageUnswapped(m: FbsdPage): void {
    const obj = m.object;
    if (obj?.type !== "swap") return;
    const slot = obj.swblk.get(m.pindex);
    if (slot === undefined) return;
    obj.swblk.delete(m.pindex);
    this.freeSlot(slot);
  }

  /**
   * swap_pager_copy(src, dst, offset, destroysource): at collapse, the backing object's slots
   * move up to the pindexes the object does not already have; the others are freed.
   */
  copy(src: VmObject, dst: VmObject, offset: number): void {
    for (const [pindex, slot] of [...src.swblk]) {
      src.swblk.delete(pindex);
      const np = pindex - offset;
      if (pindex < offset || np >= dst.size || dst.pages.has(np) || dst.swblk.has(np)) {
        this.freeSlot(slot);
        continue;
      }
      if (dst.type === "default") dst.type = "swap";
      dst.swblk.set(np, slot);
    }
  }
}

/** swp_pager_async_iodone for a page-in (interrupt context): the page is valid and clean. */
function swpPagerReadDone(
  vm: VmCore,
  obj: VmObject,
  m: FbsdPage,
  req: { done: boolean; error: number },
  error: number,
): void {
  obj.pip--;
  req.error = error;
  req.done = true;
  if (error) return;
  m.valid = true;
  m.dirty = false;
  vm.counters.swapin.value++;
}

/**
 * swp_pager_async_iodone for a pageout (interrupt context): on success the page is clean and
 * goes from the laundry to the inactive queue, where the next scan can free it; on error it
 * stays dirty and its slot is given up. Either way its soft-busy and the object's
 * paging_in_progress drop.
 */
function swpPagerWriteDone(vm: VmCore, sp: SwapPager, obj: VmObject, m: FbsdPage, slot: number, error: number): void {
  sp.inflight--;
  if (m.object !== obj) vm.kernel.panic(`swp_pager_async_iodone: page ${hex(m.pa)} left its object during I/O`);
  if (error) {
    m.dirty = true;
    if (obj.swblk.get(m.pindex) === slot) {
      obj.swblk.delete(m.pindex);
      sp.slots--;
      vm.io.swapFree(slot);
    }
  } else {
    m.dirty = false;
    if (m.queue === PQ_LAUNDRY) vm.pages.moveToInactive(m);
  }
  vm.pages.ioFinish(m);
  obj.pip--;
}
