/**
 * struct pmap and the calls on one address space (4.4BSD sys/i386/i386/pmap.c, Mach's i386
 * pmap): pmap_enter, pmap_remove, pmap_protect, pmap_change_wiring, pmap_extract,
 * pmap_activate, pmap_destroy / pmap_release, pmap_reference.
 *
 * Every page-table access goes through PTmap or APTmap (window.ts) on the current CPU. Page tables
 * of user addresses are not allocated here: they are pages of the process's own map at
 * [UPT_MIN_ADDRESS, UPT_MAX_ADDRESS), faulted in through the host (trap.c's "hack"; NetBSD 1.2's
 * pmap_enter does it itself). Entering such a page writes an entry that is itself a PDE (PDPTE,
 * PML4E): the recursive window makes "the PTE of a page-table page's address" exactly that entry.
 *
 * Hot paths (enter, the remove/protect loops) keep entries in local numbers — two 32-bit halves —
 * and allocate nothing; TLB invalidations are batched per pmap in a fixed array and sent at the
 * end of the call.
 */
import type { Mutex, PAddr, Pmap, VAddr, VmPage } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { Cpu, RecursiveWindow } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { MachPmapModule } from "./module.js";
import * as pte from "./pte.js";

// Hot-path constants and helpers as module-local bindings: under Vite's module runner (Vitest,
// where the conformance suites run) every use of an imported binding is a property get.
const { hex, PAGE_SIZE, PMAP_CANFAIL, PMAP_WIRED, roundPage, truncPage } = core;
const SPLVM = core.IPL.VM;
const PROT_READ = core.PROT_READ;
const PROT_WRITE = core.PROT_WRITE;
const PROT_EXEC = core.PROT_EXEC;
const { PG_A, PG_M, PG_RW, PG_U, PG_V } = hw;
const { frameOf, hiOf, loOf, PG_NX, PG_PVLIST, PG_W } = pte;

/** More pages than this in one call: flush the whole TLB instead of INVLPG per page. */
export const SHOOTDOWN_BATCH = 16;
/** Seed 000: with it, a new user mapping is entered in the 1995 order (enter1995). */
const APTD_ERRATUM = "freebsd-1996-aptd-interrupt";

export class MachPmap implements Pmap {
  residentCount = 0;
  wiredCount = 0;
  /** pm_count: references (pmap_reference / pmap_destroy). */
  refs = 1;
  /** pm_active: CPUs this pmap is activated on (bit per CPU). */
  active = 0;
  /** Bumped when a page-table page of this pmap is unmapped (see window.ts). */
  ptpGen = 0;
  /** CR3 value: the PD (i386), the PDPT (PAE) or the PML4 (amd64). */
  cr3 = 0;
  /** Frames of the top-level table(s) the window slots point at (PAE: PD0..PD3). */
  topPa: number[] = [];
  /** pm_pdir: kernel VA of each top-level table page (PAE: PD0..PD3). */
  pdirVa: number[] = [];
  /** PAE: kernel VA of the page holding the 32-byte PDPT. */
  pdptVa = 0;
  released = false;
  readonly lock: Mutex;
  private readonly invlVa = new Float64Array(SHOOTDOWN_BATCH);
  private invlN = 0;
  private invlAll = false;
  /** The IPI handler of this pmap's shootdowns (built once: no closure per call). */
  private readonly ipiHandler: (c: Cpu) => void;

  constructor(
    readonly m: MachPmapModule,
    readonly id: number,
    readonly isKernel: boolean,
  ) {
    this.lock = m.kernel.mutex("pmap", { type: "pmap" });
    this.ipiHandler = (c: Cpu) => this.invalidateOn(c);
  }

  // ------------------------------------------------------------------ pmap_enter

