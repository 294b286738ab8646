/**
 * vm_pageout: the pageout daemon's scan (4.4BSD-Lite sys/vm/vm_pageout.c, vm_pageout_scan;
 * mach_x86.md A.7). A two-queue second-chance scheme: deactivation clears the reference bits,
 * and a page referenced again by the time the scan reaches it on the inactive queue goes back
 * to the active queue.
 *
 * There is no swap yet: a dirty anonymous page cannot be cleaned, so, as in 4.4BSD when the
 * swap pager could not be allocated (VM_PAGER_FAIL), it is reactivated to be tried later. Only
 * clean pages are freed — and anonymous pages are never clean (zero-fill and copy mark them
 * dirty), so until swap exists the scan frees nothing that holds data.
 */
import { Prot } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { type MachPage, PG_BUSY, PG_CLEAN, PG_LAUNDRY, Q_INACTIVE } from "./vm_page.js";

export class Pageout {
  /** cnt.v_free_min */
  readonly freeMin: number;
  /** cnt.v_free_target */
  readonly freeTarget: number;
  /** cnt.v_inactive_target, recomputed before every scan. */
  inactiveTarget = 0;

  constructor(private readonly vm: VmCore) {
    // vm_pageout(): free_min = free/20 clamped to [3, 40]; free_target = 4/3 of it, at least +1.
    const free = vm.pages.freeCount;
    this.freeMin = Math.min(40, Math.max(3, Math.floor(free / 20)));
    this.freeTarget = Math.max(Math.floor((this.freeMin * 4) / 3), this.freeMin + 1);
  }

  /** vm_pageout_scan */
  scan(): void {
    const { pages, counters, pmap, objects } = this.vm;
    counters.pageoutScan.value++;
    pages.pagesNeeded = false;
    this.inactiveTarget = Math.max(Math.floor((pages.active.count + pages.inactive.count) / 3), this.freeTarget + 1);

    // Walk the inactive queue from its head until enough pages are free.
    let freed = 0;
    let budget = pages.inactive.count;
    let m: MachPage | null = pages.inactive.head;
    while (m && budget-- > 0 && pages.freeCount < this.freeTarget) {
      let next: MachPage | null = m.qnext;
      if (pmap.isReferenced(m)) {
        // Referenced since deactivation: second chance. The bit is cleared at the next deactivation.
        pages.activate(m);
        counters.pageoutReactivated.value++;
      } else if (m.flags & PG_CLEAN && !pmap.isModified(m)) {
        pmap.pageProtect(m, Prot.None);
        pages.freePage(m);
        counters.pageoutFreed.value++;
        freed++;
      } else if (m.flags & PG_LAUNDRY && m.object) {
        // Dirty: it would go to the object's pager. Try to shorten the chain first, as 4.4BSD did
        // before giving an anonymous object its swap pager.
        pmap.pageProtect(m, Prot.None);
        m.flags |= PG_BUSY;
        const object = m.object;
        objects.collapse(object);
        m.flags &= ~PG_BUSY;
        if (object.pager === null) {
          // vm_pager_allocate(PG_DFLT) fails without swap: VM_PAGER_FAIL, try again later.
          counters.pageoutNoPager.value++;
          pages.activate(m);
        } else {
          const rv = object.pager.put(object, m, false);
          if (rv === 0) m.flags &= ~PG_LAUNDRY;
          else pages.activate(m);
        }
        pmap.clearReference(m);
      }
      // A collapse may have freed the page we were about to visit: restart from the head.
      if (next && next.queue !== Q_INACTIVE) next = pages.inactive.head;
      m = next;
    }

    // Refill the inactive queue from the head of the active queue.
    let shortage = this.inactiveTarget - pages.inactive.count;
    if (shortage <= 0 && freed === 0) shortage = 1;
    while (shortage-- > 0 && pages.active.head) {
      pages.deactivate(pages.active.head);
      counters.pageoutDeactivated.value++;
    }
    this.vm.kernel.trace.emit("vm", "pageout_scan", {
      free: pages.freeCount,
      active: pages.active.count,
      inactive: pages.inactive.count,
      freed,
    });
  }
}
