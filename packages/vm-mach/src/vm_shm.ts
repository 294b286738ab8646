/**
 * SysV shared memory segments as VM objects (4.4BSD-Lite sys/kern/sysv_shm.c over the Mach VM;
 * NetBSD's uao-backed segments are the same shape). A segment is an anonymous, internal object
 * of its own — swap-backed once the pageout daemon gives it a swap pager — that shmat maps
 * shared. The segment holds one reference until IPC_RMID after the last detach (shmRelease);
 * SHM_LOCK wires every page of the object, paging in or zero-filling what is not resident.
 */
import { KERN_SUCCESS, type KernReturn, PAGE_SIZE, roundPage, type ShmObject } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import type { VmObject } from "./vm_object.js";
import type { MachPage } from "./vm_page.js";
import { objectPageGrab, pageRelease } from "./vm_pager.js";

/** A segment's object (shm_handle's shm_object). */
export class MachShm implements ShmObject {
  /** SHM_LOCK in force: every page of the object is wired once for the segment. */
  locked = false;
  /** The segment's own reference has been dropped. */
  released = false;

  constructor(
    readonly size: number,
    readonly object: VmObject,
  ) {}
}

/** shmget: a new anonymous object of the page-rounded size, referenced by the segment. */
export function shmCreate(vm: VmCore, size: number): MachShm {
  const bytes = Math.max(PAGE_SIZE, roundPage(size));
  return new MachShm(bytes, vm.objects.allocate(bytes, "shm"));
}

/**
 * shmctl(SHM_LOCK): wire every page of the object (vm_page_wire), paging in from swap or
 * zero-filling; on failure the pages wired so far are unwired again. SHM_UNLOCK unwires them.
 * Locking a locked segment (or unlocking an unlocked one) changes nothing.
 */
export function shmLock(vm: VmCore, shm: MachShm, lock: boolean): KernReturn {
  if (lock === shm.locked) return KERN_SUCCESS;
  const obj = shm.object;
  if (!lock) {
    for (let off = 0; off < shm.size; off += PAGE_SIZE) {
      const pg = obj.pages.get(off);
      if (pg) vm.pages.unwire(pg);
    }
    shm.locked = false;
    return KERN_SUCCESS;
  }
  obj.refCount++;
  try {
    for (let off = 0; off < shm.size; off += PAGE_SIZE) {
      const pg = objectPageGrab(vm, obj, off, true);
      if (typeof pg === "number") {
        for (let o = 0; o < off; o += PAGE_SIZE) vm.pages.unwire(obj.pages.get(o) as MachPage);
        return pg;
      }
      vm.pages.wire(pg);
      pageRelease(vm, pg);
    }
  } finally {
    vm.objects.deallocate(obj);
  }
  shm.locked = true;
  return KERN_SUCCESS;
}

/** IPC_RMID after the last detach: unlock, and drop the segment's reference. */
export function shmRelease(vm: VmCore, shm: MachShm): void {
  if (shm.released) vm.kernel.panic(`shm_deallocate_segment: object ${shm.object.id} released twice`);
  if (shm.locked) shmLock(vm, shm, false);
  shm.released = true;
  vm.objects.deallocate(shm.object);
}