  /**
   * pmap_enter(pmap, va, pa, prot, wired) — 4.4BSD: the same frame already mapped is only a
   * wiring / protection change (keeping the hardware A/D bits); a different frame is removed
   * first; then a pv entry, the statistics and the new PTE. A valid PTE that is replaced is
   * invalidated (NetBSD: pmap_update only then). Missing page tables of a user address are
   * faulted in top level first (NetBSD 1.2); if that fails: panic "ptdi".
   */
  enter(va: VAddr, pg: VmPage, prot: number, flags: number): boolean {
    const m = this.m;
    m.cEnter.value++;
    this.checkVa(va, "pmap_enter");
    const wired = (flags & PMAP_WIRED) !== 0;
    if (!this.isKernel && va < m.uptMin && m.kernel.erratum(APTD_ERRATUM)) {
      const r = this.enter1995(va, pg, prot, wired, (flags & PMAP_CANFAIL) !== 0);
      if (r !== undefined) return r;
    }
    for (;;) {
      if (!m.pv.reserve(m.host, pg, this, va, (flags & PMAP_CANFAIL) !== 0)) return false;
      const s = m.kernel.splraise(SPLVM);
      m.pvLock.lock("pmap_enter");
      this.lock.lock("pmap_enter");
      const cpu = m.machine.curcpu;
      const w = m.win.select(cpu, this);
      const missing = this.isKernel ? 0 : m.win.tablesPresent(cpu, w, va);
      // An interrupt may have used the reserved pv entry since: then reserve again.
      const ok = missing === 0 && m.pv.canInsert(pg, this, va);
      if (ok) {
        this.enterLocked(cpu, w, va, pg, prot, wired);
        this.flushInvalidations(cpu);
      }
      this.lock.unlock("pmap_enter");
      m.pvLock.unlock("pmap_enter");
      m.kernel.splx(s);
      if (ok) break;
      if (missing !== 0) this.faultPageTables(va);
    }
    m.pv.reclaim(m.host);
    return true;
  }

  /**
   * pmap_enter of a new user mapping in the 4.4BSD / FreeBSD 2.x order (erratum
   * freebsd-1996-aptd-interrupt): `pte = pmap_pte(pmap, va)` — for a pmap that is not current,
   * through APTmap after switching the alternate slot — with no spl and no lock; only the pv
   * insertion runs at splimp/splvm; then `*pte = npte` through the address found before. A bio
   * interrupt delivered in between (at any access, or at the splx that ends the pv insertion)
   * whose biodone runs pmap_page_protect switches the slot to another pmap: the store lands in
   * that pmap's page table and this one never gets its mapping. undefined: not the simple case
   * (tables missing, or a mapping already there) — the caller's path handles it.
   */
  private enter1995(va: VAddr, pg: VmPage, prot: number, wired: boolean, canFail: boolean): boolean | undefined {
    const m = this.m;
    if (!m.pv.reserve(m.host, pg, this, va, canFail)) return false;
    const cpu = m.machine.curcpu;
    const w = m.win.select(cpu, this);
    if (m.win.tablesPresent(cpu, w, va) !== 0) return undefined;
    const ea = w.pteVa(va);
    if ((m.win.load(cpu, ea) & PG_V) !== 0) return undefined;
    let bits = PG_V | PG_PVLIST;
    let nhi = hiOf(pg.pa);
    if (va < m.userMax) bits |= PG_U;
    if ((prot & PROT_WRITE) !== 0) bits |= PG_RW;
    if (m.hasNx && (prot & PROT_EXEC) === 0) nhi = (nhi | PG_NX) >>> 0;
    if (wired) bits |= PG_W;
    const s = m.kernel.splraise(SPLVM);
    m.pvLock.lock("pmap_enter");
    m.pv.insert(pg, this, va);
    this.residentCount++;
    if (wired) this.wiredCount++;
    m.pvLock.unlock("pmap_enter");
    m.kernel.splx(s);
    this.writeEntry(cpu, ea, loOf(pg.pa, bits), nhi);
    m.pv.reclaim(m.host);
    return true;
  }

  private enterLocked(cpu: Cpu, w: RecursiveWindow, va: VAddr, pg: VmPage, prot: number, wired: boolean): void {
    const m = this.m;
    const win = m.win;
    const ea = w.pteVa(va);
    const lo = win.load(cpu, ea);
    const hi = m.wide ? win.load(cpu, ea + 4) : 0;
    const pa = pg.pa;
    let bits = PG_V | PG_PVLIST;
    let nhi = hiOf(pa);
    if (!this.isKernel && va >= m.uptMin) {
      // A page-table page: the entry is a PDE/PDPTE/PML4E. 4.4BSD forces user + writable (the
      // self slot above it is supervisor-only, so user mode still cannot reach it); never NX,
      // which would make everything below it non-executable.
      bits |= PG_U | PG_RW;
    } else {
      if (!this.isKernel && va < m.userMax) bits |= PG_U;
      if ((prot & PROT_WRITE) !== 0) bits |= PG_RW;
      if (m.hasNx && (prot & PROT_EXEC) === 0) nhi = (nhi | PG_NX) >>> 0;
    }
    if (wired) bits |= PG_W;
    if ((lo & PG_V) !== 0) {
      if ((lo & PG_PVLIST) !== 0 && frameOf(lo, hi) === pa) {
        // Wiring or protection change of the same mapping: keep the hardware-set A/D bits.
        if (wired && (lo & PG_W) === 0) this.wiredCount++;
        else if (!wired && (lo & PG_W) !== 0) this.wiredCount--;
        const nlo = loOf(pa, bits | (lo & (PG_A | PG_M)));
        if (nlo !== lo || nhi !== hi) {
          this.writeEntry(cpu, ea, nlo, nhi);
          this.queueInvalidation(va);
        }
        return;
      }
      this.removePte(cpu, w, va, ea, lo, hi);
    }
    m.pv.insert(pg, this, va);
    this.residentCount++;
    if (wired) this.wiredCount++;
    this.writeEntry(cpu, ea, loOf(pa, bits), nhi);
  }

