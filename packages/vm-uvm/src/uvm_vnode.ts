/**
 * uvm_vnode (uvn): the uvm_object of a file, and the merged cache's read/write path (NetBSD
 * sys/uvm/uvm_vnode.c, uvm_bio.c — UBC; docs/decisions/0007).
 *
 * The object lives as long as the vnode (vp.vmObject): map entries hold references, but the pages
 * stay cached when the last mapping goes, as UBC keeps them in the vnode's object; the pagedaemon
 * frees clean ones and writes dirty ones back. read(2)/write(2) (vnodeRdwr) go through the same
 * pages, so MAP_SHARED mappers see a write() at once and a MAP_PRIVATE mapper sees the file's
 * current page until its first write copies it (fault case 2B).
 */
import {
  KERN_MEMORY_ERROR,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  type KernReturn,
  MS_INVALIDATE,
  MS_SYNC,
  PAGE_SIZE,
  type PageCopy,
  Prot,
  roundPage,
  truncPage,
  type Vnode,
} from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { type PgoGet, UvmObject } from "./uvm_object.js";
import { PG_BUSY, PG_CLEAN, PG_FAKE, type UvmPage } from "./uvm_page.js";
import { pagerDone, pagerFailed, pagerStart, pagerSyncRead, pagerUnbusy } from "./uvm_pager.js";

export class UvmVnodeObject extends UvmObject {
  readonly swapBacked = false;
  readonly label = "uvn";

  constructor(readonly vp: Vnode) {
    super();
    this.refs = 0;
  }

  /** The file's pages: [0, roundPage(va_size)). */
  get size(): number {
    return roundPage(this.vp.size);
  }

  /** Pages at or past the one containing EOF do not exist (SIGBUS). */
  pastEof(offset: number): boolean {
    return offset / PAGE_SIZE >= Math.ceil(this.vp.size / PAGE_SIZE);
  }

  /** uvn_get → VOP_GETPAGES for one page: a synchronous read ("uvn_get"). */
  fill(vm: Uvm, offset: number): PgoGet {
    if (this.pastEof(offset)) return "eof";
    const pg = vm.pages.alloc(this, offset, null);
    if (!pg) return vm.waitForMemory("uvn_getpage") ? "refault" : "shortage";
    vm.counters.pagein.value++;
    const got = pagerSyncRead(vm, pg, "uvn_get", (done) =>
      vm.io.vnodeStrategy(this.vp, offset / PAGE_SIZE, pg.pa, false, done),
    );
    pagerUnbusy(pg);
    if (got === "ok") return pg;
    if (pg.uobject === this) vm.pages.freePage(pg);
    return got;
  }

  /** uvn_put → VOP_PUTPAGES for one page: write it back to the file. */
  put(vm: Uvm, pg: UvmPage): boolean {
    pagerStart(vm, pg, true);
    vm.pmap.clearModify(pg);
    vm.counters.pageout.value++;
    vm.io.vnodeStrategy(this.vp, pg.offset / PAGE_SIZE, pg.pa, true, pagerDone(vm, pg, true));
    return true;
  }

  /** uvn_detach: a mapping went; the pages stay cached with the vnode. */
  detach(vm: Uvm): void {
    if (this.refs <= 0) vm.kernel.panic(`uvn_detach: vnode ${this.vp.id} object has no references`);
    this.refs--;
  }

  dropBacking(): void {}
}

/** The vnode's object, made on first use (uvn_attach without the reference). */
export function uvnObject(vp: Vnode): UvmVnodeObject {
  let obj = vp.vmObject as UvmVnodeObject | undefined;
  if (!(obj instanceof UvmVnodeObject)) {
    obj = new UvmVnodeObject(vp);
    vp.vmObject = obj;
  }
  return obj;
}

/** uvn_attach: the object with one more reference (a new mapping). */
export function uvnAttach(vp: Vnode): UvmVnodeObject {
  const obj = uvnObject(vp);
  obj.refs++;
  return obj;
}

/**
 * ubc_uiomove over [offset, offset+len): each page is found or read in (a write that covers a
 * whole page, or everything up to EOF, allocates without reading: PGO_OVERWRITE), held busy for
 * `copy`, and dirtied on a write.
 */
