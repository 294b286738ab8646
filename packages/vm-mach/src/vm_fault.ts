/**
 * vm_fault: resolve a fault by walking the shadow chain (4.4BSD-Lite sys/vm/vm_fault.c;
 * mach_x86.md A.5), plus vm_fault_wire, vm_fault_unwire and vm_fault_copy_entry.
 *
 * A page a pager holds is read in while the faulting thread sleeps ("pgin") until the completion
 * interrupt; a page found busy (being written out, or paged in by another thread) is waited for
 * with PG_WANTED and the fault retried from the start (RetryFault), as is a fault that had to
 * VM_WAIT for a free page. A pager error or a page past the end of a file is KERN_MEMORY_ERROR
 * (SIGBUS; 4.4BSD said KERN_PROTECTION_FAILURE, "XXX"), and a VM_WAIT that can never be
 * satisfied is KERN_RESOURCE_SHORTAGE (the kernel then kills the largest process).
 *
 * One deliberate difference from 4.4BSD: a wiring fault (change_wiring) for mlock, MAP_WIRED or a
 * system wiring copies a page found lower in the chain up into the first object, as a write fault
 * would, even when the entry is read-only (a transient wiring of a read-only entry does not:
 * see copiesOnWire). So a wired page always lives in the first object of the entry that wired it, and
 * (with vmspace_fork copying wired ranges eagerly) no shadow object ever sees it through its
 * window: a later copy-on-write, collapse or termination elsewhere can never pull a wired page
 * out from under its entry, and unwiring finds the page by object lookup. (4.4BSD mapped the lower page read-only and wired it there, and its unwire
 * followed pmap_extract; the two disagree once another map's COW fault removes the mapping.)
 */
import {
  hex,
  KERN_INVALID_ADDRESS,
  KERN_MEMORY_ERROR,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  type KernReturn,
  PAGE_SIZE,
  PMAP_ACCESS_MASK,
  PMAP_CANFAIL,
  PMAP_WIRED,
  Prot,
  roundPage,
  type VAddr,
} from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import type { VmObject } from "./vm_object.js";
import { type MachPage, PG_BUSY, PG_COPYONWRITE, PG_FAKE, Q_INACTIVE } from "./vm_page.js";
import { objectPageGrab, pageRelease, pagerGet, VM_PAGER_FAIL, VM_PAGER_OK } from "./vm_pager.js";

/** faultOnce's answer when the fault must start again (it slept). */
const RETRY = -1;

/**
 * vm_fault(map, va, fault_type, change_wiring). `va` is page aligned. `wiring` is change_wiring
 * for vm_fault_wire (unwiring never faults here: vm_fault_unwire works on the pages directly).
 */
export function vmFault(vm: VmCore, map: VmMap, va: VAddr, faultType: Prot, wiring: boolean): KernReturn {
  vm.counters.fault.value++;
  if (wiring) vm.counters.faultWire.value++;
  for (;;) {
    const rv = faultOnce(vm, map, va, faultType, wiring);
    if (rv !== RETRY) return rv;
  }
}

