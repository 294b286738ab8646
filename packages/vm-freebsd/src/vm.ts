/**
 * The FreeBSD VM as a vmlab VmLayer: the kernel's calls (vm_mmap, vm_map_remove,
 * vm_map_protect, vm_map_wire, vm_map_inherit, vm_map_madvise, vm_map_sync, vm_fault,
 * kmem_malloc, the page daemon, the vnode pager's cache, SysV shm objects) mapped onto the
 * modules of this package.
 */
import {
  type AddressLayout,
  hex,
  INHERIT_SHARE,
  type Inheritance,
  KERN_FAILURE,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_NO_SPACE,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
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
import { SwapPager } from "./swap_pager.js";
import { VM_PAGER_OK, type VmCore } from "./vm_core.js";
import { VmCounters } from "./vm_counters.js";
import { vmFault } from "./vm_fault.js";
import { FbsdSpace, vmspaceAlloc, vmspaceFork, vmspaceFree } from "./vm_glue.js";
import { mapEntries } from "./vm_inspect.js";
import { KernelMap } from "./vm_kern.js";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import { OBJ_ONEMAPPING, ObjectTable, type VmObject } from "./vm_object.js";
import { type FbsdPage, VM_ALLOC_NORMAL, VmPages } from "./vm_page.js";
import { Pageout } from "./vm_pageout.js";
import { vmParam } from "./vm_param.js";
import { VnodePager } from "./vnode_pager.js";

/** Options of the FreeBSD VM. */
export interface FreebsdVmOptions {
  /**
   * Superpage reservations (VM_NRESERVLEVEL > 0, the default). Off, every page comes straight
   * from vm_phys and nothing is ever fully populated for the pmap to promote.
   */
  reservations?: boolean;
}

/** A SysV segment's object (shm_object). */
class FbsdShm implements ShmObject {
  locked = false;
  released = false;
  constructor(
    readonly size: number,
    readonly object: VmObject,
  ) {}
}

export class FreebsdVm implements VmLayer, VmCore {
  readonly name = "freebsd";
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly io: PagerIo;
  readonly layout: AddressLayout;
  readonly counters: VmCounters;
  readonly pages: VmPages;
  readonly objects: ObjectTable;
  readonly swap: SwapPager;
  readonly vnodes: VnodePager;
  readonly kernelMap: KernelMap;
  readonly pageout: Pageout;
  readonly spaces = new Set<FbsdSpace>();
  readonly shms = new Set<FbsdShm>();

  constructor(ctx: VmContext, opts: FreebsdVmOptions = {}) {
    this.kernel = ctx.kernel;
    this.pmap = ctx.pmap;
    this.io = ctx.io;
    this.layout = ctx.pmap.layout;
    this.counters = new VmCounters(ctx.kernel.counters);
    const param = vmParam(this.layout);
    this.pages = new VmPages(ctx.kernel, ctx.pmap, this.counters, param, ctx.segments, ctx.stolen);
    if (opts.reservations === false) this.pages.reserv.enabled = false;
    this.pages.wakeup = () => this.io.wakeupPagedaemon();
    this.swap = new SwapPager(this);
    this.objects = new ObjectTable(this);
    this.vnodes = new VnodePager(this);
    this.kernelMap = new KernelMap(this, this.layout);
    this.pageout = new Pageout(this);
    ctx.kernel.counters.addSource((out) => {
      out["vm.page.active"] = this.pages.active.count;
      out["vm.page.inactive"] = this.pages.inactive.count;
      out["vm.page.laundry"] = this.pages.laundry.count;
      out["vm.page.free"] = this.pages.freeCount;
      out["vm.reserv.partpopq"] = this.pages.reserv.partpopq.size;
      out["vm.phys.free"] = this.pages.phys.buddyFree;
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

  sleep(wmesg: string, cond: () => boolean): boolean {
    return this.io.sleep(wmesg, cond);
  }

  /**
   * vm_wait: wake the daemon (with the deficit) and sleep on v_free_count until pages have been
   * freed — more than when the sleep began — and a normal allocation can succeed. FreeBSD's
   * vm_wait sleeps until vm_page_free_wakeup even when the count already allows an allocation (a
   * fault that frees its first page before waiting would otherwise retry for ever without the
   * daemon running). False when nothing can free a page.
   */
  vmWait(): boolean {
    this.pageout.deficit++;
    this.io.wakeupPagedaemon();
    const atSleep = this.pages.freeCount;
    return this.io.sleep("vmwait", () => this.pages.freeCount > atSleep && this.pages.allocOk());
  }

  private space(s: VmSpace): FbsdSpace {
    if (!(s instanceof FbsdSpace) || !this.spaces.has(s))
      this.kernel.panic(`vm: vmspace ${s.id} is not a live FreeBSD vmspace`);
    return s;
  }

  private touchesSystem(map: VmMap, start: VAddr, end: VAddr): boolean {
    for (let e = map.firstFrom(start); e !== map.header && e.start < end; e = e.next) if (e.system) return true;
    return false;
  }

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

  /** The object and byte offset a backing names, with a reference for the new entry. */
  private backingObject(req: MapRequest): { object: VmObject | null; offset: number } | KernReturn {
    const b = req.backing;
    if (!b || b.kind === "anon") return { object: null, offset: 0 };
    if (b.offset % PAGE_SIZE !== 0 || b.offset < 0) return KERN_INVALID_ARGUMENT;
    if (b.kind === "vnode") {
      const obj = this.vnodes.objectFor(b.vnode);
      const size = Math.ceil(b.vnode.size / PAGE_SIZE);
      if (obj.size < size) obj.size = size;
      obj.refCount++;
      return { object: obj, offset: b.offset };
    }
    const shm = b.shm as FbsdShm;
    if (!this.shms.has(shm) || shm.released) return KERN_INVALID_ARGUMENT;
    shm.object.refCount++;
    shm.object.flags &= ~OBJ_ONEMAPPING;
    return { object: shm.object, offset: b.offset };
  }

  /**
   * vm_mmap → vm_map_find / vm_map_insert. MAP_FIXED replaces what is in the range. Otherwise
   * first fit at or above the hint, retried from the bottom; a region of at least a superpage is
   * placed so its virtual address and object offset agree modulo the superpage
   * (pmap_align_superpage, VMFS_OPTIMAL_SPACE), else anywhere. MAP_SHARED is inherited shared
   * (MAP_INHERIT_SHARE); private mappings are copy-on-write (MAP_COPY_ON_WRITE; a private file
   * mapping starts needs-copy). MAP_WIRED or mlockall(MCL_FUTURE) wire the range; MCL_FUTURE does
   * not wire a SysV attach (the system-call layer is NetBSD's, whose shmat maps with uvm_map alone;
   * FreeBSD's shmat, vm_map_find, does not wire either).
   */
  map(s: VmSpace, req: MapRequest): { rv: KernReturn; va: VAddr } {
    const map = this.space(s).map;
    const len = roundPage(req.len);
    if (!(len > 0)) return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    if ((req.prot & req.maxProt) !== req.prot) return { rv: KERN_PROTECTION_FAILURE, va: 0 };
    const { userMin, userMax } = this.layout;
    let addr: VAddr;
    if (req.fixed) {
      addr = req.addr;
      if (addr % PAGE_SIZE !== 0) return { rv: KERN_INVALID_ARGUMENT, va: 0 };
      if (addr < map.min || addr + len > map.max) return { rv: KERN_INVALID_ADDRESS, va: 0 };
      if (this.touchesSystem(map, addr, addr + len)) return { rv: KERN_INVALID_ADDRESS, va: 0 };
    } else {
      const hint = Number.isFinite(req.addr) && req.addr > 0 ? roundPage(req.addr) : userMin;
      const sp = this.pages.param.level0Size;
      const phase = (req.backing && req.backing.kind !== "anon" ? req.backing.offset : 0) % sp;
      addr = -1;
      if (len >= sp) {
        addr = map.findSpace(hint, len, userMin, userMax, sp, phase);
        if (addr < 0 && hint > userMin) addr = map.findSpace(userMin, len, userMin, userMax, sp, phase);
      }
      if (addr < 0) addr = map.findSpace(hint, len, userMin, userMax);
      if (addr < 0 && hint > userMin) addr = map.findSpace(userMin, len, userMin, userMax);
      if (addr < 0) return { rv: KERN_NO_SPACE, va: 0 };
    }
    const bo = this.backingObject(req);
    if (typeof bo === "number") return { rv: bo, va: 0 };
    if (req.fixed) map.delete(addr, addr + len);
    const inheritance: Inheritance = req.shared ? INHERIT_SHARE : req.inheritance;
    const isFile = req.backing?.kind === "vnode";
    map.insert(addr, addr + len, {
      object: bo.object,
      offset: bo.offset,
      protection: req.prot,
      maxProtection: req.maxProt,
      inheritance,
      cow: !req.shared,
      needsCopy: !req.shared && bo.object !== null,
    });
    if (!isFile) map.simplify(addr, addr + len);
    // uvm_mmap wires a new mapping under VM_MAP_WIREFUTURE (mlockall MCL_FUTURE); shmat maps its
    // segment with plain uvm_map (NetBSD sys/kern/sysv_shm.c), which never looks at the flag. The
    // system-call layer is NetBSD's on every VM (decision 0005): a SysV attach is not wired.
    const future = map.wireFuture && req.backing?.kind !== "shm";
    if ((req.wired || future) && req.prot !== Prot.None) {
      const rv = map.wire(addr, addr + len, "mlock");
      if (rv !== KERN_SUCCESS) {
        map.delete(addr, addr + len);
        return { rv, va: 0 };
      }
    }
    return { rv: KERN_SUCCESS, va: addr };
  }

  unmap(s: VmSpace, va: VAddr, len: number): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r || this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    map.delete(r[0], r[1]);
    return KERN_SUCCESS;
  }

  protect(s: VmSpace, va: VAddr, len: number, prot: Prot, setMax: boolean): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r || this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.protect(r[0], r[1], prot, setMax);
  }

  inherit(s: VmSpace, va: VAddr, len: number, inh: Inheritance): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r || this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.inherit(r[0], r[1], inh);
  }

  /**
   * vm_map_madvise. MADV_DONTNEED drops the range's translations and deactivates its pages (the
   * data stays); MADV_FREE (vm_object_madvise) marks the resident pages of a private anonymous
   * object clean and inactive and frees their swap, so the daemon may discard them. The other
   * advice values are recorded on the entries.
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
          if (advice === MADV_DONTNEED) {
            map.pmap.remove(s0, e0);
            this.forPages(e, s0, e0, (m) => this.pages.deactivate(m));
          } else {
            this.madviseFree(e, s0, e0);
          }
        }
        return KERN_SUCCESS;
      default:
        return KERN_INVALID_ARGUMENT;
    }
  }

  private forPages(e: VmMapEntry, start: VAddr, end: VAddr, fn: (m: FbsdPage) => void): void {
    const obj = e.object;
    if (!obj) return;
    const s = (start - e.start + e.offset) / PAGE_SIZE;
    const t = s + (end - start) / PAGE_SIZE;
    for (const m of [...obj.pages.values()]) if (m.pindex >= s && m.pindex < t && !VmPages.isBusy(m)) fn(m);
  }

  /** vm_object_madvise(MADV_FREE) on part of one entry. */
  private madviseFree(e: VmMapEntry, start: VAddr, end: VAddr): void {
    const obj = e.object;
    if (!obj || e.needsCopy || !ObjectTable.anonymous(obj) || (obj.flags & OBJ_ONEMAPPING) === 0) return;
    // Pages below in the chain would show through once these are discarded: leave them.
    if (obj.backing !== null) return;
    this.forPages(e, start, end, (m) => {
      if (m.wireCount > 0) return;
      this.pmap.pageProtect(m, Prot.Read | Prot.Exec);
      this.pmap.clearModify(m);
      m.dirty = false;
      this.pages.deactivate(m);
    });
    const s = (start - e.start + e.offset) / PAGE_SIZE;
    this.swap.freeSpace(obj, s, s + (end - start) / PAGE_SIZE);
  }

  /**
   * vm_map_sync (msync): a hole is KERN_INVALID_ADDRESS; MS_INVALIDATE over wired memory is
   * KERN_FAILURE (EBUSY). For every entry, vm_object_sync on the object at the bottom of its
   * chain when that is a file: write the dirty pages (MS_SYNC waits, MS_ASYNC starts), and with
   * MS_INVALIDATE free the clean ones. Anonymous memory has nothing to do.
   */
  sync(s: VmSpace, va: VAddr, len: number, flags: number): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r || !map.covered(r[0], r[1])) return KERN_INVALID_ADDRESS;
    if (flags & MS_INVALIDATE) {
      for (let e = map.firstFrom(r[0]); e !== map.header && e.start < r[1]; e = e.next) {
        if (e.wiredCount > 0) return KERN_FAILURE;
      }
    }
    let rv: KernReturn = KERN_SUCCESS;
    for (const e of map.entries()) {
      if (e.end <= r[0] || e.start >= r[1]) continue;
      let obj = e.object;
      let pindex = (Math.max(r[0], e.start) - e.start + e.offset) / PAGE_SIZE;
      const count = (Math.min(r[1], e.end) - Math.max(r[0], e.start)) / PAGE_SIZE;
      while (obj?.backing) {
        pindex += obj.backingOffset / PAGE_SIZE;
        obj = obj.backing;
      }
      if (obj?.type !== "vnode") continue;
      const one = this.vnodes.sync(obj, pindex, pindex + count, flags);
      if (one !== KERN_SUCCESS && rv === KERN_SUCCESS) rv = one;
    }
    return rv;
  }

  isMapped(s: VmSpace, va: VAddr, len: number): boolean {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    return r !== undefined && map.covered(r[0], r[1]);
  }

  /** The process's view of its map (vm_inspect.ts). */
  entries(s: VmSpace): MapEntryView[] {
    return mapEntries(this.space(s).map);
  }

  // ------------------------------------------------------------------ wiring

  wire(s: VmSpace, va: VAddr, len: number, how: WireKind, access?: Prot): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (how === "mlock" && this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.wire(r[0], r[1], how, access ?? Prot.None);
  }

  unwire(s: VmSpace, va: VAddr, len: number, how: WireKind): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (how === "mlock" && this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    return map.unwire(r[0], r[1], how);
  }

  /** mlockall: MCL_FUTURE marks the map; MCL_CURRENT user-wires every entry not PROT_NONE. */
  wireAll(s: VmSpace, current: boolean, future: boolean): KernReturn {
    const map = this.space(s).map;
    if (future) map.wireFuture = true;
    if (!current) return KERN_SUCCESS;
    const ranges: [VAddr, VAddr][] = [];
    for (const e of map.entries())
      if (!e.system && !e.userWired && e.protection !== Prot.None) ranges.push([e.start, e.end]);
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
    return vmFault(this, this.space(s).map, truncPage(va), access, false);
  }

  // ------------------------------------------------------------------ kernel memory, pages

  kmemAlloc(bytes: number): VAddr {
    return this.kernelMap.kmemMalloc(bytes);
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
    return this.pages.allocHost(opts.zero ?? false, opts.interrupt ?? false);
  }

  freePage(pg: VmPage): void {
    const mine = this.pages.pages[pg.index];
    if (mine !== pg) this.kernel.panic(`vm_page_free: ${hex(pg.pa)} is not a page of this VM`);
    this.pages.freeHost(mine as FbsdPage);
  }

  pageOf(pa: PAddr): VmPage | undefined {
    return this.pages.pageOf(pa);
  }

  /** vm_reserv_level_iffullpop: 0 if the page's reservation is fully populated, else -1. */
  reservLevelIfFullPop(pg: VmPage): number {
    const m = this.pages.pages[pg.index];
    return m === pg ? this.pages.reserv.levelIfFullPop(m) : -1;
  }

  pagedaemon(): void {
    this.pageout.scan();
  }

  // ------------------------------------------------------------------ files

  vnodeRdwr(vp: Vnode, offset: number, len: number, write: boolean, copy: PageCopy): KernReturn {
    return this.vnodes.rdwr(vp, offset, len, write, copy);
  }

  vnodeSetSize(vp: Vnode, oldSize: number): void {
    this.vnodes.setSize(vp, oldSize);
  }

  vnodeSync(vp: Vnode, offset: number, len: number, flags: number): KernReturn {
    const obj = vp.vmObject as VmObject | undefined;
    if (!obj?.alive) return KERN_SUCCESS;
    const start = Math.floor(offset / PAGE_SIZE);
    const end = Math.ceil((offset + len) / PAGE_SIZE);
    return this.vnodes.sync(obj, start, end, flags);
  }

  // ------------------------------------------------------------------ SysV shared memory

  /** shm_alloc: an anonymous OBJT_DEFAULT object (swap-backed once paged). */
  shmCreate(size: number): ShmObject {
    const bytes = roundPage(size);
    const obj = this.objects.allocate("default", bytes / PAGE_SIZE, "shm");
    obj.flags &= ~OBJ_ONEMAPPING;
    const shm = new FbsdShm(bytes, obj);
    this.shms.add(shm);
    return shm;
  }

  /** shmctl(SHM_LOCK / SHM_UNLOCK): wire or unwire every page of the object, paging it in. */
  shmLock(o: ShmObject, lock: boolean): KernReturn {
    const shm = o as FbsdShm;
    if (!this.shms.has(shm)) return KERN_INVALID_ARGUMENT;
    if (shm.locked === lock) return KERN_SUCCESS;
    const obj = shm.object;
    const n = shm.size / PAGE_SIZE;
    if (!lock) {
      for (let i = 0; i < n; i++) this.pages.unwire(obj.pages.get(i) as FbsdPage);
      shm.locked = false;
      return KERN_SUCCESS;
    }
    for (let i = 0; i < n; i++) {
      const m = this.shmPage(obj, i);
      if (!m) {
        for (let j = 0; j < i; j++) this.pages.unwire(obj.pages.get(j) as FbsdPage);
        return KERN_RESOURCE_SHORTAGE;
      }
      this.pages.wire(m);
    }
    shm.locked = true;
    return KERN_SUCCESS;
  }

  /** The resident page of a shm object at pindex, paged in from swap or zero-filled. */
  private shmPage(obj: VmObject, pindex: number): FbsdPage | null {
    for (;;) {
      const m = obj.pages.get(pindex);
      if (m) {
        if (VmPages.isBusy(m)) {
          if (!this.sleep("shmlck", () => !VmPages.isBusy(m) || m.object !== obj)) return null;
          continue;
        }
        return m;
      }
      const fresh = this.pages.alloc(obj, pindex, VM_ALLOC_NORMAL);
      if (!fresh) {
        if (!this.vmWait()) return null;
        continue;
      }
      if (this.swap.hasPage(obj, pindex)) {
        if (this.swap.getPage(obj, fresh) !== VM_PAGER_OK) {
          this.pages.wakeupPage(fresh);
          this.pages.free(fresh);
          return null;
        }
      } else {
        this.pages.zeroFill(fresh);
        fresh.dirty = true;
      }
      this.pages.wakeupPage(fresh);
      this.pages.activate(fresh);
      return fresh;
    }
  }

  /** The segment's reference goes (IPC_RMID after the last detach). */
  shmRelease(o: ShmObject): void {
    const shm = o as FbsdShm;
    if (!this.shms.has(shm) || shm.released) return;
    if (shm.locked) this.shmLock(shm, false);
    shm.released = true;
    this.shms.delete(shm);
    this.objects.deallocate(shm.object);
  }

  audit(): void {
    auditVm(this);
  }
}
