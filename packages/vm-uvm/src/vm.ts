/**
 * UVM as a vmlab VmLayer: the kernel's calls (uvm_mmap, uvm_unmap, uvm_map_protect,
 * uvm_map_pageable, uvm_map_inherit, uvm_map_advice, uvm_map_clean, uvm_fault, uvm_vslock, uvm_km,
 * the vnode and SysV shm pagers, the pagedaemon) mapped onto the modules of this package.
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
import { auditUvm } from "./audit.js";
import type { Uvm } from "./uvm.js";
import { amapAlloc, amapFreeAnon, amapLookup } from "./uvm_amap.js";
import { UvmAobj, uaoCreate } from "./uvm_aobj.js";
import { uvmFault } from "./uvm_fault.js";
import { UvmSpace, uvmspaceAlloc, uvmspaceFork, uvmspaceFree, uvmVslock, uvmVsunlock } from "./uvm_glue.js";
import { mapEntries } from "./uvm_inspect.js";
import { KernelMap } from "./uvm_km.js";
import { type EntryAttrs, UVM_ET_COPYONWRITE, UVM_ET_NEEDSCOPY, VM_MAP_WIREFUTURE, type VmMap } from "./uvm_map.js";
import { PageArray, PG_BUSY, PG_RELEASED, PG_WANTED, PQ_ANON, type UvmPage } from "./uvm_page.js";
import { Pagedaemon } from "./uvm_pdaemon.js";
import { UvmCounters } from "./uvm_stat.js";
import { UvmVnodeObject, uvnAttach, uvnFlush, uvnObject, uvnRdwr, uvnSetSize } from "./uvm_vnode.js";

/** Options of the UVM factory. */
export interface UvmOptions {
  /**
   * Pages held back from user allocations for the kernel (uvmexp.reserve_kernel): a thread that
   * needs memory sleeps until more than this many pages are free. Default 0.
   */
  readonly reserve?: number;
}

export class UvmVm implements VmLayer, Uvm {
  readonly name = "uvm";
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly io: PagerIo;
  readonly counters: UvmCounters;
  readonly pages: PageArray;
  readonly layout: AddressLayout;
  readonly kernelMap: KernelMap;
  readonly pagedaemonState: Pagedaemon;
  readonly spaces = new Set<UvmSpace>();
  /** Every SysV segment whose own reference is held (not yet IPC_RMID'ed and detached). */
  readonly shmObjects = new Set<UvmAobj>();
  /** Every vnode object made (for the audit). */
  readonly vnodeObjects = new Set<UvmVnodeObject>();
  private readonly reserve: number;

  constructor(ctx: VmContext, opts: UvmOptions = {}) {
    this.kernel = ctx.kernel;
    this.pmap = ctx.pmap;
    this.io = ctx.io;
    this.layout = ctx.pmap.layout;
    this.reserve = opts.reserve ?? 0;
    this.counters = new UvmCounters(ctx.kernel.counters);
    this.pages = new PageArray(ctx.kernel, ctx.pmap, this.counters, ctx.segments, ctx.stolen);
    this.pages.lowMemory = () => this.io.wakeupPagedaemon();
    this.kernelMap = new KernelMap(this, this.layout);
    this.pagedaemonState = new Pagedaemon(this);
    ctx.kernel.counters.addSource((out) => {
      out["vm.page.active"] = this.pages.active.count;
      out["vm.page.inactive"] = this.pages.inactive.count;
      out["vm.page.wired"] = this.pages.wired;
      let entries = 0;
      for (const sp of this.spaces) entries += sp.map.nentries;
      out["vm.map.entries"] = entries;
    });
  }

  get freePages(): number {
    return this.pages.freeCount;
  }

  get freeMin(): number {
    return this.pages.freeMin;
  }

  get wiredPages(): number {
    return this.pages.wired;
  }

  // ------------------------------------------------------------------ struct uvm

  /**
   * uvm_wait: wake the daemon and sleep; woken without memory, wake it again — its first pass
   * after a quiet spell only deactivates (the inactive queue is empty), the next one cleans — until
   * a pass changes nothing.
   */
  waitForMemory(wmesg: string): boolean {
    const cond = (): boolean => this.pages.freeCount > this.reserve;
    const c = this.counters;
    const mark = (): string =>
      `${this.pages.inactive.count}/${this.pages.freeCount}/${c.pdFreed.value}/${c.swapout.value}/${c.pageout.value}`;
    for (let tries = 0; tries < 4; tries++) {
      const before = mark();
      this.io.wakeupPagedaemon();
      if (this.io.sleep(wmesg, cond)) return true;
      if (mark() === before) break;
    }
    return cond();
  }

