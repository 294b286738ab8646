/**
 * struct pmap and the calls on one address space (FreeBSD sys/i386/i386/pmap.c and
 * sys/amd64/amd64/pmap.c, 7.x–8.x): pmap_enter, pmap_remove, pmap_protect, pmap_change_wiring
 * (unwire), pmap_extract, pmap_activate, pmap_reference / pmap_destroy.
 *
 * On i386 these reach PTEs through pmap_pte → get_ptbase: PTmap for the current pmap, APTmap for
 * any other (the FreeBSD 2.x–4.x form of pmap_pte, kept here for the range calls); pv-list walks,
 * promotion and demotion use pmap_pte_quick (PMAP1). On amd64 everything goes through the DMAP.
 * Every call runs at splvm with the pvh global lock, the pmap's lock, and the CPU pinned.
 */
import type { Mutex, PAddr, Pmap, VAddr, VmPage } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { Cpu } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { FreebsdModule } from "./module.js";
import { demotePde, promotePde, protectPde, removePde } from "./promote.js";
import { PG_MANAGED, PG_NX, PG_W } from "./pte.js";
import { allocPte, unusePt } from "./ptp.js";
import { getPvEntry } from "./pv.js";
import { type PvChunk, PvChunks, type PvEntry, type PvOwner } from "./pv-chunk.js";
import type { WindowPmap } from "./window.js";

const { hex, PAGE_SIZE, PMAP_ACCESS_MASK, PMAP_CANFAIL, PMAP_WIRED, roundPage, truncPage } = core;
const PROT_READ = core.PROT_READ;
const PROT_WRITE = core.PROT_WRITE;
const PROT_EXEC = core.PROT_EXEC;
const { PG_A, PG_G, PG_M, PG_PS, PG_RW, PG_U, PG_V, pteFrame, pteHi, pteLo } = hw;

export class FreebsdPmap implements Pmap, WindowPmap, PvOwner {
  /** pm_stats.resident_count: mappings (a superpage counts NPTEPG) + user page-table pages. */
  residentCount = 0;
  /** pm_stats.wired_count. */
  wiredCount = 0;
  /** pm_count. */
  refs = 1;
  /** pm_active: CPUs that may cache this pmap's translations. */
  active = 0;
  /** CR3: the PD (i386), the PDPT (PAE), the PML4 (amd64). */
  cr3 = 0;
  /** Frames of the directory page(s): PD0..PD(NPGPTD-1), or the PML4. */
  readonly pdirPa: PAddr[] = [];
  /** pm_pdir: kernel VA of the directory (i386; NPGPTD consecutive pages). */
  pdirVa: VAddr = 0;
  /** PAE: kernel VA of the PDPT page (pm_pdpt). */
  pdptVa: VAddr = 0;
  /** amd64: the PML4 page. */
  pml4Pg: VmPage | null = null;
  /** pm_root: page-table pages kept for demotion, by pindex (va >> PDRSHIFT). */
  readonly ptRoot = new Map<number, PAddr>();
  /** pm_pvchunk. */
  pvHead: PvChunk | null = null;
  pvTail: PvChunk | null = null;
  released = false;
  /** PMAP_LOCK. */
  readonly lock: Mutex;

  constructor(
    readonly m: FreebsdModule,
    readonly id: number,
    readonly isKernel: boolean,
  ) {
    this.lock = m.kernel.mutex(isKernel ? "pmap kernel" : `pmap ${id}`, { type: "pmap", dupok: true });
  }

  // ------------------------------------------------------------------ pmap_enter

