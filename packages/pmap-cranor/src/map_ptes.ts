/**
 * How Cranor's pmap reaches page tables (pmap.c: pmap_map_ptes / pmap_unmap_ptes, pmap_tmpmap_pa /
 * pmap_tmpmap_pvepte): always through virtual addresses translated by the current CPU's MMU and
 * TLB (ARCHITECTURE.md decision 2), never by physical address.
 *
 * - The current pmap (the kernel's, or the one whose top-level table is in CR3) is reached
 *   through the recursive slot PDSLOT_PTE: its PTEs at PTE_BASE, its PDEs at PDP_BASE.
 * - Any other pmap is reached through the alternate slot PDSLOT_APTE of the *current* top-level
 *   table (APDP_PDE), which pmap_map_ptes loads with the other pmap's table after locking both
 *   pmaps in address order (here: by pmap id, the kernel's being 0). The slot is a lazy cache: it
 *   keeps naming the last pmap mapped, and the TLB is flushed only when the old entry was valid —
 *   an invalid entry cannot have left translations behind.
 * - A single PTE of a pmap that is not current is reached without touching APDP_PDE:
 *   pmap_tmpmap_pvepte maps the pv entry's page-table page (pv_ptp) at this CPU's `ptpp` page.
 *
 * SMP. NetBSD 1.4's pmap_map_ptes was written for one CPU ("XXX: other CPUs' APTE slots are not
 * flushed"). Here an address space's alternate slot is shared by every CPU running it, and a CPU's
 * TLB may still hold APTE translations from an earlier value of the slot, or of page-table pages
 * since freed. So each CPU also records which pmap — and which generation of its page-table pages
 * — it may have cached through APTE_BASE, and flushes when that differs even if the slot in memory
 * is already right. On a single CPU this never adds a flush to NetBSD's rule.
 */
import type { Counter, KernelServices, Mutex, PAddr, VAddr } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { Cpu, Machine } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import { type CranorLayout, SP_PTP, SPECIAL_PAGES_PER_CPU } from "./layout.js";
import { PG_NX } from "./pte.js";

// Module-local copies of hot imported bindings (each use of an import is a getter under Vitest).
const { hex, PAGE_SIZE } = core;
const { PG_RW, PG_V, pteFrame, pteHi, pteLo } = hw;

/** What pmap_map_ptes needs to know of a pmap. */
export interface MappablePmap {
  readonly id: number;
  readonly isKernel: boolean;
  /** pm_obj.vmobjlock ("pm_lock"). */
  readonly lock: Mutex;
  /** pm_pdirpa: the frames the recursive and alternate slots name (PAE: PD0..PD3). */
  readonly pdirPa: readonly PAddr[];
  /** Bumped whenever one of the pmap's page-table pages is freed. */
  readonly ptpGen: number;
}

export class PteAccess {
  /** PTE_BASE: RecursiveWindow(format, PDSLOT_PTE, PDSLOT_PTE). */
  readonly ptw: hw.RecursiveWindow;
  /** APTE_BASE: RecursiveWindow(format, PDSLOT_APTE, PDSLOT_PTE). */
  readonly aptw: hw.RecursiveWindow;
  readonly wide: boolean;
  readonly entryBytes: number;
  readonly levels: number;
  /** Bytes one entry covers at each level (span[0] = a page). */
  readonly span: readonly number[];
  /** The pmap whose top-level table each CPU has in CR3 (kept by the module). */
  readonly loaded: (MappablePmap | null)[];
  /** APDP_PDE: the current table's first alternate-slot entry, seen through PDP_BASE. */
  private readonly apdpVa: VAddr;
  private readonly slots: number;
  private readonly ptesPerPtp: number;
  // Per CPU: the current pmap locked by pmap_map_ptes besides a foreign one, and nesting.
  private readonly alsoLocked: (MappablePmap | null)[];
  private readonly mapped: number[];
  // Per CPU: what the TLB may hold through APTE_BASE (see the file comment).
  private readonly aptPmap: (MappablePmap | null)[];
  private readonly aptGen: number[];
  private readonly aptClean: boolean[];
  // Per CPU special pages (zerop, csrcp, cdstp, ptpp) and their PTEs' addresses in PTE_BASE.
  private readonly specialVa: VAddr;
  private readonly specialPteVa: VAddr;
  private readonly hasNx: boolean;
  private readonly cSwitch: Counter;
  private readonly cFlush: Counter;

