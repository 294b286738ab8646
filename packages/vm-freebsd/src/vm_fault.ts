/**
 * vm_fault: resolve a fault by walking the object chain (FreeBSD sys/vm/vm_fault.c, 8.x), plus
 * vm_fault_wire, vm_fault_unwire and vm_fault_copy_entry.
 *
 * The walk looks for the page in the first object, then down the backing chain; an object with
 * a pager (swap, vnode) is asked for the page; a busy page is slept on (the busy/wanted protocol)
 * and the fault retried. At the end of the chain the first object's placeholder is zero-filled.
 * A write to a page found lower in the chain copies it into the first object — or, when the
 * backing object is the first object's only backing and nobody else references it, moves the page
 * up instead (v_cow_optim).
 *
 * As in the Mach VM of this project, a wiring fault copies a page found lower in the chain into
 * the first object even for a read-only entry (FreeBSD's VM_PROT_COPY), so a wired page always
 * lives in the first object of the entry that wired it.
 */
import {
  hex,
  KERN_INVALID_ADDRESS,
  KERN_MEMORY_ERROR,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  type KernReturn,
  PAGE_SIZE,
  PMAP_ACCESS_MASK,
  PMAP_CANFAIL,
  PMAP_WIRED,
  Prot,
  type VAddr,
} from "@vmlab/core";
import { VM_PAGER_ERROR, VM_PAGER_OK, type VmCore } from "./vm_core.js";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import { OBJ_DEAD, ObjectTable, type VmObject } from "./vm_object.js";
import { type FbsdPage, PG_WANTED, PQ_INACTIVE, VM_ALLOC_NORMAL, VmPages } from "./vm_page.js";

/** Outcome of one attempt: a kern_return, or RETRY after sleeping on a busy page or for memory. */
const RETRY = -1;

/** vm_fault(map, va, fault_type, change_wiring). `va` is page aligned. */
export function vmFault(vm: VmCore, map: VmMap, va: VAddr, faultType: Prot, wiring: boolean): KernReturn {
  vm.counters.fault.value++;
  if (wiring) vm.counters.faultWire.value++;
  for (let attempt = 0; ; attempt++) {
    const rv = faultOnce(vm, map, va, faultType, wiring);
    if (rv !== RETRY) return rv;
    if (attempt > 10_000) vm.kernel.panic(`vm_fault: no progress at ${hex(va)}`);
  }
}

interface FaultState {
  readonly first: VmObject;
  readonly firstPindex: number;
  object: VmObject;
  pindex: number;
  /** The placeholder page in the first object (busy), when the walk went below it. */
  firstM: FbsdPage | null;
}

/** unlock_and_deallocate: drop paging_in_progress, the placeholder and the fault's reference. */
function release(vm: VmCore, fs: FaultState): void {
  if (fs.object !== fs.first) fs.object.pip--;
  if (fs.firstM) {
    vm.pages.wakeupPage(fs.firstM);
    vm.pages.free(fs.firstM);
    fs.firstM = null;
  }
  fs.first.pip--;
  vm.objects.deallocate(fs.first);
}

/** Sleep on a busy page (vm_page_sleep); RETRY, or a shortage if nothing can unbusy it. */
function sleepOnPage(vm: VmCore, fs: FaultState, m: FbsdPage): number {
  const obj = m.object;
  const pindex = m.pindex;
  release(vm, fs);
  m.flags |= PG_WANTED;
  vm.counters.busyWait.value++;
  const ok = vm.sleep("pgrbwt", () => !VmPages.isBusy(m) || m.object !== obj || m.pindex !== pindex);
  return ok ? RETRY : KERN_RESOURCE_SHORTAGE;
}