  /**
   * pmap_enter(pmap, va, m, prot, flags): insert the mapping now. User addresses get their page
   * table from pmap_allocpte (which demotes a superpage first); the kernel's must exist and must
   * not be a superpage ("pmap_enter: attempted pmap_enter on 2MB page"). The same page keeps its
   * pv entry (protection / wiring change); a different page's is reused; PG_A is preset, PG_M too
   * for a write access. The TLB is invalidated only when the old PTE may be cached with a
   * different frame, write permission or execute permission. Then promotion is tried when the
   * page table and the reservation are full.
   */
  enter(va: VAddr, pg: VmPage, prot: number, flags: number): boolean {
    const m = this.m;
    m.cEnter.value++;
    this.checkEnterVa(va);
    const wired = (flags & PMAP_WIRED) !== 0;
    const access = flags & PMAP_ACCESS_MASK;
    const canFail = (flags & PMAP_CANFAIL) !== 0;
    const s = m.enterPv("pmap_enter");
    this.lock.lock("pmap_enter");
    const cpu = m.machine.curcpu;
    const win = m.win;
    const q = m.freeq.length;
    let mpte: VmPage | null = null;
    if (!this.isKernel) {
      mpte = allocPte(m, cpu, this, va);
      if (mpte === null) return this.enterFailed(s, q, canFail, "pmap_enter: no page table page");
    }
    const pdeEa = m.pdeVa(cpu, this, va);
    if (pdeEa < 0) m.kernel.panic(`pmap_enter: invalid page directory va=${hex(va)}`);
    const pde = win.load(cpu, pdeEa);
    if ((pde & PG_PS) !== 0) {
      // The 2010 workaround (seed 001): a superpage that already maps va to this page as asked
      // is left as it is. Without it (erratum freebsd-2009-promote-litter), FreeBSD 8.0's panic.
      if (!m.kernelPteLitter && this.superpageMaps(pde, win.loadHi(cpu, pdeEa), va, pg.pa, prot, wired)) {
        m.kernel.trace.emit("pmap", "enter.ps_unchanged", { pmap: this.id, va });
        this.lock.unlock("pmap_enter");
        m.leavePv(s, "pmap_enter");
        m.freeZeroPages(q);
        return true;
      }
      m.kernel.panic(`pmap_enter: attempted pmap_enter on ${m.L.psName} page`);
    }
    if ((pde & PG_V) === 0) m.kernel.panic(`pmap_enter: invalid page directory pdir=${hex(pde)}, va=${hex(va)}`);
    let ea = m.pteVa(cpu, this, va, pdeEa);
    let olo = win.load(cpu, ea);
    let ohi = win.loadHi(cpu, ea);
    const pa = pg.pa;
    // (m->flags & (PG_FICTITIOUS | PG_UNMANAGED)) == 0: only managed pages get pv entries.
    const managed = pg.unmanaged !== true && m.host.pageOf(pa) === pg;
    let opa = (olo & PG_V) !== 0 ? pteFrame(olo, ohi) : -1;
    if (opa === pa && ((olo & PG_MANAGED) !== 0) === managed) {
      // Same page: a protection or wiring change; the mapping (and its pv entry) stays.
      if (wired && (olo & PG_W) === 0) this.wiredCount++;
      else if (!wired && (olo & PG_W) !== 0) this.wiredCount--;
      if (mpte !== null) mpte.wireCount--;
      if ((olo & PG_MANAGED) !== 0) m.md(pg).attrs |= olo & (PG_A | PG_M);
    } else {
      let pv: PvEntry | null = null;
      if (opa >= 0) {
        if ((olo & PG_W) !== 0) this.wiredCount--;
        if ((olo & PG_MANAGED) !== 0) {
          const omd = m.md(m.pageOf(opa, "pmap_enter: managed mapping of an unmanaged page"));
          omd.attrs |= olo & (PG_A | PG_M);
          pv = m.pv.pvhRemove(omd, this, va) ?? m.kernel.panic("pmap_pvh_remove: pv not found");
        }
        if (mpte !== null) mpte.wireCount--;
      } else {
        this.residentCount++;
      }
      if (managed) {
        if (pv === null) {
          pv = getPvEntry(m, cpu, this, canFail);
          if (pv === null) {
            // Undo: the old mapping (if any) was unmanaged, so nothing else changed.
            if (opa >= 0) {
              if ((olo & PG_W) !== 0) this.wiredCount++;
              if (mpte !== null) mpte.wireCount++;
            } else this.residentCount--;
            if (mpte !== null) unusePt(m, cpu, this, va, pdeEa);
            return this.enterFailed(s, q, canFail, "get_pv_entry: increase vm.pmap.shpgperproc");
          }
          // pmap_pv_reclaim may have run: reach the PTE again.
          ea = m.pteVa(cpu, this, va, pdeEa);
          olo = win.load(cpu, ea);
          ohi = win.loadHi(cpu, ea);
        }
        PvChunks.insertTail(m.md(pg), pv, va);
      } else if (pv !== null) {
        m.pv.free(this, pv);
      }
      if (wired) this.wiredCount++;
    }
    opa = (olo & PG_V) !== 0 ? pteFrame(olo, ohi) : -1;
    let nlo = PG_V | PG_A;
    if ((prot & PROT_WRITE) !== 0) {
      nlo |= PG_RW;
      if ((access & PROT_WRITE) !== 0) nlo |= PG_M;
    }
    if (wired) nlo |= PG_W;
    if (managed) nlo |= PG_MANAGED;
    if (this.isKernel) nlo |= PG_G;
    else if (va < m.userMax) nlo |= PG_U;
    if (opa === pa) nlo |= olo & (PG_A | PG_M) & (nlo & PG_RW ? PG_A | PG_M : PG_A);
    const nhi = m.hasNx && (prot & PROT_EXEC) === 0 ? (pteHi(pa) | PG_NX) >>> 0 : pteHi(pa);
    win.write(cpu, ea, pteLo(pa, nlo), nhi);
    if (opa >= 0) {
      let invlva = false;
      if ((olo & PG_A) !== 0) {
        if (opa !== pa) invlva = true;
        if ((ohi & PG_NX) === 0 && (nhi & PG_NX) !== 0) invlva = true;
      }
      // A writable entry may be cached even while clean (the machine audit admits none over a
      // read-only PTE; FreeBSD relied on PG_M being clear for that case).
      if ((olo & (PG_A | PG_RW)) === (PG_A | PG_RW) && (nlo & PG_RW) === 0) invlva = true;
      if (invlva) m.invalidatePage(cpu, this, va);
    }
    // Promotion: the page table and the reservation are both fully populated.
    if ((mpte === null || mpte.wireCount === m.nptepg) && m.pgPsEnabled && m.host.reservLevelIfFullPop(pg) === 0) {
      promotePde(m, cpu, this, pdeEa, va);
    }
    this.lock.unlock("pmap_enter");
    m.leavePv(s, "pmap_enter");
    m.freeZeroPages(q);
    return true;
  }

