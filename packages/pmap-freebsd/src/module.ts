/**
 * The FreeBSD pmap module as a whole (sys/i386/i386/pmap.c, sys/amd64/amd64/pmap.c): pmap_bootstrap,
 * pmap_init, pmap_pinit / pmap_release, the page-centric calls that walk a page's pv lists
 * (pmap_remove_all, pmap_remove_write, pmap_clear_modify, pmap_clear_reference, pmap_is_modified,
 * pmap_is_referenced, pmap_ts_referenced), pmap_zero_page / pmap_copy_page, pmap_qenter-style
 * kernel mappings, pmap_growkernel, and the TLB invalidation entry points
 * pmap_invalidate_page / _range / _all with their shootdown IPIs.
 *
 * Locks (through the kernel's lock services, so the witness checks them): `pvh global` (rw, the
 * pv lists; FreeBSD 8 used vm_page_queue_mtx, 9+ pvh_global_lock), a `pmap` lock per pmap (DUPOK:
 * pmap_pv_reclaim locks a second one), `allpmaps`, and one `SYSMAPS` mutex per CPU (i386). Order:
 * pvh global → pmap(s) → SYSMAPS, and pmap → allpmaps. splvm is held around every call, so an
 * interrupt handler that uses the pmap runs before or after a call, never inside it.
 */
import type {
  AddressLayout,
  Counter,
  KernelServices,
  Mutex,
  PAddr,
  Pmap,
  PmapHost,
  PmapModule,
  RwLock,
  VAddr,
  VmPage,
} from "@vmlab/core";
import * as core from "@vmlab/core";
import { buildDirectMap } from "@vmlab/hw-amd64";
import type { Cpu, Machine } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import { auditFreebsdPmap } from "./audit.js";
import type { FreebsdLayout } from "./layout.js";
import { FreebsdPmap } from "./pmap.js";
import { demotePde } from "./promote.js";
import { PG_MANAGED, PG_NX, PG_W } from "./pte.js";
import { unusePt } from "./ptp.js";
import { MdPage, PvChunks, type PvEntry } from "./pv-chunk.js";
import { SYSMAP_1, SYSMAP_2, Window } from "./window.js";

const { hex, PAGE_SIZE, Prot } = core;
const SPLVM = core.IPL.VM;
const { ACC_READ, ACC_WRITE, PG_A, PG_G, PG_M, PG_PS, PG_RW, PG_V, pteFrame, pteHi, pteLo } = hw;
const MiB = 1024 * 1024;
/** Items of kmapentzone per page: PAGE_SIZE / sizeof(struct vm_map_entry) (64 bytes, i386 6.x). */
const KMAPENT_PER_PAGE = PAGE_SIZE / 64;
const NO_TABLES: VAddr[] = [];
/** Erratum id: FreeBSD 8.0's kernel PTE litter and promotion over it (docs/errata.md). */
export const ERRATUM_PROMOTE_LITTER = "freebsd-2009-promote-litter";

/** Options of `freebsdPmap()`. */
export interface FreebsdPmapOptions {
  /** vm.pmap.pg_ps_enabled: superpage promotion (default true). */
  pgPsEnabled?: boolean;
  /** vm.pmap.pv_entry_max (default shpgperproc × maxproc + pages of RAM). */
  pvEntryMax?: number;
  /** vm.pmap.shpgperproc (default 200) and maxproc (default 64) for the default pv_entry_max. */
  shpgperproc?: number;
  maxproc?: number;
}

export class FreebsdModule implements PmapModule {
  readonly name = "freebsd";
  /** PG_W, for the kernel's cross-layer audit. */
  readonly pteWiredBit = PG_W;
  readonly layout: AddressLayout;
  readonly kernelPmap: FreebsdPmap;
  readonly win: Window;
  readonly pv: PvChunks;
  /** pvh global lock (the pv lists). */
  readonly pvhLock: RwLock;
  readonly allpmapsLock: Mutex;
  /**
   * kernel_map's lock (vm_map_lock of a system map: a mutex of witness type "system map"),
   * modelled here for the kernel_map calls this pmap makes itself — kmem_alloc / kmem_free of
   * page directories and, under erratum freebsd-2006-pvchunk-kva-recursion, the pv chunks' KVA.
   */
  readonly kernelMapLock: Mutex;
  /**
   * Free items of the kernel map-entry zone (kmapentzone, "KMAP ENTRY"): vm_map_insert on
   * kernel_map takes one, vm_map_delete gives it back, an empty zone gets a page from
   * kmem_malloc (pmap_enter into the kernel pmap). Used only by the 2006 erratum's path.
   */
  kmapentFree = 0;
  /** allpmaps: every user pmap not yet released. */
  readonly pmaps = new Set<FreebsdPmap>();
  /** pv_table: md_page of each 2/4 MiB physical frame (pa_to_pvh), made on first use. */
  readonly pvTable = new Map<number, MdPage>();
  /** Kernel page-table pages (never freed), by frame; kernel_vm_end. */
  readonly kptps: PAddr[] = [];
  kernelPtEnd: VAddr = 0;
  readonly stolen: PAddr[] = [];
  readonly wide: boolean;
  readonly hasNx: boolean;
  readonly nptepg: number;
  readonly nbpdr: number;
  readonly userMax: VAddr;
  /** vm.pmap.pg_ps_enabled. */
  pgPsEnabled: boolean;
  /**
   * Erratum freebsd-2009-promote-litter: kernel unmapping leaves the PTE behind (pmap_remove,
   * pmap_change_wiring on kernel VAs), and pmap_enter has no check for a superpage that already
   * maps the page.
   */
  readonly kernelPteLitter: boolean;
  readonly cEnter: Counter;
  readonly cRemove: Counter;
  readonly cShootdown: Counter;
  readonly cPtpAlloc: Counter;
  readonly cPtpFree: Counter;
  readonly cPromotions: Counter;
  readonly cPFailures: Counter;
  readonly cDemotions: Counter;
  readonly cMappings: Counter;
  private readonly cZero: Counter;
  private readonly cCopy: Counter;
  /** Per CPU: one batch for page/range invalidations, reused. */
  private readonly batches: hw.TlbBatch[] = [];
  /** pmap_free_zero_pages: page-table pages freed after the call's TLB invalidation. */
  readonly freeq: VmPage[] = [];
  private readonly sysmapsLocks: Mutex[] = [];
  private readonly allCpus: number;
  private hostRef: PmapHost | null = null;
  private nextId = 1;

