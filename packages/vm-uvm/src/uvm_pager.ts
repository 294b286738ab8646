/**
 * The pager glue: starting a one-page transfer and its completion (NetBSD sys/uvm/uvm_pager.c,
 * uvm_aio_aiodone; docs/decisions/0007).
 *
 * The page is PG_BUSY for the whole transfer. A read goes into a page that nobody maps yet; a
 * write goes out of a page whose mappings were removed or made read-only first, so nothing can
 * change it meanwhile. The completion runs in interrupt context on whichever CPU took the disk
 * interrupt: it only clears busy, records the outcome, moves the page to a queue and wakes the
 * pagedaemon — never a pmap call (pmap work at interrupt time is how the FreeBSD APTD erratum
 * happened) and never a free. A page whose owner gave it up meanwhile (PG_RELEASED) is left on the
 * inactive queue for the daemon to free.
 */
import type { IoDone } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import {
  PG_BUSY,
  PG_CLEAN,
  PG_FAKE,
  PG_INIO,
  PG_IOERROR,
  PG_PAGEOUT,
  PG_RELEASED,
  PG_WANTED,
  PQ_ACTIVE,
  PQ_INACTIVE,
  type UvmPage,
} from "./uvm_page.js";

/** Mark the page busy for a transfer (process context: the pmap may be called here). */
export function pagerStart(vm: Uvm, pg: UvmPage, write: boolean): void {
  pg.flags |= PG_BUSY | PG_INIO;
  pg.flags &= ~PG_IOERROR;
  if (write) {
    pg.flags |= PG_PAGEOUT;
  } else {
    // A fresh frame may carry the modify attribute of its previous life: clear it now, in
    // process context, so the page reads clean once the data is in.
    vm.pmap.clearModify(pg);
  }
}

/**
 * uvm_aio_aiodone for one page: the IoDone handed to the strategy routine. `sync`: a thread
 * sleeps on this read and takes the page busy from here (pgo_get with PGO_SYNCIO).
 */
export function pagerDone(vm: Uvm, pg: UvmPage, write: boolean, sync = false): IoDone {
  return (error: number) => {
    pg.flags &= ~(PG_INIO | PG_PAGEOUT);
    if (!sync) pg.flags &= ~(PG_BUSY | PG_WANTED);
    if (error !== 0) {
      pg.flags |= PG_IOERROR;
      if (write) pg.flags &= ~PG_CLEAN;
    } else {
      pg.flags |= PG_CLEAN;
      if (!write) pg.flags &= ~PG_FAKE;
    }
    const owned = (pg.uobject !== null || pg.uanon !== null) && (pg.flags & PG_RELEASED) === 0;
    if ((pg.pqflags & (PQ_ACTIVE | PQ_INACTIVE)) === 0 && pg.wireCount === 0) {
      if (owned) vm.pages.active.insertTail(pg);
      else vm.pages.inactive.insertTail(pg);
    }
    if (write && vm.pages.freeCount < vm.pages.freeTarg) vm.io.wakeupPagedaemon();
  };
}

/** Whether a page that was busy for a read came back with its data. */
export function pagerFailed(pg: UvmPage): boolean {
  return (pg.flags & PG_IOERROR) !== 0;
}

/**
 * Start a synchronous one-page read and wait for it: the page comes back still PG_BUSY, owned by
 * the caller, who must clear it (pagerUnbusy). "error" on an I/O error, "shortage" if the wait
 * could not end.
 */
export function pagerSyncRead(
  vm: Uvm,
  pg: UvmPage,
  wmesg: string,
  start: (done: IoDone) => void,
): "ok" | "error" | "shortage" {
  pagerStart(vm, pg, false);
  start(pagerDone(vm, pg, false, true));
  const ok = vm.io.sleep(wmesg, () => (pg.flags & PG_INIO) === 0);
  if (!ok) return "shortage";
  return pagerFailed(pg) ? "error" : "ok";
}

/** Clear PG_BUSY on a page this thread held (uvm_page_unbusy). */
export function pagerUnbusy(pg: UvmPage): void {
  pg.flags &= ~(PG_BUSY | PG_WANTED);
}
