/**
 * vnode_pager: files as VM objects (4.4BSD-Lite sys/vm/vnode_pager.c), and the merged cache's
 * read/write path through them (decision 0007).
 *
 * A vnode has at most one object (vp.vmObject, 4.4BSD's vnp → object through the pager hash),
 * OBJ_CANPERSIST, not internal (so never collapsed into a shadow), whose size follows the file:
 * pages at or past round_page(va_size) do not exist — a page-in there is VM_PAGER_BAD, which
 * vm_fault turns into KERN_MEMORY_ERROR (SIGBUS). The pager moves one page per transfer through
 * the file system's strategy routine.
 *
 * read()/write() go through the same object's pages (vnodeRdwr): FreeBSD's merged VM/buffer
 * cache and NetBSD's UBC. 4.4BSD kept a separate buffer cache, coherent with shared mappings
 * only through vnode_pager_uncache; that incoherence is not reproduced.
 */
import {
  type IoDone,
  KERN_MEMORY_ERROR,
  KERN_SUCCESS,
  type KernReturn,
  PAGE_SIZE,
  type PageCopy,
  roundPage,
  truncPage,
  type Vnode,
} from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { OBJ_CANPERSIST, OBJ_INTERNAL, type VmObject } from "./vm_object.js";
import { type MachPage, PG_BUSY, PG_CLEAN } from "./vm_page.js";
import { objectPageGrab, type Pager, type PagerResult, pageRelease, VM_PAGER_BAD, VM_PAGER_PEND } from "./vm_pager.js";

export class VnodePager implements Pager {
  readonly type = "vnode";

  constructor(
    private readonly vm: VmCore,
    readonly vnode: Vnode,
  ) {}

  /** vnode_pager_haspage: every page before EOF exists (holes read as zeros). */
  hasPage(object: VmObject, offset: number): boolean {
    return offset + object.pagingOffset < roundPage(this.vnode.size);
  }

  /** vnode_pager_getpage: VM_PAGER_BAD at or past EOF, else one page read by VOP_STRATEGY. */
  getPage(object: VmObject, pg: MachPage, done: IoDone): PagerResult {
    const off = pg.offset + object.pagingOffset;
    if (off >= roundPage(this.vnode.size)) return VM_PAGER_BAD;
    this.vm.counters.pagein.value++;
    this.vm.io.vnodeStrategy(this.vnode, off / PAGE_SIZE, pg.pa, false, done);
    return VM_PAGER_PEND;
  }

  /** vnode_pager_putpage: a page at or past EOF is not written (VM_PAGER_BAD). */
  putPage(object: VmObject, pg: MachPage, done: IoDone): PagerResult {
    const off = pg.offset + object.pagingOffset;
    if (off >= roundPage(this.vnode.size)) return VM_PAGER_BAD;
    this.vm.counters.pageout.value++;
    this.vm.io.vnodeStrategy(this.vnode, off / PAGE_SIZE, pg.pa, true, done);
    return VM_PAGER_PEND;
  }

  /** The file keeps its blocks: truncation is the file system's business. */
  discard(): void {}

  /** vnode_pager_dealloc: the vnode forgets its object. */
  deallocate(object: VmObject): void {
    if (this.vnode.vmObject === object) this.vnode.vmObject = undefined;
    object.vnode = null;
  }
}

/**
 * vnode_pager_alloc + vm_object_lookup: the vnode's object with one more reference, taken back
 * from the object cache if it was there, or made now (size round_page(va_size)).
 */
export function vnodePagerAlloc(vm: VmCore, vp: Vnode): VmObject {
  const existing = vp.vmObject as VmObject | undefined;
  if (existing) {
    if (existing.cached) vm.objects.uncache(existing);
    existing.refCount++;
    existing.size = roundPage(vp.size);
    return existing;
  }
  const obj = vm.objects.allocate(roundPage(vp.size), "vnode");
  obj.flags = (obj.flags & ~OBJ_INTERNAL) | OBJ_CANPERSIST;
  obj.vnode = vp;
  obj.pager = new VnodePager(vm, vp);
  vp.vmObject = obj;
  return obj;
}

/**
 * vnode_pager_setsize: the file's size changed from `oldSize` to vp.size. On shrinking, the pages
 * past the new end are freed after their mappings are removed (pmap_page_protect(NONE) in
 * vm_page_free); a wired one cannot be, and stays, clean and never written back. The tail of a
 * now-partial last page is zeroed in place with pmap_zero_page_area (the page may be mapped or
 * wired). 4.4BSD removed only the pages wholly past the end and left the tail alone.
 */
export function vnodePagerSetSize(vm: VmCore, vp: Vnode, oldSize: number): void {
  const obj = vp.vmObject as VmObject | undefined;
  if (!obj) return;
  const newSize = vp.size;
  obj.size = roundPage(newSize);
  if (newSize >= oldSize) return;
  const end = roundPage(newSize);
  for (;;) {
    let busy: MachPage | undefined;
    for (const pg of [...obj.pages.values()]) {
      if (pg.offset < end) continue;
      if (pg.flags & PG_BUSY) {
        busy = pg;
        continue;
      }
      if (pg.wireCount > 0) {
        pg.flags |= PG_CLEAN;
        vm.pmap.clearModify(pg);
        continue;
      }
      vm.pages.freePage(pg);
    }
    if (!busy || !vm.pageWait(busy, "vnsize")) break;
  }
  if (newSize % PAGE_SIZE !== 0) zeroTail(vm, obj, truncPage(newSize), newSize % PAGE_SIZE);
}

/** The partial last page after a truncation: pmap_zero_page_area clears its bytes past EOF. */
function zeroTail(vm: VmCore, obj: VmObject, offset: number, from: number): void {
  let pg = obj.pages.get(offset);
  while (pg && pg.flags & PG_BUSY) {
    if (!vm.pageWait(pg, "vnsize")) return;
    pg = obj.pages.get(offset);
  }
  if (!pg) return;
  vm.pmap.zeroPageArea(pg, from, PAGE_SIZE - from);
}

/**
 * read/write of a file through its object's pages (FreeBSD vn_rdwr over the merged cache, NetBSD
 * ubc_uiomove): each page is found or paged in (a write covering a whole page does not read it),
 * held busy while `copy` moves the bytes, and on write left dirty. Reads stop at EOF; the kernel
 * has already grown vp.size for writes past it. KERN_MEMORY_ERROR on an I/O error.
 */
export function vnodeRdwr(
  vm: VmCore,
  vp: Vnode,
  offset: number,
  len: number,
  write: boolean,
  copy: PageCopy,
): KernReturn {
  if (len <= 0) return KERN_SUCCESS;
  const obj = vnodePagerAlloc(vm, vp);
  try {
    let done = 0;
    while (done < len) {
      const off = offset + done;
      if (!write && off >= vp.size) break;
      const base = truncPage(off);
      const inPage = off - base;
      let n = Math.min(PAGE_SIZE - inPage, len - done);
      if (!write) n = Math.min(n, vp.size - off);
      if (base >= roundPage(vp.size)) return KERN_MEMORY_ERROR;
      const whole = write && inPage === 0 && n === PAGE_SIZE;
      const pg = objectPageGrab(vm, obj, base, false, whole);
      if (typeof pg === "number") return pg;
      try {
        copy(pg.pa, inPage, done, n);
      } finally {
        if (write) pg.flags &= ~PG_CLEAN;
        pageRelease(vm, pg);
      }
      done += n;
    }
    return KERN_SUCCESS;
  } finally {
    vm.objects.deallocate(obj);
  }
}
