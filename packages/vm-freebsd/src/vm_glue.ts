/**
 * vmspace: an address space and its life cycle — vmspace_alloc, vmspace_free, vmspace_fork
 * (FreeBSD sys/vm/vm_map.c, 8.x).
 */
import {
  type AddressLayout,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  PAGE_SIZE,
  type Pmap,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { faultCopyEntry } from "./vm_fault.js";
import { VmMap, type VmMapEntry } from "./vm_map.js";
import { OBJ_ONEMAPPING, ObjectTable } from "./vm_object.js";

let nextSpaceId = 1;

/** struct vmspace */
export class FbsdSpace implements VmSpace {
  readonly id = nextSpaceId++;
  alive = true;

  constructor(
    readonly pmap: Pmap,
    readonly map: VmMap,
  ) {}
}

/**
 * vmspace_alloc: a map over [userMin, mapMax) with a new pmap; where the pmap keeps user page
 * tables in the user map (pmap-mach on i386), that region is a system entry.
 */
export function vmspaceAlloc(vm: VmCore, layout: AddressLayout): FbsdSpace {
  const pmap = vm.pmap.create();
  const space = new FbsdSpace(pmap, new VmMap(vm, layout.userMin, layout.mapMax, pmap, "user"));
  if (layout.uptMin < layout.uptMax) {
    space.map.insert(layout.uptMin, layout.uptMax, {
      protection: Prot.Read | Prot.Write,
      maxProtection: Prot.Read | Prot.Write,
      inheritance: INHERIT_NONE,
      system: true,
    });
  }
  return space;
}

/** vmspace_free: delete every entry, then pmap_destroy. */
export function vmspaceFree(s: FbsdSpace): void {
  s.map.delete(s.map.min, s.map.max);
  s.map.wireFuture = false;
  s.alive = false;
  s.pmap.destroy();
}

/**
 * vmspace_fork: the child's map entry by entry according to inheritance. Wirings and
 * mlockall(MCL_FUTURE) are not inherited.
 *
 * NULL (here null) when a region copied now cannot get memory even by waiting (faultCopyEntry):
 * the child built so far is freed (vmspace_free), and fork1 fails with ENOMEM, as it does when
 * FreeBSD's vmspace_fork returns NULL. What the parent went through meanwhile (write protection,
 * shadowing, needs-copy) changes nothing it can see.
 */
export function vmspaceFork(vm: VmCore, layout: AddressLayout, parent: FbsdSpace): FbsdSpace | null {
  const child = vmspaceAlloc(vm, layout);
  for (const old of parent.map.entries()) {
    if (old.system) continue;
    switch (old.inheritance) {
      case INHERIT_NONE:
        break;
      case INHERIT_SHARE:
        forkShare(vm, parent.map, old, child.map);
        break;
      case INHERIT_ZERO:
        child.map.insertEntry(childEntry(old));
        break;
      default:
        if (!forkCopy(vm, parent.map, old, child.map)) {
          vmspaceFree(child);
          return null;
        }
    }
  }
  return child;
}

/** A copy of an entry for the child: unwired, no object yet. */
function childEntry(old: VmMapEntry): VmMapEntry {
  const n = old.clone();
  n.wiredCount = 0;
  n.userWired = false;
  n.object = null;
  n.offset = 0;
  n.needsCopy = false;
  n.cow = true;
  return n;
}

/**
 * VM_INHERIT_SHARE: back the entry with an object if it has none, shadow a needs-copy object
 * first (so both processes share the shadow, not the read-only original), clear OBJ_ONEMAPPING,
 * and give the child an entry referencing the same object.
 */
function forkShare(vm: VmCore, parentMap: VmMap, old: VmMapEntry, child: VmMap): void {
  parentMap.backEntry(old);
  if (old.needsCopy) {
    // Write-protect what the parent maps: its pages now come through the new shadow.
    parentMap.pmap.protect(old.start, old.end, old.protection & ~Prot.Write);
    parentMap.resolveNeedsCopy(old);
  }
  const obj = old.object;
  if (obj) {
    obj.flags &= ~OBJ_ONEMAPPING;
    vm.objects.reference(obj);
  }
  const n = old.clone();
  n.wiredCount = 0;
  n.userWired = false;
  child.insertEntry(n);
}

/**
 * VM_INHERIT_COPY (vm_map_copy_entry). A wired entry is copied now (vm_fault_copy_entry: a wired
 * page cannot become copy-on-write), and so is shared anonymous memory (the sharers must keep
 * sharing what the parent writes; only the child's copy is private). Otherwise the parent's
 * mappings are write-protected and both entries share the object needs-copy; a shared file
 * mapping leaves the parent's entry alone and gives the child a private copy-on-write view.
 * False when the copy made now found no memory, even by waiting.
 */
function forkCopy(vm: VmCore, parentMap: VmMap, old: VmMapEntry, child: VmMap): boolean {
  const n = childEntry(old);
  const src = old.object;
  if (src === null) {
    child.insertEntry(n);
    return true;
  }
  const npages = old.size / PAGE_SIZE;
  const color = (old.start / PAGE_SIZE) % vm.pages.param.level0Npages;
  if (old.wiredCount > 0 || (!old.cow && ObjectTable.anonymous(src))) {
    const copy = faultCopyEntry(vm, src, old.offset / PAGE_SIZE, npages, color);
    if (!copy) return false;
    n.object = copy;
    n.offset = 0;
    vm.counters.forkCopyWired.value++;
    child.insertEntry(n);
    return true;
  }
  if (old.cow) {
    if (!old.needsCopy) parentMap.pmap.protect(old.start, old.end, old.protection & ~Prot.Write);
    if (ObjectTable.anonymous(src)) vm.objects.collapse(src);
    old.needsCopy = true;
  }
  const obj = old.object;
  if (obj) {
    vm.objects.reference(obj);
    obj.flags &= ~OBJ_ONEMAPPING;
  }
  n.object = obj;
  n.offset = old.offset;
  n.needsCopy = true;
  child.insertEntry(n);
  return true;
}