  /**
   * trap.c's page-table fault, done by pmap_enter as NetBSD 1.2 did: for each missing table of
   * va, top level first, ask the host to fault the page at its UPT address into the map that
   * owns this pmap (no pmap lock held: that fault enters the page through this very pmap).
   */
  private faultPageTables(va: VAddr): void {
    const m = this.m;
    for (let tries = 0; ; tries++) {
      const cpu = m.machine.curcpu;
      const w = m.win.select(cpu, this);
      const l = m.win.tablesPresent(cpu, w, va);
      if (l === 0) return;
      const pde = m.win.load(cpu, w.entryVa(va, l));
      if (tries > m.win.levels || !m.host.faultPageTable(this, m.win.ptw.tablePageVa(va, l - 1))) {
        m.kernel.panic(`ptdi ${hex(pde)}`);
      }
    }
  }

  // ------------------------------------------------------------------ pmap_remove

  /**
   * pmap_remove(pmap, sva, eva): skip addresses whose page table is missing, harvest PG_A|PG_M
   * into pmap_attributes, unlink the pv entry, zero the PTE; one invalidation pass at the end
   * (NetBSD; 4.4BSD reloaded CR3 per page).
   */
  remove(sva: VAddr, eva: VAddr): void {
    const m = this.m;
    m.cRemove.value++;
    sva = truncPage(sva);
    eva = roundPage(eva);
    if (sva >= eva) return;
    const s = m.kernel.splraise(SPLVM);
    m.pvLock.lock("pmap_remove");
    this.lock.lock("pmap_remove");
    const cpu = m.machine.curcpu;
    const w = m.win.select(cpu, this);
    const lo = this.isKernel ? m.kernLo : m.ownLo;
    const hi = this.isKernel ? m.kernHi : m.ownHi;
    for (let i = 0; i < lo.length; i++) {
      const a = Math.max(sva, lo[i] as number);
      const b = Math.min(eva, hi[i] as number);
      if (a < b) this.removeRange(cpu, w, a, b);
    }
    this.flushInvalidations(cpu);
    this.lock.unlock("pmap_remove");
    m.pvLock.unlock("pmap_remove");
    m.kernel.splx(s);
    m.pv.reclaim(m.host);
  }

  /**
   * Visit every valid PTE in [sva, eva) through window w, skipping whole runs whose page table
   * (or a table above it) is missing — the shared loop of pmap_remove and pmap_protect (locks held).
   */
  private eachValidPte(
    cpu: Cpu,
    w: RecursiveWindow,
    sva: VAddr,
    eva: VAddr,
    visit: (va: VAddr, ea: VAddr, lo: number) => void,
  ): void {
    const win = this.m.win;
    const e = win.entryBytes;
    const ptSpan = win.span[1] as number;
    let va = sva;
    while (va < eva) {
      const l = win.tablesPresent(cpu, w, va);
      if (l !== 0) {
        const span = win.span[l] as number;
        va = va - (va % span) + span;
        continue;
      }
      const end = Math.min(eva, va - (va % ptSpan) + ptSpan);
      let ea = w.pteVa(va);
      for (; va < end; va += PAGE_SIZE, ea += e) {
        const lo = win.load(cpu, ea);
        if ((lo & PG_V) !== 0) visit(va, ea, lo);
      }
    }
  }

  /** The loop of pmap_remove over [sva, eva) in window w (locks held). */
  removeRange(cpu: Cpu, w: RecursiveWindow, sva: VAddr, eva: VAddr): void {
    const win = this.m.win;
    const wide = this.m.wide;
    this.eachValidPte(cpu, w, sva, eva, (va, ea, lo) =>
      this.removePte(cpu, w, va, ea, lo, wide ? win.load(cpu, ea + 4) : 0),
    );
  }