  constructor(
    readonly machine: Machine,
    readonly kernel: KernelServices,
    readonly L: FreebsdLayout,
    opts: FreebsdPmapOptions = {},
  ) {
    this.layout = L.layout;
    this.wide = L.entryBytes === 8;
    this.hasNx = machine.format.hasNx;
    this.nptepg = L.nptepg;
    this.nbpdr = L.nbpdr;
    this.userMax = L.layout.userMax;
    this.pgPsEnabled = opts.pgPsEnabled ?? true;
    this.kernelPteLitter = kernel.erratum(ERRATUM_PROMOTE_LITTER);
    this.win = new Window(machine, L, kernel);
    this.pvhLock = kernel.rwlock("pvh global");
    this.allpmapsLock = kernel.mutex("allpmaps");
    this.kernelMapLock = kernel.mutex("kernel_map", { type: "system map" });
    const pvEntryMax = opts.pvEntryMax ?? (opts.shpgperproc ?? 200) * (opts.maxproc ?? 64) + machine.memory.frames;
    this.pv = new PvChunks(L, { pvEntryMax }, kernel, {
      qenter: (va, pa) => this.kenter(va, pa, Prot.Read | Prot.Write),
      qremove: (va) => this.kremove(va, 1),
      load: (va) => this.win.load(machine.curcpu, va),
      store: (va, v) => this.win.store(machine.curcpu, va, v),
      vtopte: (va) => this.win.ptw.pteVa(va),
      dmap: (pa) => this.win.dmapVa(pa),
      kmemAllocNofault: () => this.kmemAllocNofault(),
      kmemFreeKva: (va) => this.kmemFreeKva(va),
    });
    const n = machine.cpus.length;
    this.allCpus = n >= 32 ? -1 : (1 << n) - 1;
    for (let i = 0; i < n; i++) {
      this.batches.push(new hw.TlbBatch(machine, 16));
      this.sysmapsLocks.push(kernel.mutex(`SYSMAPS ${i}`, { type: "SYSMAPS" }));
    }
    const c = kernel.counters;
    this.cEnter = c.counter("pmap.enter");
    this.cRemove = c.counter("pmap.remove");
    this.cShootdown = c.counter("pmap.shootdown");
    this.cPtpAlloc = c.counter("pmap.ptp.alloc");
    this.cPtpFree = c.counter("pmap.ptp.free");
    this.cPromotions = c.counter("vm.pmap.pde.promotions");
    this.cPFailures = c.counter("vm.pmap.pde.p_failures");
    this.cDemotions = c.counter("vm.pmap.pde.demotions");
    this.cMappings = c.counter("vm.pmap.pde.mappings");
    this.cZero = c.counter("pmap.zero_page");
    this.cCopy = c.counter("pmap.copy_page");
    this.kernelPmap = new FreebsdPmap(this, 0, true);
  }

  get initialized(): boolean {
    return this.hostRef !== null;
  }

  get host(): PmapHost {
    return this.hostRef ?? this.kernel.panic("pmap: used before pmap_init");
  }

  // ------------------------------------------------------------------ bootstrap, init

  /**
   * pmap_bootstrap (and locore's / create_pagetables' part): the kernel's top-level table(s)
   * (IdlePTD; PAE IdlePDPT + 4 PDs; amd64 KPML4phys) with the recursive slot(s), NKPT kernel page
   * tables from KERNBASE, physical [0, 4 MiB) at KERNBASE with PG_G (pgeflag), on amd64 the direct
   * map; then CR3 with WP, PGE, PSE (i386 superpages) and NXE where there is NX on every CPU.
   * Written physically: nothing is mapped yet.
   */
  bootstrap(steal: () => PAddr): void {
    const L = this.L;
    const mem = this.machine.memory;
    const e = L.entryBytes;
    const wide = this.wide;
    const kb = L.layout.kernelBase;
    const take = (): PAddr => {
      const pa = steal();
      if (pa % PAGE_SIZE !== 0 || pa < 0 || pa + PAGE_SIZE > 4 * MiB) {
        this.kernel.panic(`pmap_bootstrap: stolen page ${hex(pa)} not a page below 4 MiB`);
      }
      mem.zeroRange(pa, PAGE_SIZE);
      this.stolen.push(pa);
      return pa;
    };
    const put = (pa: PAddr, lo: number, hi: number): void => {
      if (wide) mem.write64(pa, lo, hi);
      else mem.write32(pa, lo);
    };
    const frame = (pa: PAddr): PAddr => pteFrame(mem.read32(pa), wide ? mem.read32(pa + 4) : 0);
    const kp = this.kernelPmap;
    if (L.npgptd === 4) {
      const pdpt = take();
      for (let k = 0; k < 4; k++) kp.pdirPa.push(take());
      for (let k = 0; k < 4; k++) put(pdpt + k * 8, pteLo(kp.pdirPa[k] as number, PG_V), 0);
      kp.cr3 = pdpt;
    } else {
      kp.pdirPa.push(take());
      kp.cr3 = kp.pdirPa[0] as number;
    }
    // pm_pdir: the image (and the stolen pages) are mapped at KERNBASE + pa.
    kp.pdirVa = kb + (kp.pdirPa[0] as number);
    const levels = L.levels;
    const shift = (l: number): number => 12 + (L.pdrShift - 12) * l;
    const topEntryPa = (va: VAddr): PAddr => {
      const t = Math.floor(va / 2 ** shift(levels - 1));
      return L.npgptd === 4 ? (kp.pdirPa[t >> 9] as number) + (t & 511) * 8 : (kp.pdirPa[0] as number) + t * e;
    };
    const index = (va: VAddr, l: number): number => Math.floor(va / 2 ** shift(l)) % L.nptepg;
    const entryPa = (va: VAddr): PAddr => {
      let ea = topEntryPa(va);
      for (let l = levels - 1; l > 0; l--) {
        if ((mem.read32(ea) & PG_V) === 0) {
          const t = take();
          this.kptps.push(t);
          put(ea, pteLo(t, PG_V | PG_RW | PG_A | PG_M), pteHi(t));
        }
        ea = frame(ea) + index(va, l - 1) * e;
      }
      return ea;
    };
    for (let k = 0; k < L.nkpt; k++) entryPa(kb + k * L.nbpdr);
    this.kernelPtEnd = kb + L.nkpt * L.nbpdr;
    for (let pa = 0; pa < 4 * MiB; pa += PAGE_SIZE) put(entryPa(kb + pa), pteLo(pa, PG_V | PG_RW | PG_G), 0);
    // PTDPTDI / PML4PML4I: the recursive slot(s).
    for (let k = 0; k < L.npgptd; k++) {
      const pa = kp.pdirPa[k] as number;
      put(topEntryPa(L.layout.ptmap + k * L.nbpdr), pteLo(pa, PG_V | PG_RW | PG_A | PG_M), pteHi(pa));
    }
    if (L.machine === "amd64") {
      // create_pagetables: the direct map with 2 MiB pages over all of RAM.
      let limit = 0;
      for (const r of mem.ranges) limit = Math.max(limit, r.base + r.size);
      buildDirectMap(mem, kp.pdirPa[0] as number, take, { pageSize: core.SIZE_2M, limit, nx: this.hasNx });
    }
    const ctl: hw.ControlSettings = { cr3: kp.cr3, wp: true, pge: true };
    if (L.machine === "i386") ctl.pse = true;
    if (this.hasNx) ctl.nxe = true;
    for (const c of this.machine.cpus) {
      c.setControl(ctl);
      this.win.loaded[c.id] = kp;
    }
    kp.active = this.allCpus;
    this.kernel.trace.emit("pmap", "bootstrap", { cr3: kp.cr3, stolen: this.stolen.length });
  }

