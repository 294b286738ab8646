/**
 * vnode_pager: files as memory objects, and the merged VM/buffer cache (FreeBSD
 * sys/vm/vnode_pager.c, sys/kern/vfs_bio.c).
 *
 * A file's pages live in one OBJT_VNODE object hung off the vnode (v_object), whoever reads them:
 * read(2)/write(2) (vnodeRdwr), page faults on mappings, msync. The object survives its last
 * mapping (the vnode holds it) with its pages cached. Transfers are one page through the file
 * system's strategy routine; completion runs at interrupt time in `vfsPageIoDone` — the one place
 * where biodone does VM page work (mark valid or clean, drop busy, paging_in_progress, account).
 * Since 1996 the pages of a write are unmapped from every address space before the write starts
 * (vfs_busy_pages), so the completion needs no pmap call (seed 000). Erratum
 * `freebsd-1996-aptd-interrupt` puts back the 1995 order: the pages stay mapped while the write
 * runs and the completion runs them down with pmap_page_protect — at interrupt time.
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
  type Vnode,
} from "@vmlab/core";
import { VM_PAGER_ERROR, VM_PAGER_OK, type VmCore } from "./vm_core.js";
import { OBJ_MIGHTBEDIRTY, type VmObject } from "./vm_object.js";
import { type FbsdPage, PG_WANTED, PQ_LAUNDRY, VM_ALLOC_NORMAL, VmPages } from "./vm_page.js";

/** One page transfer (the struct buf of a one-page VMIO buffer). */
interface Buf {
  done: boolean;
  error: number;
  readonly write: boolean;
}

export class VnodePager {
  /** Page writes started and not completed (for the audit). */
  inflight = 0;
  /** Every vnode object made (they live as long as their vnode). */
  readonly objects = new Set<VmObject>();

  constructor(private readonly vm: VmCore) {}

  /** vnode_pager_alloc: the vnode's object, made on first use. Its reference count counts mappings. */
  objectFor(vp: Vnode): VmObject {
    const cached = vp.vmObject as VmObject | undefined;
    if (cached?.alive) return cached;
    const obj = this.vm.objects.allocate("vnode", Math.ceil(vp.size / PAGE_SIZE), `vnode ${vp.id}`);
    obj.refCount = 0;
    obj.handle = vp;
    vp.vmObject = obj;
    this.objects.add(obj);
    return obj;
  }

  /**
   * vnode_pager_getpages for one page: read file page m.pindex into the exclusive-busy page and
   * sleep until biodone. A hole or the tail past EOF reads as zeroes (the file system's job).
   */
  getPage(obj: VmObject, m: FbsdPage): number {
    const vp = obj.handle as Vnode;
    const bp: Buf = { done: false, error: 0, write: false };
    obj.pip++;
    this.vm.io.vnodeStrategy(vp, m.pindex, m.pa, false, (error) => vfsPageIoDone(this.vm, this, obj, m, bp, error));
    if (!this.vm.sleep("vnread", () => bp.done))
      this.vm.kernel.panic(`vnode_pager_getpages: read of vnode ${vp.id} never completed`);
    return bp.error ? VM_PAGER_ERROR : VM_PAGER_OK;
  }

  /**
   * vnode_pager_putpages for one page, asynchronously: vfs_busy_pages soft-busies the page and
   * removes every mapping of it (so nothing can dirty it, and biodone needs no pmap call), then
   * the write starts. The returned buf completes at interrupt time.
   *
   * With erratum freebsd-1996-aptd-interrupt (vfs_bio.c before the 1996 fix): the mappings stay
   * (only the modified bit is harvested and cleared, so a store during the write shows again) and
   * the page rundown happens in biodone instead — see vfsPageIoDone.
   */
  putPage(obj: VmObject, m: FbsdPage): Buf {
    const vm = this.vm;
    const vp = obj.handle as Vnode;
    vm.pages.testDirty(m);
    if (!vm.kernel.erratum(ERRATUM_APTD)) vm.pmap.pageProtect(m, Prot.None);
    vm.pmap.clearModify(m);
    vm.pages.ioStart(m);
    obj.pip++;
    this.inflight++;
    vm.counters.pageout.value++;
    const bp: Buf = { done: false, error: 0, write: true };
    vm.io.vnodeStrategy(vp, m.pindex, m.pa, true, (error) => vfsPageIoDone(vm, this, obj, m, bp, error));
    return bp;
  }

  /** Wait for a page that is busy; false if nothing could unbusy it. */
  private waitPage(m: FbsdPage, obj: VmObject): boolean {
    m.flags |= PG_WANTED;
    this.vm.counters.busyWait.value++;
    return this.vm.sleep("pgrbwt", () => !VmPages.isBusy(m) || m.object !== obj);
  }