  /**
   * Whether the superpage PDE (lo, hi) already maps va to pa with the protection and wiring
   * pmap_enter was asked for — the check seed 001's poster added at the top of pmap_enter ("leave
   * things as they were"), here where it matters: in front of the 2/4 MiB panic.
   */
  private superpageMaps(lo: number, hi: number, va: VAddr, pa: PAddr, prot: number, wired: boolean): boolean {
    const m = this.m;
    const f = pteFrame(lo, hi);
    if (f - (f % m.nbpdr) + (truncPage(va) % m.nbpdr) !== pa) return false;
    if (((lo & PG_RW) !== 0) !== ((prot & PROT_WRITE) !== 0)) return false;
    if (((lo & PG_W) !== 0) !== wired) return false;
    return !m.hasNx || ((hi & PG_NX) !== 0) === ((prot & PROT_EXEC) === 0);
  }

  private enterFailed(s: number, q: number, canFail: boolean, msg: string): boolean {
    const m = this.m;
    this.lock.unlock("pmap_enter");
    m.leavePv(s, "pmap_enter");
    m.freeZeroPages(q);
    m.kernel.trace.emit("pmap", "enter.fail", { pmap: this.id, reason: msg });
    if (canFail) return false;
    return m.kernel.panic(msg);
  }

  // ------------------------------------------------------------------ pmap_remove