/** One attempt of vm_fault, from the map lookup to pmap_enter; RETRY after sleeping. */
function faultOnce(vm: VmCore, map: VmMap, va: VAddr, faultType: Prot, wiring: boolean): KernReturn {
  const { counters, pages, objects } = vm;
  const r = map.lookup(va, faultType, wiring);
  if (typeof r === "number") return r;
  if (wiring) {
    // Faults from trap() come with their page tables already faulted in (trap.c); ours don't.
    const ptrv = faultPageTables(vm, map, va);
    if (ptrv !== KERN_SUCCESS) return ptrv;
  }
  const first = r.object;
  const firstOffset = r.offset;
  const wired = r.wired;
  let prot = r.prot;
  if (wired) faultType = prot;

  // Our reference and paging_in_progress keep first_object (and so its chain) from going away
  // or being collapsed under us while pmap_enter or a pager runs.
  first.refCount++;
  first.pagingInProgress++;

  let object: VmObject = first;
  let offset = firstOffset;
  let m: MachPage | null = null;
  let firstM: MachPage | null = null;

  // ---- the chain walk
  for (;;) {
    const found = object.pages.get(offset);
    if (found) {
      if (found.flags & PG_BUSY) {
        // Being written out or read in: drop everything, sleep until it is unbusied, start over.
        release(vm, first, object, firstM);
        if (!vm.pageWait(found, "vmpfw")) {
          vm.kernel.panic(`vm_fault: page ${hex(found.pa)} busy at ${hex(va)} (recursive fault)`);
        }
        return RETRY;
      }
      if (found.queue === Q_INACTIVE) counters.faultReactivated.value++;
      pages.dequeue(found);
      found.flags |= PG_BUSY;
      m = found;
      break;
    }

    let here: MachPage | null = null;
    if (object.pager !== null || object === first) {
      here = vm.pageAlloc(object, offset);
      if (!here) {
        release(vm, first, object, firstM);
        return vm.vmWait() ? RETRY : KERN_RESOURCE_SHORTAGE;
      }
    }

    if (object.pager !== null && here) {
      const rv = pagerGet(vm, object, here);
      if (rv === VM_PAGER_OK) {
        m = here;
        break;
      }
      if (rv !== VM_PAGER_FAIL) {
        // An I/O error, or a page past the end of a file: SIGBUS.
        here.flags &= ~PG_BUSY;
        pages.freePage(here);
        if (object === first) firstM = null;
        release(vm, first, object, firstM);
        return KERN_MEMORY_ERROR;
      }
      // VM_PAGER_FAIL: not there; keep the busy placeholder only in the first object.
      if (object !== first) {
        here.flags &= ~PG_BUSY;
        pages.freePage(here);
        here = null;
      }
    }

    if (object === first) firstM = here;

    const next = object.shadow;
    if (!next) {
      // End of the chain: zero-fill the placeholder in the first object.
      if (object !== first) {
        object.pagingInProgress--;
        object = first;
        offset = firstOffset;
      }
      m = firstM as MachPage;
      firstM = null;
      pages.zeroFill(m);
      m.flags &= ~PG_FAKE;
      counters.faultZerofill.value++;
      break;
    }
    offset += object.shadowOffset;
    if (object !== first) object.pagingInProgress--;
    object = next;
    object.pagingInProgress++;
  }

  // ---- copy-on-write: the page came from a lower object
  if (object !== first) {
    if (faultType & Prot.Write || (wiring && copiesOnWire(r.entry))) {
      const copy = firstM as MachPage;
      pages.copy(m, copy);
      copy.flags &= ~PG_FAKE;
      // Every mapping of the original goes: we cannot tell which maps want the old page.
      m.flags &= ~PG_BUSY;
      pages.activate(m);
      vm.pmap.pageProtect(m, Prot.None);
      object.pagingInProgress--;
      counters.faultCow.value++;
      m = copy;
      firstM = null;
      object = first;
      offset = firstOffset;
      // Now that the copy is out of the way, try to shorten the chain.
      first.pagingInProgress--;
      objects.collapse(first);
      first.pagingInProgress++;
    } else {
      prot &= ~Prot.Write;
      m.flags |= PG_COPYONWRITE;
    }
  }

  // Copy objects (first.copy) exist only for objects with pagers: they come with the vnode pager.
  if (first.copy !== null) vm.kernel.panic("vm_fault: copy-object push is not implemented");
  if (prot & Prot.Write) m.flags &= ~PG_COPYONWRITE;

  // ---- pmap_enter, with everything consistent: it may fault recursively (page-table pages).
  const pmap = map.pmap;
  if (!pmap) vm.kernel.panic(`vm_fault: map ${map.name} has no pmap`);
  const flags = (wired ? PMAP_WIRED : 0) | (faultType & PMAP_ACCESS_MASK) | PMAP_CANFAIL;
  const entered = pmap.enter(va, m, prot, flags);
  if (entered && wiring) pages.wire(m);
  else pages.activate(m);
  m.flags &= ~PG_BUSY;
  release(vm, first, object, firstM);
  return entered ? KERN_SUCCESS : KERN_RESOURCE_SHORTAGE;
}

