/**
 * vm_object: memory objects, their resident pages, shadow chains, collapse and bypass (FreeBSD
 * sys/vm/vm_object.c, 8.x; Mach-derived, mach_x86.md A.4).
 *
 * An object caches the pages of a backing store: none (OBJT_DEFAULT, anonymous zero-fill memory
 * until a page must be laundered, when it becomes OBJT_SWAP), swap (OBJT_SWAP), a file (OBJT_VNODE)
 * or wired kernel memory (OBJT_PHYS, the kernel objects). Sizes and page indexes are in pages, the
 * backing object offset in bytes, as in FreeBSD. Copy-on-write is a chain of shadow objects; each
 * object lists its shadows (shadow_head / shadow_count), which is what lets vm_object_deallocate
 * collapse a chain when the middle object loses its last other reference. OBJ_ONEMAPPING marks an
 * anonymous object that only one mapping (possibly clipped into several entries) can see, so
 * unmapping part of it can free those pages at once.
 */
import { type KernelServices, PAGE_SIZE, type PmapModule, Prot, type Vnode } from "@vmlab/core";
import type { SwapPager } from "./swap_pager.js";
import type { VmCounters } from "./vm_counters.js";
import { type FbsdPage, PG_BUSY, PG_WANTED, VmPages } from "./vm_page.js";
import type { VmReserv } from "./vm_reserv.js";

export type ObjType = "default" | "swap" | "vnode" | "phys";

export const OBJ_ONEMAPPING = 0x0001;
export const OBJ_DEAD = 0x0002;
export const OBJ_MIGHTBEDIRTY = 0x0004;
/**
 * OBJ_UNMANAGED: the object's pages are PG_UNMANAGED (no pv entries, never on a paging queue).
 * FreeBSD 7–9's vm_page_alloc marked every page of an OBJT_PHYS object so (kernel_object,
 * kmem_object); FreeBSD 10 made it this object flag, set for OBJT_PHYS by _vm_object_allocate.
 */
export const OBJ_UNMANAGED = 0x0008;

let nextObjectId = 1;

/** struct vm_object */
export class VmObject {
  readonly id = nextObjectId++;
  /** memq: resident pages by pindex. */
  readonly pages = new Map<number, FbsdPage>();
  /** rvq: the object's reservations, by first pindex. */
  readonly rvq = new Map<number, VmReserv>();
  /** Swap metadata (swblock): slot of each paged-out pindex (OBJT_SWAP). */
  readonly swblk = new Map<number, number>();
  /** shadow_head: the objects whose backing object this is. */
  readonly shadows = new Set<VmObject>();
  refCount = 1;
  flags = 0;
  /** pg_color: aligns pindexes with superpage boundaries for vm_reserv (VM_RESERV_INDEX). */
  pgColor = 0;
  backing: VmObject | null = null;
  /** backing_object_offset, bytes. */
  backingOffset = 0;
  /** paging_in_progress */
  pip = 0;
  /** The file of an OBJT_VNODE object. */
  handle: Vnode | null = null;
  alive = true;

  constructor(
    public type: ObjType,
    /** Pages. */
    public size: number,
    readonly label: string,
  ) {}

  get shadowCount(): number {
    return this.shadows.size;
  }

  get residentPageCount(): number {
    return this.pages.size;
  }
}

/** What the object module needs from the rest of the VM. */
export interface ObjectHost {
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly pages: VmPages;
  readonly counters: VmCounters;
  readonly swap: SwapPager;
  /** tsleep: wait for `cond`; false if nothing can make it true. */
  sleep(wmesg: string, cond: () => boolean): boolean;
}

/** vm_object_list and the operations on objects. */
export class ObjectTable {
  readonly live = new Set<VmObject>();

  constructor(private readonly vm: ObjectHost) {
    vm.kernel.counters.addSource((out) => {
      out["vm.object.count"] = this.live.size;
      out["vm.object.shadow_depth.max"] = this.maxShadowDepth();
    });
  }

  /** vm_object_allocate(type, size) */
  allocate(type: ObjType, size: number, label: string, color = 0): VmObject {
    const obj = new VmObject(type, size, label);
    obj.pgColor = color;
    if (type === "default") obj.flags |= OBJ_ONEMAPPING;
    if (type === "phys") obj.flags |= OBJ_UNMANAGED;
    this.live.add(obj);
    this.vm.counters.objectAlloc.value++;
    return obj;
  }

  /** vm_object_reference */
  reference(obj: VmObject | null): void {
    if (obj) obj.refCount++;
  }

