/**
 * The Mach VM as a vmlab VmLayer: the kernel's calls (vm_mmap, vm_map_remove, vm_map_protect,
 * vm_map_pageable, vm_map_inherit, madvise, msync, vm_fault, kmem, the pageout daemon) mapped
 * onto the modules of this package.
 */
import {
  type AddressLayout,
  hex,
  INHERIT_SHARE,
  type Inheritance,
  KERN_FAILURE,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_MEMORY_ERROR,
  KERN_NO_SPACE,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  type KernelServices,
  type KernReturn,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_SPACEAVAIL,
  MADV_WILLNEED,
  type MapEntryView,
  type MapRequest,
  MS_INVALIDATE,
  MS_SYNC,
  type PAddr,
  PAGE_SIZE,
  type PageCopy,
  type PagerIo,
  type PmapModule,
  Prot,
  roundPage,
  type ShmObject,
  truncPage,
  type VAddr,
  type VmContext,
  type VmLayer,
  type VmPage,
  type VmSpace,
  type Vnode,
  type WireKind,
} from "@vmlab/core";
import { auditVm } from "./audit.js";
import type { VmCore } from "./vm_core.js";
import { VmCounters } from "./vm_counters.js";
import { vmFault } from "./vm_fault.js";
import { MachSpace, vmspaceAlloc, vmspaceFork, vmspaceFree } from "./vm_glue.js";
import { mapEntries } from "./vm_inspect.js";
import { KernelMap } from "./vm_kern.js";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import { ObjectTable, type VmObject } from "./vm_object.js";
import { type MachPage, PageArray, PG_BUSY, PG_WANTED } from "./vm_page.js";
import { Pageout } from "./vm_pageout.js";
import { MachShm, shmCreate, shmLock, shmRelease } from "./vm_shm.js";
import { vnodePagerAlloc, vnodePagerSetSize, vnodeRdwr } from "./vnode_pager.js";

export class MachVm implements VmLayer, VmCore {
  readonly name = "mach";
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly io: PagerIo;
  readonly counters: VmCounters;
  readonly pages: PageArray;
  readonly objects: ObjectTable;
  readonly layout: AddressLayout;
  readonly kernelMap: KernelMap;
  readonly pageout: Pageout;
  /** Every live address space (for audit and for finding a space's map). */
  readonly spaces = new Set<MachSpace>();
  /** SysV segments whose object is alive (for the audit of SHM_LOCK wirings). */
  readonly shms = new Set<MachShm>();
  swapInUse = 0;

  constructor(ctx: VmContext) {
    this.kernel = ctx.kernel;
    this.pmap = ctx.pmap;
    this.io = ctx.io;
    this.layout = ctx.pmap.layout;
    this.counters = new VmCounters(ctx.kernel.counters);
    // vm_page_startup, vm_object_init, kmem_init, vm_pageout's thresholds.
    this.pages = new PageArray(ctx.kernel, ctx.pmap, this.counters, ctx.segments, ctx.stolen);
    this.objects = new ObjectTable(this);
    this.kernelMap = new KernelMap(this, this.layout);
    this.pageout = new Pageout(this);
    ctx.kernel.counters.addSource((out) => {
      out["vm.page.active"] = this.pages.active.count;
      out["vm.page.inactive"] = this.pages.inactive.count;
      out["vm.swap.inuse"] = this.swapInUse;
      let entries = 0;
      for (const sp of this.spaces) entries += sp.map.nentries;
      out["vm.map.entries"] = entries;
    });
  }

  get freePages(): number {
    return this.pages.freeCount;
  }

  get wiredPages(): number {
    return this.pages.wired;
  }

  get freeMin(): number {
    return this.pageout.freeMin;
  }

  get freeReserved(): number {
    return this.pageout.freeReserved;
  }

  /**
   * vm_page_alloc for a thread: the free pages down to free_reserved are the kernel's and the
   * pmap's. Wakes the pageout daemon when the free count falls under free_min.
   */
  pageAlloc(object: VmObject, offset: number): MachPage | null {
    if (this.pages.freeCount <= this.freeReserved) {
      this.pages.pagesNeeded = true;
      this.io.wakeupPagedaemon();
      return null;
    }
    const pg = this.pages.alloc(object, offset);
    if (this.pages.freeCount < this.freeMin) this.io.wakeupPagedaemon();
    return pg;
  }

