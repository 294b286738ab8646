/**
 * vm_pageout: the page daemon (FreeBSD sys/vm/vm_pageout.c; the laundry queue and its
 * vm_pageout_launder are FreeBSD 11's).
 *
 * One pass (vm_pageout_worker's loop body) does three things:
 *  1. vm_pageout_scan_inactive: from the head of the inactive queue, until the free target is
 *     met, a referenced page goes back to the active queue, a clean one is unmapped and freed,
 *     a dirty one moves to the laundry queue;
 *  2. vm_pageout_launder: dirty pages on the laundry queue are written — anonymous memory to swap
 *     (skipped while the swap device is full), file pages to their file. They stay soft-busy
 *     until the completion interrupt makes them clean and moves them to the inactive queue;
 *  3. vm_pageout_scan_active: pages not referenced since the last pass move to the inactive
 *     queue until it reaches its target.
 * Wired pages are on no queue and busy pages are skipped: the daemon never frees either.
 */
import { Prot } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { ObjectTable } from "./vm_object.js";
import { type FbsdPage, PG_REFERENCED, PQ_INACTIVE, PQ_LAUNDRY, VmPages } from "./vm_page.js";

export class Pageout {
  /** vm_pageout_deficit: allocations that failed since the last pass. */
  deficit = 0;

  constructor(private readonly vm: VmCore) {}

  get freeMin(): number {
    return this.vm.pages.thresholds.freeMin;
  }

  /** cnt.v_inactive_target */
  inactiveTarget(): number {
    const p = this.vm.pages;
    return Math.max(Math.floor((p.active.count + p.inactive.count + p.laundry.count) / 3), p.thresholds.freeTarget);
  }

  /** One pass of the daemon. */
  scan(): void {
    const vm = this.vm;
    const pages = vm.pages;
    vm.counters.pageoutScan.value++;
    let shortage = pages.thresholds.freeTarget - pages.freeCount + this.deficit;
    this.deficit = 0;
    const freed = this.scanInactive(shortage);
    shortage -= freed;
    const laundered = this.launder(Math.max(shortage, 0));
    this.scanActive();
    vm.kernel.trace.emit("vm", "pageout_scan", {
      free: pages.freeCount,
      active: pages.active.count,
      inactive: pages.inactive.count,
      laundry: pages.laundry.count,
      freed,
      laundered,
    });
  }

  /** Whether the page was referenced since it was last looked at (clears the bits). */
  private referenced(m: FbsdPage): boolean {
    let ref = (m.flags & PG_REFERENCED) !== 0;
    m.flags &= ~PG_REFERENCED;
    if (this.vm.pmap.tsReferenced(m) > 0) ref = true;
    return ref;
  }

  /** vm_pageout_scan_inactive: returns the pages freed. */
  private scanInactive(shortage: number): number {
    const { pages, counters, pmap } = this.vm;
    let freed = 0;
    let budget = pages.inactive.count;
    let m = pages.inactive.head;
    while (m && budget-- > 0 && freed < shortage) {
      const next = m.qnext;
      if (!VmPages.isBusy(m) && m.object) {
        if (this.referenced(m)) {
          pages.activate(m);
          counters.pageoutReactivated.value++;
        } else {
          pages.testDirty(m);
          if (!m.dirty) {
            pmap.pageProtect(m, Prot.None);
            // The unmap may have picked up a modified bit (a dirty superpage's constituents).
            pages.testDirty(m);
            if (!m.dirty) {
              pages.free(m);
              counters.pageoutFreed.value++;
              freed++;
            } else {
              pages.launder(m);
            }
          } else {
            pages.launder(m);
          }
        }
      }
      m = next && next.queue === PQ_INACTIVE ? next : null;
    }
    return freed;
  }

  /** vm_pageout_launder: start writes for up to `target` dirty pages (at least a few). */
  private launder(target: number): number {
    const vm = this.vm;
    const { pages, counters } = vm;
    let started = 0;
    let budget = pages.laundry.count;
    let m = pages.laundry.head;
    const want = Math.max(target, 8);
    while (m && budget-- > 0 && started < want) {
      const next = m.qnext;
      const obj = m.object;
      if (!VmPages.isBusy(m) && obj) {
        if (this.referenced(m)) {
          pages.activate(m);
          counters.pageoutReactivated.value++;
        } else {
          pages.testDirty(m);
          if (!m.dirty) {
            pages.moveToInactive(m);
          } else if (obj.type === "vnode") {
            vm.vnodes.putPage(obj, m);
            counters.pageoutLaundered.value++;
            started++;
          } else if (ObjectTable.anonymous(obj)) {
            // The writes must not race new stores: write-protect first (pmap_remove_write).
            vm.pmap.pageProtect(m, Prot.Read | Prot.Exec);
            pages.testDirty(m);
            vm.pmap.clearModify(m);
            if (vm.swap.putPage(obj, m)) {
              counters.pageoutLaundered.value++;
              started++;
            } else {
              counters.pageoutNoSwap.value++;
              pages.requeue(m);
            }
          } else {
            pages.activate(m);
          }
        }
      }
      m = next && next.queue === PQ_LAUNDRY ? next : null;
    }
    return started;
  }

  /** vm_pageout_scan_active: refill the inactive queue from the head of the active queue. */
  private scanActive(): void {
    const { pages, counters } = this.vm;
    let shortage = this.inactiveTarget() - pages.inactive.count;
    let budget = pages.active.count;
    while (shortage > 0 && budget-- > 0 && pages.active.head) {
      const m = pages.active.head;
      if (VmPages.isBusy(m)) {
        pages.requeue(m);
        continue;
      }
      if (this.referenced(m)) {
        pages.requeue(m);
        continue;
      }
      pages.deactivate(m);
      counters.pageoutDeactivated.value++;
      shortage--;
    }
  }
}
