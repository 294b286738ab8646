/**
 * vm_object: memory objects, their resident pages, shadow chains and collapse, the object cache
 * and vm_object_page_clean (4.4BSD-Lite sys/vm/vm_object.[ch], CMU Mach 3.0 vm/vm_object.c).
 *
 * An object caches pages of some backing store (its pager) at byte offsets. Anonymous memory is
 * an OBJ_INTERNAL object of the default pager, which it gets lazily (vm_pageout_scan, the first
 * time one of its dirty pages must go out). A file is one OBJ_CANPERSIST object with a vnode
 * pager, kept in the object cache when nothing references it. Copy-on-write is a chain of shadow
 * objects: a write fault copies the page found lower in the chain into the top object, and
 * vm_object_collapse shortens chains when the reference counts allow it.
 */
import { KERN_MEMORY_ERROR, KERN_SUCCESS, type KernReturn, PAGE_SIZE, Prot, type Vnode } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { type MachPage, PG_BUSY, PG_CLEAN, PG_COPYONWRITE, PG_FAKE } from "./vm_page.js";
import { type Pager, type PagerRequest, pageDirty, pagerPut, VM_PAGER_BAD } from "./vm_pager.js";

/** vm_cache_max: unreferenced vnode objects kept with their pages. */
export const VM_CACHE_MAX = 100;

/** vm_object flags (4.4BSD vm_object.h). */
export const OBJ_CANPERSIST = 0x0001;
export const OBJ_INTERNAL = 0x0002;
export const OBJ_ACTIVE = 0x0004;

let nextObjectId = 1;

/** struct vm_object */
export class VmObject {
  readonly id = nextObjectId++;
  /** memq: resident pages by offset (the 4.4BSD object/offset hash and memq in one map). */
  readonly pages = new Map<number, MachPage>();
  refCount = 1;
  flags = OBJ_INTERNAL;
  /** Bytes. */
  size: number;
  pagingInProgress = 0;
  /** "Object that holds copies of my changed pages" (copy-object chains; files only). */
  copy: VmObject | null = null;
  pager: Pager | null = null;
  pagingOffset = 0;
  shadow: VmObject | null = null;
  shadowOffset = 0;
  /** False once terminated or collapsed away. */
  alive = true;
  /** The file of a vnode object (its pager's vnode; vp.vmObject points back). */
  vnode: Vnode | null = null;
  /** On the object cache: unreferenced, kept for its pages (OBJ_CANPERSIST). */
  cached = false;

  constructor(
    size: number,
    readonly label: string,
  ) {
    this.size = size;
  }

  get residentPageCount(): number {
    return this.pages.size;
  }
}

/**
 * The object module's global state: the list of live objects (vm_object_list), the kernel
 * object, and the operations that need the page array and the pmap.
 */
export class ObjectTable {
  /** vm_object_list: every object not yet terminated or collapsed away. */
  readonly live = new Set<VmObject>();
  /** vm_object_cached_list: unreferenced persistent objects, oldest first. */
  readonly cache: VmObject[] = [];

  constructor(private readonly vm: VmCore) {
    vm.kernel.counters.addSource((out) => {
      out["vm.object.shadow_depth.max"] = this.maxShadowDepth();
      out["vm.object.count"] = this.live.size;
    });
  }

  private get kernel() {
    return this.vm.kernel;
  }
  private get pmap() {
    return this.vm.pmap;
  }
  private get pages() {
    return this.vm.pages;
  }
  private get counters() {
    return this.vm.counters;
  }

  /** vm_object_allocate: one reference, internal, no pager, no shadow. */
  allocate(size: number, label = "anon"): VmObject {
    const obj = new VmObject(size, label);
    this.live.add(obj);
    this.counters.objectAlloc.value++;
    return obj;
  }

  /** vm_object_reference */
  reference(obj: VmObject | null): void {
    if (obj) obj.refCount++;
  }

  /**
   * vm_object_deallocate: drop a reference; at zero terminate the object and continue with its
   * shadow, whose reference the dead object held (a loop, not recursion, as in 4.4BSD).
   */
  deallocate(obj: VmObject | null): void {
    while (obj) {
      if (obj.refCount <= 0) this.kernel.panic(`vm_object_deallocate: object ${obj.id} ref_count underflow`);
      obj.refCount--;
      if (obj.refCount > 0) return;
      if (obj.flags & OBJ_CANPERSIST) {
        this.cacheObject(obj);
        return;
      }
      const shadow = obj.shadow;
      this.terminate(obj);
      obj = shadow;
    }
  }

