/**
 * Swap: anons and aobj pages keep a copy of their data in a swap slot (NetBSD
 * sys/uvm/uvm_swap.c, uvm_swap_get/uvm_swap_put; netbsd_uvm.md §2.2). The slots and the device
 * are the kernel's (PagerIo.swapAlloc/swapFree/swapStrategy); this module starts the one-page
 * transfers and counts them.
 */
import type { Uvm } from "./uvm.js";
import type { UvmPage } from "./uvm_page.js";
import { pagerDone, pagerStart, pagerSyncRead } from "./uvm_pager.js";

/**
 * uvm_swap_get: read slot into the (unmapped) page and wait; the page comes back busy, owned by
 * the caller (pagerSyncRead).
 */
export function swapGet(vm: Uvm, pg: UvmPage, slot: number, wmesg: string): "ok" | "error" | "shortage" {
  vm.counters.swapin.value++;
  return pagerSyncRead(vm, pg, wmesg, (done) => vm.io.swapStrategy(slot, pg.pa, false, done));
}

/**
 * uvm_swap_put: write the page to its slot. The caller removed its mappings; the modify attribute
 * is cleared before the data leaves, so a later change shows.
 */
export function swapPut(vm: Uvm, pg: UvmPage, slot: number): void {
  pagerStart(vm, pg, true);
  vm.pmap.clearModify(pg);
  vm.counters.swapout.value++;
  vm.io.swapStrategy(slot, pg.pa, true, pagerDone(vm, pg, true));
}

/** uvm_swap_alloc for one page: a slot, or -1 when the device is full. */
export function swapAlloc(vm: Uvm): number {
  const slot = vm.io.swapAlloc();
  if (slot < 0) vm.counters.swapFull.value++;
  return slot;
}