function faultOnce(vm: VmCore, map: VmMap, va: VAddr, faultType: Prot, wiring: boolean): number {
  const { pages, counters, objects } = vm;
  const r = map.lookup(va, faultType, wiring);
  if (typeof r === "number") return r;
  if (wiring) {
    const ptrv = faultPageTables(vm, map, va);
    if (ptrv !== KERN_SUCCESS) return ptrv;
  }
  const first = r.object;
  let prot = r.prot;
  const wired = r.wired;
  if (wired) faultType = prot;
  // A vnode mapping past the end of the file: SIGBUS.
  if (first.type === "vnode" && r.pindex >= first.size) return KERN_MEMORY_ERROR;

  first.refCount++;
  first.pip++;
  const fs: FaultState = { first, firstPindex: r.pindex, object: first, pindex: r.pindex, firstM: null };
  let m: FbsdPage | null = null;

  // ---- the chain walk
  for (;;) {
    const object = fs.object;
    if (object.flags & OBJ_DEAD) {
      release(vm, fs);
      return KERN_PROTECTION_FAILURE;
    }
    const found = object.pages.get(fs.pindex);
    if (found) {
      if (VmPages.isBusy(found)) return sleepOnPage(vm, fs, found);
      if (found.queue === PQ_INACTIVE) counters.faultReactivated.value++;
      pages.busyPage(found);
      if (found.valid) {
        m = found;
        break;
      }
      // Invalid (a page-in failed earlier): let the pager try again.
      pages.wakeupPage(found);
      pages.free(found);
    }
    const tryPager = objects.hasPage(object, fs.pindex);
    if (object.type === "vnode" && fs.pindex >= object.size) {
      release(vm, fs);
      return KERN_MEMORY_ERROR;
    }
    if (tryPager || object === fs.first) {
      const here = pages.alloc(object, fs.pindex, VM_ALLOC_NORMAL);
      if (!here) {
        release(vm, fs);
        return vm.vmWait() ? RETRY : KERN_RESOURCE_SHORTAGE;
      }
      if (tryPager) {
        const rv = object.type === "vnode" ? vm.vnodes.getPage(object, here) : vm.swap.getPage(object, here);
        if (rv === VM_PAGER_OK) {
          if (object.type === "vnode") counters.pagein.value++;
          m = here;
          break;
        }
        pages.wakeupPage(here);
        pages.free(here);
        if (rv === VM_PAGER_ERROR) {
          release(vm, fs);
          return KERN_MEMORY_ERROR;
        }
        if (object === fs.first) {
          const again = pages.alloc(object, fs.pindex, VM_ALLOC_NORMAL);
          if (!again) {
            release(vm, fs);
            return vm.vmWait() ? RETRY : KERN_RESOURCE_SHORTAGE;
          }
          fs.firstM = again;
        }
      } else {
        fs.firstM = here;
      }
    }
    const next = object.backing;
    if (!next) {
      // End of the chain: zero-fill the placeholder in the first object.
      if (object !== fs.first) {
        object.pip--;
        fs.object = fs.first;
        fs.pindex = fs.firstPindex;
      }
      m = fs.firstM as FbsdPage;
      fs.firstM = null;
      pages.zeroFill(m);
      counters.faultZerofill.value++;
      break;
    }
    fs.pindex += object.backingOffset / PAGE_SIZE;
    if (object !== fs.first) object.pip--;
    next.pip++;
    fs.object = next;
  }

  // ---- copy-on-write: the page came from a lower object
  if (fs.object !== fs.first) {
    if (faultType & Prot.Write || wiring) {
      const backing = fs.object;
      const firstM = fs.firstM as FbsdPage;
      if (
        backing.refCount === 1 &&
        backing.shadowCount === 1 &&
        ObjectTable.anonymous(backing) &&
        backing === fs.first.backing &&
        m.wireCount === 0 &&
        m.busy === 0
      ) {
        // Nobody else can see the page: move it up instead of copying (v_cow_optim).
        pages.wakeupPage(firstM);
        pages.free(firstM);
        vm.swap.pageUnswapped(m);
        vm.pmap.pageProtect(m, Prot.None);
        pages.reserv.rename(m, fs.first, backing, backing.backingOffset / PAGE_SIZE);
        pages.rename(m, fs.first, fs.firstPindex);
        counters.faultCowOptim.value++;
      } else {
        pages.copy(m, firstM);
        // Another map that sees the first object may still map the old page read-only.
        if (fs.first.refCount > 2 || fs.first.shadowCount > 0) vm.pmap.pageProtect(m, Prot.None);
        pages.wakeupPage(m);
        pages.activate(m);
        m = firstM;
        counters.faultCow.value++;
      }
      fs.firstM = null;
      backing.pip--;
      fs.object = fs.first;
      fs.pindex = fs.firstPindex;
    } else {
      prot &= ~Prot.Write;
    }
  }

  // ---- dirty on write, then pmap_enter (which may fault page-table pages in recursively)
  if (faultType & Prot.Write) {
    m.dirty = true;
    vm.swap.pageUnswapped(m);
  }
  const flags = (wired ? PMAP_WIRED : 0) | (faultType & PMAP_ACCESS_MASK) | PMAP_CANFAIL;
  const entered = map.pmap.enter(va, m, prot, flags);
  pages.wakeupPage(m);
  if (entered && wiring) pages.wire(m);
  else pages.activate(m);
  release(vm, fs);
  return entered ? KERN_SUCCESS : KERN_RESOURCE_SHORTAGE;
}

