/**
 * struct pmap and the calls on one address space (NetBSD sys/arch/i386/i386/pmap.c, Cranor's
 * rewrite as of NetBSD 1.4–1.5): pmap_enter, pmap_remove (pmap_remove_ptes), pmap_protect
 * (pmap_write_protect), pmap_unwire, pmap_extract, pmap_activate, pmap_destroy, pmap_reference.
 *
 * Every call that goes from a pmap to pv lists (enter, remove) takes pmap_main_lock shared
 * (PMAP_MAP_TO_HEAD_LOCK), then pmap_map_ptes, which locks the pmap (and the current one), then a
 * pv_head's lock for each list it touches; pv entries are allocated under the pmap lock
 * (pvalloc_lock) and freed after everything else is unlocked. splvm is held throughout, so an
 * interrupt whose handler uses the pmap runs before or after the call, never inside it.
 *
 * Hot paths keep entries as two 32-bit halves in locals, allocate nothing per PTE, and batch TLB
 * invalidations in the CPU's pmap_remove_record (16 pages, then a full flush) sent once at the end.
 */
import type { Mutex, PAddr, Pmap, VAddr, VmPage } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { Cpu, RecursiveWindow } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { MappablePmap } from "./map_ptes.js";
import type { CranorModule } from "./module.js";
import * as pte from "./pte.js";
import { freePtp, getPtp, ptpOf } from "./ptp.js";
import { type PvEntry, PvPool } from "./pv.js";

// Hot-path constants as module-local bindings: under Vite's module runner (Vitest) every use of
// an imported binding is a property get.
const { hex, PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, roundPage, truncPage } = core;
const SPLVM = core.IPL.VM;
const PROT_READ = core.PROT_READ;
const PROT_WRITE = core.PROT_WRITE;
const PROT_EXEC = core.PROT_EXEC;
const { PG_A, PG_G, PG_M, PG_RW, PG_U, PG_V, pteFrame, pteHi, pteLo } = hw;
const { PG_NX, PG_PVLIST, PG_W } = pte;
const PG_AM = PG_A | PG_M;

export class CranorPmap implements Pmap, MappablePmap {
  /** pm_stats.resident_count: PDP_SIZE + page-table pages + valid mappings (user pmaps). */
  residentCount = 0;
  /** pm_stats.wired_count: PG_W mappings. */
  wiredCount = 0;
  /** pm_obj.uo_refs. */
  refs = 1;
  /** CPUs this pmap is activated on (bit per CPU). */
  active = 0;
  /** Bumped whenever one of its page-table pages is freed (see map_ptes.ts). */
  ptpGen = 0;
  /** CR3 value: the PD (i386), the PDPT (PAE) or the PML4 (amd64). */
  cr3 = 0;
  /** pm_pdirpa: frames of the top-level table pages (PAE: PD0..PD3). */
  pdirPa: number[] = [];
  /** pm_pdir: their kernel virtual addresses. */
  pdirVa: number[] = [];
  /** PAE: kernel VA of the page holding the PDPT. */
  pdptVa = 0;
  /** pm_obj per table level (0 = page tables; amd64 also 1 = PDs, 2 = PDPTs): index → page. */
  readonly obj: Map<number, VmPage>[] = [];
  /** pm_ptphint per table level. */
  readonly ptphint: (VmPage | null)[] = [];
  released = false;
  /** pm_obj.vmobjlock ("pm_lock"): several may be held, taken in address (id) order. */
  readonly lock: Mutex;

  constructor(
    readonly m: CranorModule,
    readonly id: number,
    readonly isKernel: boolean,
  ) {
    this.lock = m.kernel.mutex(isKernel ? "pmap kernel" : `pmap ${id}`, { type: "pmap", dupok: true });
    for (let t = 0; t < m.win.levels - 1; t++) {
      this.obj.push(new Map());
      this.ptphint.push(null);
    }
  }

  // ------------------------------------------------------------------ pmap_enter