  /** pmap_init: the VM exists; pv_entry_max, pv_maxchunks and the chunk KVA block (i386). */
  init(host: PmapHost): void {
    this.hostRef = host;
    this.pv.init(host);
    if (this.pv.dynamicKva) this.kmapentPrealloc();
    this.kernel.trace.emit("pmap", "init", {
      pv_entry_max: this.pv.pvEntryMax,
      pv_maxchunks: this.pv.maxChunks,
      pg_ps_enabled: this.pgPsEnabled ? 1 : 0,
    });
  }

  // ------------------------------------------------------------------ kernel_map (the pmap's calls into it)

  /** kmem_alloc(kernel_map, size): the VM's kmem_alloc under vm_map_lock(kernel_map). */
  private kmemAlloc(bytes: number): VAddr {
    this.kernelMapLock.lock("kmem_alloc");
    const va = this.host.kmemAlloc(bytes);
    this.kernelMapLock.unlock("kmem_alloc");
    return va;
  }

  /** kmem_free(kernel_map, va, size): vm_map_remove under vm_map_lock(kernel_map). */
  private kmemFree(va: VAddr, bytes: number): void {
    this.kernelMapLock.lock("kmem_free");
    this.host.kmemFree(va, bytes);
    this.kernelMapLock.unlock("kmem_free");
  }

  /**
   * uma_prealloc(kmapentzone) at boot (vm_map_startup): one page of map entries from the boot
   * allocator, mapped with pmap_kenter (no pv entry). Erratum path only.
   */
  private kmapentPrealloc(): void {
    const host = this.host;
    const pg = host.allocPage({ zero: true }) ?? this.kernel.panic("vm_map_startup: no page for KMAP ENTRY");
    const va = host.kvaAlloc(PAGE_SIZE);
    if (!(va > 0)) this.kernel.panic("vm_map_startup: no kva for KMAP ENTRY");
    this.kenter(va, pg.pa, Prot.Read | Prot.Write);
    this.kmapentFree += KMAPENT_PER_PAGE;
  }

  /**
   * vm_map_entry_create(kernel_map): an item of kmapentzone. An empty zone gets a page as UMA's
   * page_alloc does — kmem_malloc, which pmap_enters the page into the kernel pmap (and so needs a
   * pv entry) while kernel_map is locked.
   */
  private vmMapEntryCreate(): void {
    if (this.kmapentFree === 0) {
      const host = this.host;
      const pg = host.allocPage({ zero: true });
      const va = pg === null ? 0 : host.kvaAlloc(PAGE_SIZE);
      if (pg === null || !(va > 0)) this.kernel.panic("vm_map_entry_create: kernel resources exhausted");
      this.kernelPmap.enter(va, pg, Prot.Read | Prot.Write, core.PMAP_WIRED | Prot.Write);
      this.kmapentFree += KMAPENT_PER_PAGE;
    }
    this.kmapentFree--;
  }

  /**
   * kmem_alloc_nofault(kernel_map, PAGE_SIZE) as get_pv_entry called it in April 2006 (erratum
   * freebsd-2006-pvchunk-kva-recursion): vm_map_lock(kernel_map) — with the pmap and pv locks
   * held, the reversal of kernel_map → pmap — then vm_map_findspace + vm_map_insert, whose new
   * map entry may need a page entered into the kernel pmap. 0 when kernel_map is full.
   */
  kmemAllocNofault(): VAddr {
    this.kernelMapLock.lock("kmem_alloc_nofault");
    this.vmMapEntryCreate();
    const va = this.host.kvaAlloc(PAGE_SIZE);
    if (!(va > 0)) this.kmapentFree++;
    this.kernelMapLock.unlock("kmem_alloc_nofault");
    return Math.max(va, 0);
  }

  /**
   * kmem_free(kernel_map, va, PAGE_SIZE) as free_pv_entry called it in April 2006: vm_map_lock,
   * vm_map_delete — pmap_remove(kernel_pmap, va, va + PAGE_SIZE) on the entry's range, back into
   * the pmap whose locks the caller holds — and vm_map_entry_dispose.
   */
  kmemFreeKva(va: VAddr): void {
    this.kernelMapLock.lock("kmem_free");
    this.kernelPmap.remove(va, va + PAGE_SIZE);
    this.host.kvaFree(va, PAGE_SIZE);
    this.kmapentFree++;
    this.kernelMapLock.unlock("kmem_free");
  }

  // ------------------------------------------------------------------ pmap_pinit / pmap_release

