/**
 * vm_object: memory objects, their resident pages, shadow chains and collapse
 * (4.4BSD-Lite sys/vm/vm_object.[ch], CMU Mach 3.0 vm/vm_object.c).
 *
 * An object caches pages of some backing store (its pager) at byte offsets. Anonymous memory is
 * an OBJ_INTERNAL object of the default pager; until the swap issue it has no pager at all
 * (4.4BSD allocated the swap pager lazily, in vm_pageout_scan, the first time a dirty page had
 * to go out). Copy-on-write is a chain of shadow objects: a write fault copies the page found
 * lower in the chain into the top object, and vm_object_collapse shortens chains when the
 * reference counts allow it.
 */
import { type KernelServices, PAGE_SIZE, type PmapModule, Prot } from "@vmlab/core";
import type { VmCounters } from "./vm_counters.js";
import { type MachPage, type PageArray, PG_BUSY, PG_COPYONWRITE, PG_FAKE } from "./vm_page.js";

/** vm_object flags (4.4BSD vm_object.h). */
export const OBJ_CANPERSIST = 0x0001;
export const OBJ_INTERNAL = 0x0002;
export const OBJ_ACTIVE = 0x0004;

/** vm_pager.h results. */
export const VM_PAGER_OK = 0;
export const VM_PAGER_BAD = 1;
export const VM_PAGER_FAIL = 2;
export const VM_PAGER_PEND = 3;
export const VM_PAGER_ERROR = 4;
export type PagerResult = number;

/**
 * struct pager_struct + pagerops: the backing store of an object. Nothing implements it yet;
 * the swap (default) pager, the vnode pager and the device pager come with files, swap and
 * devices. vm_fault, vm_object_collapse and vm_pageout_scan already test `object.pager` where
 * 4.4BSD did, so that adding a pager changes no control flow.
 */
export interface Pager {
  readonly type: "swap" | "vnode" | "device";
  /** vm_pager_get: fill `pg` (busy, fake) from backing store at `offset + object.pagingOffset`. */
  get(object: VmObject, pg: MachPage): PagerResult;
  /** vm_pager_put: write the page out. */
  put(object: VmObject, pg: MachPage, sync: boolean): PagerResult;
  /** vm_pager_has_page */
  hasPage(offset: number): boolean;
  /** vm_pager_deallocate */
  deallocate(): void;
}

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

  constructor(
    private readonly kernel: KernelServices,
    private readonly pmap: PmapModule,
    private readonly pages: PageArray,
    private readonly counters: VmCounters,
  ) {
    kernel.counters.addSource((out) => {
      out["vm.object.shadow_depth.max"] = this.maxShadowDepth();
      out["vm.object.count"] = this.live.size;
    });
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
      // OBJ_CANPERSIST (vnode objects kept in the object cache) comes with the vnode pager.
      const shadow = obj.shadow;
      this.terminate(obj);
      obj = shadow;
    }
  }

  /**
   * vm_object_terminate: free every page, release the pager, forget the object. The caller has
   * already dropped the last reference.
   */
  terminate(obj: VmObject): void {
    if (obj.pagingInProgress !== 0) {
      this.kernel.panic(`vm_object_terminate: object ${obj.id} has paging in progress`);
    }
    if (obj.shadow && obj.shadow.copy === obj) obj.shadow.copy = null;
    for (const pg of [...obj.pages.values()]) this.pages.freePage(pg);
    obj.pager?.deallocate();
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
   * vm_object_copy for an internal object (anonymous memory): no copy is made now. The source
   * gains a reference, its resident pages in the range are marked copy-on-write, and both sides
   * will shadow on their first write (src_needs_copy). The file case — a copy object in front
   * of an object with a pager — comes with the vnode pager.
   */
  copyAnonymous(
    src: VmObject | null,
    offset: number,
    size: number,
  ): { dst: VmObject | null; dstOffset: number; srcNeedsCopy: boolean } {
    if (!src) return { dst: null, dstOffset: 0, srcNeedsCopy: false };
    if (src.pager !== null && (src.flags & OBJ_INTERNAL) === 0) {
      this.kernel.panic(`vm_object_copy: object ${src.id} has a pager; copy objects are not implemented`);
    }
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
   * vm_object_page_remove: free the resident pages in [start, end). Wired and busy pages are
   * kept (MADV_FREE must not take a page someone wired or is faulting in).
   */
  pageRemove(obj: VmObject, start: number, end: number): number {
    let n = 0;
    for (const pg of [...obj.pages.values()]) {
      if (pg.offset < start || pg.offset >= end) continue;
      if (pg.wireCount > 0 || pg.flags & PG_BUSY) continue;
      this.pages.freePage(pg);
      n++;
    }
    return n;
  }

  /** Whether any resident page of obj in [start, end) is wired. */
  hasWiredPages(obj: VmObject | null, start: number, end: number): boolean {
    if (!obj) return false;
    for (const pg of obj.pages.values()) {
      if (pg.wireCount > 0 && pg.offset >= start && pg.offset < end) return true;
    }
    return false;
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
    // The pager moves up with the pages (none yet for anonymous memory).
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