  /**
   * pmap_remove(pmap, sva, eva): per page-directory entry; a whole superpage is removed with
   * pmap_remove_pde, a partial one demoted first; each valid PTE through pmap_remove_pte (stopping
   * when its page table was freed). One pmap_invalidate_all at the end if anything non-global was
   * removed — FreeBSD's lazy form — global ones are invalidated one by one.
   */
  remove(sva: VAddr, eva: VAddr): void {
    const m = this.m;
    m.cRemove.value++;
    sva = truncPage(sva);
    eva = roundPage(eva);
    if (sva < this.lo) sva = this.lo;
    if (eva > this.hi) eva = this.hi;
    if (sva >= eva || this.residentCount === 0) return;
    const s = m.enterPv("pmap_remove");
    this.lock.lock("pmap_remove");
    const cpu = m.machine.curcpu;
    const q = m.freeq.length;
    const anyvalid = this.removeRange(cpu, sva, eva);
    if (anyvalid) m.invalidateAll(cpu, this);
    this.lock.unlock("pmap_remove");
    m.leavePv(s, "pmap_remove");
    m.freeZeroPages(q);
  }

  /** The loop of pmap_remove (locks held); returns whether a non-global mapping was removed. */
  private removeRange(cpu: Cpu, sva: VAddr, eva: VAddr): boolean {
    const m = this.m;
    const win = m.win;
    const e = win.entryBytes;
    let anyvalid = false;
    let pdnxt: VAddr;
    for (let va = sva; va < eva; va = pdnxt) {
      pdnxt = va - (va % m.nbpdr) + m.nbpdr;
      if (this.residentCount === 0) break;
      const pdeEa = m.pdeVa(cpu, this, va);
      if (pdeEa < 0) {
        pdnxt = m.skipMissing(cpu, this, va);
        continue;
      }
      const pde = win.load(cpu, pdeEa);
      if ((pde & PG_V) === 0) continue;
      if ((pde & PG_PS) !== 0) {
        if (va % m.nbpdr === 0 && eva >= pdnxt && !this.isKernel) {
          if ((pde & PG_G) === 0) anyvalid = true;
          removePde(m, cpu, this, pdeEa, va);
          continue;
        }
        if (!demotePde(m, cpu, this, pdeEa, va)) continue;
      }
      const end = pdnxt < eva ? pdnxt : eva;
      let ea = m.pteVa(cpu, this, va, pdeEa);
      for (let v = va; v < end; v += PAGE_SIZE, ea += e) {
        const lo = win.load(cpu, ea);
        if ((lo & PG_V) === 0) continue;
        if ((lo & PG_G) === 0) anyvalid = true;
        if (this.removePte(cpu, ea, v, pdeEa)) break;
      }
    }
    return anyvalid;
  }

  /**
   * pmap_remove_pte: clear one PTE; counts, PG_A/PG_M to the page, its pv entry freed, its page
   * table unwired (true if that freed it). A global PTE is invalidated at once.
   *
   * Erratum freebsd-2009-promote-litter (seed 001, as its poster described FreeBSD 8.0): kernel
   * page tables are never freed, and the kernel-VA shortcut of the pmap_unuse_pt path leaves the
   * PTE as it was — valid, no shootdown — and only the statistics change. The litter maps the
   * same page again if the VA is reused (kmem_object's reservation holds it in place), and can
   * make a page table look complete to pmap_promote_pde.
   */
  private removePte(cpu: Cpu, ea: VAddr, va: VAddr, pdeEa: VAddr): boolean {
    const m = this.m;
    const win = m.win;
    const lo = win.load(cpu, ea);
    const hi = win.loadHi(cpu, ea);
    const litter = this.isKernel && m.kernelPteLitter;
    if (!litter) win.zap(cpu, ea);
    if ((lo & PG_W) !== 0) this.wiredCount--;
    if ((lo & PG_G) !== 0 && !litter) m.invalidatePage(cpu, this, va);
    this.residentCount--;
    if ((lo & PG_MANAGED) !== 0) {
      const md = m.md(m.pageOf(pteFrame(lo, hi), "pmap_remove_pte: managed mapping of an unmanaged page"));
      md.attrs |= lo & (PG_A | PG_M);
      const pv = m.pv.pvhRemove(md, this, va) ?? m.kernel.panic("pmap_pvh_free: pv not found");
      m.pv.free(this, pv);
    }
    return unusePt(m, cpu, this, va, pdeEa);
  }