  /**
   * pmap_enter(pmap, va, pa, prot, flags). The same managed page already mapped keeps its pv
   * entry (wiring or protection change; its PG_A|PG_M go to the page's attributes); another page
   * is replaced and its pv entry reused; a new mapping counts in resident_count, wired_count and
   * its PTP's wire_count. Out of PTPs or pv entries: false with PMAP_CANFAIL, else NetBSD's panic.
   */
  enter(va: VAddr, pg: VmPage, prot: number, flags: number): boolean {
    const m = this.m;
    m.cEnter.value++;
    this.checkEnterVa(va);
    const wired = (flags & PMAP_WIRED) !== 0;
    const s = m.kernel.splraise(SPLVM);
    m.mainLock.rlock("pmap_enter");
    const cpu = m.machine.curcpu;
    const win = m.win;
    const w = win.mapPtes(cpu, this, "pmap_enter");
    let ptp: VmPage | null = null;
    if (this.isKernel) {
      if (win.missingLevel(cpu, w, va) !== 0) m.kernel.panic("pmap_enter: missing kernel PTP!");
    } else {
      ptp = getPtp(m, this, cpu, w, va);
      if (ptp === null) return this.enterFailed(cpu, s, flags, "pmap_enter: get ptp failed");
    }
    const ea = w.pteVa(va);
    const olo = win.load(cpu, ea);
    const ohi = m.wide ? win.load(cpu, ea + 4) : 0;
    const pa = pg.pa;
    const ovalid = (olo & PG_V) !== 0;
    const opv = ovalid && (olo & PG_PVLIST) !== 0;
    const same = opv && pteFrame(olo, ohi) === pa;
    // A pv entry for a new mapping: the replaced mapping's, or a fresh one — before any change,
    // so a failure leaves everything as it was.
    let pve: PvEntry | null = null;
    if (!opv) {
      pve = m.pv.alloc();
      if (pve === null) {
        if (ptp !== null && ptp.wireCount <= 1) freePtp(m, this, cpu, w, ptp, va, 0);
        return this.enterFailed(cpu, s, flags, "pmap_enter: no pv entries available");
      }
    }
    const pvh = m.pv.head(pg);
    if (opv) {
      if (wired !== ((olo & PG_W) !== 0)) this.wiredCount += wired ? 1 : -1;
      if (same) {
        pvh.lock.lock("pmap_enter");
        pvh.attrs |= olo & PG_AM;
        pvh.lock.unlock("pmap_enter");
      } else {
        const opa = pteFrame(olo, ohi);
        const opg = m.host.pageOf(opa) ?? m.kernel.panic("pmap_enter: PG_PVLIST mapping with unmanaged page");
        const opvh = m.pv.head(opg);
        opvh.lock.lock("pmap_enter");
        opvh.attrs |= olo & PG_AM;
        pve = m.pv.remove(opvh, this, va);
        opvh.lock.unlock("pmap_enter");
      }
    } else {
      // A new mapping (or, in the kernel pmap, a managed one over a pmap_kenter_pa mapping).
      this.residentCount++;
      if (wired) this.wiredCount++;
      if (ptp !== null && !ovalid) ptp.wireCount++;
    }
    if (!same) {
      pvh.lock.lock("pmap_enter");
      PvPool.enter(pvh, pve as PvEntry, this, va, ptp);
      pvh.lock.unlock("pmap_enter");
    }
    let bits = PG_V | PG_PVLIST;
    if ((prot & PROT_WRITE) !== 0) bits |= PG_RW;
    if (wired) bits |= PG_W;
    if (this.isKernel) bits |= PG_G;
    else if (va < m.userMax) bits |= PG_U;
    const nlo = pteLo(pa, bits);
    const nhi = m.hasNx && (prot & PROT_EXEC) === 0 ? (pteHi(pa) | PG_NX) >>> 0 : pteHi(pa);
    win.write(cpu, ea, nlo, nhi);
    if (ovalid && ((olo & ~PG_AM) >>> 0 !== nlo || ohi !== nhi)) m.batchOf(cpu).add(va);
    m.flush(cpu, this);
    win.unmapPtes(cpu, this, "pmap_enter");
    m.mainLock.runlock("pmap_enter");
    m.kernel.splx(s);
    return true;
  }