  /**
   * pmap_create → pmap_pinit. i386: the page directory page(s) from kmem (pm_pdir, NPGPTD pages;
   * PAE also a page below 4 GiB for the PDPT), PTDPTDI self-reference(s), the kernel PDEs copied
   * under allpmaps. amd64: a zeroed PML4 page reached through the DMAP, the kernel's and the
   * direct map's PML4 slots, and PML4PML4I.
   */
  create(): Pmap {
    const L = this.L;
    const host = this.host;
    const kp = this.kernelPmap;
    const pm = new FreebsdPmap(this, this.nextId++, false);
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    const e = L.entryBytes;
    if (L.machine === "amd64") {
      const pg = host.allocPage({}) ?? this.kernel.panic("pmap_pinit: no page for the PML4");
      pm.pml4Pg = pg;
      this.zeroPage(pg);
      pm.pdirPa.push(pg.pa);
      pm.cr3 = pg.pa;
      const base = win.dmapVa(pg.pa);
      const kbase = win.dmapVa(kp.pdirPa[0] as number);
      this.allpmapsLock.lock("pmap_pinit");
      for (const t of this.sharedTopSlots()) {
        win.write(cpu, base + t * 8, win.load(cpu, kbase + t * 8), win.load(cpu, kbase + t * 8 + 4));
      }
      win.write(cpu, base + L.ptdptdi * 8, pteLo(pg.pa, PG_V | PG_RW | PG_A | PG_M), pteHi(pg.pa));
      this.pmaps.add(pm);
      this.allpmapsLock.unlock("pmap_pinit");
    } else {
      this.kernel.splx(s);
      const n = L.npgptd;
      const va = this.kmemAlloc(n * PAGE_SIZE);
      if (!(va > 0)) return this.kernel.panic("pmap_pinit: kernel_map out of virtual space!");
      const pdptVa = n === 4 ? this.allocPdpt() : 0;
      this.kernel.splraise(SPLVM);
      pm.pdirVa = va;
      for (let k = 0; k < n; k++) {
        const pa = kp.extract(va + k * PAGE_SIZE) ?? this.kernel.panic("pmap_pinit: pdir not mapped");
        pm.pdirPa.push(pa);
      }
      if (n === 4) {
        pm.pdptVa = pdptVa;
        pm.cr3 = kp.extract(pdptVa) as number;
        if (pm.cr3 >= 0x1_0000_0000) this.kernel.panic("pmap_pinit: pdpt above 4g");
        for (let k = 0; k < 4; k++) {
          const pa = pm.pdirPa[k] as number;
          win.write(cpu, pdptVa + k * 8, pteLo(pa, PG_V), pteHi(pa));
        }
      } else {
        pm.cr3 = pm.pdirPa[0] as number;
      }
      this.allpmapsLock.lock("pmap_pinit");
      for (const t of this.sharedTopSlots()) {
        const src = kp.pdirVa + t * e;
        win.write(cpu, pm.pdirVa + t * e, win.load(cpu, src), win.loadHi(cpu, src));
      }
      for (let k = 0; k < n; k++) {
        const pa = pm.pdirPa[k] as number;
        win.write(cpu, pm.pdirVa + (L.ptdptdi + k) * e, pteLo(pa, PG_V | PG_RW | PG_A | PG_M), pteHi(pa));
      }
      this.pmaps.add(pm);
      this.allpmapsLock.unlock("pmap_pinit");
    }
    this.kernel.splx(s);
    this.kernel.trace.emit("pmap", "pinit", { pmap: pm.id, cr3: pm.cr3 });
    return pm;
  }

  /** Top-level slots shared with the kernel pmap: KPTDI.. (and the DMAP's on amd64). */
  sharedTopSlots(): number[] {
    const L = this.L;
    const out: number[] = [];
    for (let t = L.kptdi; t < L.kptdi + L.nkpde; t++) out.push(t);
    for (let t = L.dmpml4i; t < L.dmpml4i + L.ndmpml4e; t++) out.push(t);
    return out;
  }

  /** PAE: a kmem page below 4 GiB for the PDPT (FreeBSD: the "PDPT" UMA zone). */
  private allocPdpt(): VAddr {
    const host = this.host;
    const rejects: VAddr[] = [];
    let found = 0;
    while (found === 0 && rejects.length < 64) {
      const va = host.kmemAlloc(PAGE_SIZE);
      if (!(va > 0)) break;
      const pa = this.kernelPmap.extract(va) ?? 0;
      if (pa + PAGE_SIZE <= 0x1_0000_0000) found = va;
      else rejects.push(va);
    }
    for (const va of rejects) host.kmemFree(va, PAGE_SIZE);
    return found !== 0 ? found : this.kernel.panic("pmap_pinit: pdpt above 4g");
  }

  /**
   * pmap_release: the last reference is gone. What is still mapped (the u-area) is removed first;
   * CPUs that still run on the tables are moved to the kernel pmap (pmap_lazyfix); APTDpde slots
   * that still name the directory are cleared; then the directory pages go back.
   */
  release(pm: FreebsdPmap): void {
    const kp = this.kernelPmap;
    const win = this.win;
    for (const c of this.machine.cpus) {
      if (win.loaded[c.id] === pm) this.machine.runOn(c, () => kp.activate(c.id));
    }
    pm.active = 0;
    if (pm.residentCount > 0) {
      this.kernel.trace.emit("pmap", "release.resident", { pmap: pm.id, resident: pm.residentCount });
      pm.remove(0, this.layout.mapMax);
    }
    if (pm.residentCount !== 0) this.kernel.panic(`pmap_release: pmap resident count ${pm.residentCount} != 0`);
    if (pm.ptRoot.size !== 0) this.kernel.panic("pmap_release: pmap has reserved page table page(s).");
    if (pm.pvHead !== null) this.kernel.panic(`pmap_release: pmap ${pm.id} still owns pv chunks`);
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    this.allpmapsLock.lock("pmap_release");
    this.pmaps.delete(pm);
    if (win.aptw !== null) {
      const e = this.L.entryBytes;
      const first = pm.pdirPa[0] as number;
      for (const other of [kp, ...this.pmaps]) {
        const ea = other.pdirVa + this.L.aptdptdi * e;
        const lo = win.load(cpu, ea);
        if ((lo & PG_V) !== 0 && pteFrame(lo, win.loadHi(cpu, ea)) === first) {
          for (let k = 0; k < this.L.npgptd; k++) win.zap(cpu, other.pdirVa + (this.L.aptdptdi + k) * e);
        }
      }
    }
    this.allpmapsLock.unlock("pmap_release");
    win.forget(cpu, pm);
    this.kernel.splx(s);
    const host = this.host;
    if (pm.pml4Pg !== null) host.freePage(pm.pml4Pg);
    else {
      this.kmemFree(pm.pdirVa, this.L.npgptd * PAGE_SIZE);
      if (pm.pdptVa !== 0) host.kmemFree(pm.pdptVa, PAGE_SIZE);
    }
    pm.released = true;
    this.kernel.trace.emit("pmap", "release", { pmap: pm.id });
  }

  /**
   * pmap_activate: this CPU runs pm. The old pmap's pm_active bit is cleared here, not at
   * deactivation: a CPU keeps the old address space loaded (lazily) until another is activated.
   */
  activate(pm: FreebsdPmap, cpuIndex: number): void {
    const c = this.machine.cpu(cpuIndex);
    const win = this.win;
    const bit = 1 << cpuIndex;
    const prev = win.loaded[cpuIndex] as FreebsdPmap | null;
    if (prev !== null && prev !== pm && !prev.isKernel) prev.active &= ~bit;
    pm.active |= bit;
    if (prev !== pm || c.cr3 !== pm.cr3) {
      c.loadCr3(pm.cr3);
      win.loaded[cpuIndex] = pm;
    }
  }

  // ------------------------------------------------------------------ reaching entries

