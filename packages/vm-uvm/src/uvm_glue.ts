/**
 * vmspace: an address space's life cycle — uvmspace_alloc, uvmspace_free, uvmspace_fork
 * (NetBSD sys/uvm/uvm_map.c) — and the transient wiring of user memory for I/O, uvm_vslock /
 * uvm_vsunlock (sys/uvm/uvm_glue.c; netbsd_uvm.md §2.5).
 *
 * Fork shares amaps instead of building shadow chains: a copy-inherited entry references the same
 * amap, both sides marked needs-copy, and the first write makes the writer's own amap (amap_copy)
 * whose anons are then copied one by one as they are written (fault case 1B).
 */
import {
  type AddressLayout,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_SUCCESS,
  type KernReturn,
  PAGE_SIZE,
  type Pmap,
  Prot,
  type VAddr,
  type VmSpace,
} from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { AMAP_SHARED, amapCopyRefs, amapCowNow, amapRef } from "./uvm_amap.js";
import { uaoCreate } from "./uvm_aobj.js";
import { uvmFaultUnwireLocked, uvmFaultWire } from "./uvm_fault.js";
import { UVM_ET_COPYONWRITE, UVM_ET_NEEDSCOPY, UVM_MAP_SYSTEM, VmMap, type VmMapEntry } from "./uvm_map.js";

let nextSpaceId = 1;

/** struct vmspace */
export class UvmSpace implements VmSpace {
  readonly id = nextSpaceId++;
  alive = true;
  /** Transient wirings (uvm_vslock) in force, by page address: for uvm_vsunlock's check and the audit. */
  readonly transient = new Map<VAddr, number>();

  constructor(
    readonly pmap: Pmap,
    readonly map: VmMap,
  ) {
    map.transient = this.transient;
  }
}

/**
 * uvmspace_alloc: a map over [userMin, mapMax) with a new pmap. Where the pmap keeps user
 * page-table pages in the user map, the region is reserved by a read-write, never-inherited
 * system entry backed by an aobj (sparse: on amd64 it spans 512 GiB).
 */
export function uvmspaceAlloc(vm: Uvm, layout: AddressLayout): UvmSpace {
  const pmap = vm.pmap.create();
  const space = new UvmSpace(pmap, new VmMap(vm, layout.userMin, layout.mapMax, pmap, "user"));
  if (layout.uptMin < layout.uptMax) {
    space.map.insert(layout.uptMin, layout.uptMax, {
      object: uaoCreate(layout.uptMax - layout.uptMin, "upt"),
      protection: Prot.Read | Prot.Write,
      maxProtection: Prot.Read | Prot.Write,
      inheritance: INHERIT_NONE,
      flags: UVM_MAP_SYSTEM,
    });
  }
  return space;
}

/** uvmspace_free: unmap everything (unwiring, removing translations, dropping references), pmap_destroy. */
export function uvmspaceFree(vm: Uvm, s: UvmSpace): void {
  if (s.transient.size !== 0) vm.kernel.panic(`uvmspace_free: vmspace ${s.id} still has vslock'ed pages`);
  s.map.remove(s.map.min, s.map.max);
  s.map.flags = 0;
  s.alive = false;
  s.pmap.destroy();
}

/**
 * uvmspace_fork: the child's map, entry by entry by inheritance. Wirings and MCL_FUTURE are not
 * inherited. Copy of a wired entry resolves copy-on-write now in the child (amap_cow_now). Copy
 * of a shared amap (MAP_SHARED later minherit'ed to copy) does the same: NetBSD also marks the
 * parent needs-copy there, which would detach the parent from the amap's other sharers at its
 * next write; the eager copy keeps MAP_SHARED's meaning for the parent.
 *
 * amap_cow_now waits for memory (uvm_wait "cownowpage") as NetBSD's does; where NetBSD would
 * sleep for ever — nothing left to page out — the child built so far is freed (uvmspace_free)
 * and null returned, and the kernel fails fork with ENOMEM, as NetBSD's fork1 does when it cannot
 * get the u-area (FreeBSD's when vmspace_fork returns NULL).
 */