  /** Unlock after a failed pmap_enter; false with PMAP_CANFAIL, else panic. */
  private enterFailed(cpu: Cpu, s: number, flags: number, msg: string): boolean {
    const m = this.m;
    m.flush(cpu, this);
    m.win.unmapPtes(cpu, this, "pmap_enter");
    m.mainLock.runlock("pmap_enter");
    m.kernel.splx(s);
    m.kernel.trace.emit("pmap", "enter.fail", { pmap: this.id, reason: msg });
    if ((flags & PMAP_CANFAIL) !== 0) return false;
    return m.kernel.panic(msg);
  }

  // ------------------------------------------------------------------ pmap_remove

  /**
   * pmap_remove(pmap, sva, eva): PTP-sized blocks, skipping those whose tables are missing; each
   * removed PTE's PG_A|PG_M go to its page and its pv entry onto a list freed at the end; a PTP
   * whose wire_count drops to 1 is freed. The remove record is sent once.
   */
  remove(sva: VAddr, eva: VAddr): void {
    const m = this.m;
    m.cRemove.value++;
    sva = truncPage(sva);
    eva = roundPage(eva);
    if (sva < this.lo) sva = this.lo;
    if (eva > this.hi) eva = this.hi;
    if (sva >= eva) return;
    const s = m.kernel.splraise(SPLVM);
    m.mainLock.rlock("pmap_remove");
    const cpu = m.machine.curcpu;
    const w = m.win.mapPtes(cpu, this, "pmap_remove");
    this.removeRange(cpu, w, sva, eva, false);
    m.flush(cpu, this);
    m.win.unmapPtes(cpu, this, "pmap_remove");
    m.mainLock.runlock("pmap_remove");
    m.freeCollected(cpu);
    m.kernel.splx(s);
  }

  /** The block loop of pmap_remove (and of pmap_collect with keepWired). Locks held. */
  removeRange(cpu: Cpu, w: RecursiveWindow, sva: VAddr, eva: VAddr, keepWired: boolean): void {
    const m = this.m;
    const win = m.win;
    const ptSpan = win.span[1] as number;
    let va = sva;
    while (va < eva) {
      const miss = win.missingLevel(cpu, w, va);
      if (miss !== 0) {
        const span = win.span[miss] as number;
        va = va - (va % span) + span;
        continue;
      }
      const end = Math.min(eva, va - (va % ptSpan) + ptSpan);
      const ptp = this.isKernel ? null : ptpOf(m, this, cpu, w, va);
      this.removePtes(cpu, w, ptp, va, end, keepWired);
      // "we never free kernel PTPs"
      if (ptp !== null && ptp.wireCount <= 1) freePtp(m, this, cpu, w, ptp, va, 0);
      va = end;
    }
  }

  /** pmap_remove_ptes: the valid PTEs of [sva, eva) in one PTP, while the PTP has any. */
  private removePtes(
    cpu: Cpu,
    w: RecursiveWindow,
    ptp: VmPage | null,
    sva: VAddr,
    eva: VAddr,
    keepWired: boolean,
  ): void {
    const win = this.m.win;
    const e = win.entryBytes;
    const wide = win.wide;
    let ea = w.pteVa(sva);
    for (let va = sva; va < eva && (ptp === null || ptp.wireCount > 1); va += PAGE_SIZE, ea += e) {
      const lo = win.load(cpu, ea);
      if ((lo & PG_V) === 0 || (keepWired && (lo & PG_W) !== 0)) continue;
      const hi = wide ? win.load(cpu, ea + 4) : 0;
      win.zap(cpu, ea);
      this.removed(cpu, va, lo, hi, ptp);
    }
  }

