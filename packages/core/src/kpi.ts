/**
 * The KPI between the layers: what a VM layer may ask of a pmap (pmap(9)), what a pmap may ask of
 * the VM and kernel (its host), and what the kernel asks of a VM layer. Every pmap package
 * implements PmapModule + Pmap; every VM layer implements VmLayer. Neither imports the other:
 * the kernel passes them to each other.
 *
 * Names follow the BSD functions with the layer prefix dropped (pmap_page_protect → pageProtect);
 * each implementation cites its original in a doc comment.
 */
import type { PAddr, Prot, VAddr } from "./addr.js";
import type { Counters } from "./counters.js";
import type { CriticalSection, LockOptions, Mutex, RwLock, SpinMutex } from "./locks.js";
import type { Prng } from "./prng.js";
import type { TraceRing } from "./trace.js";
import type { LockOwner, Witness } from "./witness.js";

// ------------------------------------------------------------------ kernel services

/** What every layer gets from the kernel: locks, spl, panic, trace, counters, PRNG, errata. */
export interface KernelServices {
  readonly counters: Counters;
  readonly trace: TraceRing;
  readonly witness: Witness;
  readonly prng: Prng;
  /** panic(9): throws KernelPanic("panic: " + msg); the system is dead afterwards. */
  panic(msg: string): never;
  /** Whether a historic erratum is switched on for this system. */
  erratum(id: string): boolean;
  /** Index of the CPU running the current kernel path. */
  curcpu(): number;
  /** The thread running the current kernel path (lock owner). */
  curthread(): LockOwner;
  mutex(name: string, opts?: LockOptions): Mutex;
  spinMutex(name: string, opts?: LockOptions): SpinMutex;
  rwlock(name: string, opts?: LockOptions): RwLock;
  readonly critical: CriticalSection;
  /** splraise on the current CPU; returns the level to restore with splx. */
  splraise(level: number): number;
  splx(s: number): void;
}

// ------------------------------------------------------------------ physical pages

/** A RAM range (base and size in bytes), as the machine places it. */
export interface PhysSegment {
  readonly base: PAddr;
  readonly size: number;
}

/** vm_page: one per managed physical frame. The VM layer owns it; the pmap owns `md`. */
export interface VmPage {
  /** Physical address of the frame. */
  readonly pa: PAddr;
  /** Index in the VM layer's page array. */
  readonly index: number;
  /** Number of wirings (mlock, vslock, kernel use) that keep the page resident. */
  wireCount: number;
  /** The pmap's machine-dependent per-page data (pv list head, attributes), created by the pmap. */
  md: unknown;
  /**
   * PG_UNMANAGED (FreeBSD 5–9 m->flags; VPO_UNMANAGED in m->oflags from 10): the page's mappings
   * are not tracked — a pmap makes no pv entry for it and the VM keeps it off the paging queues
   * (FreeBSD's OBJT_PHYS kernel objects, kmem_object). Absent or false: managed.
   */
  unmanaged?: boolean;
}

// ------------------------------------------------------------------ address-space layout

/** vmparam.h: where things are in a process's and the kernel's address space. */
export interface AddressLayout {
  /** VM_MIN_ADDRESS: lowest user address mmap may return. */
  readonly userMin: VAddr;
  /** VM_MAXUSER_ADDRESS: one past the highest user address. */
  readonly userMax: VAddr;
  /** Fixed address of the u-area (UPAGES kernel-stack pages) in every process's pmap. */
  readonly uareaVa: VAddr;
  readonly uareaPages: number;
  /** UPT_MIN/MAX_ADDRESS: page-table pages living in the user map (4.4BSD i386); equal if none. */
  readonly uptMin: VAddr;
  readonly uptMax: VAddr;
  /** VM_MAX_ADDRESS: top of a process's vm_map (includes the u-area and any UPT region). */
  readonly mapMax: VAddr;
  /** KERNBASE and the kernel_map range VM_MIN/MAX_KERNEL_ADDRESS. */
  readonly kernelBase: VAddr;
  readonly kernelMin: VAddr;
  readonly kernelMax: VAddr;
  /** Recursive (PTmap) and alternate (APTmap) windows, where the pmap uses them. */
  readonly ptmap?: VAddr;
  readonly aptmap?: VAddr;
  /** Direct map, where the pmap uses one. */
  readonly dmapMin?: VAddr;
  readonly dmapMax?: VAddr;
  /**
   * NBPDR: the machine's superpage (large-page) size in bytes as this pmap uses the hardware —
   * 4 MiB on non-PAE i386, 2 MiB on PAE and amd64. A VM with superpage reservations (FreeBSD's
   * vm_reserv) sizes them by it; absent, such a VM assumes 2 MiB.
   */
  readonly superpageSize?: number;
}

