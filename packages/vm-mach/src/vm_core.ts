/**
 * What every module of the Mach VM shares: the kernel services, the pmap module, the pager I/O,
 * the counters, the page array and the object table. One per system, built by machVm().create().
 */
import type { KernelServices, PagerIo, PmapModule } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import type { ObjectTable, VmObject } from "./vm_object.js";
import type { MachPage, PageArray } from "./vm_page.js";

export interface VmCore {
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly io: PagerIo;
  readonly counters: VmCounters;
  readonly pages: PageArray;
  readonly objects: ObjectTable;
  /** cnt.v_free_min: under it, allocation wakes the pageout daemon. */
  readonly freeMin: number;
  /** Pages only the kernel and the pmap may take (FreeBSD's v_free_reserved; see vm_page_alloc). */
  readonly freeReserved: number;
  /** Swap slots held by swap pagers (for the audit: each owned once). */
  swapInUse: number;
  /**
   * vm_page_alloc for an object page on behalf of a thread: null when the free list is down to
   * the reserve (the caller VM_WAITs and retries). Wakes the pageout daemon under free_min.
   */
  pageAlloc(object: VmObject, offset: number): MachPage | null;
  /** VM_WAIT: wake the daemon and sleep until pages are free; false when none will ever be. */
  vmWait(): boolean;
  /** PAGE_ASSERT_WAIT + thread_block: sleep until `pg` is no longer busy; false if it never will be. */
  pageWait(pg: MachPage, wmesg: string): boolean;
}