  /**
   * pmap_pde(pmap, va): the VA of va's PDE. i386: pm_pdir[va >> PDRSHIFT] (the directory's kmem
   * address); amd64: PML4 → PDP through the DMAP. -1 when a table above the PD is missing.
   */
  pdeVa(cpu: Cpu, pm: FreebsdPmap, va: VAddr): VAddr {
    const e = this.L.entryBytes;
    if (!this.win.dmap) return pm.pdirVa + Math.floor(va / this.nbpdr) * e;
    const win = this.win;
    let ea = win.dmapVa(pm.pdirPa[0] as number) + (Math.floor(va / 2 ** 39) % 512) * 8;
    let lo = win.load(cpu, ea);
    if ((lo & PG_V) === 0) return -1;
    ea = win.dmapVa(pteFrame(lo, win.load(cpu, ea + 4))) + (Math.floor(va / 2 ** 30) % 512) * 8;
    lo = win.load(cpu, ea);
    if ((lo & PG_V) === 0) return -1;
    return win.dmapVa(pteFrame(lo, win.load(cpu, ea + 4))) + (Math.floor(va / 2 ** 21) % 512) * 8;
  }

  /** amd64: the VA of the level-l entry of va (3 PML4E, 2 PDPE, 1 PDE); -1 if a table above is missing. */
  entryVa(cpu: Cpu, pm: FreebsdPmap, va: VAddr, level: number): VAddr {
    const win = this.win;
    if (!win.dmap) return level === 1 ? this.pdeVa(cpu, pm, va) : -1;
    let ea = win.dmapVa(pm.pdirPa[0] as number) + (Math.floor(va / 2 ** 39) % 512) * 8;
    for (let l = 3; l > level; l--) {
      const lo = win.load(cpu, ea);
      if ((lo & PG_V) === 0) return -1;
      ea = win.dmapVa(pteFrame(lo, win.load(cpu, ea + 4))) + (Math.floor(va / 2 ** (12 + 9 * (l - 1))) % 512) * 8;
    }
    return ea;
  }

  /** Where a walk over [va, ...) may continue when va's PD is missing (amd64): the next PDP or PML4 span. */
  skipMissing(cpu: Cpu, pm: FreebsdPmap, va: VAddr): VAddr {
    const span = this.entryVa(cpu, pm, va, 2) < 0 ? 2 ** 39 : 2 ** 30;
    return va - (va % span) + span;
  }

  /**
   * pmap_pte(pmap, va): va's PTE (the PDE is valid and not PG_PS). i386: through get_ptbase
   * (PTmap or APTmap); amd64: through the DMAP.
   */
  pteVa(cpu: Cpu, pm: FreebsdPmap, va: VAddr, pdeEa: VAddr): VAddr {
    const win = this.win;
    if (!win.dmap) return win.ptBase(cpu, pm) + Math.floor(va / PAGE_SIZE) * win.entryBytes;
    return win.dmapVa(pteFrame(win.load(cpu, pdeEa), win.load(cpu, pdeEa + 4))) + win.pteIndex(va) * 8;
  }

  /**
   * pmap_pte_quick(pmap, va): i386 — PTmap for the current pmap, else the PT page at PMAP1/PADDR1
   * (the caller is pinned); amd64 — the DMAP.
   */
  pteQuickVa(cpu: Cpu, pm: FreebsdPmap, va: VAddr, pdeEa: VAddr): VAddr {
    const win = this.win;
    if (!win.dmap && win.isCurrent(cpu, pm)) return win.ptw.pteVa(va);
    const ptp = pteFrame(win.load(cpu, pdeEa), win.loadHi(cpu, pdeEa));
    const base = win.dmap ? win.dmapVa(ptp) : win.quickPage(cpu, ptp);
    return base + win.pteIndex(va) * win.entryBytes;
  }

  /** The VA at which a page-table page (not necessarily installed) can be read and written now. */
  ptpPageVa(cpu: Cpu, ptpPa: PAddr): VAddr {
    return this.win.dmap ? this.win.dmapVa(ptpPa) : this.win.quickPage(cpu, ptpPa);
  }

  // ------------------------------------------------------------------ md pages, pv_table

  /** The page's md (pv list head and saved attributes), made on first use. */
  md(pg: VmPage): MdPage {
    let md = pg.md as MdPage | null | undefined;
    if (md === null || md === undefined || !(md instanceof MdPage)) {
      md = new MdPage(pg.pa);
      pg.md = md;
    }
    return md;
  }

  /** pa_to_pvh(pa): the pv list of the 2/4 MiB frame holding pa. */
  pvh(pa: PAddr): MdPage {
    const i = Math.floor(pa / this.nbpdr);
    let md = this.pvTable.get(i);
    if (md === undefined) {
      md = new MdPage(i * this.nbpdr);
      this.pvTable.set(i, md);
    }
    return md;
  }

  /** The managed page of a frame, or panic with `msg`. */
  pageOf(pa: PAddr, msg: string): VmPage {
    return this.host.pageOf(pa) ?? this.kernel.panic(msg);
  }

  // ------------------------------------------------------------------ TLB invalidation

  /** CPUs that may cache pm's translations: pm_active (every CPU for the kernel pmap). */
  targets(pm: FreebsdPmap): number {
    return pm.isKernel ? this.allCpus : pm.active;
  }

  /** pmap_invalidate_page: INVLPG here, smp_masked_invlpg to the other CPUs in pm_active. */
  invalidatePage(cpu: Cpu, pm: FreebsdPmap, va: VAddr): void {
    const b = this.batches[cpu.id] as hw.TlbBatch;
    b.add(va);
    this.cShootdown.value += b.send(cpu, this.targets(pm), pm.isKernel);
  }

  /** pmap_invalidate_range: every page of [sva, eva) (a full flush past the batch size). */
  invalidateRange(cpu: Cpu, pm: FreebsdPmap, sva: VAddr, eva: VAddr): void {
    const b = this.batches[cpu.id] as hw.TlbBatch;
    for (let va = sva; va < eva; va += PAGE_SIZE) b.add(va);
    this.cShootdown.value += b.send(cpu, this.targets(pm), pm.isKernel);
  }

  /** pmap_invalidate_all: invltlb here, smp_masked_invltlb elsewhere (global entries survive). */
  invalidateAll(cpu: Cpu, pm: FreebsdPmap): void {
    const b = this.batches[cpu.id] as hw.TlbBatch;
    b.addAll();
    this.cShootdown.value += b.send(cpu, this.targets(pm), false);
  }

  /** A full flush that also drops global entries (CR4.PGE toggle), on every CPU running pm. */
  invalidateAllGlobal(cpu: Cpu, pm: FreebsdPmap): void {
    const b = this.batches[cpu.id] as hw.TlbBatch;
    b.addAll();
    this.cShootdown.value += b.send(cpu, this.targets(pm), true);
  }

  /** pmap_free_zero_pages: give back the page-table pages freed since `from`. */
  freeZeroPages(from: number): void {
    const q = this.freeq;
    while (q.length > from) this.host.freePage(q.pop() as VmPage);
  }

  // ------------------------------------------------------------------ entering and leaving