export function uvnRdwr(vm: Uvm, vp: Vnode, offset: number, len: number, write: boolean, copy: PageCopy): KernReturn {
  const obj = uvnObject(vp);
  let done = 0;
  let loops = 0;
  while (done < len) {
    if (++loops > 64 + 8 * Math.ceil(len / PAGE_SIZE)) vm.kernel.panic("ubc_uiomove: no progress");
    const off = offset + done;
    const pgoff = truncPage(off);
    const inPage = off - pgoff;
    const n = Math.min(PAGE_SIZE - inPage, len - done);
    const pg = obj.pages.get(pgoff);
    if (pg && pg.flags & PG_BUSY) {
      if (!vm.waitForPage(pg, "ubc_busy")) return KERN_RESOURCE_SHORTAGE;
      continue;
    }
    if (!pg) {
      if (write && inPage === 0 && (n === PAGE_SIZE || off + n >= vp.size)) {
        const fresh = vm.pages.alloc(obj, pgoff, null);
        if (!fresh) {
          if (!vm.waitForMemory("ubc_alloc")) return KERN_RESOURCE_SHORTAGE;
          continue;
        }
        vm.pages.zero(fresh);
        fresh.flags &= ~(PG_BUSY | PG_FAKE);
        vm.pages.activate(fresh);
        continue;
      }
      const got = obj.fill(vm, pgoff);
      if (got === "shortage") return KERN_RESOURCE_SHORTAGE;
      if (got === "error" || got === "eof") return KERN_MEMORY_ERROR;
      continue;
    }
    pg.flags |= PG_BUSY;
    try {
      copy(pg.pa, inPage, done, n);
    } finally {
      pg.flags &= ~PG_BUSY;
    }
    if (write) pg.flags &= ~PG_CLEAN;
    if (pg.wireCount === 0) vm.pages.activate(pg);
    done += n;
  }
  return KERN_SUCCESS;
}

/**
 * uvn_flush over [start, end) of the object: start a write of every dirty page (made read-only
 * first so the data cannot change under the transfer), wait for them with MS_SYNC, and with
 * MS_INVALIDATE free the clean, unwired, idle pages (their mappings go with them).
 */
export function uvnFlush(vm: Uvm, obj: UvmVnodeObject, start: number, end: number, flags: number): KernReturn {
  const inRange = (): UvmPage[] =>
    [...obj.pages.values()].filter((p) => p.offset >= start && p.offset < end).sort((a, b) => a.offset - b.offset);
  const waitFor: UvmPage[] = [];
  for (const pg of inRange()) {
    if (pg.flags & PG_BUSY) {
      waitFor.push(pg);
      continue;
    }
    if (!vm.pages.isDirty(pg)) continue;
    vm.pmap.pageProtect(pg, Prot.Read);
    obj.put(vm, pg);
    waitFor.push(pg);
  }
  let rv = KERN_SUCCESS;
  if (flags & MS_SYNC) {
    for (const pg of waitFor) {
      if (pg.flags & PG_BUSY && !vm.waitForPage(pg, "uvn_flush")) return KERN_RESOURCE_SHORTAGE;
      if (pagerFailed(pg)) rv = KERN_MEMORY_ERROR;
    }
  }
  if (flags & MS_INVALIDATE) {
    for (const pg of inRange()) {
      if (pg.wireCount !== 0 || pg.loanCount !== 0 || pg.flags & PG_BUSY || vm.pages.isDirty(pg)) continue;
      vm.pages.freePage(pg);
    }
  }
  return rv;
}

/**
 * uvm_vnp_setsize: the file is now vp.size long. Pages wholly past the new end go (their
 * mappings with them); wired pages stay (a wired mapping past EOF keeps its page). The tail of a
 * now-partial last page is zeroed in place, mapped or wired (uvm_vnp_zerorange through
 * pmap_zero_page_area): writing it back first would put the old bytes past EOF on the disk again.
 */
export function uvnSetSize(vm: Uvm, vp: Vnode, oldSize: number): void {
  const obj = vp.vmObject;
  if (!(obj instanceof UvmVnodeObject) || vp.size >= oldSize) return;
  obj.freeRange(vm, roundPage(vp.size), Number.POSITIVE_INFINITY);
  const off = vp.size % PAGE_SIZE;
  if (off === 0) return;
  const pg = obj.pages.get(truncPage(vp.size));
  if (pg) vm.pmap.zeroPageArea(pg, off, PAGE_SIZE - off);
}