  waitForPage(pg: UvmPage, wmesg: string): boolean {
    pg.flags |= PG_WANTED;
    this.counters.pageBusyWait.value++;
    return this.io.sleep(wmesg, () => (pg.flags & PG_BUSY) === 0);
  }

  releasePage(pg: UvmPage): void {
    if (pg.loanCount === 0 && (pg.flags & PG_BUSY) === 0) {
      this.pages.freePage(pg);
      return;
    }
    // Loaned (the last unloan frees it) or busy (the daemon frees it after the transfer).
    this.pmap.pageProtect(pg, Prot.None);
    this.pages.remove(pg);
    if (pg.uanon) {
      pg.uanon.page = null;
      pg.uanon = null;
      pg.pqflags &= ~PQ_ANON;
    }
    if (pg.flags & PG_BUSY) pg.flags |= PG_RELEASED;
  }

  // ------------------------------------------------------------------ helpers

  private space(s: VmSpace): UvmSpace {
    if (!(s instanceof UvmSpace) || !this.spaces.has(s)) {
      this.kernel.panic(`uvm: vmspace ${s.id} is not a live UVM vmspace`);
    }
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
    const s = uvmspaceAlloc(this, this.layout);
    this.spaces.add(s);
    return s;
  }

  fork(parent: VmSpace): VmSpace | null {
    const s = uvmspaceFork(this, this.layout, this.space(parent));
    if (s === null) return null;
    this.spaces.add(s);
    return s;
  }

  destroySpace(s: VmSpace): void {
    const sp = this.space(s);
    this.spaces.delete(sp);
    uvmspaceFree(this, sp);
  }

  // ------------------------------------------------------------------ mapping

  /**
   * uvm_mmap → uvm_map. Private memory is copy-on-write and needs-copy, its amap made at the
   * first write (anonymous memory: "XXX: defer amap create"); shared anonymous memory gets its
   * amap now (UVM_FLAG_OVERLAY). Files map their vnode object (uvn_attach), SysV segments their
   * aobj. MAP_FIXED replaces what was there; a hint never makes mmap fail. MAP_WIRED and
   * VM_MAP_WIREFUTURE wire the new range (not PROT_NONE), undoing the mapping if that fails —
   * except a SysV attach, which shmat maps with uvm_map alone.
   */
  map(s: VmSpace, req: MapRequest): { rv: KernReturn; va: VAddr } {
    const map = this.space(s).map;
    const len = roundPage(req.len);
    if (!(len > 0)) return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    if ((req.prot & req.maxProt) !== req.prot) return { rv: KERN_PROTECTION_FAILURE, va: 0 };
    const b = req.backing;
    if (b && b.kind !== "anon" && (b.offset % PAGE_SIZE !== 0 || b.offset < 0)) {
      return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    }
    if (b?.kind === "shm" && !(b.shm instanceof UvmAobj && this.shmObjects.has(b.shm))) {
      return { rv: KERN_INVALID_ARGUMENT, va: 0 };
    }
    let addr: VAddr;
    if (req.fixed) {
      addr = req.addr;
      if (addr % PAGE_SIZE !== 0) return { rv: KERN_INVALID_ARGUMENT, va: 0 };
      if (addr < map.min || addr + len > map.max) return { rv: KERN_INVALID_ADDRESS, va: 0 };
      if (this.touchesSystem(map, addr, addr + len)) return { rv: KERN_INVALID_ADDRESS, va: 0 };
      // mmap(MAP_FIXED) unmaps what is there first (uvm_mmap); shmat's uvm_map with
      // UVM_FLAG_FIXED does not, and fails on an occupied range.
      if (b?.kind === "shm") {
        const e = map.firstFrom(addr);
        if (e !== map.header && e.start < addr + len) return { rv: KERN_NO_SPACE, va: 0 };
      } else {
        map.remove(addr, addr + len);
      }
    } else {
      const { userMin, userMax } = this.layout;
      const hint = Number.isFinite(req.addr) && req.addr > 0 ? roundPage(req.addr) : userMin;
      addr = map.findSpace(hint, len, userMin, userMax);
      if (addr < 0 && hint > userMin) addr = map.findSpace(userMin, len, userMin, userMax);
      if (addr < 0) return { rv: KERN_NO_SPACE, va: 0 };
    }
    const attrs: EntryAttrs = {
      protection: req.prot,
      maxProtection: req.maxProt,
      inheritance: req.shared ? INHERIT_SHARE : (req.inheritance as Inheritance),
    };
    if (!req.shared) attrs.etype = UVM_ET_COPYONWRITE | UVM_ET_NEEDSCOPY;
    if (!b || b.kind === "anon") {
      if (req.shared) attrs.amap = amapAlloc(this, len / PAGE_SIZE);
    } else if (b.kind === "vnode") {
      attrs.object = uvnAttach(b.vnode);
      attrs.offset = b.offset;
      this.vnodeObjects.add(attrs.object as UvmVnodeObject);
    } else {
      const obj = b.shm as UvmAobj;
      obj.refs++;
      attrs.object = obj;
      attrs.offset = b.offset;
    }
    map.insert(addr, addr + len, attrs);
    map.simplify(addr, addr + len);
    // uvm_mmap wires a new mapping under VM_MAP_WIREFUTURE (mlockall MCL_FUTURE); shmat maps its
    // segment with plain uvm_map (NetBSD sys/kern/sysv_shm.c), which never looks at the flag. The
    // system-call layer is NetBSD's on every VM (decision 0005): a SysV attach is not wired.
    const future = map.wireFuture && b?.kind !== "shm";
    if ((req.wired || future) && req.prot !== Prot.None) {
      const rv = map.wire(addr, addr + len, "mlock");
      if (rv !== KERN_SUCCESS) {
        map.remove(addr, addr + len);
        return { rv, va: 0 };
      }
    }
    return { rv: KERN_SUCCESS, va: addr };
  }

