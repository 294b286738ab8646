/**
 * vm_pager: the pager interface and the page-level I/O protocol around it (4.4BSD-Lite
 * sys/vm/vm_pager.[ch]; mach_x86.md A.3, A.5, A.7).
 *
 * A pager moves one page between an object and its backing store: the swap pager for anonymous
 * memory (swap_pager.ts), the vnode pager for files (vnode_pager.ts). Every transfer is
 * asynchronous and completes by interrupt (decision 0007): the page is PG_BUSY while it is in
 * flight and the object's paging_in_progress counts it. A page-in's thread sleeps until the
 * completion clears PG_BUSY; a pageout's page stays busy on its queue and becomes clean at the
 * completion. The completion (biodone → swap_pager_iodone / vnode_pager_iodone) runs in
 * interrupt context, so it only flips flags, counts and wakes: it never calls the pmap.
 */
import { hex, type IoDone, KERN_MEMORY_ERROR, KERN_RESOURCE_SHORTAGE, type KernReturn } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import type { VmObject } from "./vm_object.js";
import {
  IO_NONE,
  IO_READ,
  IO_WRITE,
  type MachPage,
  PG_BUSY,
  PG_CLEAN,
  PG_FAKE,
  PG_LAUNDRY,
  PG_WANTED,
  Q_NONE,
} from "./vm_page.js";

/** vm_pager.h results. */
export const VM_PAGER_OK = 0;
export const VM_PAGER_BAD = 1;
export const VM_PAGER_FAIL = 2;
export const VM_PAGER_PEND = 3;
export const VM_PAGER_ERROR = 4;
export type PagerResult = number;

/**
 * struct pager_struct + struct pagerops (pgo_haspage, pgo_getpage, pgo_putpage,
 * pgo_dealloc). `offset` is the object's offset; the pager adds the object's paging_offset.
 * getPage/putPage start the transfer and return VM_PAGER_PEND (the completion calls `done`),
 * or answer at once: FAIL (no such page / no space), BAD (outside the backing store: past EOF).
 */
export interface Pager {
  readonly type: "swap" | "vnode";
  /** vm_pager_has_page */
  hasPage(object: VmObject, offset: number): boolean;
  /** vm_pager_get: start reading the page into pg's frame. */
  getPage(object: VmObject, pg: MachPage, done: IoDone): PagerResult;
  /** vm_pager_put: start writing pg's frame to backing store. */
  putPage(object: VmObject, pg: MachPage, done: IoDone): PagerResult;
  /**
   * Backing store for [start, end) of the object is no longer wanted (its pages were discarded),
   * except at the offsets in `keep` (pages that stayed resident).
   */
  discard(object: VmObject, start: number, end: number, keep: ReadonlySet<number>): void;
  /** vm_pager_deallocate */
  deallocate(object: VmObject): void;
}

/** A batch of writes a thread waits for (vm_object_page_clean with syncio). */
export interface PagerRequest {
  pending: number;
  errors: number;
}

/**
 * The completion of a pager transfer, in interrupt context (biodone → *_pager_iodone): record
 * the result, drop paging_in_progress, clear PG_BUSY and PG_WANTED (PAGE_WAKEUP; sleepers poll
 * their condition). A page written out is clean from now on — its modify bit was cleared when
 * the write started, so a store since then shows in pmap_is_modified. A failed write leaves the
 * page dirty and in the laundry for the next scan. Like swap_pager_iodone, kick the pageout
 * daemon if free memory is short, so the pages cleaned here are freed.
 */
function ioDone(vm: VmCore, object: VmObject, pg: MachPage, error: number, req: PagerRequest | undefined): void {
  const write = pg.io === IO_WRITE;
  if (pg.io === IO_NONE || (pg.flags & PG_BUSY) === 0) {
    vm.kernel.panic(`biodone: page ${hex(pg.pa)} of object ${object.id} has no transfer in flight`);
  }
  pg.io = IO_NONE;
  object.pagingInProgress--;
  if (error !== 0) {
    vm.counters.pagerError.value++;
    if (write) {
      pg.flags &= ~PG_CLEAN;
      pg.flags |= PG_LAUNDRY;
    } else {
      pg.ioError = error;
    }
  } else {
    pg.flags |= PG_CLEAN;
  }
  pg.flags &= ~(PG_BUSY | PG_WANTED);
  if (req) {
    req.pending--;
    if (error !== 0) req.errors++;
  }
  if (write && vm.pages.freeCount < vm.freeMin) vm.io.wakeupPagedaemon();
}

/**
 * vm_pager_get(pager, m, TRUE): read the page `pg` (busy and fake, just allocated in `object`)
 * from the object's pager and sleep until the completion interrupt. OK: the page is valid,
 * clean (pmap_clear_modify, as vm_fault does after the get) and busy again for the caller.
 * ERROR (I/O error), BAD (past the end) and FAIL (no such page) leave it busy and fake for the
 * caller to free or zero-fill.
 */