  /**
   * The object cache (vm_object_deallocate's OBJ_CANPERSIST branch): keep the unreferenced
   * object and its pages, deactivated so the pageout daemon takes them first; past
   * vm_cache_max, terminate the oldest (vm_object_cache_trim).
   */
  private cacheObject(obj: VmObject): void {
    obj.cached = true;
    this.cache.push(obj);
    this.counters.objectCached.value++;
    for (const pg of obj.pages.values()) this.pages.deactivate(pg);
    while (this.cache.length > VM_CACHE_MAX) {
      const old = this.cache.shift() as VmObject;
      old.cached = false;
      this.terminate(old);
    }
  }

  /** vm_object_lookup's cache hit: take an unreferenced object back off the cache. */
  uncache(obj: VmObject): void {
    const i = this.cache.indexOf(obj);
    if (i >= 0) this.cache.splice(i, 1);
    obj.cached = false;
    this.counters.objectCacheHit.value++;
  }

  /**
   * vm_object_terminate: wait for paging in progress, write back a file's dirty pages
   * (vm_object_page_clean), free every page, release the pager, forget the object. The caller
   * has already dropped the last reference.
   */
  terminate(obj: VmObject): void {
    if (obj.pagingInProgress !== 0 && !this.vm.io.sleep("objtrm", () => obj.pagingInProgress === 0)) {
      this.kernel.panic(`vm_object_terminate: object ${obj.id} has paging in progress`);
    }
    if (obj.shadow && obj.shadow.copy === obj) obj.shadow.copy = null;
    if ((obj.flags & OBJ_INTERNAL) === 0) this.pageClean(obj, 0, Number.POSITIVE_INFINITY, true, false);
    for (const pg of [...obj.pages.values()]) this.pages.freePage(pg);
    obj.pager?.deallocate(obj);
    obj.pager = null;
    obj.shadow = null;
    obj.alive = false;
    this.live.delete(obj);
    this.counters.objectTerminate.value++;
  }

  /**
   * vm_object_shadow: a new object in front of `source` (at `offset`), `length` bytes long. The
   * caller's reference to the source moves into the new object's shadow link; the caller gets
   * the new object at offset 0.
   */
  shadow(source: VmObject | null, offset: number, length: number): VmObject {
    const result = this.allocate(length, "shadow");
    result.shadow = source;
    result.shadowOffset = offset;
    this.counters.objectShadow.value++;
    return result;
  }

  /**
   * vm_object_copy: no copy is made now. The source gains a reference, its resident pages in the
   * range are marked copy-on-write, and both sides will shadow on their first write
   * (src_needs_copy). 4.4BSD took this path for internal objects only and built a copy object
   * in front of a file's object, so that a private mapping stopped seeing later changes to the
   * file; here a file object is shadowed like anonymous memory (FreeBSD's way), and a private
   * mapping sees the file's current page until its first write copies it.
   */
  copy(
    src: VmObject | null,
    offset: number,
    size: number,
  ): { dst: VmObject | null; dstOffset: number; srcNeedsCopy: boolean } {
    if (!src) return { dst: null, dstOffset: 0, srcNeedsCopy: false };
    src.refCount++;
    for (const pg of src.pages.values()) {
      if (pg.offset >= offset && pg.offset < offset + size) pg.flags |= PG_COPYONWRITE;
    }
    return { dst: src, dstOffset: offset, srcNeedsCopy: true };
  }

  /** vm_object_pmap_copy: write-protect every mapping of the range's resident pages. */
  pmapCopy(obj: VmObject, start: number, end: number): void {
    for (const pg of obj.pages.values()) {
      if (pg.offset >= start && pg.offset < end) {
        this.pmap.pageProtect(pg, Prot.Read | Prot.Exec);
        pg.flags |= PG_COPYONWRITE;
      }
    }
  }

  /** vm_object_pmap_remove: remove every mapping of the range's resident pages. */
  pmapRemove(obj: VmObject, start: number, end: number): void {
    for (const pg of obj.pages.values()) {
      if (pg.offset >= start && pg.offset < end) this.pmap.pageProtect(pg, Prot.None);
    }
  }