  constructor(
    readonly machine: Machine,
    readonly L: CranorLayout,
    private readonly kernel: KernelServices,
  ) {
    const f = machine.format;
    this.ptw = new hw.RecursiveWindow(f, L.slotPte, L.slotPte);
    this.aptw = new hw.RecursiveWindow(f, L.slotApte, L.slotPte);
    if (this.ptw.base !== L.layout.ptmap || this.ptw.entryVa(0, L.levels - 1) !== L.pdpBase) {
      throw new Error(`pmap-cranor: the ${L.machine} layout disagrees with the recursive window`);
    }
    this.wide = L.entryBytes === 8;
    this.entryBytes = L.entryBytes;
    this.levels = L.levels;
    const span: number[] = [];
    for (let l = 0; l < L.levels; l++) span.push(2 ** (12 + L.indexBits * l));
    this.span = span;
    this.apdpVa = L.pdpBase + L.slotApte * L.entryBytes;
    this.slots = L.pdpSize;
    this.ptesPerPtp = 2 ** L.indexBits;
    const n = machine.cpus.length;
    this.loaded = new Array<MappablePmap | null>(n).fill(null);
    this.alsoLocked = new Array<MappablePmap | null>(n).fill(null);
    this.mapped = new Array<number>(n).fill(0);
    this.aptPmap = new Array<MappablePmap | null>(n).fill(null);
    this.aptGen = new Array<number>(n).fill(0);
    this.aptClean = new Array<boolean>(n).fill(true);
    this.specialVa = L.specialVa;
    this.specialPteVa = this.ptw.pteVa(L.specialVa);
    this.hasNx = f.hasNx;
    this.cSwitch = kernel.counters.counter("pmap.window.switch");
    this.cFlush = kernel.counters.counter("pmap.window.flush");
  }

  // ------------------------------------------------------------------ raw access through the MMU

  /** A supervisor load at a window address; a fault means the windows are broken: panic. */
  load(cpu: Cpu, va: VAddr): number {
    const v = cpu.load32(va, false);
    if (v < 0) this.fault(cpu, va);
    return v;
  }

  /** A supervisor store at a window address. */
  store(cpu: Cpu, va: VAddr, v: number): void {
    if (!cpu.store32(va, v, false)) this.fault(cpu, va);
  }

  /** Write an entry, high half first, so it never becomes valid with a stale high half. */
  write(cpu: Cpu, ea: VAddr, lo: number, hi: number): void {
    if (this.wide) this.store(cpu, ea + 4, hi);
    this.store(cpu, ea, lo);
  }

  /** Zero an entry, low half (PG_V) first. */
  zap(cpu: Cpu, ea: VAddr): void {
    this.store(cpu, ea, 0);
    if (this.wide) this.store(cpu, ea + 4, 0);
  }

  private fault(cpu: Cpu, va: VAddr): never {
    return this.kernel.panic(
      `pmap: page-table access at ${hex(va)} faulted (cpu ${cpu.id}, error ${hex(cpu.faultErrorCode)})`,
    );
  }

  // ------------------------------------------------------------------ pmap_map_ptes

  /** pmap_is_curpmap: the kernel pmap, or the pmap whose table is in this CPU's CR3. */
  isCurrent(cpu: Cpu, pm: MappablePmap): boolean {
    return pm.isKernel || this.loaded[cpu.id] === pm;
  }

  /**
   * pmap_map_ptes(pmap): lock the pmap (and the current one, in address order, if it is not the
   * current one) and return the window its PTEs are seen through. Callers hold splvm.
   */
  mapPtes(cpu: Cpu, pm: MappablePmap, where: string): hw.RecursiveWindow {
    const id = cpu.id;
    if (this.mapped[id] !== 0) this.kernel.panic(`pmap_map_ptes: nested call from ${where}`);
    this.mapped[id] = 1;
    if (pm.isKernel || this.loaded[id] === pm) {
      pm.lock.lock(where);
      return this.ptw;
    }
    const cur = this.loaded[id];
    if (cur === null || cur === undefined) return this.kernel.panic(`pmap_map_ptes: cpu ${id} has no pmap loaded`);
    if (cur.id < pm.id) {
      cur.lock.lock(where);
      pm.lock.lock(where);
    } else {
      pm.lock.lock(where);
      cur.lock.lock(where);
    }
    this.alsoLocked[id] = cur;
    // Need to load a new alternate table into the current pmap's APDP_PDE?
    const e = this.entryBytes;
    let oldValid = false;
    let differs = false;
    for (let k = 0; k < this.slots; k++) {
      const ea = this.apdpVa + k * e;
      const lo = this.load(cpu, ea);
      const hi = this.wide ? this.load(cpu, ea + 4) : 0;
      if ((lo & PG_V) !== 0) oldValid = true;
      if ((lo & PG_V) === 0 || pteFrame(lo, hi) !== pm.pdirPa[k]) differs = true;
    }
    if (differs) {
      for (let k = 0; k < this.slots; k++) {
        const pa = pm.pdirPa[k] as number;
        this.write(cpu, this.apdpVa + k * e, pteLo(pa, PG_V | PG_RW), pteHi(pa));
      }
      this.cSwitch.value++;
    }
    const stale = !this.aptClean[id] && (this.aptPmap[id] !== pm || this.aptGen[id] !== pm.ptpGen);
    if ((differs && oldValid) || stale) {
      // pmap_update(): tlbflush, a CR3 reload (APTE translations are never global).
      cpu.loadCr3(cpu.cr3);
      this.cFlush.value++;
    }
    this.aptPmap[id] = pm;
    this.aptGen[id] = pm.ptpGen;
    this.aptClean[id] = false;
    return this.aptw;
  }