export function uvmspaceFork(vm: Uvm, layout: AddressLayout, parent: UvmSpace): UvmSpace | null {
  const child = uvmspaceAlloc(vm, layout);
  const oldMap = parent.map;
  for (let old = oldMap.header.next; old !== oldMap.header; old = old.next) {
    if (old.system) continue;
    switch (old.inheritance) {
      case INHERIT_NONE:
        break;
      case INHERIT_SHARE:
        old = forkShare(oldMap, old, child.map);
        break;
      case INHERIT_ZERO:
        child.map.insertEntry(forkZero(old));
        break;
      default: {
        const { entry, ok } = forkCopy(vm, oldMap, old);
        // Inserted even when amap_cow_now gave up half-way: uvmspace_free then drops its anons.
        child.map.insertEntry(entry);
        if (!ok) {
          uvmspaceFree(vm, child);
          return null;
        }
      }
    }
  }
  return child;
}

/** A copy of the entry for the child: the same references taken, unwired. */
function childEntry(old: VmMapEntry): VmMapEntry {
  const n = old.clone();
  n.wiredCount = 0;
  if (n.object) n.object.refs++;
  return n;
}

/** MAP_INHERIT_SHARE: both maps reference the same amap (AMAP_SHARED) and object. */
function forkShare(oldMap: VmMap, old: VmMapEntry, child: VmMap): VmMapEntry {
  // A needs-copy entry gets its own amap first, so that parent and child share that one.
  if (old.needsCopy) old = oldMap.amapCopy(old, false, old.start, old.end);
  const n = childEntry(old);
  if (n.amap) amapRef(n.amap, n.pageoff, n.pages, AMAP_SHARED);
  child.insertEntry(n);
  return old;
}

/** MAP_INHERIT_ZERO: fresh zero-fill memory of the same protection. */
function forkZero(old: VmMapEntry): VmMapEntry {
  const n = old.clone();
  n.wiredCount = 0;
  n.object = null;
  n.offset = 0;
  n.amap = null;
  n.pageoff = 0;
  n.etype = UVM_ET_COPYONWRITE | UVM_ET_NEEDSCOPY;
  return n;
}

/**
 * MAP_INHERIT_COPY (and DONATE_COPY): share the amap needs-copy, or copy now when that cannot
 * work; `ok` false when the copy made now found no memory, even by waiting.
 */
function forkCopy(vm: Uvm, oldMap: VmMap, old: VmMapEntry): { entry: VmMapEntry; ok: boolean } {
  const n = childEntry(old);
  n.etype |= UVM_ET_COPYONWRITE | UVM_ET_NEEDSCOPY;
  const amap = old.amap;
  if (!amap) return { entry: n, ok: true };
  amapRef(amap, n.pageoff, n.pages, 0);
  if (amap.flags & AMAP_SHARED || old.wiredCount > 0) {
    amapCopyRefs(vm, n);
    n.etype &= ~UVM_ET_NEEDSCOPY;
    return { entry: n, ok: amapCowNow(vm, n) };
  }
  if (!old.needsCopy) {
    if (old.maxProtection & Prot.Write) oldMap.pmap.protect(old.start, old.end, old.protection & ~Prot.Write);
    old.etype |= UVM_ET_NEEDSCOPY;
  }
  return { entry: n, ok: true };
}

/**
 * uvm_vslock(p, addr, len, access_type) = uvm_fault_wire(map, start, end, access, 0): wire the
 * pages and PTEs for a transfer without touching any map entry's wired_count.
 */
export function uvmVslock(vm: Uvm, s: UvmSpace, start: VAddr, end: VAddr, access: Prot): KernReturn {
  const rv = uvmFaultWire(vm, s.map, start, end, access, false, 0);
  if (rv !== KERN_SUCCESS) return rv;
  for (let va = start; va < end; va += PAGE_SIZE) s.transient.set(va, (s.transient.get(va) ?? 0) + 1);
  return KERN_SUCCESS;
}

/**
 * uvm_vsunlock = uvm_fault_unwire(map, start, end). Unlocking what was not vslock'ed would
 * underflow a page's wire count (or steal another wiring): refused with KERN_INVALID_ARGUMENT.
 */
export function uvmVsunlock(vm: Uvm, s: UvmSpace, start: VAddr, end: VAddr): KernReturn {
  if (!s.map.covered(start, end)) return KERN_INVALID_ADDRESS;
  for (let va = start; va < end; va += PAGE_SIZE) {
    if (!s.transient.get(va)) return KERN_INVALID_ARGUMENT;
  }
  uvmFaultUnwireLocked(vm, s.map, start, end, 0, 1);
  for (let va = start; va < end; va += PAGE_SIZE) {
    const n = (s.transient.get(va) as number) - 1;
    if (n === 0) s.transient.delete(va);
    else s.transient.set(va, n);
  }
  return KERN_SUCCESS;
}