  /**
   * vm_object_page_remove: free the resident pages in [start, end), and the backing store the
   * pager holds for the range. Wired and busy pages are kept (MADV_FREE must not take a page
   * someone wired or is faulting in), with their backing store.
   */
  pageRemove(obj: VmObject, start: number, end: number): number {
    let n = 0;
    const keep = new Set<number>();
    for (const pg of [...obj.pages.values()]) {
      if (pg.offset < start || pg.offset >= end) continue;
      if (pg.wireCount > 0 || pg.flags & PG_BUSY) {
        keep.add(pg.offset);
        continue;
      }
      this.pages.freePage(pg);
      n++;
    }
    obj.pager?.discard(obj, start, end, keep);
    return n;
  }

  /**
   * vm_object_page_clean(object, start, end, syncio, de_queue): start a write for every dirty
   * resident page in [start, end) (PG_CLEAN clear, or pmap_is_modified); with `wait` (MS_SYNC)
   * first wait for writes already in flight and then for these. With `invalidate`
   * (MS_INVALIDATE) wait as well, then free the clean, unwired pages after removing their
   * mappings, so the next access reads the file again. Unlike 4.4BSD the pages keep their
   * mappings while they are written: the modify bit is cleared when the write starts, so a store
   * in the meantime keeps the page dirty. KERN_MEMORY_ERROR if a write failed.
   */
  pageClean(obj: VmObject, start: number, end: number, wait: boolean, invalidate: boolean): KernReturn {
    const vm = this.vm;
    if (!obj.pager) return KERN_SUCCESS;
    const req: PagerRequest = { pending: 0, errors: 0 };
    const offsets = [...obj.pages.keys()].filter((o) => o >= start && o < end).sort((a, b) => a - b);
    for (const off of offsets) {
      for (;;) {
        const pg = obj.pages.get(off);
        if (!pg) break;
        if (pg.flags & PG_BUSY) {
          if (!(wait || invalidate) || !vm.pageWait(pg, "pgclean")) break;
          continue;
        }
        if (pageDirty(vm, pg) && pagerPut(vm, obj, pg, req) === VM_PAGER_BAD) {
          // Past the end of the file: never written back (vnode_pager_putpage's VM_PAGER_BAD).
          pg.flags |= PG_CLEAN;
          this.pmap.clearModify(pg);
        }
        break;
      }
    }
    if ((wait || invalidate) && req.pending > 0 && !vm.io.sleep("pgclean", () => req.pending === 0)) {
      this.kernel.panic(`vm_object_page_clean: writes of object ${obj.id} never completed`);
    }
    if (invalidate) {
      for (const pg of [...obj.pages.values()]) {
        if (pg.offset < start || pg.offset >= end || pg.wireCount > 0 || pg.flags & PG_BUSY) continue;
        if (pageDirty(vm, pg)) continue;
        this.pmap.pageProtect(pg, Prot.None);
        this.pages.freePage(pg);
      }
    }
    return req.errors > 0 ? KERN_MEMORY_ERROR : KERN_SUCCESS;
  }

  /** Whether any resident page of obj in [start, end) is wired. */
  hasWiredPages(obj: VmObject | null, start: number, end: number): boolean {
    if (!obj) return false;
    for (const pg of obj.pages.values()) {
      if (pg.wireCount > 0 && pg.offset >= start && pg.offset < end) return true;
    }
    return false;
  }

  /**
   * What a fault would find first for `offset` in obj's chain, without faulting: the resident
   * page, null if a pager holds the data (not resident), undefined if nothing does (zero fill).
   */
  topPage(obj: VmObject | null, offset: number): MachPage | null | undefined {
    while (obj) {
      const pg = obj.pages.get(offset);
      if (pg) return pg;
      if (obj.pager?.hasPage(obj, offset)) return null;
      offset += obj.shadowOffset;
      obj = obj.shadow;
    }
    return undefined;
  }

  /** The topmost resident page for `offset` in obj's shadow chain (no faulting). */
  lookupChain(obj: VmObject | null, offset: number): MachPage | undefined {
    while (obj) {
      const pg = obj.pages.get(offset);
      if (pg) return pg;
      offset += obj.shadowOffset;
      obj = obj.shadow;
    }
    return undefined;
  }