  /** Raise to splvm, take the pvh global lock and pin: the prologue of every pv-walking call. */
  enterPv(where: string): number {
    const s = this.kernel.splraise(SPLVM);
    this.pvhLock.wlock(where);
    this.win.pin(this.machine.curcpu);
    return s;
  }

  leavePv(s: number, where: string): void {
    this.win.unpin(this.machine.curcpu);
    this.pvhLock.wunlock(where);
    this.kernel.splx(s);
  }

  // ------------------------------------------------------------------ page-centric calls

  /**
   * pmap_page_protect(m, prot): no write → pmap_remove_write (and NX where execute is taken away
   * and the machine has NX — an extension: FreeBSD left execute alone); neither read nor execute →
   * pmap_remove_all.
   */
  pageProtect(pg: VmPage, prot: number): void {
    if ((prot & (Prot.Read | Prot.Exec)) === 0) {
      this.removeAll(pg);
      return;
    }
    const clearRw = (prot & Prot.Write) === 0;
    const setNx = this.hasNx && (prot & Prot.Exec) === 0;
    if (clearRw || setNx) this.removeWrite(pg, clearRw, setNx);
  }

  /**
   * Demote every superpage mapping of pg's 2/4 MiB frame for which `want(pde)` holds
   * (pmap_remove_all, pmap_remove_write, pmap_clear_*, pmap_ts_referenced all start so). Returns
   * with each demoted mapping now 4 KiB mappings on the pages' own lists.
   */
  private demoteAll(cpu: Cpu, pg: VmPage, want: (lo: number, hi: number) => boolean, where: string): void {
    const pvh = this.pvTable.get(Math.floor(pg.pa / this.nbpdr));
    if (pvh === undefined) return;
    for (let pv = pvh.pvHead; pv !== null; ) {
      const next: PvEntry | null = pv.next;
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      pm.lock.lock(where);
      const va = pv.va;
      const ea = this.pdeVa(cpu, pm, va);
      const lo = this.win.load(cpu, ea);
      if (want(lo, this.win.loadHi(cpu, ea))) {
        demotePde(this, cpu, pm, ea, va);
      }
      pm.lock.unlock(where);
      pv = next;
    }
  }

  /**
   * pmap_remove_all(m): demote every superpage mapping of the page's frame, then destroy every
   * 4 KiB mapping: PG_A/PG_M to the page's attributes, pv entry freed, PT page unwired.
   */
  removeAll(pg: VmPage): void {
    const s = this.enterPv("pmap_remove_all");
    const cpu = this.machine.curcpu;
    const q = this.freeq.length;
    this.demoteAll(cpu, pg, () => true, "pmap_remove_all");
    const md = this.md(pg);
    const win = this.win;
    while (md.pvHead !== null) {
      const pv = md.pvHead;
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      const va = pv.va;
      pm.lock.lock("pmap_remove_all");
      const pdeEa = this.pdeVa(cpu, pm, va);
      const pde = win.load(cpu, pdeEa);
      if ((pde & PG_PS) !== 0) this.kernel.panic(`pmap_remove_all: found a 4mpage in page ${hex(pg.pa)}'s pv list`);
      const ea = this.pteQuickVa(cpu, pm, va, pdeEa);
      const lo = win.load(cpu, ea);
      win.zap(cpu, ea);
      if ((lo & PG_V) === 0) this.kernel.panic(`pmap_remove_all: pmap ${pm.id} va ${hex(va)} zero pte`);
      if ((lo & PG_W) !== 0) pm.wiredCount--;
      pm.residentCount--;
      md.attrs |= lo & (PG_A | PG_M);
      this.invalidatePage(cpu, pm, va);
      PvChunks.unlink(md, pv);
      this.pv.free(pm, pv);
      unusePt(this, cpu, pm, va, pdeEa);
      pm.lock.unlock("pmap_remove_all");
    }
    this.leavePv(s, "pmap_remove_all");
    this.freeZeroPages(q);
  }

  /**
   * pmap_remove_write(m): demote writable superpage mappings, then clear PG_RW|PG_M in every 4 KiB
   * mapping (PG_M to the page's attributes) and invalidate it; with setNx also set NX.
   */
  private removeWrite(pg: VmPage, clearRw: boolean, setNx: boolean): void {
    const s = this.enterPv("pmap_remove_write");
    const cpu = this.machine.curcpu;
    const q = this.freeq.length;
    const win = this.win;
    this.demoteAll(
      cpu,
      pg,
      (lo, hi) => (clearRw && (lo & PG_RW) !== 0) || (setNx && (hi & PG_NX) === 0),
      "pmap_remove_write",
    );
    const md = this.md(pg);
    for (let pv = md.pvHead; pv !== null; pv = pv.next) {
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      pm.lock.lock("pmap_remove_write");
      const pdeEa = this.pdeVa(cpu, pm, pv.va);
      const ea = this.pteQuickVa(cpu, pm, pv.va, pdeEa);
      const lo = win.load(cpu, ea);
      let changed = false;
      if (clearRw && (lo & PG_RW) !== 0) {
        md.attrs |= lo & PG_M;
        win.store(cpu, ea, (lo & ~(PG_RW | PG_M)) >>> 0);
        changed = true;
      }
      if (setNx && this.wide) {
        const hi = win.load(cpu, ea + 4);
        if ((hi & PG_NX) === 0) {
          win.store(cpu, ea + 4, (hi | PG_NX) >>> 0);
          changed = true;
        }
      }
      if (changed) this.invalidatePage(cpu, pm, pv.va);
      pm.lock.unlock("pmap_remove_write");
    }
    this.leavePv(s, "pmap_remove_write");
    this.freeZeroPages(q);
  }

  /**
   * Test a bit over the page's mappings: saved attributes, superpage PDEs on pa_to_pvh, then each
   * 4 KiB PTE through pmap_pte_quick (pmap_is_modified: PG_M with PG_RW; pmap_is_referenced: PG_A).
   */
  private testBit(pg: VmPage, bit: number, where: string): boolean {
    const md = pg.md instanceof MdPage ? pg.md : null;
    if (md !== null && (md.attrs & bit) !== 0) return true;
    const need = bit === PG_M ? PG_M | PG_RW : bit;
    const s = this.enterPv(where);
    const cpu = this.machine.curcpu;
    const win = this.win;
    let hit = false;
    const pvh = this.pvTable.get(Math.floor(pg.pa / this.nbpdr));
    for (let pv = pvh?.pvHead ?? null; pv !== null && !hit; pv = pv.next) {
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      const lo = win.load(cpu, this.pdeVa(cpu, pm, pv.va));
      hit = (lo & need) === need;
    }
    for (let pv = md?.pvHead ?? null; pv !== null && !hit; pv = pv.next) {
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      pm.lock.lock(where);
      const lo = win.load(cpu, this.pteQuickVa(cpu, pm, pv.va, this.pdeVa(cpu, pm, pv.va)));
      pm.lock.unlock(where);
      hit = (lo & need) === need;
    }
    this.leavePv(s, where);
    return hit;
  }