  /** uvm_unmap: a hole is not an error. */
  unmap(s: VmSpace, va: VAddr, len: number): KernReturn {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    if (this.touchesSystem(map, r[0], r[1])) return KERN_INVALID_ADDRESS;
    map.remove(r[0], r[1]);
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
   * madvise → uvm_map_advice / uvm_map_clean. MADV_DONTNEED deactivates the range's resident
   * pages (PGO_DEACTIVATE: the data stays). MADV_FREE frees anons nobody else can see (amap and
   * anon referenced once, not wired or loaned), so the next access reads zeros; pages of shared
   * amaps are only deactivated. The other values are recorded on the entries.
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
          for (let v = s0; v < e0; v += PAGE_SIZE) {
            const slotoff = (v - e.start) / PAGE_SIZE;
            if (advice === MADV_FREE && !e.needsCopy && amapFreeAnon(this, e, slotoff)) continue;
            const anon = amapLookup(e, slotoff);
            const pg = anon ? anon.page : (e.object?.lookup(e.offset + slotoff * PAGE_SIZE) ?? null);
            if (pg && pg.wireCount === 0 && (pg.flags & PG_BUSY) === 0) this.pages.deactivate(pg);
          }
        }
        return KERN_SUCCESS;
      default:
        return KERN_INVALID_ARGUMENT;
    }
  }

  /**
   * msync → uvm_map_clean: a hole is KERN_INVALID_ADDRESS; MS_INVALIDATE over wired memory is
   * KERN_FAILURE (EBUSY). File pages in the range are written back (uvn_flush) and with
   * MS_INVALIDATE dropped; anonymous memory has nothing to write back.
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
    const work: [UvmVnodeObject, number, number][] = [];
    for (let e = map.firstFrom(r[0]); e !== map.header && e.start < r[1]; e = e.next) {
      if (!(e.object instanceof UvmVnodeObject)) continue;
      const s0 = Math.max(r[0], e.start);
      const e0 = Math.min(r[1], e.end);
      work.push([e.object, e.offset + (s0 - e.start), e.offset + (e0 - e.start)]);
    }
    let rv = KERN_SUCCESS;
    for (const [obj, a, b] of work) {
      const got = uvnFlush(this, obj, a, b, flags);
      if (got !== KERN_SUCCESS && rv === KERN_SUCCESS) rv = got;
    }
    return rv;
  }

  isMapped(s: VmSpace, va: VAddr, len: number): boolean {
    const map = this.space(s).map;
    const r = this.range(map, va, len);
    return r !== undefined && map.covered(r[0], r[1]);
  }

  /** The process's view of its map (uvm_inspect.ts). */
  entries(s: VmSpace): MapEntryView[] {
    return mapEntries(this.space(s).map);
  }

  // ------------------------------------------------------------------ wiring

  /**
   * "mlock": uvm_map_pageable (the entry's wired_count). "transient": uvm_vslock (pages and PTEs
   * only, with `access` — Write for read(2), so copy-on-write is resolved first). "system": the
   * kernel wiring a page-table page in the user map (counted on the system entry).
   */
  wire(s: VmSpace, va: VAddr, len: number, how: WireKind, access?: Prot): KernReturn {
    const sp = this.space(s);
    const r = this.range(sp.map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    switch (how) {
      case "transient":
        return uvmVslock(this, sp, r[0], r[1], access ?? Prot.Read);
      case "mlock":
        if (this.touchesSystem(sp.map, r[0], r[1])) return KERN_INVALID_ADDRESS;
        return sp.map.wire(r[0], r[1], "mlock");
      default:
        return sp.map.wire(r[0], r[1], "system");
    }
  }

  unwire(s: VmSpace, va: VAddr, len: number, how: WireKind): KernReturn {
    const sp = this.space(s);
    const r = this.range(sp.map, va, len);
    if (!r) return KERN_INVALID_ADDRESS;
    switch (how) {
      case "transient":
        return uvmVsunlock(this, sp, r[0], r[1]);
      case "mlock":
        if (this.touchesSystem(sp.map, r[0], r[1])) return KERN_INVALID_ADDRESS;
        return sp.map.unwire(r[0], r[1], "mlock");
      default:
        return sp.map.unwire(r[0], r[1], "system");
    }
  }

  /** uvm_map_pageable_all: MCL_FUTURE sets VM_MAP_WIREFUTURE first; MCL_CURRENT wires every entry. */
  wireAll(s: VmSpace, current: boolean, future: boolean): KernReturn {
    const map = this.space(s).map;
    if (future) map.flags |= VM_MAP_WIREFUTURE;
    if (!current) return KERN_SUCCESS;
    return map.wireAll();
  }

  unwireAll(s: VmSpace): KernReturn {
    this.space(s).map.unwireAll();
    return KERN_SUCCESS;
  }

  /** Pages of entries with a user wiring (pmap_wired_count's part that RLIMIT_MEMLOCK limits). */
  userWiredPages(s: VmSpace): number {
    let n = 0;
    for (const e of this.space(s).map.entries()) if (!e.system && e.wiredCount > 0) n += e.pages;
    return n;
  }

  // ------------------------------------------------------------------ faults

  fault(s: VmSpace, va: VAddr, access: Prot): KernReturn {
    const map = this.space(s).map;
    return uvmFault(this, map, truncPage(va), access, false, false);
  }

  // ------------------------------------------------------------------ files

  vnodeRdwr(vp: Vnode, offset: number, len: number, write: boolean, copy: PageCopy): KernReturn {
    this.vnodeObjects.add(uvnObject(vp));
    return uvnRdwr(this, vp, offset, len, write, copy);
  }

  vnodeSetSize(vp: Vnode, oldSize: number): void {
    uvnSetSize(this, vp, oldSize);
  }

  vnodeSync(vp: Vnode, offset: number, len: number, flags: number): KernReturn {
    const obj = vp.vmObject;
    if (!(obj instanceof UvmVnodeObject)) return KERN_SUCCESS;
    return uvnFlush(this, obj, truncPage(offset), roundPage(offset + len), flags);
  }

  // ------------------------------------------------------------------ SysV shared memory

  shmCreate(size: number): ShmObject {
    const obj = uaoCreate(roundPage(size), "shm");
    this.shmObjects.add(obj);
    return obj;
  }

  /** shm_memlock: uvm_obj_wirepages / uvm_obj_unwirepages over the whole segment. */
  shmLock(obj: ShmObject, lock: boolean): KernReturn {
    if (!(obj instanceof UvmAobj) || !this.shmObjects.has(obj)) return KERN_INVALID_ARGUMENT;
    if (!lock) {
      if (obj.wiredAll === 0) return KERN_INVALID_ARGUMENT;
      obj.unwirePages(this, 0, obj.size);
      obj.wiredAll--;
      return KERN_SUCCESS;
    }
    const got = obj.wirePages(this, 0, obj.size);
    if (got === "shortage") return KERN_RESOURCE_SHORTAGE;
    if (got === "error") return KERN_FAILURE;
    obj.wiredAll++;
    return KERN_SUCCESS;
  }

  shmRelease(obj: ShmObject): void {
    if (!(obj instanceof UvmAobj) || !this.shmObjects.has(obj)) {
      this.kernel.panic("shm_delete_mapping: not a UVM shm object");
    }
    if (obj.wiredAll !== 0) this.kernel.panic(`shm_delete_mapping: segment aobj ${obj.id} is still locked`);
    this.shmObjects.delete(obj);
    obj.detach(this);
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
    if (mine !== pg) this.kernel.panic(`uvm_pagefree: ${hex(pg.pa)} is not a page of this VM`);
    this.pages.freeHost(mine as UvmPage);
  }

  pageOf(pa: PAddr): VmPage | undefined {
    return this.pages.pageOf(pa);
  }

  reservLevelIfFullPop(_pg: VmPage): number {
    return -1;
  }

  pagedaemon(): void {
    this.pagedaemonState.scan();
  }

  audit(): void {
    auditUvm(this);
  }
}