  /**
   * vm_object_collapse (4.4BSD, mach_x86.md A.4): while the object's shadow can be merged into
   * it (case 1, the backing object has no other reference) or skipped over (case 2, bypass:
   * everything the backing object could supply is already shadowed by the object), do it.
   */
  collapse(object: VmObject | null): void {
    for (;;) {
      if (!object) return;
      if (object.pagingInProgress !== 0 || object.pager !== null) return;
      const backing = object.shadow;
      if (!backing) return;
      if ((backing.flags & OBJ_INTERNAL) === 0 || backing.pagingInProgress !== 0) return;
      // The backing object could be a copy object: collapsing it would need pushes in two places.
      if (backing.shadow !== null && backing.shadow.copy !== null) return;

      const backingOffset = object.shadowOffset;
      const size = object.size;

      if (backing.refCount === 1) {
        this.collapseInto(object, backing, backingOffset, size);
        this.counters.objectCollapse.value++;
        this.kernel.trace.emit("vm", "collapse", { object: object.id, backing: backing.id });
      } else {
        if (backing.pager !== null) return;
        // Every backing page inside the parent's window must be shadowed by a real parent page.
        // 4.4BSD bounds the window with `new_offset <= size`, one page too far; kept as found
        // (it only makes bypass more conservative).
        for (const p of backing.pages.values()) {
          const newOffset = p.offset - backingOffset;
          if (p.offset >= backingOffset && newOffset <= size) {
            const pp = object.pages.get(newOffset);
            if (!pp || pp.flags & PG_FAKE) return;
          }
        }
        object.shadow = backing.shadow;
        this.reference(object.shadow);
        object.shadowOffset += backing.shadowOffset;
        // The backing object keeps at least one other reference, so this never terminates it.
        backing.refCount--;
        this.counters.objectBypass.value++;
        this.kernel.trace.emit("vm", "bypass", { object: object.id, backing: backing.id });
      }
    }
  }

  /** Case 1 of vm_object_collapse: move the backing object's pages up and absorb it. */
  private collapseInto(object: VmObject, backing: VmObject, backingOffset: number, size: number): void {
    for (const p of [...backing.pages.values()]) {
      const newOffset = p.offset - backingOffset;
      // No shadow sees a wired page (vm_fault copies up when wiring; fork copies wired ranges),
      // and a wired entry holds its own reference on this object, so case 1 never meets a wired
      // page: vm_page_free's wired-page panic fires here only if that bookkeeping is broken.
      if (p.offset < backingOffset || newOffset >= size) {
        this.pages.freePage(p);
        continue;
      }
      const pp = object.pages.get(newOffset);
      if (pp && (pp.flags & PG_FAKE) === 0) {
        this.pages.freePage(p);
        continue;
      }
      if (pp) this.pages.freePage(pp);
      this.pages.rename(p, object, newOffset);
    }
    // The pager moves up with the pages (object has none: collapse refuses an object with one).
    if (backing.pager) {
      object.pager = backing.pager;
      object.pagingOffset = backing.pagingOffset + backingOffset;
      backing.pager = null;
    }
    // The backing object's reference on its shadow becomes the object's.
    object.shadow = backing.shadow;
    object.shadowOffset += backing.shadowOffset;
    if (object.shadow !== null && object.shadow.copy !== null) {
      this.kernel.panic("vm_object_collapse: we collapsed a copy-object!");
    }
    backing.shadow = null;
    backing.refCount = 0;
    backing.alive = false;
    this.live.delete(backing);
  }

  /** Length of obj's shadow chain, counted in objects (a lone object is 1). */
  chainLength(obj: VmObject): number {
    let n = 0;
    for (let o: VmObject | null = obj; o && n <= this.live.size; o = o.shadow) n++;
    return n;
  }

  /** The deepest shadow chain among live objects (counter vm.object.shadow_depth.max). */
  maxShadowDepth(): number {
    let max = 0;
    for (const obj of this.live) {
      const d = this.chainLength(obj);
      if (d > max) max = d;
    }
    return max;
  }

  /** Number of pages an object of `size` bytes can hold. */
  static pageCount(size: number): number {
    return Math.ceil(size / PAGE_SIZE);
  }
}