export function pagerGet(vm: VmCore, object: VmObject, pg: MachPage): PagerResult {
  const pager = object.pager;
  if (!pager) return VM_PAGER_FAIL;
  pg.io = IO_READ;
  object.pagingInProgress++;
  const rv = pager.getPage(object, pg, (error) => ioDone(vm, object, pg, error, undefined));
  if (rv !== VM_PAGER_PEND) {
    pg.io = IO_NONE;
    object.pagingInProgress--;
    return rv;
  }
  if (!vm.io.sleep("pgin", () => (pg.flags & PG_BUSY) === 0)) {
    vm.kernel.panic(`vm_pager_get: page-in of ${hex(pg.pa)} (object ${object.id}) never completed`);
  }
  pg.flags |= PG_BUSY;
  if (pg.ioError !== 0) {
    pg.ioError = 0;
    return VM_PAGER_ERROR;
  }
  pg.flags &= ~PG_FAKE;
  pg.flags |= PG_CLEAN;
  vm.pmap.clearModify(pg);
  return VM_PAGER_OK;
}

/**
 * vm_pager_put(pager, m, FALSE): start an asynchronous write of `pg` (not busy, in `object`,
 * which has a pager). The page is busy until the completion; its modify bit is cleared now, so
 * that a store made while the write is in flight keeps it dirty. PEND when started (PG_LAUNDRY
 * cleared); otherwise the page is left as it was and the result says why.
 */
export function pagerPut(vm: VmCore, object: VmObject, pg: MachPage, req?: PagerRequest): PagerResult {
  const pager = object.pager;
  if (!pager) return VM_PAGER_FAIL;
  pg.flags |= PG_BUSY;
  pg.io = IO_WRITE;
  object.pagingInProgress++;
  vm.pmap.clearModify(pg);
  if (req) req.pending++;
  const rv = pager.putPage(object, pg, (error) => ioDone(vm, object, pg, error, req));
  if (rv !== VM_PAGER_PEND) {
    if (req) req.pending--;
    pg.io = IO_NONE;
    object.pagingInProgress--;
    pg.flags &= ~PG_BUSY;
    return rv;
  }
  pg.flags &= ~PG_LAUNDRY;
  return rv;
}

/** Whether the page is dirty: PG_CLEAN not set, or the pmap saw a store (pmap_is_modified). */
export function pageDirty(vm: VmCore, pg: MachPage): boolean {
  if (pg.flags & PG_CLEAN && !vm.pmap.isModified(pg)) return false;
  pg.flags &= ~PG_CLEAN;
  return true;
}

/**
 * The page of `object` at `offset` (no shadow chain), resident and held busy for the caller,
 * off the paging queues (vm_page_lookup + the busy wait, vm_page_alloc + vm_pager_get). A page
 * the pager does not have is zero-filled when `zeroFill`, else KERN_MEMORY_ERROR; with
 * `overwrite` a missing page is not read (the caller replaces every byte). Errors:
 * KERN_MEMORY_ERROR (I/O error, past EOF), KERN_RESOURCE_SHORTAGE (no memory, ever).
 */
export function objectPageGrab(
  vm: VmCore,
  object: VmObject,
  offset: number,
  zeroFill: boolean,
  overwrite = false,
): MachPage | KernReturn {
  for (;;) {
    const found = object.pages.get(offset);
    if (found) {
      if (found.flags & PG_BUSY) {
        if (!vm.pageWait(found, "pgbusy")) return KERN_RESOURCE_SHORTAGE;
        continue;
      }
      vm.pages.dequeue(found);
      found.flags |= PG_BUSY;
      return found;
    }
    const pg = vm.pageAlloc(object, offset);
    if (!pg) {
      if (!vm.vmWait()) return KERN_RESOURCE_SHORTAGE;
      continue;
    }
    if (overwrite) {
      pg.flags &= ~(PG_FAKE | PG_CLEAN);
      return pg;
    }
    const rv = pagerGet(vm, object, pg);
    if (rv === VM_PAGER_OK) return pg;
    if (rv === VM_PAGER_FAIL && zeroFill) {
      vm.pages.zeroFill(pg);
      pg.flags &= ~PG_FAKE;
      return pg;
    }
    pg.flags &= ~PG_BUSY;
    vm.pages.freePage(pg);
    return KERN_MEMORY_ERROR;
  }
}

/** PAGE_WAKEUP + vm_page_activate: the caller is done with a page it held busy. */
export function pageRelease(vm: VmCore, pg: MachPage): void {
  pg.flags &= ~(PG_BUSY | PG_WANTED);
  if (pg.queue === Q_NONE) vm.pages.activate(pg);
}
