/**
 * vm_pageout: the pageout daemon's scan (4.4BSD-Lite sys/vm/vm_pageout.c, vm_pageout_scan;
 * mach_x86.md A.7). A two-queue second-chance scheme: deactivation clears the reference bits,
 * and a page referenced again by the time the scan reaches it on the inactive queue goes back
 * to the active queue. Unreferenced clean pages are freed; dirty ones are laundered by an
 * asynchronous write to their object's pager — swap for anonymous memory (the swap pager is
 * allocated here, lazily, the first time an object needs it), the file for a vnode object. A
 * laundered page stays busy on the inactive queue until the completion interrupt makes it
 * clean; a later pass frees it. Busy and wired pages are never freed. When swap is full the
 * put fails (VM_PAGER_FAIL) and the page goes back to the active queue, as in 4.4BSD.
 */
import { Prot } from "@vmlab/core";
import { SwapPager } from "./swap_pager.js";
import type { VmCore } from "./vm_core.js";
import { OBJ_INTERNAL } from "./vm_object.js";
import { type MachPage, PG_BUSY, PG_CLEAN, Q_INACTIVE } from "./vm_page.js";
import { pageDirty, pagerPut, VM_PAGER_BAD, VM_PAGER_PEND } from "./vm_pager.js";

export class Pageout {
  /** cnt.v_free_min */
  readonly freeMin: number;
  /** cnt.v_free_target */
  readonly freeTarget: number;
  /**
   * Pages a thread's allocation leaves for the kernel and the pmap (FreeBSD v_free_reserved;
   * 4.4BSD had none and let user faults take the last page, starving pmap_enter).
   */
  readonly freeReserved: number;
  /** cnt.v_inactive_target, recomputed before every scan. */
  inactiveTarget = 0;

  constructor(private readonly vm: VmCore) {
    // vm_pageout(): free_min = free/20 clamped to [3, 40]; free_target = 4/3 of it, at least +1.
    const free = vm.pages.freeCount;
    this.freeMin = Math.min(40, Math.max(3, Math.floor(free / 20)));
    this.freeTarget = Math.max(Math.floor((this.freeMin * 4) / 3), this.freeMin + 1);
    this.freeReserved = Math.max(1, Math.floor(this.freeMin / 4));
  }

  /**
   * One wakeup of the pageout daemon (vm_pageout's loop body): one vm_pageout_scan, then sleep
   * until the next wakeup. Only while a thread is short of pages (vm_pages_needed: an allocation
   * was refused and its thread is going to VM_WAIT) does it scan again while a pass only moved
   * pages to the inactive queue — in 4.4BSD that thread would wake the daemon again at once; here
   * a sleeper whose daemon run freed nothing and started no I/O is out of memory, so the daemon
   * does not stop before it has made progress it can show.
   *
   * A wakeup that only saw free < free_min (nobody waiting) is a single pass, as in 4.4BSD: the
   * pages it deactivated keep their second chance until the next wakeup. Scanning again at once
   * would launder and free pages deactivated a moment before, with no chance to be referenced in
   * between — the page a fault has just entered included. An access crossing two pages then never
   * completed under memory pressure: each fault's daemon run (at the end of the fault) took the
   * other page, and the retried access faulted on it again, forever (conformance #8, "trap: fault
   * loop"). With one pass, the retried access references the first page (the MMU sets PG_A on its
   * translation before it faults on the second), and the next pass reactivates it.
   */
  daemon(): void {
    const passes = this.vm.pages.pagesNeeded ? 3 : 1;
    for (let pass = 0; pass < passes; pass++) {
      const r = this.scan();
      if (this.vm.pages.freeCount >= this.freeTarget || r.freed > 0 || r.started > 0 || r.deactivated === 0) return;
    }
  }

  /** vm_pageout_scan: what one pass freed, laundered and deactivated. */
  scan(): { freed: number; started: number; deactivated: number } {
    const { pages, counters, pmap } = this.vm;
    counters.pageoutScan.value++;
    pages.pagesNeeded = false;
    this.inactiveTarget = Math.max(Math.floor((pages.active.count + pages.inactive.count) / 3), this.freeTarget + 1);

    // Walk the inactive queue from its head until enough pages are free.
    let freed = 0;
    let started = 0;
    let budget = pages.inactive.count;
    let m: MachPage | null = pages.inactive.head;
    while (m && budget-- > 0 && pages.freeCount < this.freeTarget) {
      let next: MachPage | null = m.qnext;
      if (m.flags & PG_BUSY) {
        // Being cleaned (4.4BSD: !PG_LAUNDRY, skip) or held by a thread.
      } else if (pmap.isReferenced(m)) {
        // Referenced since deactivation: second chance. The bit is cleared at the next deactivation.
        pages.activate(m);
        counters.pageoutReactivated.value++;
      } else if (!pageDirty(this.vm, m)) {
        pmap.pageProtect(m, Prot.None);
        pages.freePage(m);
        counters.pageoutFreed.value++;
        freed++;
      } else if (this.launder(m)) {
        started++;
      }
      // A collapse may have freed the page we were about to visit: restart from the head.
      if (next && next.queue !== Q_INACTIVE) next = pages.inactive.head;
      m = next;
    }

    // Refill the inactive queue from the head of the active queue.
    let shortage = this.inactiveTarget - pages.inactive.count;
    if (shortage <= 0 && freed === 0) shortage = 1;
    let deactivated = 0;
    while (shortage-- > 0 && pages.active.head) {
      pages.deactivate(pages.active.head);
      counters.pageoutDeactivated.value++;
      deactivated++;
    }
    this.vm.kernel.trace.emit("vm", "pageout_scan", {
      free: pages.freeCount,
      active: pages.active.count,
      inactive: pages.inactive.count,
      freed,
    });
    return { freed, started, deactivated };
  }

  /**
   * The dirty-page branch of vm_pageout_scan: remove the page's mappings, try to shorten its
   * object's chain, give an anonymous object its swap pager, and start the write (vm_pager_put,
   * asynchronous). PEND: the page stays busy on the inactive queue until the completion.
   * BAD (a file page past EOF): the data is dropped and the page is clean ("XXX dubious").
   * FAIL (no swap space): back to the active queue, to be tried later.
   */
  private launder(m: MachPage): boolean {
    const { pages, counters, pmap, objects } = this.vm;
    const object = m.object;
    if (!object) return false;
    // An object being terminated (no references, not cached) is about to free its pages.
    if (object.refCount === 0 && !object.cached) return false;
    pmap.pageProtect(m, Prot.None);
    m.flags |= PG_BUSY;
    objects.collapse(object);
    m.flags &= ~PG_BUSY;
    let created = false;
    if (object.pager === null && object.flags & OBJ_INTERNAL) {
      object.pager = new SwapPager(this.vm);
      object.pagingOffset = 0;
      created = true;
    }
    const rv = pagerPut(this.vm, object, m);
    if (rv === VM_PAGER_PEND) {
      pmap.clearReference(m);
      return true;
    }
    if (rv === VM_PAGER_BAD) {
      m.flags |= PG_CLEAN;
      pmap.clearModify(m);
      return false;
    }
    // VM_PAGER_FAIL / ERROR: no swap space (vm_pager_allocate failed in 4.4BSD if none was made).
    if (created) {
      object.pager?.deallocate(object);
      object.pager = null;
    }
    counters.pageoutNoPager.value++;
    pages.activate(m);
    pmap.clearReference(m);
    return false;
  }
}