// ------------------------------------------------------------------ pmap(9)

/** pmap_enter flags (NetBSD pmap(9)): the low 3 bits are the access type that caused the fault. */
export const PMAP_ACCESS_MASK = 0x07;
export const PMAP_WIRED = 0x10;
export const PMAP_CANFAIL = 0x20;

/** What the VM layer and kernel give a pmap (set at pmap_init). */
export interface PmapHost {
  readonly kernel: KernelServices;
  /** Allocate a physical page for the pmap's own use (page-table pages, pv pages). */
  allocPage(opts: { zero?: boolean; interrupt?: boolean }): VmPage | null;
  freePage(pg: VmPage): void;
  /** PHYS_TO_VM_PAGE: the managed page of a frame, undefined for unmanaged memory. */
  pageOf(pa: PAddr): VmPage | undefined;
  /** Kernel virtual address space from kernel_map (no pages behind it). */
  kvaAlloc(bytes: number): VAddr;
  kvaFree(va: VAddr, bytes: number): void;
  /** kmem_alloc: wired, zeroed kernel memory mapped in the kernel pmap (e.g. a page directory). */
  kmemAlloc(bytes: number): VAddr;
  kmemFree(va: VAddr, bytes: number): void;
  /** vm_reserv_level_iffullpop (FreeBSD): superpage level if the page's reservation is full, else -1. */
  reservLevelIfFullPop(pg: VmPage): number;
  /**
   * 4.4BSD i386: page-table pages live in the process's own map above VM_MAXUSER_ADDRESS.
   * Fault the page at `ptva` into the map that owns `pmap` and wire it (trap.c's vm_fault +
   * vm_map_pageable). False if no map owns the pmap or the fault failed.
   */
  faultPageTable(pmap: Pmap, ptva: VAddr): boolean;
}

/** One address space's page tables (struct pmap). */
export interface Pmap {
  readonly id: number;
  /**
   * The physical address loaded into CR3 while this pmap is active (pm_pdirpa / pm_cr3): the page
   * directory, PAE's 32-byte-aligned PDPT, or the PML4. Audits and debuggers walk the tree from it.
   */
  readonly cr3: PAddr;
  /** pmap_enter(pmap, va, pa, prot, flags). False only with PMAP_CANFAIL on resource shortage. */
  enter(va: VAddr, pg: VmPage, prot: Prot, flags: number): boolean;
  /** pmap_remove(pmap, sva, eva). */
  remove(sva: VAddr, eva: VAddr): void;
  /** pmap_protect(pmap, sva, eva, prot): never raises rights; no read right removes. */
  protect(sva: VAddr, eva: VAddr, prot: Prot): void;
  /** pmap_unwire / pmap_change_wiring(FALSE). */
  unwire(va: VAddr): void;
  /** pmap_extract: physical address mapped at va, or undefined. */
  extract(va: VAddr): PAddr | undefined;
  /** pmap_activate: load this pmap on a CPU (CR3). */
  activate(cpu: number): void;
  deactivate(cpu: number): void;
  /** pmap_destroy: drop the reference; frees page tables when it was the last. */
  destroy(): void;
  /** pmap_reference. */
  reference(): void;
  readonly residentCount: number;
  readonly wiredCount: number;
}