  /**
   * The merged cache's read/write (vn_rdwr through VMIO buffers): for each page of the range,
   * find or read in the file page, hold it busy while `copy` moves the bytes, and on write mark
   * it dirty (visible at once to every MAP_SHARED mapping, which maps this very page).
   */
  rdwr(vp: Vnode, offset: number, len: number, write: boolean, copy: PageCopy): KernReturn {
    const vm = this.vm;
    const obj = this.objectFor(vp);
    const fileSize = Math.ceil(vp.size / PAGE_SIZE);
    if (obj.size < fileSize) obj.size = fileSize;
    let done = 0;
    while (done < len) {
      const pos = offset + done;
      const pindex = Math.floor(pos / PAGE_SIZE);
      const pageOffset = pos - pindex * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - pageOffset, len - done);
      let m = obj.pages.get(pindex);
      if (m && VmPages.isBusy(m)) {
        if (!this.waitPage(m, obj)) return KERN_RESOURCE_SHORTAGE;
        continue;
      }
      if (!m) {
        const fresh = vm.pages.alloc(obj, pindex, VM_ALLOC_NORMAL);
        if (!fresh) {
          if (!vm.vmWait()) return KERN_RESOURCE_SHORTAGE;
          continue;
        }
        m = fresh;
        if (write && n === PAGE_SIZE) {
          // A whole-page write needs no read (the copy fills it).
          m.valid = true;
        } else if (this.getPage(obj, m) !== VM_PAGER_OK) {
          vm.pages.wakeupPage(m);
          vm.pages.free(m);
          return KERN_MEMORY_ERROR;
        } else {
          vm.counters.pagein.value++;
        }
      } else {
        vm.pages.busyPage(m);
      }
      copy(m.pa, pageOffset, done, n);
      if (write) {
        m.dirty = true;
        obj.flags |= OBJ_MIGHTBEDIRTY;
      }
      vm.pages.wakeupPage(m);
      if (m.wireCount === 0) vm.pages.activate(m);
      done += n;
    }
    return KERN_SUCCESS;
  }

  /**
   * vnode_pager_setsize: a shrinking file loses the pages past its new end (their mappings
   * everywhere go too: vm_object_page_remove) and the tail of a now-partial last page is zeroed
   * in memory, so a later extension reads zeroes there.
   */
  setSize(vp: Vnode, oldSize: number): void {
    const obj = vp.vmObject as VmObject | undefined;
    if (!obj?.alive) return;
    const newPages = Math.ceil(vp.size / PAGE_SIZE);
    if (vp.size < oldSize) {
      this.vm.objects.pageRemove(obj, newPages, Number.MAX_SAFE_INTEGER, false);
      const tail = vp.size % PAGE_SIZE;
      const m = tail !== 0 ? obj.pages.get(newPages - 1) : undefined;
      if (m?.valid && !VmPages.isBusy(m)) this.zeroTail(m, tail);
    }
    obj.size = newPages;
  }

  /** Clear [tail, PAGE_SIZE) of the new last page in place: pmap_zero_page_area (vnode_pager_setsize). */
  private zeroTail(m: FbsdPage, tail: number): void {
    this.vm.pmap.zeroPageArea(m, tail, PAGE_SIZE - tail);
  }

  /**
   * vm_object_page_clean (+ vm_object_sync's invalidation) over pindexes [start, end): start a
   * write for every dirty page; with MS_SYNC or MS_INVALIDATE wait for them; with MS_INVALIDATE
   * then free the clean, unwired, unbusy pages so the next access re-reads the file.
   * KERN_MEMORY_ERROR if a waited-for write failed.
   */
  sync(obj: VmObject, start: number, end: number, flags: number): KernReturn {
    const vm = this.vm;
    const bufs: Buf[] = [];
    for (const m of [...obj.pages.values()]) {
      if (m.pindex < start || m.pindex >= end) continue;
      if (VmPages.isBusy(m) && !this.waitPage(m, obj)) return KERN_RESOURCE_SHORTAGE;
      if (m.object !== obj || !m.valid) continue;
      vm.pages.testDirty(m);
      if (!m.dirty) continue;
      bufs.push(this.putPage(obj, m));
    }
    const wait = (flags & (MS_SYNC | MS_INVALIDATE)) !== 0;
    if (wait && !vm.sleep("vnsync", () => bufs.every((b) => b.done))) return KERN_RESOURCE_SHORTAGE;
    if (flags & MS_INVALIDATE) vm.objects.pageRemove(obj, start, end, true);
    if (wait && bufs.some((b) => b.error !== 0)) return KERN_MEMORY_ERROR;
    return KERN_SUCCESS;
  }
}

/**
 * biodone for a one-page VMIO transfer, at interrupt time (vfs_bio.c bufdone → vfs_unbusy_pages,
 * with vfs_page_set_valid for reads): a read makes the page valid and clean; a successful write
 * makes it clean and moves it from the laundry to the inactive queue; the page's soft-busy and
 * the object's paging_in_progress drop; the waiting thread sees `done`. No pmap call: the
 * mappings went before the I/O started (vfs_busy_pages).
 *
 * With erratum freebsd-1996-aptd-interrupt the pages of a write are still mapped here, and the
 * merged cache runs them down at completion (biodone → brelse of the async buffer →
 * vm_page_protect(m, VM_PROT_NONE)): a pmap_page_protect at IPL_BIO, nested in whatever the CPU
 * was doing — possibly a pmap operation using the one alternate page-table window. A store made
 * during the write is picked up from the harvested modified bit (the page stays dirty).
 */
export function vfsPageIoDone(vm: VmCore, pager: VnodePager, obj: VmObject, m: FbsdPage, bp: Buf, error: number): void {
  bp.error = error;
  bp.done = true;
  obj.pip--;
  if (!bp.write) {
    if (!error) {
      m.valid = true;
      m.dirty = false;
    }
    return;
  }
  pager.inflight--;
  if (!error) {
    m.dirty = false;
    if (m.queue === PQ_LAUNDRY) vm.pages.moveToInactive(m);
  } else {
    m.dirty = true;
  }
  if (vm.kernel.erratum(ERRATUM_APTD)) {
    vm.counters.intrRundown.value++;
    vm.pmap.pageProtect(m, Prot.None);
    vm.pages.testDirty(m);
  }
  vm.pages.ioFinish(m);
}

/** The erratum of seed 000 (docs/errata.md). */
export const ERRATUM_APTD = "freebsd-1996-aptd-interrupt";