  /**
   * VM_WAIT: wakeup(&vm_pages_needed), then sleep on the free count until pages have been freed —
   * more than when the sleep began, and more than the reserve. 4.4BSD's vm_wait sleeps until the
   * pagedaemon's wakeup(&cnt.v_free_count) even when the count is already above the reserve
   * (vm_fault frees its first-object placeholder before it waits, so a fault that needs two pages
   * with one above the reserve would otherwise retry for ever without the daemon running). False
   * when nothing can free a page: the caller answers KERN_RESOURCE_SHORTAGE.
   */
  vmWait(): boolean {
    this.counters.pageWait.value++;
    this.pages.pagesNeeded = true;
    this.io.wakeupPagedaemon();
    const atSleep = Math.max(this.pages.freeCount, this.freeReserved);
    return this.io.sleep("vmwait", () => this.pages.freeCount > atSleep);
  }

  /** PAGE_ASSERT_WAIT: PG_WANTED, then sleep until the holder's PAGE_WAKEUP. */
  pageWait(pg: MachPage, wmesg: string): boolean {
    this.counters.pageBusyWait.value++;
    pg.flags |= PG_WANTED;
    return this.io.sleep(wmesg, () => (pg.flags & PG_BUSY) === 0);
  }

  /** The MachSpace behind a VmSpace handle. */
  private space(s: VmSpace): MachSpace {
    if (!(s instanceof MachSpace) || !this.spaces.has(s)) {
      this.kernel.panic(`vm: vmspace ${s.id} is not a live Mach vmspace`);
    }
    return s;
  }

  /** Whether [start, end) touches an entry the kernel reserved (the UPT region). */
  private touchesSystem(map: VmMap, start: VAddr, end: VAddr): boolean {
    for (let e = map.firstFrom(start); e !== map.header && e.start < end; e = e.next) if (e.system) return true;
    return false;
  }

  /** Page-rounded [start, end) of a user range, or undefined if it is not inside the map. */
  private range(map: VmMap, va: VAddr, len: number): [VAddr, VAddr] | undefined {
    if (!Number.isFinite(va) || !Number.isFinite(len) || len < 0) return undefined;
    const start = truncPage(va);
    const end = roundPage(va + len);
    if (start < map.min || end > map.max || end < start) return undefined;
    return [start, end];
  }

  // ------------------------------------------------------------------ address spaces

  createSpace(): VmSpace {
    const s = vmspaceAlloc(this, this.layout);
    this.spaces.add(s);
    return s;
  }

  fork(parent: VmSpace): VmSpace | null {
    const s = vmspaceFork(this, this.layout, this.space(parent));
    if (s === null) return null;
    this.spaces.add(s);
    return s;
  }

  destroySpace(s: VmSpace): void {
    const sp = this.space(s);
    this.spaces.delete(sp);
    vmspaceFree(sp);
  }

  // ------------------------------------------------------------------ mapping