/** The machine-dependent layer as a whole (one per system). */
export interface PmapModule {
  readonly name: string;
  readonly layout: AddressLayout;
  /**
   * PG_W: the AVL bit of a leaf PTE (or large-page PDE) that marks a wired mapping, for the
   * kernel's cross-layer audit; absent for a pmap that keeps wiring elsewhere (a test double).
   */
  readonly pteWiredBit?: number;
  readonly kernelPmap: Pmap;
  /** pmap_bootstrap: kernel page tables and windows, from pages stolen before the VM exists. */
  bootstrap(steal: () => PAddr): void;
  /** pmap_init: after the VM page array exists. */
  init(host: PmapHost): void;
  /** pmap_create. */
  create(): Pmap;
  /** pmap_page_protect: lower every mapping of the page; Prot.None removes them all. */
  pageProtect(pg: VmPage, prot: Prot): void;
  clearModify(pg: VmPage): boolean;
  clearReference(pg: VmPage): boolean;
  isModified(pg: VmPage): boolean;
  isReferenced(pg: VmPage): boolean;
  /** pmap_ts_referenced: count and clear reference bits. */
  tsReferenced(pg: VmPage): number;
  zeroPage(pg: VmPage): void;
  /**
   * pmap_zero_page_area(9): zero bytes [off, off+size) of the page (vnode_pager_setsize clears
   * the tail of a file's partial last page with it, in place, mapped or wired).
   */
  zeroPageArea(pg: VmPage, off: number, size: number): void;
  copyPage(src: VmPage, dst: VmPage): void;
  /** pmap_kenter_pa: an unmanaged, wired kernel mapping. */
  kenter(va: VAddr, pa: PAddr, prot: Prot): void;
  kremove(va: VAddr, pages: number): void;
  /** pmap_growkernel: make kernel page tables cover up to `end`. */
  growKernel(end: VAddr): void;
  /**
   * The user page-table page addresses that must be faulted in (top level first) before `va` can
   * be mapped in `pmap`; empty when present, or when the pmap allocates its own page tables.
   */
  missingPageTables(pmap: Pmap, va: VAddr): VAddr[];
  /** The invariants (pv ↔ PTE, counts, PTP use counts); throws InvariantViolation. */
  audit(): void;
}

// ------------------------------------------------------------------ the VM layer

/** Mach kern_return_t values the VM layer answers with; the kernel maps them to errno/signals. */
export const KERN_SUCCESS = 0;
export const KERN_INVALID_ADDRESS = 1;
export const KERN_PROTECTION_FAILURE = 2;
export const KERN_NO_SPACE = 3;
export const KERN_INVALID_ARGUMENT = 4;
export const KERN_FAILURE = 5;
export const KERN_RESOURCE_SHORTAGE = 6;
/** A pager error or an access past the end of a file: SIGBUS. */
export const KERN_MEMORY_ERROR = 10;
export type KernReturn = number;

/** minherit values (NetBSD numbering). */
export type Inheritance = 0 | 1 | 2 | 3 | 4;

// ------------------------------------------------------------------ files, pagers and I/O

/**
 * A file as the VM layer's vnode pager sees it (struct vnode, the parts the VM reads). The kernel's
 * file system owns it; the VM keeps its object for the file in `vmObject` (v_object / v_uobj).
 */
export interface Vnode {
  /** Inode number: stable identity for traces and audits. */
  readonly id: number;
  /** va_size: the file's length in bytes. Pages at or past roundPage(size) do not exist (SIGBUS). */
  readonly size: number;
  /** The VM layer's object for this file, set and cleared by the VM (undefined: none yet). */
  vmObject: unknown;
}

/** An anonymous shared object made for a SysV shared-memory segment (shm_object / uao). */
export interface ShmObject {
  /** Segment size in bytes, rounded to pages. */
  readonly size: number;
}

/** What backs a mapping: anonymous zero-fill memory, a file, or a SysV segment's object. */
export type MapBacking =
  | { readonly kind: "anon" }
  | { readonly kind: "vnode"; readonly vnode: Vnode; readonly offset: number }
  | { readonly kind: "shm"; readonly shm: ShmObject; readonly offset: number };

/**
 * biodone for a pager transfer: runs in interrupt context at splbio, on whichever CPU took the
 * disk interrupt, nested in whatever that CPU was doing. It may only do interrupt-safe work
 * (clear busy, account, wake); `error` is 0 or an errno number (EIO).
 */
export type IoDone = (error: number) => void;

/**
 * What the kernel gives a VM layer's pagers: the strategy routines of the file system and the swap
 * device, and sleeping. Every transfer is one page between backing store and a physical frame,
 * asynchronous, completing by interrupt; a pager that must wait for it sleeps.
 */