  /**
   * Destroy one valid mapping (locks held). If va is a page-table page, whatever is still mapped
   * through it is removed first (bottom-up), so no pv entry or count is left behind pointing
   * under a table that is gone. 4.4BSD / NetBSD ≤1.3 only zeroed the entry: they relied on the
   * wiring trap.c put on page-table pages to keep the VM from ever taking one that still maps
   * pages. With the netbsd-1997-stale-pv erratum that wiring is dropped early (kernel trap.c),
   * and the old shortcut is back: the pv entries under the table outlive it (seed 002).
   */
  removePte(cpu: Cpu, w: RecursiveWindow, va: VAddr, ea: number, lo: number, hi: number): void {
    const m = this.m;
    if (!this.isKernel && va >= m.uptMin) {
      if (!m.stalePv) {
        const sub = m.tableTarget(va);
        this.removeRange(cpu, w, sub, sub + m.tableSpan);
      }
      this.ptpGen++;
    }
    m.win.store(cpu, ea, 0);
    if (m.wide) m.win.store(cpu, ea + 4, 0);
    if ((lo & PG_PVLIST) !== 0) {
      this.residentCount--;
      if ((lo & PG_W) !== 0) this.wiredCount--;
      const pa = frameOf(lo, hi);
      const pg =
        m.host.pageOf(pa) ?? m.kernel.panic(`pmap_remove: managed mapping of unmanaged frame ${hex(pa)} at ${hex(va)}`);
      m.pv.saveAttr(pg, lo & (PG_A | PG_M));
      m.pv.remove(pg, this, va);
    }
    this.queueInvalidation(va);
  }

  // ------------------------------------------------------------------ pmap_protect

  /**
   * pmap_protect(pmap, sva, eva, prot): no read right removes; rights are only ever lowered —
   * write-protect by clearing PG_RW and, where the machine has NX, set NX when execute is taken
   * away (4.4BSD had no execute control and returned as soon as prot had write). Page-table pages
   * keep their forced user + writable entry.
   */
  protect(sva: VAddr, eva: VAddr, prot: number): void {
    const m = this.m;
    if ((prot & PROT_READ) === 0) {
      this.remove(sva, eva);
      return;
    }
    m.cProtect.value++;
    const clearRw = (prot & PROT_WRITE) === 0;
    const setNx = m.hasNx && (prot & PROT_EXEC) === 0;
    if (!clearRw && !setNx) return;
    sva = truncPage(sva);
    eva = roundPage(eva);
    if (sva >= eva) return;
    const s = m.kernel.splraise(SPLVM);
    this.lock.lock("pmap_protect");
    const cpu = m.machine.curcpu;
    const w = m.win.select(cpu, this);
    const lo = this.isKernel ? m.kernLo : m.ownLo;
    const hi = this.isKernel ? m.kernHi : m.ownHi;
    for (let i = 0; i < lo.length; i++) {
      const a = Math.max(sva, lo[i] as number);
      // User pmaps: page-table pages (from uptMin up) keep their forced rights.
      const top = this.isKernel ? (hi[i] as number) : Math.min(hi[i] as number, m.uptMin);
      const b = Math.min(eva, top);
      if (a < b) this.protectRange(cpu, w, a, b, clearRw ? PG_RW : 0, setNx ? PG_NX : 0);
    }
    this.flushInvalidations(cpu);
    this.lock.unlock("pmap_protect");
    m.kernel.splx(s);
  }

  private protectRange(cpu: Cpu, w: RecursiveWindow, sva: VAddr, eva: VAddr, clearLo: number, setHi: number): void {
    const win = this.m.win;
    const wide = this.m.wide;
    this.eachValidPte(cpu, w, sva, eva, (va, ea, lo) => {
      const nlo = (lo & ~clearLo) >>> 0;
      if (nlo !== lo) win.store(cpu, ea, nlo);
      let changed = nlo !== lo;
      if (wide && setHi !== 0) {
        const hi = win.load(cpu, ea + 4);
        const nhi = (hi | setHi) >>> 0;
        if (nhi !== hi) {
          win.store(cpu, ea + 4, nhi);
          changed = true;
        }
      }
      if (changed) this.queueInvalidation(va);
    });
  }

  // ------------------------------------------------------------------ wiring, extract

  /** pmap_change_wiring(pmap, va, FALSE): clear PG_W (a software bit: no TLB invalidation). */
  unwire(va: VAddr): void {
    const m = this.m;
    va = truncPage(va);
    if (!this.inRange(va)) return;
    const s = m.kernel.splraise(SPLVM);
    this.lock.lock("pmap_unwire");
    const cpu = m.machine.curcpu;
    const w = m.win.select(cpu, this);
    if (m.win.tablesPresent(cpu, w, va) === 0) {
      const ea = w.pteVa(va);
      const lo = m.win.load(cpu, ea);
      if ((lo & PG_V) !== 0 && (lo & PG_W) !== 0) {
        m.win.store(cpu, ea, (lo & ~PG_W) >>> 0);
        this.wiredCount--;
      }
    }
    this.lock.unlock("pmap_unwire");
    m.kernel.splx(s);
  }

