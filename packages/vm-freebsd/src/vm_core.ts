/**
 * What every module of the FreeBSD VM shares: kernel services, the pmap module, the pager I/O,
 * counters, pages, objects and pagers. One per system, built by freebsdVm().create().
 */
import type { AddressLayout, KernelServices, PagerIo, PmapModule } from "@vmlab/core";
import type { SwapPager } from "./swap_pager.js";
import type { VmCounters } from "./vm_counters.js";
import type { ObjectTable } from "./vm_object.js";
import type { VmPages } from "./vm_page.js";
import type { VnodePager } from "./vnode_pager.js";

export interface VmCore {
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly io: PagerIo;
  readonly layout: AddressLayout;
  readonly counters: VmCounters;
  readonly pages: VmPages;
  readonly objects: ObjectTable;
  readonly swap: SwapPager;
  readonly vnodes: VnodePager;
  /** tsleep through the kernel's PagerIo. */
  sleep(wmesg: string, cond: () => boolean): boolean;
  /** vm_wait: wake the pageout daemon and sleep until a normal allocation can succeed. */
  vmWait(): boolean;
}

/** vm_pager.h results. */
export const VM_PAGER_OK = 0;
export const VM_PAGER_BAD = 1;
export const VM_PAGER_FAIL = 2;
export const VM_PAGER_ERROR = 4;