export interface PagerIo {
  /**
   * VOP_GETPAGES / VOP_PUTPAGES → VOP_STRATEGY: transfer file page `pindex` of `vp` to (read) or
   * from (write) the frame at `pa`. Reading a hole or the tail past EOF gives zeroes; writing
   * allocates the block. The data moves when the transfer completes (reads) or starts (writes).
   */
  vnodeStrategy(vp: Vnode, pindex: number, pa: PAddr, write: boolean, done: IoDone): void;
  /** swap_pager: allocate one page-sized swap slot; -1 when the swap device is full. */
  swapAlloc(): number;
  swapFree(slot: number): void;
  /** Transfer swap slot `slot` to (read) or from (write) the frame at `pa`. */
  swapStrategy(slot: number, pa: PAddr, write: boolean, done: IoDone): void;
  /**
   * tsleep / biowait / vm_wait: wait until `cond()` holds. Waiting lets simulated time pass: device
   * events run, interrupts are delivered, and the pageout daemon runs if it was woken. Returns
   * false when nothing left can make `cond()` true (no I/O in flight, the daemon freed nothing).
   * Sleeping in interrupt context panics.
   */
  sleep(wmesg: string, cond: () => boolean): boolean;
  /** wakeup(&vm_pages_needed): ask for the pageout daemon to run at the next scheduling point. */
  wakeupPagedaemon(): void;
}

/**
 * The merged cache's copy step (uiomove): called once per page piece of a file transfer with the
 * frame holding file bytes [pageOffset, pageOffset + n) of the page, and `done` bytes already
 * moved. The page is held busy for the duration of the call.
 */
export type PageCopy = (pa: PAddr, pageOffset: number, done: number, n: number) => void;

/** A request to map a region (vm_mmap's call into the VM layer). */
export interface MapRequest {
  /** Where to map: the exact address with `fixed`, else a hint (0 = anywhere). */
  addr: VAddr;
  len: number;
  prot: Prot;
  maxProt: Prot;
  fixed: boolean;
  /** MAP_SHARED (a sharing map / shared amap) vs MAP_PRIVATE (copy-on-write). */
  shared: boolean;
  inheritance: Inheritance;
  /** Wire at creation (MAP_WIRED). */
  wired: boolean;
  /** What backs the mapping; anonymous memory when absent. Offsets are page-aligned. */
  backing?: MapBacking;
}

export type WireKind = "mlock" | "transient" | "system";

/** What an inspected map entry's pages come from (MapEntryView.backing). */
export type MapEntryBacking = "anon" | "vnode" | "shm" | "kernel";

/**
 * One entry of a space's map as the process sees it (vm_map_entry / uvm_map_entry, flattened
 * through Mach share maps), for audits, debuggers and the explorer. Read-only: a snapshot.
 */
export interface MapEntryView {
  /** [start, end): page-aligned user addresses. */
  readonly start: VAddr;
  readonly end: VAddr;
  /** Current protection (for a Mach share map, the top-level entry's). */
  readonly prot: Prot;
  readonly maxProt: Prot;
  readonly inheritance: Inheritance;
  /** Any wiring — user (mlock), system or transient (vslock) — holds the range's pages. */
  readonly wired: boolean;
  /** MAP_SHARED: a sharing map / shared amap / shared object, not copy-on-write. */
  readonly shared: boolean;
  /**
   * Where the pages come from: anonymous zero-fill, a file, a SysV segment's object, or the kernel
   * itself (the u-area, page-table pages in the user map).
   */
  readonly backing: MapEntryBacking;
}

/** One address space as the kernel sees it; the VM layer keeps everything else inside. */
export interface VmSpace {
  readonly id: number;
  readonly pmap: Pmap;
}