  // ------------------------------------------------------------------ pmap_protect

  /**
   * pmap_protect(pmap, sva, eva, prot): no read → pmap_remove; only lowers: PG_RW|PG_M off without
   * write (PG_M to the page), NX on without execute where there is NX; returns early when nothing
   * would be lowered. Whole superpages through pmap_protect_pde, partial ones demoted first.
   */
  protect(sva: VAddr, eva: VAddr, prot: number): void {
    const m = this.m;
    if ((prot & PROT_READ) === 0) {
      this.remove(sva, eva);
      return;
    }
    const clearRw = (prot & PROT_WRITE) === 0;
    const setNx = m.hasNx && (prot & PROT_EXEC) === 0;
    if (!clearRw && !setNx) return;
    sva = truncPage(sva);
    eva = roundPage(eva);
    if (sva < this.lo) sva = this.lo;
    if (eva > this.hi) eva = this.hi;
    if (sva >= eva) return;
    const s = m.enterPv("pmap_protect");
    this.lock.lock("pmap_protect");
    const cpu = m.machine.curcpu;
    const q = m.freeq.length;
    const win = m.win;
    const e = win.entryBytes;
    let anychanged = false;
    let pdnxt: VAddr;
    for (let va = sva; va < eva; va = pdnxt) {
      pdnxt = va - (va % m.nbpdr) + m.nbpdr;
      const pdeEa = m.pdeVa(cpu, this, va);
      if (pdeEa < 0) {
        pdnxt = m.skipMissing(cpu, this, va);
        continue;
      }
      const pde = win.load(cpu, pdeEa);
      if ((pde & PG_V) === 0) continue;
      if ((pde & PG_PS) !== 0) {
        if (va % m.nbpdr === 0 && eva >= pdnxt) {
          if (protectPde(m, cpu, this, pdeEa, va, clearRw, setNx)) anychanged = true;
          continue;
        }
        if (!demotePde(m, cpu, this, pdeEa, va)) continue;
      }
      const end = pdnxt < eva ? pdnxt : eva;
      let ea = m.pteVa(cpu, this, va, pdeEa);
      for (let v = va; v < end; v += PAGE_SIZE, ea += e) {
        const lo = win.load(cpu, ea);
        if ((lo & PG_V) === 0) continue;
        let changed = false;
        if (clearRw && (lo & PG_RW) !== 0) {
          if ((lo & (PG_MANAGED | PG_M)) === (PG_MANAGED | PG_M)) {
            m.md(m.pageOf(pteFrame(lo, win.loadHi(cpu, ea)), "pmap_protect: unmanaged")).attrs |= PG_M;
          }
          win.store(cpu, ea, (lo & ~(PG_RW | PG_M)) >>> 0);
          changed = true;
        }
        if (setNx && m.wide) {
          const hi = win.load(cpu, ea + 4);
          if ((hi & PG_NX) === 0) {
            win.store(cpu, ea + 4, (hi | PG_NX) >>> 0);
            changed = true;
          }
        }
        if (!changed) continue;
        if ((lo & PG_G) !== 0) m.invalidatePage(cpu, this, v);
        else anychanged = true;
      }
    }
    if (anychanged) m.invalidateAll(cpu, this);
    this.lock.unlock("pmap_protect");
    m.leavePv(s, "pmap_protect");
    m.freeZeroPages(q);
  }

  // ------------------------------------------------------------------ wiring, extract