  /** pmap_is_modified(m). */
  isModified(pg: VmPage): boolean {
    return this.testBit(pg, PG_M, "pmap_is_modified");
  }

  /** pmap_is_referenced(m). */
  isReferenced(pg: VmPage): boolean {
    return this.testBit(pg, PG_A, "pmap_is_referenced");
  }

  /**
   * Clear a bit in every mapping (pmap_clear_modify: PG_M of writable mappings; pmap_clear_reference:
   * PG_A), demoting superpage mappings that have it first. Returns whether the bit was set
   * anywhere (saved attributes included).
   */
  private clearBit(pg: VmPage, bit: number, where: string): boolean {
    const s = this.enterPv(where);
    const cpu = this.machine.curcpu;
    const q = this.freeq.length;
    const win = this.win;
    const md = this.md(pg);
    let was = (md.attrs & bit) !== 0;
    md.attrs &= ~bit;
    this.demoteAll(cpu, pg, (lo) => (lo & bit) !== 0, where);
    for (let pv = md.pvHead; pv !== null; pv = pv.next) {
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      pm.lock.lock(where);
      const ea = this.pteQuickVa(cpu, pm, pv.va, this.pdeVa(cpu, pm, pv.va));
      const lo = win.load(cpu, ea);
      if ((lo & bit) !== 0) {
        was = true;
        win.store(cpu, ea, (lo & ~bit) >>> 0);
        this.invalidatePage(cpu, pm, pv.va);
      }
      pm.lock.unlock(where);
    }
    this.leavePv(s, where);
    this.freeZeroPages(q);
    return was;
  }

  /** pmap_clear_modify(m). */
  clearModify(pg: VmPage): boolean {
    return this.clearBit(pg, PG_M, "pmap_clear_modify");
  }

  /** pmap_clear_reference(m). */
  clearReference(pg: VmPage): boolean {
    return this.clearBit(pg, PG_A, "pmap_clear_reference");
  }

  /**
   * pmap_ts_referenced(m): count and clear reference bits (the saved one counts once); accessed
   * superpage mappings are demoted first; stops once the count exceeds 4, rotating each examined
   * pv entry to the tail of the list for fairness, as FreeBSD does.
   */
  tsReferenced(pg: VmPage): number {
    const s = this.enterPv("pmap_ts_referenced");
    const cpu = this.machine.curcpu;
    const q = this.freeq.length;
    const win = this.win;
    const md = this.md(pg);
    let rtval = (md.attrs & PG_A) !== 0 ? 1 : 0;
    md.attrs &= ~PG_A;
    this.demoteAll(cpu, pg, (lo) => (lo & PG_A) !== 0, "pmap_ts_referenced");
    const first = md.pvHead;
    let pv = first;
    while (pv !== null && rtval <= 4) {
      const next: PvEntry | null = pv.next;
      PvChunks.unlink(md, pv);
      PvChunks.insertTail(md, pv, pv.va);
      const pm = this.pv.pvPmap(pv) as FreebsdPmap;
      pm.lock.lock("pmap_ts_referenced");
      const ea = this.pteQuickVa(cpu, pm, pv.va, this.pdeVa(cpu, pm, pv.va));
      const lo = win.load(cpu, ea);
      if ((lo & PG_A) !== 0) {
        win.store(cpu, ea, (lo & ~PG_A) >>> 0);
        this.invalidatePage(cpu, pm, pv.va);
        rtval++;
      }
      pm.lock.unlock("pmap_ts_referenced");
      pv = next === first ? null : next;
    }
    this.leavePv(s, "pmap_ts_referenced");
    this.freeZeroPages(q);
    return rtval;
  }

  // ------------------------------------------------------------------ zero / copy page

  /** The frame the MMU translates a window address to now (a stale TLB entry would show). */
  private windowPa(cpu: Cpu, va: VAddr, write: boolean): PAddr {
    const pa = cpu.xlate(va, write ? ACC_WRITE : ACC_READ, false);
    if (pa < 0) this.kernel.panic(`pmap: window page ${hex(va)} faulted`);
    return pa;
  }

  /** pmap_zero_page: through CMAP2/CADDR2 of this CPU's sysmaps (i386), through the DMAP (amd64). */
  zeroPage(pg: VmPage): void {
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    let va: VAddr;
    const lock = this.sysmapsLocks[cpu.id] as Mutex;
    if (win.dmap) va = win.dmapVa(pg.pa);
    else {
      win.pin(cpu);
      lock.lock("pmap_zero_page");
      va = win.mapSysmap(cpu, SYSMAP_2, pg.pa, "pmap_zero_page: CMAP2 busy");
    }
    this.machine.memory.zeroRange(this.windowPa(cpu, va, true), PAGE_SIZE);
    cpu.cycles += this.machine.costs.pageZero;
    if (!win.dmap) {
      win.unmapSysmap(cpu, SYSMAP_2);
      lock.unlock("pmap_zero_page");
      win.unpin(cpu);
    }
    this.cZero.value++;
    this.kernel.splx(s);
  }

  /**
   * pmap_zero_page_area(m, off, size): zero part of a page, through CMAP2 (i386) or the DMAP
   * (amd64), as pmap_zero_page does (vnode_pager_setsize clears a partial last page's tail).
   */
  zeroPageArea(pg: VmPage, off: number, size: number): void {
    if (off < 0 || size < 0 || off + size > PAGE_SIZE) {
      this.kernel.panic(`pmap_zero_page_area: off ${off} size ${size} beyond the page`);
    }
    if (size === 0) return;
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    let va: VAddr;
    const lock = this.sysmapsLocks[cpu.id] as Mutex;
    if (win.dmap) va = win.dmapVa(pg.pa);
    else {
      win.pin(cpu);
      lock.lock("pmap_zero_page_area");
      va = win.mapSysmap(cpu, SYSMAP_2, pg.pa, "pmap_zero_page_area: CMAP2 busy");
    }
    this.machine.memory.zeroRange(this.windowPa(cpu, va, true) + off, size);
    if (!win.dmap) {
      win.unmapSysmap(cpu, SYSMAP_2);
      lock.unlock("pmap_zero_page_area");
      win.unpin(cpu);
    }
    this.kernel.splx(s);
  }

