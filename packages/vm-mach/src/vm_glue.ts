/**
 * vmspace: an address space and its life cycle — vmspace_alloc, vmspace_free and vmspace_fork
 * (4.4BSD-Lite sys/vm/vm_map.c and vm_glue.c; mach_x86.md A.2).
 */
import {
  type AddressLayout,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  type Pmap,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { faultCopyEntry } from "./vm_fault.js";
import { VmMap, type VmMapEntry } from "./vm_map.js";

let nextSpaceId = 1;

/** struct vmspace: the map and its pmap. */
export class MachSpace implements VmSpace {
  readonly id = nextSpaceId++;
  alive = true;

  constructor(
    readonly pmap: Pmap,
    readonly map: VmMap,
  ) {}
}

/**
 * vmspace_alloc: a main map over [userMin, mapMax) with a new pmap. Where the pmap keeps user
 * page-table pages inside the user map (4.4BSD i386: UPT_MIN_ADDRESS..UPT_MAX_ADDRESS), the
 * region is reserved by an anonymous, read-write, never-inherited system entry, so trap.c's
 * "hack" can vm_fault page-table pages there and wire them.
 */
export function vmspaceAlloc(vm: VmCore, layout: AddressLayout): MachSpace {
  const pmap = vm.pmap.create();
  const space = new MachSpace(pmap, new VmMap(vm, layout.userMin, layout.mapMax, pmap, true, "user"));
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

/** vmspace_free: delete every entry (unwire, pmap_remove, drop references), then pmap_destroy. */
export function vmspaceFree(s: MachSpace): void {
  s.map.delete(s.map.min, s.map.max);
  s.map.wireFuture = false;
  s.alive = false;
  s.pmap.destroy();
}

/**
 * vmspace_fork: the child's map, entry by entry according to inheritance. Wirings are not
 * inherited ("Locked mappings are not inherited by the child", NetBSD minherit(2)), and neither
 * is mlockall(MCL_FUTURE).
 *
 * Null when the copy of a wired region cannot get memory even by waiting (faultCopyEntry): the
 * child built so far is freed (vmspace_free) and the kernel fails fork with ENOMEM, as FreeBSD's
 * fork1 does when vmspace_fork returns NULL. 4.4BSD had no way out there: its VM_WAIT loop slept
 * until memory came. What the parent went through meanwhile (write protection, sharing maps,
 * needs-copy) changes nothing it can see.
 */
export function vmspaceFork(vm: VmCore, layout: AddressLayout, parent: MachSpace): MachSpace | null {
  const child = vmspaceAlloc(vm, layout);
  const oldMap = parent.map;
  for (const old of oldMap.entries()) {
    if (old.system) continue;
    let ok = true;
    switch (old.inheritance) {
      case INHERIT_NONE:
        break;
      case INHERIT_SHARE:
        forkShare(vm, old, child.map);
        break;
      case INHERIT_ZERO:
        forkZero(old, child.map);
        break;
      default:
        // VM_INHERIT_COPY, and NetBSD's DONATE_COPY treated as COPY.
        ok = old.shareMap ? forkCopyFromShareMap(vm, old, child.map) : forkCopy(vm, oldMap, old, child.map);
    }
    if (!ok) {
      vmspaceFree(child);
      return null;
    }
  }
  return child;
}

/** A copy of a main-map entry for the child: unwired, no object yet. */
function childEntry(old: VmMapEntry): VmMapEntry {
  const n = old.clone();
  n.wiredCount = 0;
  n.userWired = false;
  n.transientCount = 0;
  n.object = null;
  n.shareMap = null;
  n.offset = 0;
  n.needsCopy = false;
  n.copyOnWrite = false;
  return n;
}

/**
 * VM_INHERIT_SHARE: make the old entry point at a sharing map (created now if it does not
 * point at one yet) and give the child an entry referencing the same sharing map.
 */
function forkShare(vm: VmCore, old: VmMapEntry, child: VmMap): void {
  if (!old.shareMap) makeShareMap(vm, old);
  const n = old.clone();
  n.wiredCount = 0;
  n.userWired = false;
  n.transientCount = 0;
  (n.shareMap as VmMap).refCount++;
  child.insertEntry(n);
}

/**
 * vmspace_fork's sharing-map creation: a map with no pmap over the entry's range whose single
 * entry takes over the old entry's object (and reference); the old entry becomes is_a_map.
 */
export function makeShareMap(vm: VmCore, old: VmMapEntry): VmMap {
  const sm = new VmMap(vm, old.start, old.end, null, false, "share");
  const se = old.clone();
  se.wiredCount = 0;
  se.userWired = false;
  se.transientCount = 0;
  se.shareMap = null;
  sm.insertEntry(se);
  old.shareMap = sm;
  old.object = null;
  old.offset = old.start;
  old.needsCopy = false;
  old.copyOnWrite = false;
  vm.counters.shareMapCreate.value++;
  return sm;
}

/** NetBSD MAP_INHERIT_ZERO: fresh zero-fill memory of the same protection in the child. */
function forkZero(old: VmMapEntry, child: VmMap): void {
  const n = childEntry(old);
  child.insertEntry(n);
}

/** VM_INHERIT_COPY of a main-map entry that holds its object itself; false if out of memory. */
function forkCopy(vm: VmCore, parent: VmMap, old: VmMapEntry, child: VmMap): boolean {
  const n = childEntry(old);
  if (!copyEntry(vm, parent, old, n)) return false;
  child.insertEntry(n);
  return true;
}

/**
 * VM_INHERIT_COPY of an is_a_map entry: vm_map_copy from the sharing map, one child entry per
 * sharing-map entry under the range (clipped to it). The task-map fields (protection,
 * inheritance) come from the main entry, the object from the sharing-map entry.
 */
function forkCopyFromShareMap(vm: VmCore, old: VmMapEntry, child: VmMap): boolean {
  const sm = old.shareMap as VmMap;
  const base = old.offset;
  const end = base + old.size;
  let se = sm.firstFrom(base);
  while (se !== sm.header && se.start < end) {
    sm.clipStart(se, base);
    sm.clipEnd(se, end);
    const n = childEntry(old);
    n.start = se.start - base + old.start;
    n.end = se.end - base + old.start;
    if (!copyEntry(vm, sm, se, n)) return false;
    child.insertEntry(n);
    se = se.next;
  }
  return true;
}

/**
 * vm_map_copy_entry(src_map, dst_map, src, dst): make dst a copy-on-write copy of src. The
 * source is write-protected (pmap_protect for a main map; vm_object_pmap_copy for a sharing
 * map, whose pmaps cannot be known — 4.4BSD used pmap_protect on the sharing map's NULL pmap
 * when its ref_count was 1, which protected nothing), then both sides share the object with
 * needs_copy. Wired memory — the entry wired, or any wired page in the range — is copied now
 * (vm_fault_copy_entry): a wired page cannot become copy-on-write. False when that copy found
 * no memory, even by waiting.
 */
function copyEntry(vm: VmCore, srcMap: VmMap, src: VmMapEntry, dst: VmMapEntry): boolean {
  const objects = vm.objects;
  const size = src.size;
  const wired = src.wiredCount > 0 || objects.hasWiredPages(src.object, src.offset, src.offset + size);
  if (wired) {
    const copy = faultCopyEntry(vm, src.object, src.offset, size);
    if (!copy) return false;
    dst.object = copy;
    dst.offset = 0;
    vm.counters.forkCopyWired.value++;
    return true;
  }
  if (!src.needsCopy && src.object) {
    if (srcMap.isMainMap) srcMap.pmap?.protect(src.start, src.end, src.protection & ~Prot.Write);
    else objects.pmapCopy(src.object, src.offset, src.offset + size);
  }
  const r = objects.copy(src.object, src.offset, size);
  dst.object = r.dst;
  dst.offset = r.dstOffset;
  if (r.dst) {
    if (r.srcNeedsCopy) src.needsCopy = true;
    dst.needsCopy = true;
    src.copyOnWrite = true;
    dst.copyOnWrite = true;
  }
  return true;
}