  /**
   * pmap_change_wiring(pmap, va, FALSE): clear PG_W (a software bit: no invalidation). A wired
   * superpage is demoted first ("pmap_change_wiring: demotion failed"). An unwired or missing
   * mapping is left alone.
   */
  unwire(va: VAddr): void {
    const m = this.m;
    va = truncPage(va);
    if (this.isKernel && m.kernelPteLitter) {
      // Erratum freebsd-2009-promote-litter: the kernel-VA shortcut leaves the kernel PTE (PG_W
      // included) as it was; pmap_remove settles wired_count when the mapping goes.
      m.kernel.trace.emit("pmap", "unwire.kernel_shortcut", { va });
      return;
    }
    const s = m.enterPv("pmap_change_wiring");
    this.lock.lock("pmap_change_wiring");
    const cpu = m.machine.curcpu;
    const q = m.freeq.length;
    const win = m.win;
    const pdeEa = m.pdeVa(cpu, this, va);
    const pde = pdeEa >= 0 ? win.load(cpu, pdeEa) : 0;
    let go = (pde & PG_V) !== 0;
    if (go && (pde & PG_PS) !== 0) {
      if ((pde & PG_W) === 0) go = false;
      else if (!demotePde(m, cpu, this, pdeEa, va)) m.kernel.panic("pmap_change_wiring: demotion failed");
    }
    if (go) {
      const ea = m.pteVa(cpu, this, va, pdeEa);
      const lo = win.load(cpu, ea);
      if ((lo & (PG_V | PG_W)) === (PG_V | PG_W)) {
        win.store(cpu, ea, (lo & ~PG_W) >>> 0);
        this.wiredCount--;
      } else {
        m.kernel.trace.emit("pmap", "unwire.unchanged", { pmap: this.id, va });
      }
    }
    this.lock.unlock("pmap_change_wiring");
    m.leavePv(s, "pmap_change_wiring");
    m.freeZeroPages(q);
  }

  /** pmap_extract: the physical address at va (a superpage's frame + offset), or undefined. */
  extract(va: VAddr): PAddr | undefined {
    const m = this.m;
    const s = m.kernel.splraise(core.IPL.VM);
    const cpu = m.machine.curcpu;
    const win = m.win;
    let pa: PAddr | undefined;
    const pdeEa = m.pdeVa(cpu, this, va);
    const pde = pdeEa >= 0 ? win.load(cpu, pdeEa) : 0;
    if ((pde & PG_V) !== 0) {
      const hi = win.loadHi(cpu, pdeEa);
      if ((pde & PG_PS) !== 0) {
        const f = pteFrame(pde, hi);
        pa = f - (f % m.nbpdr) + (va % m.nbpdr);
      } else {
        const ea = m.pteVa(cpu, this, va, pdeEa);
        const lo = win.load(cpu, ea);
        if ((lo & PG_V) !== 0) pa = pteFrame(lo, win.loadHi(cpu, ea)) + (va % PAGE_SIZE);
      }
    }
    m.kernel.splx(s);
    return pa;
  }

  // ------------------------------------------------------------------ activation, lifetime

  /** pmap_activate: set this CPU in pm_active and load CR3. */
  activate(cpuIndex: number): void {
    this.m.activate(this, cpuIndex);
  }

  /**
   * The CPU stops running this address space. FreeBSD has no pmap_deactivate: the CPU keeps the
   * tables loaded (lazily) and stays in pm_active until pmap_activate loads another pmap.
   */
  deactivate(_cpuIndex: number): void {}

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

  get lo(): VAddr {
    return this.isKernel ? this.m.layout.kernelBase : 0;
  }

  get hi(): VAddr {
    return this.isKernel ? this.m.layout.kernelMax : this.m.layout.mapMax;
  }

  private checkEnterVa(va: VAddr): void {
    const m = this.m;
    if (va % PAGE_SIZE === 0 && va >= this.lo && va < this.hi) return;
    if (this.isKernel && va >= this.hi) m.kernel.panic("pmap_enter: toobig");
    if (!this.isKernel && va >= m.layout.mapMax && va < m.layout.kernelBase) {
      m.kernel.panic(`pmap_enter: invalid to pmap_enter page table pages (va: ${hex(va)})`);
    }
    m.kernel.panic(`pmap_enter: va ${hex(va)} outside ${this.isKernel ? "the kernel" : "a user"} pmap's range`);
  }
}