  /** Whether an object is anonymous memory (OBJT_DEFAULT or OBJT_SWAP without a handle). */
  static anonymous(obj: VmObject): boolean {
    return (obj.type === "default" || obj.type === "swap") && obj.handle === null;
  }

  /**
   * vm_object_deallocate: drop a reference. A vnode object keeps its pages cached when the last
   * mapping goes (the vnode holds it). An anonymous object left with one reference that is its
   * only shadow's backing object is collapsed into that shadow; at zero the object is terminated
   * and the loop continues with its backing object, whose reference it held.
   */
  deallocate(obj: VmObject | null): void {
    while (obj) {
      if (obj.refCount <= 0) this.vm.kernel.panic(`vm_object_deallocate: object ${obj.id} ref_count underflow`);
      obj.refCount--;
      if (obj.type === "vnode") return;
      if (obj.refCount === 1 && obj.shadowCount === 1 && ObjectTable.anonymous(obj) && (obj.flags & OBJ_DEAD) === 0) {
        const robject = obj.shadows.values().next().value as VmObject;
        if (ObjectTable.anonymous(robject) && robject.pip === 0 && obj.pip === 0) {
          // A temporary reference keeps robject while it absorbs obj.
          robject.refCount++;
          this.collapse(robject);
          obj = robject;
          continue;
        }
      }
      if (obj.refCount > 0) return;
      const backing = obj.backing;
      if (backing) {
        backing.shadows.delete(obj);
        obj.backing = null;
      }
      this.terminate(obj);
      obj = backing;
    }
  }

  /**
   * vm_object_terminate: wait for paging in progress (an asynchronous pageout holds it), free
   * every page, release the swap space, break remaining reservations, forget the object.
   */
  terminate(obj: VmObject): void {
    obj.flags |= OBJ_DEAD;
    if (obj.pip !== 0 && !this.vm.sleep("objtrm", () => obj.pip === 0)) {
      this.vm.kernel.panic(`vm_object_terminate: object ${obj.id} paging in progress never finished`);
    }
    const pages = this.vm.pages;
    for (const m of [...obj.pages.values()]) pages.free(m);
    this.vm.swap.dealloc(obj);
    pages.reserv.breakAll(obj);
    obj.alive = false;
    this.live.delete(obj);
    this.vm.counters.objectTerminate.value++;
  }

  /**
   * vm_object_shadow: a new anonymous object in front of `source` at byte `offset`, `length`
   * pages long; the caller's reference to the source becomes the shadow's backing reference.
   * An anonymous source nobody else references needs no shadow: it is returned as it is.
   */
  shadow(source: VmObject, offset: number, length: number): { object: VmObject; offset: number } {
    if (source.refCount === 1 && ObjectTable.anonymous(source)) return { object: source, offset };
    const n = this.vm.pages.param.level0Npages;
    const result = this.allocate("default", length, "shadow", (source.pgColor + offset / PAGE_SIZE) % n);
    result.backing = source;
    result.backingOffset = offset;
    source.shadows.add(result);
    this.vm.counters.objectShadow.value++;
    return { object: result, offset: 0 };
  }

  /** Whether the object's pager holds pindex (vm_pager_has_page). */
  hasPage(obj: VmObject, pindex: number): boolean {
    if (obj.type === "swap") return obj.swblk.has(pindex);
    if (obj.type === "vnode") return pindex < obj.size;
    return false;
  }

  /**
   * vm_object_collapse: while the backing object can be merged into the object (it has no other
   * reference: its pages and swap move up, vm_object_backing_scan OBSC_COLLAPSE) or bypassed (every
   * page it could supply through the object's window is shadowed), do it.
   */
  collapse(object: VmObject): void {
    for (;;) {
      if (!ObjectTable.anonymous(object) || object.pip !== 0 || object.flags & OBJ_DEAD) return;
      const backing = object.backing;
      if (!backing || !ObjectTable.anonymous(backing) || backing.pip !== 0 || backing.flags & OBJ_DEAD) return;
      if (backing.refCount === 1) {
        if (!this.collapseInto(object, backing)) return;
        this.vm.counters.objectCollapse.value++;
        this.vm.kernel.trace.emit("vm", "collapse", { object: object.id, backing: backing.id });
      } else {
        if (!this.allShadowed(object, backing)) return;
        const next = backing.backing;
        backing.shadows.delete(object);
        object.backing = next;
        object.backingOffset += backing.backingOffset;
        if (next) {
          next.shadows.add(object);
          next.refCount++;
        }
        // backing had at least two references: this never terminates it.
        backing.refCount--;
        this.vm.counters.objectBypass.value++;
        this.vm.kernel.trace.emit("vm", "bypass", { object: object.id, backing: backing.id });
      }
    }
  }