/**
 * Whether a wiring fault copies a page found lower in the chain up into the first object. The
 * BSDs wire with the entry's own protection (4.4BSD vm_fault: fault_type = prot when
 * change_wiring; NetBSD uvm_fault_check: cow_now only if the entry is writable), so a read-only
 * private entry wires the page where it lies — the file's own page for a private file mapping,
 * which keeps showing later changes to the file. Here that holds for an entry wired only
 * transiently (vslock for read()/write(): released before the system call returns, with no fork,
 * mlock or copy-on-write of another map in between). Long-lived wirings (mlock, MAP_WIRED,
 * system) keep copying up (see the file comment).
 */
function copiesOnWire(e: VmMapEntry): boolean {
  return (e.protection & Prot.Write) !== 0 || e.transientCount !== e.wiredCount;
}

/**
 * Page-table pages that live in the user map (4.4BSD i386) must exist before pmap_enter can
 * write the PTE. trap.c faults them in for user faults; a fault the VM starts itself (wiring for
 * mlock, MAP_WIRED, mlockall) has no trap.c in front of it, and 4.4BSD's pmap_enter then used a
 * garbage PTE pointer ("ptdi"). NetBSD's pmap_enter faulted them in; here vm_fault does, the way
 * trap.c does: vm_fault the page-table page read-write, then wire it. Only wiring faults need
 * it (every other fault comes from trap()); nothing to do for pmaps that allocate their own
 * page tables (missingPageTables is empty).
 */
function faultPageTables(vm: VmCore, map: VmMap, va: VAddr): KernReturn {
  const pmap = map.pmap;
  if (!pmap || pmap === vm.pmap.kernelPmap) return KERN_SUCCESS;
  for (const ptva of vm.pmap.missingPageTables(pmap, va)) {
    let rv = vmFault(vm, map, ptva, Prot.Read | Prot.Write, false);
    if (rv === KERN_SUCCESS) rv = map.wire(ptva, ptva + PAGE_SIZE, "system");
    if (rv !== KERN_SUCCESS) return rv === KERN_INVALID_ADDRESS ? KERN_RESOURCE_SHORTAGE : rv;
  }
  return KERN_SUCCESS;
}

/**
 * UNLOCK_AND_DEALLOCATE: drop paging_in_progress on the object we stopped in and on the first
 * object, free the first object's placeholder if the page came from elsewhere, and drop the
 * fault's reference to the first object.
 */
function release(vm: VmCore, first: VmObject, object: VmObject, firstM: MachPage | null): void {
  if (object !== first) object.pagingInProgress--;
  if (firstM) {
    firstM.flags &= ~PG_BUSY;
    vm.pages.freePage(firstM);
  }
  first.pagingInProgress--;
  vm.objects.deallocate(first);
}

/**
 * vm_fault_wire: fault in and wire every page of [start, end) of entry e (whose wired_count
 * the caller already raised). On failure the pages wired so far are unwired again.
 */
export function faultWire(vm: VmCore, map: VmMap, e: VmMapEntry, start: VAddr, end: VAddr): KernReturn {
  for (let va = start; va < end; va += PAGE_SIZE) {
    const rv = vmFault(vm, map, va, Prot.None, true);
    if (rv !== KERN_SUCCESS) {
      if (va !== start) faultUnwire(vm, map, e, start, va);
      return rv;
    }
  }
  return KERN_SUCCESS;
}

/**
 * vm_fault_unwire: unwire the pages of [start, end) of entry e. The page is the one in the
 * entry's first object (see the file comment); its pmap wiring is dropped if it is still mapped.
 */