export interface VmLayer {
  readonly name: string;
  /** Free pages right now. */
  readonly freePages: number;
  createSpace(): VmSpace;
  /**
   * vmspace_fork: the child's space by each entry's inheritance. Memory it needs now (the copy of
   * a wired region) is waited for (VM_WAIT); null when that wait can never end — nothing left to
   * page out — with the partial child torn down and the parent's contents unchanged (FreeBSD
   * vmspace_fork returns NULL and fork1 fails with ENOMEM).
   */
  fork(parent: VmSpace): VmSpace | null;
  destroySpace(s: VmSpace): void;
  map(s: VmSpace, req: MapRequest): { rv: KernReturn; va: VAddr };
  unmap(s: VmSpace, va: VAddr, len: number): KernReturn;
  protect(s: VmSpace, va: VAddr, len: number, prot: Prot, setMax: boolean): KernReturn;
  /**
   * Wire the range: "mlock" (user wiring, not nesting), "transient" (vslock), "system". `access`
   * is the fault type used to bring pages in (vslock for a read() into user memory passes Write,
   * so copy-on-write is resolved before the transfer); Read when absent.
   */
  wire(s: VmSpace, va: VAddr, len: number, how: WireKind, access?: Prot): KernReturn;
  unwire(s: VmSpace, va: VAddr, len: number, how: WireKind): KernReturn;
  /** mlockall / munlockall: wire every entry, and with future=true, mappings made later. */
  wireAll(s: VmSpace, current: boolean, future: boolean): KernReturn;
  unwireAll(s: VmSpace): KernReturn;
  inherit(s: VmSpace, va: VAddr, len: number, inh: Inheritance): KernReturn;
  advise(s: VmSpace, va: VAddr, len: number, advice: number): KernReturn;
  sync(s: VmSpace, va: VAddr, len: number, flags: number): KernReturn;
  /** Whether [va, va+len) is entirely mapped (for syscalls that need it). */
  isMapped(s: VmSpace, va: VAddr, len: number): boolean;
  /**
   * The space's map entries in address order, as the process sees them (vm_map_print /
   * procstat -v style). Read-only inspection: no locks held afterwards, nothing changed.
   */
  entries(s: VmSpace): MapEntryView[];
  /** vm_fault: resolve a fault at va for the access (Prot bits). */
  fault(s: VmSpace, va: VAddr, access: Prot): KernReturn;
  /** kmem_alloc: wired kernel memory, mapped in the kernel pmap. */
  kmemAlloc(bytes: number): VAddr;
  kmemFree(va: VAddr, bytes: number): void;
  /** Pages for the pmap and the kernel (see PmapHost). */
  allocPage(opts: { zero?: boolean; interrupt?: boolean }): VmPage | null;
  freePage(pg: VmPage): void;
  pageOf(pa: PAddr): VmPage | undefined;
  kvaAlloc(bytes: number): VAddr;
  kvaFree(va: VAddr, bytes: number): void;
  reservLevelIfFullPop(pg: VmPage): number;
  /** Run the pageout daemon once. */
  pagedaemon(): void;
  /** Free pages under this count wake the pageout daemon (v_free_min / uvmexp.freemin). */
  readonly freeMin: number;

  // ---- files (the merged VM/buffer cache: read/write and mmap see the same pages)

  /**
   * read/write a file through its object's pages (UBC / FreeBSD's merged cache): pages in what is
   * missing (sleeping on the I/O), calls `copy` for each piece with the page held busy, and on
   * write marks the pages dirty. The kernel has already grown vp.size for writes past EOF.
   * KERN_MEMORY_ERROR on an I/O error.
   */
  vnodeRdwr(vp: Vnode, offset: number, len: number, write: boolean, copy: PageCopy): KernReturn;
  /**
   * vnode_pager_setsize / uvm_vnp_setsize: the file's size changed from `oldSize` to vp.size.
   * Shrinking frees the object's pages past the new end (removing their mappings everywhere) and
   * zeroes the tail of a now-partial last page.
   */
  vnodeSetSize(vp: Vnode, oldSize: number): void;
  /**
   * VOP_FSYNC / vm_object_page_clean over the file's cached pages in [offset, offset+len):
   * write dirty ones back (waiting when `flags` has MS_SYNC, else MS_ASYNC), and with
   * MS_INVALIDATE free the clean ones afterwards so the next access re-reads the file.
   */
  vnodeSync(vp: Vnode, offset: number, len: number, flags: number): KernReturn;

  // ---- SysV shared memory

  /** shmget: an anonymous shared object of `size` bytes (page-rounded), swap-backed. */
  shmCreate(size: number): ShmObject;
  /** shmctl(SHM_LOCK / SHM_UNLOCK): wire or unwire every page of the object (paging them in). */
  shmLock(obj: ShmObject, lock: boolean): KernReturn;
  /** The segment's own reference is gone (IPC_RMID after the last detach): free the object when unmapped. */
  shmRelease(obj: ShmObject): void;
  /** Pages wired right now, system-wide. */
  readonly wiredPages: number;
  /** Pages wired in this space by user wiring (for RLIMIT_MEMLOCK). */
  userWiredPages(s: VmSpace): number;
  audit(): void;
}

/** Everything a VM layer is built from. */
export interface VmContext {
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  /** RAM as the machine places it. */
  readonly segments: readonly PhysSegment[];
  /** Frames the pmap took at bootstrap: never managed by the VM. */
  readonly stolen: readonly PAddr[];
  /** The file system's and the swap device's strategy routines, and sleeping. */
  readonly io: PagerIo;
}

/** The value a VM package exports (`machVm()`, `uvm()`, `freebsdVm()`). */
export interface VmFactory {
  readonly name: string;
  create(ctx: VmContext): VmLayer;
}