  /**
   * Account for a PTE just zapped: statistics, the remove record, the PTP's wire_count, and for
   * PG_PVLIST the page's attributes and its pv entry (onto this CPU's to-free list).
   */
  removed(cpu: Cpu, va: VAddr, lo: number, hi: number, ptp: VmPage | null): void {
    const m = this.m;
    if ((lo & PG_W) !== 0) this.wiredCount--;
    this.residentCount--;
    m.batchOf(cpu).add(va);
    if (ptp !== null) ptp.wireCount--;
    if ((lo & PG_PVLIST) === 0) return;
    const pa = pteFrame(lo, hi);
    const pg = m.host.pageOf(pa) ?? m.kernel.panic("pmap_remove_ptes: unmanaged page marked PG_PVLIST");
    const pvh = m.pv.head(pg);
    pvh.lock.lock("pmap_remove_ptes");
    pvh.attrs |= lo & PG_AM;
    const pve = m.pv.remove(pvh, this, va);
    pvh.lock.unlock("pmap_remove_ptes");
    m.collectPv(cpu, pve);
  }

  // ------------------------------------------------------------------ pmap_protect

  /**
   * pmap_protect(pmap, sva, eva, prot): neither read nor execute → pmap_remove; otherwise
   * pmap_write_protect lowers rights — PG_RW off without write, and (an extension: NetBSD 1.4's
   * i386 had no NX) NX on where the machine has it without execute. Never raises. No pv list is
   * touched, so only pmap_map_ptes' lock is taken.
   */
  protect(sva: VAddr, eva: VAddr, prot: number): void {
    const m = this.m;
    if ((prot & (PROT_READ | PROT_EXEC)) === 0) {
      this.remove(sva, eva);
      return;
    }
    const clearLo = (prot & PROT_WRITE) === 0 ? PG_RW : 0;
    const setHi = m.hasNx && (prot & PROT_EXEC) === 0 ? PG_NX : 0;
    if (clearLo === 0 && setHi === 0) return;
    sva = truncPage(sva);
    eva = roundPage(eva);
    if (sva < this.lo) sva = this.lo;
    if (eva > this.hi) eva = this.hi;
    if (sva >= eva) return;
    const s = m.kernel.splraise(SPLVM);
    const cpu = m.machine.curcpu;
    const win = m.win;
    const w = win.mapPtes(cpu, this, "pmap_write_protect");
    const e = win.entryBytes;
    const wide = win.wide;
    const ptSpan = win.span[1] as number;
    const batch = m.batchOf(cpu);
    let va = sva;
    while (va < eva) {
      const miss = win.missingLevel(cpu, w, va);
      if (miss !== 0) {
        const span = win.span[miss] as number;
        va = va - (va % span) + span;
        continue;
      }
      const end = Math.min(eva, va - (va % ptSpan) + ptSpan);
      let ea = w.pteVa(va);
      for (; va < end; va += PAGE_SIZE, ea += e) {
        const lo = win.load(cpu, ea);
        if ((lo & PG_V) === 0) continue;
        let changed = false;
        if (setHi !== 0 && wide) {
          const hi = win.load(cpu, ea + 4);
          if ((hi & setHi) === 0) {
            win.store(cpu, ea + 4, (hi | setHi) >>> 0);
            changed = true;
          }
        }
        if ((lo & clearLo) !== 0) {
          win.store(cpu, ea, (lo & ~clearLo) >>> 0);
          changed = true;
        }
        if (changed) batch.add(va);
      }
    }
    m.flush(cpu, this);
    win.unmapPtes(cpu, this, "pmap_write_protect");
    m.kernel.splx(s);
  }

  // ------------------------------------------------------------------ wiring, extract