export function faultUnwire(vm: VmCore, map: VmMap, e: VmMapEntry, start: VAddr, end: VAddr): void {
  const pmap = map.pmap;
  for (let va = start; va < end; va += PAGE_SIZE) {
    const loc = map.objectAt(e, va);
    const pg = loc && wiredPageOf(loc.objEntry.object, loc.offset);
    if (!pg) vm.kernel.panic(`vm_fault_unwire: unwire: page not resident at ${hex(va)} in map ${map.name}`);
    if (pmap && pmap.extract(va) === pg.pa) pmap.unwire(va);
    vm.pages.unwire(pg);
    // A file page left past EOF by a truncation while it was wired goes now (vnode_pager_setsize).
    const vp = pg.object?.vnode;
    if (vp && pg.wireCount === 0 && (pg.flags & PG_BUSY) === 0 && pg.offset >= roundPage(vp.size)) {
      vm.pages.freePage(pg);
    }
  }
}

/**
 * The wired page an entry sees at `offset` of its first object: there, or — for a transient
 * wiring of a read-only entry (copiesOnWire) — the first page found down the shadow chain.
 */
export function wiredPageOf(obj: VmObject | null, offset: number): MachPage | undefined {
  while (obj) {
    const pg = obj.pages.get(offset);
    if (pg) return pg;
    offset += obj.shadowOffset;
    obj = obj.shadow;
  }
  return undefined;
}

/**
 * The page a fault would find for `offset` in obj's chain, paged in from the first pager that
 * has it, not busy; undefined when nothing holds it (zero fill) or its page-in failed;
 * KERN_RESOURCE_SHORTAGE when paging it in needed memory that will never come.
 */
function chainPage(vm: VmCore, obj: VmObject | null, offset: number): MachPage | undefined | KernReturn {
  while (obj) {
    if (obj.pages.has(offset) || obj.pager?.hasPage(obj, offset)) {
      const pg = objectPageGrab(vm, obj, offset, false);
      if (pg === KERN_RESOURCE_SHORTAGE) return KERN_RESOURCE_SHORTAGE;
      if (typeof pg === "number") return undefined;
      pageRelease(vm, pg);
      return pg;
    }
    offset += obj.shadowOffset;
    obj = obj.shadow;
  }
  return undefined;
}

/**
 * vm_fault_copy_entry (4.4BSD-Lite sys/vm/vm_fault.c): the child's copy of a wired region is
 * made now, page by page, into a fresh object (a wired page cannot be made copy-on-write). Pages
 * on backing store are read in first; pages nowhere in the source chain stay absent (they read
 * as zeros). Unlike 4.4BSD the copies are not entered in the child's pmap (4.4BSD entered them
 * with the entry's max_protection); the child faults them in.
 *
 * Each destination page is a thread's allocation (vm_page_alloc above the kernel's reserve) and,
 * as in 4.4BSD's `do { vm_page_alloc } while (VM_WAIT)` loop, one that finds no page sleeps in
 * VM_WAIT and tries again — looking the source page up again, since the pageout daemon ran
 * meanwhile. Taking the reserve instead would leave nothing for the child's u-area and page
 * tables. Null, with the partial copy freed, when the wait can never end (nothing left to page
 * out): fork then fails with ENOMEM.
 */
export function faultCopyEntry(vm: VmCore, src: VmObject | null, srcOffset: number, size: number): VmObject | null {
  const dst = vm.objects.allocate(size, "copy");
  for (let off = 0; off < size; off += PAGE_SIZE) {
    for (;;) {
      const from = chainPage(vm, src, srcOffset + off);
      if (from === undefined) break;
      if (typeof from === "number") {
        vm.objects.deallocate(dst);
        return null;
      }
      const pg = vm.pageAlloc(dst, off);
      if (pg) {
        vm.pages.copy(from, pg);
        pg.flags &= ~(PG_FAKE | PG_BUSY);
        vm.pages.activate(pg);
        break;
      }
      if (!vm.vmWait()) {
        vm.objects.deallocate(dst);
        return null;
      }
    }
  }
  return dst;
}