  /** pmap_unmap_ptes: unlock what pmap_map_ptes locked. */
  unmapPtes(cpu: Cpu, pm: MappablePmap, where: string): void {
    const id = cpu.id;
    pm.lock.unlock(where);
    const also = this.alsoLocked[id];
    if (also !== null && also !== undefined) {
      also.lock.unlock(where);
      this.alsoLocked[id] = null;
    }
    this.mapped[id] = 0;
  }

  /** This CPU's TLB holds no APTE translations (its CR3 was just loaded or its TLB flushed). */
  markClean(cpuId: number): void {
    this.aptClean[cpuId] = true;
  }

  /**
   * A page-table page of `pm` was freed while this CPU had it mapped through APTE_BASE, and the
   * CPU invalidated that window address itself: its TLB is still current for pm.
   */
  noteLocalInvalidate(cpu: Cpu, pm: MappablePmap): void {
    if (this.aptPmap[cpu.id] === pm) this.aptGen[cpu.id] = pm.ptpGen;
  }

  /** A pmap is going away: no CPU may count its APTE translations of it as current. */
  forget(pm: MappablePmap): void {
    for (let i = 0; i < this.aptPmap.length; i++) if (this.aptPmap[i] === pm) this.aptPmap[i] = null;
  }

  /**
   * The level (>= 1) of the first entry, from the top, that is not valid on the way to va's PTE in
   * window w; 0 if every table down to the page table is present.
   */
  missingLevel(cpu: Cpu, w: hw.RecursiveWindow, va: VAddr): number {
    for (let l = this.levels - 1; l >= 1; l--) {
      if ((this.load(cpu, w.entryVa(va, l)) & PG_V) === 0) return l;
    }
    return 0;
  }

  // ------------------------------------------------------------------ special pages, tmpmap

  /** Virtual address of one of this CPU's special pages (zerop, csrcp, cdstp, ptpp). */
  specialPage(cpuId: number, which: number): VAddr {
    return this.specialVa + (cpuId * SPECIAL_PAGES_PER_CPU + which) * PAGE_SIZE;
  }

  /**
   * Map pa at one of this CPU's special pages (supervisor, read-write, no-execute) and return the
   * VA. `busy` is the panic text when the page is already mapped (NetBSD's "lock botch").
   */
  mapSpecial(cpu: Cpu, which: number, pa: PAddr, busy: string): VAddr {
    const slot = cpu.id * SPECIAL_PAGES_PER_CPU + which;
    const ea = this.specialPteVa + slot * this.entryBytes;
    if ((this.load(cpu, ea) & PG_V) !== 0) this.kernel.panic(busy);
    this.write(cpu, ea, pteLo(pa, PG_V | PG_RW), (pteHi(pa) | (this.hasNx ? PG_NX : 0)) >>> 0);
    return this.specialVa + slot * PAGE_SIZE;
  }

  /** Unmap one of this CPU's special pages and invalidate it. */
  unmapSpecial(cpu: Cpu, which: number, invalid: string): void {
    const slot = cpu.id * SPECIAL_PAGES_PER_CPU + which;
    const ea = this.specialPteVa + slot * this.entryBytes;
    if ((this.load(cpu, ea) & PG_V) === 0) this.kernel.panic(invalid);
    this.zap(cpu, ea);
    cpu.invlpg(this.specialVa + slot * PAGE_SIZE);
  }

  /** pmap_tmpmap_pa: map a page (a page-table page) at this CPU's ptpp. */
  tmpmapPa(cpu: Cpu, pa: PAddr): VAddr {
    return this.mapSpecial(cpu, SP_PTP, pa, "pmap_tmpmap_pa: ptp_pte in use?");
  }

  /** pmap_tmpunmap_pa. */
  tmpunmapPa(cpu: Cpu): void {
    this.unmapSpecial(cpu, SP_PTP, "pmap_tmpunmap_pa: our pte invalid?");
  }

  /**
   * pmap_tmpmap_pvepte: the address of the PTE of a user mapping — through PTE_BASE when its pmap
   * is current, else inside its page-table page (pv_ptp) mapped at ptpp. No APDP_PDE switch.
   */
  tmpmapPvepte(cpu: Cpu, pm: MappablePmap, va: VAddr, ptpPa: PAddr): VAddr {
    if (pm.isKernel) this.kernel.panic("pmap_tmpmap_pvepte: attempt to map kernel");
    if (this.loaded[cpu.id] === pm) return this.ptw.pteVa(va);
    const idx = Math.floor(va / PAGE_SIZE) % this.ptesPerPtp;
    return this.tmpmapPa(cpu, ptpPa) + idx * this.entryBytes;
  }

  /** pmap_tmpunmap_pvepte. */
  tmpunmapPvepte(cpu: Cpu, pm: MappablePmap): void {
    if (this.loaded[cpu.id] !== pm) this.tmpunmapPa(cpu);
  }
}