/**
 * Page-table pages that live in the user map (4.4BSD i386 under pmap-mach) must exist before
 * pmap_enter; a wiring fault has no trap.c in front of it, so it faults them in itself.
 */
function faultPageTables(vm: VmCore, map: VmMap, va: VAddr): KernReturn {
  const pmap = map.pmap;
  if (pmap === vm.pmap.kernelPmap) return KERN_SUCCESS;
  for (const ptva of vm.pmap.missingPageTables(pmap, va)) {
    let rv = vmFault(vm, map, ptva, Prot.Read | Prot.Write, false);
    if (rv === KERN_SUCCESS) rv = map.wire(ptva, ptva + PAGE_SIZE, "system");
    if (rv !== KERN_SUCCESS) return rv === KERN_INVALID_ADDRESS ? KERN_RESOURCE_SHORTAGE : rv;
  }
  return KERN_SUCCESS;
}

/** vm_fault_wire: fault in and wire every page of [start, end) of entry e. */
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

/** vm_fault_unwire: unwire the pages of [start, end) of entry e (resident in its first object). */
export function faultUnwire(vm: VmCore, map: VmMap, e: VmMapEntry, start: VAddr, end: VAddr): void {
  const pmap = map.pmap;
  for (let va = start; va < end; va += PAGE_SIZE) {
    const { object, pindex } = map.objectAt(e, va);
    const m = object?.pages.get(pindex);
    if (!m) vm.kernel.panic(`vm_fault_unwire: unwire: page not resident at ${hex(va)} in map ${map.name}`);
    if (pmap.extract(va) === m.pa) pmap.unwire(va);
    vm.pages.unwire(m);
  }
}

/**
 * Find (paging in from swap if need be) the page of `obj`'s chain at pindex, exclusive-busy, for
 * vm_fault_copy_entry. Null when no object in the chain has it (it reads as zeroes).
 */
function chainPage(vm: VmCore, obj: VmObject | null, pindex: number): FbsdPage | null | "short" {
  for (let o = obj; o; o = o.backing) {
    const m = o.pages.get(pindex);
    if (m) {
      if (VmPages.isBusy(m)) {
        vm.sleep("pgrbwt", () => !VmPages.isBusy(m) || m.object !== o);
        return chainPage(vm, obj, pindex);
      }
      return m;
    }
    if (vm.objects.hasPage(o, pindex)) {
      const here = vm.pages.alloc(o, pindex, VM_ALLOC_NORMAL);
      if (!here) return vm.vmWait() ? chainPage(vm, obj, pindex) : "short";
      const rv = o.type === "vnode" ? vm.vnodes.getPage(o, here) : vm.swap.getPage(o, here);
      vm.pages.wakeupPage(here);
      if (rv !== VM_PAGER_OK) {
        vm.pages.free(here);
        return null;
      }
      vm.pages.activate(here);
      return here;
    }
    pindex += o.backingOffset / PAGE_SIZE;
  }
  return null;
}

/**
 * vm_fault_copy_entry (FreeBSD sys/vm/vm_fault.c): copy a region into a fresh object now, page by
 * page (a wired region, or a shared one a child inherits by copy). Pages nowhere in the chain
 * stay absent (zeroes). A destination page that cannot be allocated is waited for — vm_wait, then
 * `goto again`, which looks the source page up again since the pageout daemon ran meanwhile — as
 * FreeBSD does, page by page. Null, with the partial copy freed, only when that wait can never
 * end (nothing left to page out): vmspace_fork then returns NULL and fork fails with ENOMEM.
 */
export function faultCopyEntry(
  vm: VmCore,
  src: VmObject | null,
  srcPindex: number,
  npages: number,
  color: number,
): VmObject | null {
  const dst = vm.objects.allocate("default", npages, "copy", color);
  for (let i = 0; i < npages; i++) {
    for (;;) {
      const from = chainPage(vm, src, srcPindex + i);
      if (from === "short") {
        vm.objects.deallocate(dst);
        return null;
      }
      if (!from) break;
      const pg = vm.pages.alloc(dst, i, VM_ALLOC_NORMAL);
      if (pg) {
        vm.pages.copy(from, pg);
        vm.pages.wakeupPage(pg);
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