  /** pmap_extract: the physical address mapped at va (NetBSD: only through a valid PTE). */
  extract(va: VAddr): PAddr | undefined {
    const m = this.m;
    const cpu = m.machine.curcpu;
    const w = m.win.select(cpu, this);
    if (m.win.tablesPresent(cpu, w, va) !== 0) return undefined;
    const ea = w.pteVa(va);
    const lo = m.win.load(cpu, ea);
    if ((lo & PG_V) === 0) return undefined;
    return frameOf(lo, m.wide ? m.win.load(cpu, ea + 4) : 0) + (va % PAGE_SIZE);
  }

  // ------------------------------------------------------------------ activation, lifetime

  /** pmap_activate: load CR3 on the CPU (the PDPT on PAE) unless it is already there. */
  activate(cpuIndex: number): void {
    const m = this.m;
    const c = m.machine.cpu(cpuIndex);
    const prev = m.onCpu[cpuIndex];
    if (prev !== undefined && prev !== null && prev !== this) prev.active &= ~(1 << cpuIndex);
    m.onCpu[cpuIndex] = this;
    this.active |= 1 << cpuIndex;
    if (c.cr3 !== this.cr3) {
      c.loadCr3(this.cr3);
      m.win.markClean(cpuIndex);
    }
  }

  /**
   * pmap_deactivate: the CPU no longer runs this address space. CR3 is left as it is (the next
   * activate replaces it); shootdowns still reach a CPU whose CR3 holds the pmap.
   */
  deactivate(cpuIndex: number): void {
    const m = this.m;
    this.active &= ~(1 << cpuIndex);
    if (m.onCpu[cpuIndex] === this) m.onCpu[cpuIndex] = null;
  }

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

  // ------------------------------------------------------------------ TLB invalidation

  /** Note that va's translation changed; sent at the end of the call (pmap_update). */
  queueInvalidation(va: VAddr): void {
    if (this.invlN < SHOOTDOWN_BATCH) this.invlVa[this.invlN++] = va;
    else this.invlAll = true;
  }

  /**
   * Invalidate what was queued wherever this pmap may be cached: INVLPG here if it is active
   * here, an IPI (shootdown) to every other CPU where it is active or loaded in CR3 — every CPU
   * for the kernel pmap. Mach's i386 pmap was uniprocessor and had no shootdown.
   */
  flushInvalidations(cur: Cpu): void {
    if (this.invlN === 0 && !this.invlAll) return;
    const m = this.m;
    const cpus = m.machine.cpus;
    for (let i = 0; i < cpus.length; i++) {
      const c = cpus[i] as Cpu;
      if (!this.isKernel && (this.active & (1 << i)) === 0 && c.cr3 !== this.cr3) continue;
      if (c === cur) this.invalidateOn(c);
      else {
        m.machine.ipi(cur, c, this.ipiHandler);
        m.cShootdown.value++;
      }
    }
    this.invlN = 0;
    this.invlAll = false;
  }

  private invalidateOn(c: Cpu): void {
    if (this.invlAll) {
      c.loadCr3(c.cr3);
      this.m.win.markClean(c.id);
      return;
    }
    for (let i = 0; i < this.invlN; i++) c.invlpg(this.invlVa[i] as number);
  }

  // ------------------------------------------------------------------ helpers

  /** Write an entry, high half first so it never becomes valid with a stale high half. */
  writeEntry(cpu: Cpu, ea: number, lo: number, hi: number): void {
    const win = this.m.win;
    if (this.m.wide) win.store(cpu, ea + 4, hi);
    win.store(cpu, ea, lo);
  }

  /** Whether va may be mapped in this pmap (user, u-area and own page tables; kernel range). */
  inRange(va: VAddr): boolean {
    const m = this.m;
    const lo = this.isKernel ? m.kernLo : m.ownLo;
    const hi = this.isKernel ? m.kernHi : m.ownHi;
    for (let i = 0; i < lo.length; i++) if (va >= (lo[i] as number) && va < (hi[i] as number)) return true;
    return false;
  }

  private checkVa(va: VAddr, fn: string): void {
    if (va % PAGE_SIZE !== 0 || !this.inRange(va)) {
      this.m.kernel.panic(`${fn}: va ${hex(va)} outside ${this.isKernel ? "the kernel" : "a user"} pmap's range`);
    }
  }
}