  /** vm_object_backing_scan(OBSC_TEST_ALL_SHADOWED) */
  private allShadowed(object: VmObject, backing: VmObject): boolean {
    if (backing.type !== "default") return false;
    const off = object.backingOffset / PAGE_SIZE;
    for (const p of backing.pages.values()) {
      const np = p.pindex - off;
      if (p.pindex < off || np >= object.size) continue;
      const pp = object.pages.get(np);
      if (!pp?.valid && !this.hasPage(object, np)) return false;
    }
    return true;
  }

  /** The collapse proper; false if a busy page stands in the way. */
  private collapseInto(object: VmObject, backing: VmObject): boolean {
    const pages = this.vm.pages;
    const off = object.backingOffset / PAGE_SIZE;
    for (const p of backing.pages.values()) if (VmPages.isBusy(p)) return false;
    for (const p of [...backing.pages.values()]) {
      const np = p.pindex - off;
      if (p.pindex < off || np >= object.size || object.pages.has(np) || this.hasPage(object, np)) {
        if (p.wireCount > 0) this.vm.kernel.panic(`vm_object_collapse: wired page in backing object ${backing.id}`);
        pages.free(p);
        continue;
      }
      pages.reserv.rename(p, object, backing, off);
      pages.rename(p, object, np);
    }
    this.vm.swap.copy(backing, object, off);
    // The backing object's reference on its own backing object becomes the object's.
    const next = backing.backing;
    backing.shadows.delete(object);
    if (next) {
      next.shadows.delete(backing);
      next.shadows.add(object);
    }
    object.backing = next;
    object.backingOffset += backing.backingOffset;
    backing.backing = null;
    backing.refCount = 0;
    backing.flags |= OBJ_DEAD;
    pages.reserv.breakAll(backing);
    backing.alive = false;
    this.live.delete(backing);
    return true;
  }

  /**
   * vm_object_page_remove(object, start, end, clean_only): free the resident pages of [start, end)
   * (pages), removing their mappings; busy pages are waited for; wired pages stay (the wiring
   * holds them); with cleanOnly, dirty pages stay.
   */
  pageRemove(obj: VmObject, start: number, end: number, cleanOnly: boolean): void {
    const pages = this.vm.pages;
    for (;;) {
      let waited = false;
      for (const m of [...obj.pages.values()]) {
        if (m.pindex < start || m.pindex >= end || m.object !== obj) continue;
        if (VmPages.isBusy(m)) {
          m.flags |= PG_WANTED;
          this.vm.counters.busyWait.value++;
          this.vm.sleep("vmopar", () => !VmPages.isBusy(m) || m.object !== obj);
          waited = true;
          break;
        }
        if (m.wireCount > 0) continue;
        if (cleanOnly) {
          pages.testDirty(m);
          if (m.dirty) continue;
        }
        pages.free(m);
      }
      if (!waited) return;
    }
  }

  /** vm_object_pmap_copy-style write protection of a range's resident pages. */
  writeProtect(obj: VmObject, start: number, end: number): void {
    for (const m of obj.pages.values()) {
      if (m.pindex >= start && m.pindex < end) this.vm.pmap.pageProtect(m, Prot.Read | Prot.Exec);
    }
  }

  /** The topmost resident page for pindex in obj's chain (no faulting), with its object. */
  lookupChain(obj: VmObject | null, pindex: number): FbsdPage | undefined {
    while (obj) {
      const m = obj.pages.get(pindex);
      if (m) return m;
      pindex += obj.backingOffset / PAGE_SIZE;
      obj = obj.backing;
    }
    return undefined;
  }

  chainLength(obj: VmObject): number {
    let n = 0;
    for (let o: VmObject | null = obj; o && n <= this.live.size; o = o.backing) n++;
    return n;
  }

  maxShadowDepth(): number {
    let max = 0;
    for (const obj of this.live) max = Math.max(max, this.chainLength(obj));
    return max;
  }

  /** Whether any resident page of the object in [start, end) is busy with I/O. */
  static anyBusy(obj: VmObject, start: number, end: number): boolean {
    for (const m of obj.pages.values())
      if (m.pindex >= start && m.pindex < end && (m.busy > 0 || m.flags & PG_BUSY)) return true;
    return false;
  }
}