  /**
   * vm_mmap. MAP_FIXED replaces whatever is in the range (4.4BSD's vm_deallocate before
   * vm_map_find). Otherwise first fit at or above the hint; a hint that leaves no room is retried
   * from userMin (NetBSD t_mmap mmap_hint: a hint never makes mmap fail). MAP_SHARED is
   * VM_INHERIT_SHARE, as in 4.4BSD: a sharing map appears at the first fork. MAP_WIRED or
   * mlockall(MCL_FUTURE) wire the new range, except PROT_NONE (NetBSD uvm_mmap); MCL_FUTURE does
   * not wire a SysV attach (NetBSD shmat maps with uvm_map alone).
   *
   * What backs it: anonymous memory gets its object at the first fault (or grows its
   * neighbour's, vm_object_coalesce); a file maps the vnode's object (vnode_pager_alloc) at the
   * file offset — directly when shared, copy-on-write (needs_copy) when private; a SysV segment
   * maps the segment's object the same way.
   */
  map(s: VmSpace, req: MapRequest): { rv: KernReturn; va: VAddr } {
    const map = this.space(s).map;
    const len = roundPage(req.len);
    if (!(len > 0)) return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    if ((req.prot & req.maxProt) !== req.prot) return { rv: KERN_PROTECTION_FAILURE, va: 0 };
    const backing = req.backing ?? { kind: "anon" as const };
    if (backing.kind !== "anon" && (!(backing.offset >= 0) || backing.offset % PAGE_SIZE !== 0)) {
      return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    }
    if (backing.kind === "shm" && !(backing.shm instanceof MachShm && this.shms.has(backing.shm))) {
      return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    }
    let addr: VAddr;
    if (req.fixed) {
      addr = req.addr;
      if (addr % PAGE_SIZE !== 0) return { rv: KERN_INVALID_ARGUMENT, va: 0 };
      if (addr < map.min || addr + len > map.max) return { rv: KERN_INVALID_ADDRESS, va: 0 };
      if (this.touchesSystem(map, addr, addr + len)) return { rv: KERN_INVALID_ADDRESS, va: 0 };
      map.delete(addr, addr + len);
    } else {
      const { userMin, userMax } = this.layout;
      const hint = Number.isFinite(req.addr) && req.addr > 0 ? roundPage(req.addr) : userMin;
      addr = map.findSpace(hint, len, userMin, userMax);
      if (addr < 0 && hint > userMin) addr = map.findSpace(userMin, len, userMin, userMax);
      if (addr < 0) return { rv: KERN_NO_SPACE, va: 0 };
    }
    let object: VmObject | null = null;
    let offset = 0;
    if (backing.kind === "vnode") {
      object = vnodePagerAlloc(this, backing.vnode);
      offset = backing.offset;
    } else if (backing.kind === "shm") {
      object = (backing.shm as MachShm).object;
      this.objects.reference(object);
      offset = backing.offset;
    }
    const inheritance: Inheritance = req.shared ? INHERIT_SHARE : req.inheritance;
    map.insert(addr, addr + len, {
      object,
      offset,
      protection: req.prot,
      maxProtection: req.maxProt,
      inheritance,
      needsCopy: object !== null && !req.shared,
    });
    map.simplify(addr, addr + len);
    // uvm_mmap wires a new mapping under VM_MAP_WIREFUTURE (mlockall MCL_FUTURE); shmat maps its
    // segment with plain uvm_map (NetBSD sys/kern/sysv_shm.c), which never looks at the flag. The
    // system-call layer is NetBSD's on every VM (decision 0005): a SysV attach is not wired.
    const future = map.wireFuture && backing.kind !== "shm";
    if ((req.wired || future) && req.prot !== Prot.None) {
      const rv = map.wire(addr, addr + len, "mlock");
      if (rv !== KERN_SUCCESS) {
        map.delete(addr, addr + len);
        return { rv, va: 0 };
      }
    }
    return { rv: KERN_SUCCESS, va: addr };
  }