  /** pmap_copy_page: CMAP1 = src, CMAP2 = dst (i386); DMAP to DMAP (amd64). */
  copyPage(src: VmPage, dst: VmPage): void {
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    const lock = this.sysmapsLocks[cpu.id] as Mutex;
    let from: VAddr;
    let to: VAddr;
    if (win.dmap) {
      from = win.dmapVa(src.pa);
      to = win.dmapVa(dst.pa);
    } else {
      win.pin(cpu);
      lock.lock("pmap_copy_page");
      from = win.mapSysmap(cpu, SYSMAP_1, src.pa, "pmap_copy_page: CMAP1 busy");
      to = win.mapSysmap(cpu, SYSMAP_2, dst.pa, "pmap_copy_page: CMAP2 busy");
    }
    this.machine.memory.copyRange(this.windowPa(cpu, to, true), this.windowPa(cpu, from, false), PAGE_SIZE);
    cpu.cycles += this.machine.costs.pageCopy;
    if (!win.dmap) {
      win.unmapSysmap(cpu, SYSMAP_1);
      win.unmapSysmap(cpu, SYSMAP_2);
      lock.unlock("pmap_copy_page");
      win.unpin(cpu);
    }
    this.cCopy.value++;
    this.kernel.splx(s);
  }

  // ------------------------------------------------------------------ kernel-only mappings

  /**
   * pmap_kenter / pmap_qenter: an unmanaged, wired kernel mapping through vtopte, PG_G (pgeflag),
   * NX without execute; like pmap_qenter it is SMP coherent: an old valid PTE is shot down.
   */
  kenter(va: VAddr, pa: PAddr, prot: number): void {
    this.checkKernelVa(va, "pmap_kenter");
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    if (va >= this.kernelPtEnd) this.kernel.panic(`pmap_kenter: no kernel page table for ${hex(va)}`);
    const ea = win.ptw.pteVa(va);
    const old = win.load(cpu, ea);
    if ((old & PG_MANAGED) !== 0 && (old & PG_V) !== 0) this.kernel.panic(`pmap_kenter: ${hex(va)} is managed`);
    const bits = PG_V | PG_G | PG_A | PG_M | ((prot & Prot.Write) !== 0 ? PG_RW : 0);
    const hi = this.hasNx && (prot & Prot.Exec) === 0 ? (pteHi(pa) | PG_NX) >>> 0 : pteHi(pa);
    win.write(cpu, ea, pteLo(pa, bits), hi);
    if ((old & PG_V) !== 0) this.invalidatePage(cpu, this.kernelPmap, va);
    this.kernel.splx(s);
  }

  /** pmap_kremove / pmap_qremove: clear the PTEs and invalidate the range on every CPU. */
  kremove(va: VAddr, pages: number): void {
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    for (let i = 0; i < pages; i++) {
      const v = va + i * PAGE_SIZE;
      this.checkKernelVa(v, "pmap_kremove");
      if (v >= this.kernelPtEnd) continue;
      const ea = win.ptw.pteVa(v);
      const lo = win.load(cpu, ea);
      if ((lo & PG_V) === 0) continue;
      if ((lo & PG_MANAGED) !== 0) this.kernel.panic(`pmap_kremove: ${hex(v)} is a managed mapping`);
      win.zap(cpu, ea);
    }
    this.invalidateRange(cpu, this.kernelPmap, va, va + pages * PAGE_SIZE);
    this.kernel.splx(s);
  }

  private checkKernelVa(va: VAddr, fn: string): void {
    const l = this.layout;
    if (va % PAGE_SIZE !== 0 || va < l.kernelBase || va >= l.kernelMax) {
      this.kernel.panic(`${fn}: va ${hex(va)} outside the kernel range`);
    }
  }

  /**
   * pmap_growkernel(addr): kernel page tables in NBPDR steps up to addr, each a zeroed page from
   * the VM, never freed. i386: the new PDE goes into every pmap's directory (pmap_kenter_pde over
   * allpmaps); amd64: the kernel's PML4 slot is shared, so only the PD (through the DMAP) changes.
   */
  growKernel(end: VAddr): void {
    if (end <= this.kernelPtEnd) return;
    const L = this.L;
    if (end > L.layout.kernelMax) {
      this.kernel.panic(`pmap_growkernel: ${hex(end)} beyond VM_MAX_KERNEL_ADDRESS ${hex(L.layout.kernelMax)}`);
    }
    const host = this.hostRef ?? this.kernel.panic("pmap_growkernel: no memory");
    const kp = this.kernelPmap;
    const win = this.win;
    const s = this.kernel.splraise(SPLVM);
    kp.lock.lock("pmap_growkernel");
    const cpu = this.machine.curcpu;
    const e = L.entryBytes;
    while (this.kernelPtEnd < end) {
      const va = this.kernelPtEnd;
      const pg = host.allocPage({}) ?? this.kernel.panic("pmap_growkernel: no memory to grow kernel");
      this.zeroPage(pg);
      const lo = pteLo(pg.pa, PG_V | PG_RW | PG_A | PG_M);
      const hi = pteHi(pg.pa);
      if (win.dmap) {
        const ea = this.pdeVa(cpu, kp, va);
        if (ea < 0) this.kernel.panic(`pmap_growkernel: no kernel page directory for ${hex(va)}`);
        win.write(cpu, ea, lo, hi);
      } else {
        const t = Math.floor(va / this.nbpdr);
        win.write(cpu, kp.pdirVa + t * e, lo, hi);
        this.allpmapsLock.lock("pmap_growkernel");
        for (const pm of this.pmaps) win.write(cpu, pm.pdirVa + t * e, lo, hi);
        this.allpmapsLock.unlock("pmap_growkernel");
      }
      this.kptps.push(pg.pa);
      this.kernelPtEnd = va + this.nbpdr;
    }
    kp.lock.unlock("pmap_growkernel");
    this.kernel.splx(s);
    this.kernel.trace.emit("pmap", "growkernel", { end: this.kernelPtEnd });
  }

  /**
   * pmap_kenter_pde (i386) / pde_store: a kernel PDE changes — promotion or demotion in the kernel
   * pmap. i386 and PAE copy the kernel PDEs into every pmap's directory, so the entry is written
   * into each pmap on allpmaps too; amd64 shares the kernel's page directory through its PML4 slot.
   */
  kernelPdeStore(cpu: Cpu, pdeEa: VAddr, va: VAddr, lo: number, hi: number): void {
    const win = this.win;
    win.write(cpu, pdeEa, lo, hi);
    if (win.dmap) return;
    const off = Math.floor(va / this.nbpdr) * this.L.entryBytes;
    this.allpmapsLock.lock("pmap_kenter_pde");
    for (const pm of this.pmaps) win.write(cpu, pm.pdirVa + off, lo, hi);
    this.allpmapsLock.unlock("pmap_kenter_pde");
  }

  /** Page tables are never pages of the user map. */
  missingPageTables(_pmap: Pmap, _va: VAddr): VAddr[] {
    return NO_TABLES;
  }

  audit(): void {
    auditFreebsdPmap(this);
  }
}
