/**
 * swap_pager: the default pager of anonymous memory (4.4BSD-Lite sys/vm/swap_pager.c).
 *
 * An anonymous object gets its swap pager lazily, the first time vm_pageout_scan has to clean
 * one of its pages (vm_pager_allocate(PG_DFLT) there). The pager keeps one swap slot per page
 * that has been written out, keyed by pager offset (object offset + paging_offset, so that the
 * pager can move up in vm_object_collapse); slots come from the swap device one page at a time
 * (io.swapAlloc) and are given back when the page's data is discarded or the object dies. A page
 * read back from swap keeps its slot: the copy there stays valid while the page is clean, and a
 * later pageout rewrites the same slot. (4.4BSD allocated swap in clusters per object, sw_blocks;
 * the device here hands out single pages.)
 */
import type { IoDone } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import type { VmObject } from "./vm_object.js";
import type { MachPage } from "./vm_page.js";
import { type Pager, type PagerResult, VM_PAGER_FAIL, VM_PAGER_PEND } from "./vm_pager.js";

export class SwapPager implements Pager {
  readonly type = "swap";
  /** Swap slot of each page written out, by pager offset. */
  readonly slots = new Map<number, number>();

  constructor(private readonly vm: VmCore) {}

  /** swap_pager_haspage */
  hasPage(object: VmObject, offset: number): boolean {
    return this.slots.has(offset + object.pagingOffset);
  }

  /** swap_pager_getpage: FAIL for a page never written out (the fault goes on down the chain). */
  getPage(object: VmObject, pg: MachPage, done: IoDone): PagerResult {
    const slot = this.slots.get(pg.offset + object.pagingOffset);
    if (slot === undefined) return VM_PAGER_FAIL;
    this.vm.counters.swapin.value++;
    this.vm.io.swapStrategy(slot, pg.pa, false, done);
    return VM_PAGER_PEND;
  }

  /** swap_pager_putpage: the page's slot, allocated now if it has none; FAIL when swap is full. */
  putPage(object: VmObject, pg: MachPage, done: IoDone): PagerResult {
    const key = pg.offset + object.pagingOffset;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.vm.io.swapAlloc();
      if (slot < 0) return VM_PAGER_FAIL;
      this.slots.set(key, slot);
      this.vm.swapInUse++;
    }
    this.vm.counters.swapout.value++;
    this.vm.io.swapStrategy(slot, pg.pa, true, done);
    return VM_PAGER_PEND;
  }

  /** Free the slots of [start, end) (object offsets) but those in `keep`: their data was discarded. */
  discard(object: VmObject, start: number, end: number, keep: ReadonlySet<number>): void {
    for (const [key, slot] of [...this.slots]) {
      const off = key - object.pagingOffset;
      if (off < start || off >= end || keep.has(off)) continue;
      this.release(key, slot);
    }
  }

  /** swap_pager_dealloc: every slot goes back to the device. */
  deallocate(_object: VmObject): void {
    for (const [key, slot] of [...this.slots]) this.release(key, slot);
  }

  private release(key: number, slot: number): void {
    this.slots.delete(key);
    this.vm.io.swapFree(slot);
    this.vm.swapInUse--;
  }
}