  /**
   * pmap_unwire(pmap, va): clear PG_W (a software bit: no TLB invalidation). NetBSD's DIAGNOSTIC
   * panics for a missing PDE or PTE; a mapping that was not wired is only noted.
   */
  unwire(va: VAddr): void {
    const m = this.m;
    va = truncPage(va);
    const s = m.kernel.splraise(SPLVM);
    const cpu = m.machine.curcpu;
    const win = m.win;
    const w = win.mapPtes(cpu, this, "pmap_unwire");
    if (win.missingLevel(cpu, w, va) !== 0) m.kernel.panic("pmap_unwire: invalid PDE");
    const ea = w.pteVa(va);
    const lo = win.load(cpu, ea);
    if ((lo & PG_V) === 0) m.kernel.panic(`pmap_unwire: invalid (unmapped) va ${hex(va)}`);
    if ((lo & PG_W) !== 0) {
      win.store(cpu, ea, (lo & ~PG_W) >>> 0);
      this.wiredCount--;
    } else {
      m.kernel.trace.emit("pmap", "unwire.unchanged", { pmap: this.id, va });
    }
    win.unmapPtes(cpu, this, "pmap_unwire");
    m.kernel.splx(s);
  }

  /** pmap_extract: the physical address mapped at va (a valid PTE), or undefined. */
  extract(va: VAddr): PAddr | undefined {
    const m = this.m;
    const s = m.kernel.splraise(SPLVM);
    const cpu = m.machine.curcpu;
    const win = m.win;
    const w = win.mapPtes(cpu, this, "pmap_extract");
    let pa: PAddr | undefined;
    if (win.missingLevel(cpu, w, va) === 0) {
      const ea = w.pteVa(va);
      const lo = win.load(cpu, ea);
      if ((lo & PG_V) !== 0) pa = pteFrame(lo, m.wide ? win.load(cpu, ea + 4) : 0) + (va % PAGE_SIZE);
    }
    win.unmapPtes(cpu, this, "pmap_extract");
    m.kernel.splx(s);
    return pa;
  }

  // ------------------------------------------------------------------ activation, lifetime

  /** pmap_activate: load CR3 (pcb_cr3 = pm_pdirpa; lcr3). */
  activate(cpuIndex: number): void {
    this.m.activate(this, cpuIndex);
  }

  /** pmap_deactivate: the CPU stops running this pmap; CR3 stays until the next activate. */
  deactivate(cpuIndex: number): void {
    this.active &= ~(1 << cpuIndex);
  }

  /** pmap_reference: uo_refs++. */
  reference(): void {
    this.refs++;
  }

  /** pmap_destroy: drop a reference; the last one releases the pmap (pmap_release). */
  destroy(): void {
    if (this.released) this.m.kernel.panic(`pmap_destroy: pmap ${this.id} already released`);
    if (--this.refs > 0) return;
    if (this.isKernel) this.m.kernel.panic("pmap_destroy: kernel pmap");
    this.m.release(this);
  }

  // ------------------------------------------------------------------ helpers

  /** Lowest address this pmap maps: 0 for a user pmap, KERNBASE for the kernel. */
  get lo(): VAddr {
    return this.isKernel ? this.m.layout.kernelBase : 0;
  }

  /** One past the highest: VM_MAX_ADDRESS (u-area included) or VM_MAX_KERNEL_ADDRESS. */
  get hi(): VAddr {
    return this.isKernel ? this.m.layout.kernelMax : this.m.layout.mapMax;
  }

  private checkEnterVa(va: VAddr): void {
    const m = this.m;
    if (va % PAGE_SIZE === 0 && va >= this.lo && va < this.hi) return;
    if (this.isKernel && va >= this.hi) m.kernel.panic(`pmap_enter: too big (${hex(va)})`);
    if (m.win.ptw.contains(va) || m.win.aptw.contains(va)) m.kernel.panic("pmap_enter: trying to map over PDP/APDP!");
    m.kernel.panic(`pmap_enter: va ${hex(va)} outside ${this.isKernel ? "the kernel" : "a user"} pmap's range`);
  }
}
