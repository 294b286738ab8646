/**
 * The pagedaemon (NetBSD sys/uvm/uvm_pdaemon.c: uvmpd_scan, uvmpd_scan_inactive; netbsd_uvm.md
 * §2): a two-queue second-chance scan. Inactive pages referenced since they were deactivated go
 * back to the active queue; clean ones are freed; dirty ones are cleaned — anons and aobj pages
 * to swap, vnode pages to their file — by asynchronous writes, their pages busy until the
 * completion interrupt, after which they are clean and the next scan frees them. Wired, busy and
 * loaned pages are never freed; a dirty swap-backed page with no swap slot to be had stays (it is
 * reactivated). Then the active queue's head is deactivated until the inactive target is met.
 */
import { Prot } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { NOSWAP } from "./uvm_anon.js";
import { PG_BUSY, PG_RELEASED, PQ_INACTIVE, type UvmPage } from "./uvm_page.js";
import { swapAlloc, swapPut } from "./uvm_swap.js";

export class Pagedaemon {
  /** uvmexp.inactarg, recomputed before each scan. */
  inactiveTarget = 0;

  constructor(private readonly vm: Uvm) {}

  /**
   * One wakeup of the daemon (uvm_pageout's loop body). One pass only: a page deactivated by this
   * pass is not freed by it, so the page a fault has just entered survives until the faulting
   * access retries (the kernel runs the daemon between the two); sleepers wake the daemon again.
   */
  scan(): void {
    this.scanOnce();
  }

  /** uvmpd_scan: the inactive queue, then the active queue's balance. Returns the cleanings started. */
  private scanOnce(): number {
    const { pages, counters } = this.vm;
    counters.pdScan.value++;
    this.inactiveTarget = Math.max(Math.floor((pages.active.count + pages.inactive.count) / 3), pages.freeTarg + 1);
    let freed = 0;
    let started = 0;
    let budget = pages.inactive.count;
    let pg: UvmPage | null = pages.inactive.head;
    while (pg && budget-- > 0 && pages.freeCount < pages.freeTarg) {
      let next: UvmPage | null = pg.qnext;
      const r = this.scanOne(pg);
      if (r === "freed") freed++;
      else if (r === "started") started++;
      if (next && (next.pqflags & PQ_INACTIVE) === 0) next = pages.inactive.head;
      pg = next;
    }
    let shortage = this.inactiveTarget - pages.inactive.count;
    while (shortage-- > 0 && pages.active.head) {
      const a = pages.active.head;
      if (a.flags & PG_BUSY) {
        // A busy page (a read in flight) is passed over: move it to the tail.
        pages.active.remove(a);
        pages.active.insertTail(a);
        continue;
      }
      pages.deactivate(a);
      counters.pdDeactivated.value++;
    }
    this.vm.kernel.trace.emit("vm", "pagedaemon", {
      free: pages.freeCount,
      active: pages.active.count,
      inactive: pages.inactive.count,
      freed,
      started,
    });
    return started;
  }

  /** uvmpd_scan_inactive for one page. */
  private scanOne(pg: UvmPage): "freed" | "started" | "kept" {
    const { pages, counters, pmap } = this.vm;
    if (pg.flags & PG_BUSY || pg.wireCount !== 0 || pg.loanCount !== 0) return "kept";
    if (pg.flags & PG_RELEASED || (pg.uobject === null && pg.uanon === null)) {
      pages.freePage(pg);
      counters.pdFreed.value++;
      return "freed";
    }
    if (pmap.isReferenced(pg)) {
      pages.activate(pg);
      counters.pdReactivated.value++;
      return "kept";
    }
    if (!pages.isDirty(pg)) {
      pages.freePage(pg);
      counters.pdFreed.value++;
      return "freed";
    }
    // Dirty: no mapping may change it while it is written.
    pmap.pageProtect(pg, Prot.None);
    const anon = pg.uanon;
    if (anon) {
      let slot = anon.swslot;
      if (slot === NOSWAP) {
        slot = swapAlloc(this.vm);
        if (slot < 0) {
          pages.activate(pg);
          return "kept";
        }
        anon.swslot = slot;
      }
      swapPut(this.vm, pg, slot);
      return "started";
    }
    const obj = pg.uobject;
    if (obj?.put(this.vm, pg)) return "started";
    pages.activate(pg);
    return "kept";
  }
}