  /** vm_map_remove: unmapping a hole is not an error. */
  unmap(s: VmSpace, va: VAddr, len: number): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    map.delete(r[0], r[1]);
    return KERN_SUCCESS;
  }

  protect(s: VmSpace, va: VAddr, len: number, prot: Prot, setMax: boolean): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.protect(r[0], r[1], prot, setMax);
  }

  inherit(s: VmSpace, va: VAddr, len: number, inh: Inheritance): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.inherit(r[0], r[1], inh);
  }

  /**
   * madvise. MADV_DONTNEED drops the range's translations (the data stays in its objects; wired
   * entries keep theirs). MADV_FREE frees anonymous pages nobody else can see: pages of an
   * object referenced only by this entry, with nothing below them in the chain, so the next
   * access reads zeros rather than older data. The other advice values are recorded.
   */
  advise(s: VmSpace, va: VAddr, len: number, advice: number): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    const [start, end] = r;
    switch (advice) {
      case MADV_NORMAL:
      case MADV_RANDOM:
      case MADV_SEQUENTIAL:
      case MADV_WILLNEED:
      case MADV_SPACEAVAIL:
        if (this.touchesSystem(map, start, end)) return KERN_INVALID_ADDRESS;
        map.advise(start, end, advice);
        return KERN_SUCCESS;
      case MADV_DONTNEED:
      case MADV_FREE:
        if (!map.covered(start, end)) return KERN_INVALID_ADDRESS;
        for (let e = map.firstFrom(start); e !== map.header && e.start < end; e = e.next) {
          if (e.wiredCount > 0 || e.system) continue;
          const s0 = Math.max(start, e.start);
          const e0 = Math.min(end, e.end);
          if (advice === MADV_DONTNEED) map.pmap?.remove(s0, e0);
          else this.freeAnon(map, e, s0, e0);
        }
        return KERN_SUCCESS;
      default:
        return KERN_INVALID_ARGUMENT;
    }
  }

  /** MADV_FREE on part of one entry. */
  private freeAnon(map: VmMap, e: VmMapEntry, start: VAddr, end: VAddr): void {
    const obj = e.object;
    if (e.shareMap || !obj || e.needsCopy || obj.refCount !== 1 || obj.pager !== null) return;
    const objStart = e.offset + (start - e.start);
    const objEnd = e.offset + (end - e.start);
    for (const pg of [...obj.pages.values()]) {
      if (pg.offset < objStart || pg.offset >= objEnd || pg.wireCount > 0) continue;
      if (this.objects.lookupChain(obj.shadow, pg.offset + obj.shadowOffset)) continue;
      map.pmap?.remove(e.start + (pg.offset - e.offset), e.start + (pg.offset - e.offset) + PAGE_SIZE);
      this.pages.freePage(pg);
    }
  }

  /**
   * msync (4.4BSD vm_map_clean): a hole is KERN_INVALID_ADDRESS; MS_INVALIDATE over wired memory
   * is KERN_FAILURE (EBUSY: NetBSD uvm_map_clean refuses to flush wired pages), checked before
   * anything is written. Then every shared file mapping in the range has its object's pages
   * cleaned (vm_object_page_clean: MS_SYNC waits for the writes, MS_ASYNC only starts them) and
   * with MS_INVALIDATE its clean pages freed. Anonymous memory and private mappings have
   * nothing to write back (4.4BSD would have pushed anonymous pages to swap).
   */
  sync(s: VmSpace, va: VAddr, len: number, flags: number): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r || !map.covered(r[0], r[1])) return KERN_INVALID_ADDRESS;
    const [start, end] = r;
    if (flags & MS_INVALIDATE) {
      for (let e = map.firstFrom(start); e !== map.header && e.start < end; e = e.next) {
        if (e.wiredCount > 0) return KERN_FAILURE;
      }
    }
    const work: [VmObject, number, number][] = [];
    for (let e = map.firstFrom(start); e !== map.header && e.start < end; e = e.next) {
      const s0 = Math.max(start, e.start);
      const e0 = Math.min(end, e.end);
      const sm = e.shareMap;
      if (!sm) {
        if (e.object?.vnode && !e.needsCopy && !e.copyOnWrite) {
          work.push([e.object, e.offset + (s0 - e.start), e.offset + (e0 - e.start)]);
        }
        continue;
      }
      const base = e.offset - e.start;
      for (let se = sm.firstFrom(s0 + base); se !== sm.header && se.start < e0 + base; se = se.next) {
        if (!se.object?.vnode || se.needsCopy || se.copyOnWrite) continue;
        const a = Math.max(se.start, s0 + base);
        const b = Math.min(se.end, e0 + base);
        work.push([se.object, se.offset + (a - se.start), se.offset + (b - se.start)]);
      }
    }
    const wait = (flags & MS_SYNC) !== 0;
    const invalidate = (flags & MS_INVALIDATE) !== 0;
    let rv = KERN_SUCCESS;
    for (const [obj, a, b] of work) {
      if (!obj.alive) continue;
      if (this.objects.pageClean(obj, a, b, wait, invalidate) !== KERN_SUCCESS) rv = KERN_MEMORY_ERROR;
    }
    return rv;
  }

  isMapped(s: VmSpace, va: VAddr, len: number): boolean {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    return r !== undefined && map.covered(r[0], r[1]);
  }

  /** The process's view of its map, sharing maps flattened (vm_inspect.ts). */
  entries(s: VmSpace): MapEntryView[] {
    return mapEntries(this.space(s).map);
  }

  // ------------------------------------------------------------------ wiring

  /**
   * vm_map_pageable(FALSE) for mlock and system wirings; vslock for "transient" (NetBSD
   * uvm_vslock): the range must allow `access` (KERN_PROTECTION_FAILURE otherwise, before
   * anything changes — read() into a read-only buffer), and the wiring faults copy every page
   * up into the entry's first object, so copy-on-write is resolved before the kernel copies into
   * the frames. Transient wirings nest, are counted apart from mlock's user wiring, and are
   * released only by a transient unwire (vsunlock).
   */
  wire(s: VmSpace, va: VAddr, len: number, how: WireKind, access: Prot = Prot.Read): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (how === "mlock" && this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    if (how === "transient") {
      if (!map.covered(r[0], r[1])) return KERN_INVALID_ADDRESS;
      for (let e = map.firstFrom(r[0]); e !== map.header && e.start < r[1]; e = e.next) {
        if ((e.protection & access) !== access) return KERN_PROTECTION_FAILURE;
      }
    }
    return map.wire(r[0], r[1], how);
  }

  unwire(s: VmSpace, va: VAddr, len: number, how: WireKind): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (how === "mlock" && this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.unwire(r[0], r[1], how);
  }

  /**
   * mlockall: MCL_FUTURE marks the map; MCL_CURRENT user-wires every entry that is not
   * PROT_NONE (NetBSD uvm_map_pageable_all). On failure what this call wired is unwired again.
   */
  wireAll(s: VmSpace, current: boolean, future: boolean): KernReturn {
    const map = this.space(s).map;
    if (future) map.wireFuture = true;
    if (!current) return KERN_SUCCESS;
    const ranges: [VAddr, VAddr][] = [];
    for (const e of map.entries()) {
      if (!e.system && !e.userWired && e.protection !== Prot.None) ranges.push([e.start, e.end]);
    }
    for (let i = 0; i < ranges.length; i++) {
      const [a, b] = ranges[i] as [VAddr, VAddr];
      const rv = map.wire(a, b, "mlock");
      if (rv !== KERN_SUCCESS) {
        for (let j = 0; j < i; j++) {
          const [c, d] = ranges[j] as [VAddr, VAddr];
          map.unwire(c, d, "mlock");
        }
        return rv;
      }
    }
    return KERN_SUCCESS;
  }

  /** munlockall: clear MCL_FUTURE and every user wiring. */
  unwireAll(s: VmSpace): KernReturn {
    const map = this.space(s).map;
    map.wireFuture = false;
    const ranges: [VAddr, VAddr][] = [];
    for (const e of map.entries()) if (e.userWired) ranges.push([e.start, e.end]);
    for (const [a, b] of ranges) map.unwire(a, b, "mlock");
    return KERN_SUCCESS;
  }

  userWiredPages(s: VmSpace): number {
    let n = 0;
    for (const e of this.space(s).map.entries()) if (e.userWired) n += e.size / PAGE_SIZE;
    return n;
  }

  // ------------------------------------------------------------------ faults

  fault(s: VmSpace, va: VAddr, access: Prot): KernReturn {
    const map = this.space(s).map;
    return vmFault(this, map, truncPage(va), access, false);
  }

  // ------------------------------------------------------------------ kernel memory, pages

  kmemAlloc(bytes: number): VAddr {
    return this.kernelMap.kmemAlloc(bytes);
  }

  kmemFree(va: VAddr, bytes: number): void {
    this.kernelMap.kmemFree(va, bytes);
  }

  kvaAlloc(bytes: number): VAddr {
    return this.kernelMap.kvaAlloc(bytes);
  }

  kvaFree(va: VAddr, bytes: number): void {
    this.kernelMap.kvaFree(va, bytes);
  }

  allocPage(opts: { zero?: boolean; interrupt?: boolean }): VmPage | null {
    return this.pages.allocHost(opts.zero ?? false);
  }

  freePage(pg: VmPage): void {
    const mine = this.pages.pages[pg.index];
    if (mine !== pg) this.kernel.panic(`vm_page_free: ${hex(pg.pa)} is not a page of this VM`);
    this.pages.freeHost(mine as MachPage);
  }

  pageOf(pa: PAddr): VmPage | undefined {
    return this.pages.pageOf(pa);
  }

  /** No superpage reservations in the Mach VM. */
  reservLevelIfFullPop(_pg: VmPage): number {
    return -1;
  }

  pagedaemon(): void {
    this.pageout.daemon();
  }

  // ------------------------------------------------------------------ files (the merged cache)

  vnodeRdwr(vp: Vnode, offset: number, len: number, write: boolean, copy: PageCopy): KernReturn {
    return vnodeRdwr(this, vp, offset, len, write, copy);
  }

  vnodeSetSize(vp: Vnode, oldSize: number): void {
    vnodePagerSetSize(this, vp, oldSize);
  }

  /**
   * VOP_FSYNC / msync of a file: vm_object_page_clean over [offset, offset+len) of the vnode's
   * object (len 0: to the end of the file). Nothing cached, nothing to do.
   */
  vnodeSync(vp: Vnode, offset: number, len: number, flags: number): KernReturn {
    const obj = vp.vmObject as VmObject | undefined;
    if (!obj) return KERN_SUCCESS;
    const start = truncPage(Math.max(0, offset));
    const end = len > 0 ? roundPage(offset + len) : Number.POSITIVE_INFINITY;
    return this.objects.pageClean(obj, start, end, (flags & MS_SYNC) !== 0, (flags & MS_INVALIDATE) !== 0);
  }

  // ------------------------------------------------------------------ SysV shared memory

  shmCreate(size: number): ShmObject {
    const shm = shmCreate(this, size);
    this.shms.add(shm);
    return shm;
  }

  shmLock(obj: ShmObject, lock: boolean): KernReturn {
    return shmLock(this, this.shm(obj), lock);
  }

  shmRelease(obj: ShmObject): void {
    const shm = this.shm(obj);
    this.shms.delete(shm);
    shmRelease(this, shm);
  }

  private shm(obj: ShmObject): MachShm {
    if (!(obj instanceof MachShm) || !this.shms.has(obj)) {
      this.kernel.panic("shm: not a live segment of this VM");
    }
    return obj;
  }

  audit(): void {
    auditVm(this);
  }
}
