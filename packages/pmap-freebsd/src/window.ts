/**
 * How the FreeBSD pmap reaches page tables — always through virtual addresses translated by the
 * current CPU's MMU and TLB (ARCHITECTURE.md decision 2), never by physical address.
 *
 * i386 and i386 PAE (sys/i386/i386/pmap.c, FreeBSD 2.x–4.x get_ptbase / pmap_pte and the 1996+
 * pmap_pte_quick):
 *  - PTmap: the current pmap (the kernel's, or the one whose directory is in CR3) through the
 *    recursive slot PTDPTDI; `vtopte(va) = PTmap + i386_btop(va)`.
 *  - APTmap: any other pmap through the alternate slot APTDPTDI of the *current* directory
 *    (APTDpde, written through PTD): when it names another directory it is re-pointed and the
 *    whole TLB flushed (`invltlb()`); counted in pmap.window.switch / pmap.window.flush.
 *  - PMAP1/PADDR1 (pmap_pte_quick): one page-table page of another pmap at a single reserved
 *    kernel page, only while the thread is pinned to its CPU (sched_pin), with an INVLPG of PADDR1
 *    when the page changes or the CPU is not the one that last loaded it (PMAP1cpu).
 *  - CMAP1/CMAP2 (per-CPU sysmaps): pmap_copy_page / pmap_zero_page.
 * amd64 (sys/amd64/amd64/pmap.c, FreeBSD 8): every page-table page of every pmap at
 * PHYS_TO_DMAP(pa); nothing to switch, nothing to flush. vtopte (the recursive slot) is used for
 * kernel PTEs by pmap_kenter / pmap_kremove.
 *
 * SMP. APTDpde lives in a page directory that every CPU running that address space shares, and
 * vmlab's machine audit admits no owed invalidation at an audit point. So a switch of APTDpde
 * flushes every CPU that has the directory loaded (FreeBSD 3.x SMP's invltlb was broadcast too),
 * a page-table page freed, promoted or demoted is invalidated at its APTmap address on every CPU
 * whose directory's APTDpde names its pmap, and a change of PMAP1 shoots PADDR1 down on the CPUs
 * that used it since the last change (FreeBSD instead left it to the next CPU to use PMAP1, via
 * PMAP1cpu, which is kept as well).
 */
import type { Counter, KernelServices, PAddr, VAddr } from "@vmlab/core";
import * as core from "@vmlab/core";
import { DMAP_MIN_ADDRESS } from "@vmlab/hw-amd64";
import type { Cpu, Machine } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import { type FreebsdLayout, SYSMAPS_PER_CPU } from "./layout.js";

// Module-local copies of hot imported bindings (each use of an import is a getter under Vitest).
const { hex, PAGE_SIZE } = core;
const { PG_A, PG_M, PG_RW, PG_V, pteFrame, pteHi, pteLo } = hw;

/** What the windows need to know of a pmap. */
export interface WindowPmap {
  readonly id: number;
  readonly isKernel: boolean;
  /** Frames of the top-level table pages (PAE: PD0..PD3; amd64: the PML4). */
  readonly pdirPa: readonly PAddr[];
}

/** sysmaps slot numbers (CMAP1/CADDR1 and CMAP2/CADDR2). */
export const SYSMAP_1 = 0;
export const SYSMAP_2 = 1;

export class Window {
  /** True on amd64: page tables through the direct map. */
  readonly dmap: boolean;
  readonly wide: boolean;
  readonly entryBytes: number;
  /** PTmap: RecursiveWindow(format, PTDPTDI, PTDPTDI) (amd64: PML4PML4I, vtopte only). */
  readonly ptw: hw.RecursiveWindow;
  /** APTmap: RecursiveWindow(format, APTDPTDI, PTDPTDI); null on amd64. */
  readonly aptw: hw.RecursiveWindow | null;
  /** The pmap whose top-level table each CPU has in CR3 (kept by the module). */
  readonly loaded: (WindowPmap | null)[];
  /** td_pinned per CPU (sched_pin / sched_unpin). */
  readonly pinned: Int32Array;
  /** PMAP1cpu: the CPU that last loaded PMAP1 (-1: none). */
  pmap1Cpu = -1;
  /** CPUs that may hold a PADDR1 translation (bit per CPU). */
  private pmap1Users = 0;
  /** Which pmap each directory's APTDpde names (a mirror of the slots in memory). */
  readonly aptdOf = new Map<WindowPmap, WindowPmap>();
  /** APTDpde's address in the current directory (through PTD), per PAE slot. */
  private readonly aptdpdeVa: VAddr[] = [];
  /** vtopte(PADDR1) = PMAP1, and vtopte(CADDR1) of CPU 0. */
  private readonly pmap1Va: VAddr;
  private readonly sysmapPteVa: VAddr;
  private readonly nptepg: number;
  private readonly cSwitch: Counter;
  private readonly cFlush: Counter;
  private readonly cP1Changed: Counter;
  private readonly cP1Unchanged: Counter;
  private readonly cP1ChangedCpu: Counter;
  private readonly cShootdown: Counter;
  private readonly flushHandler = (c: Cpu): void => c.loadCr3(c.cr3);
  private aptInvlVa = 0;
  private readonly aptInvlHandler = (c: Cpu): void => c.invlpg(this.aptInvlVa);
  private readonly paddr1Handler = (c: Cpu): void => c.invlpg(this.L.paddr1);

  constructor(
    readonly machine: Machine,
    readonly L: FreebsdLayout,
    private readonly kernel: KernelServices,
  ) {
    const f = machine.format;
    this.dmap = L.machine === "amd64";
    this.wide = L.entryBytes === 8;
    this.entryBytes = L.entryBytes;
    this.nptepg = L.nptepg;
    this.ptw = new hw.RecursiveWindow(f, L.ptdptdi, L.ptdptdi);
    if (this.ptw.base !== L.layout.ptmap) throw new Error(`pmap-freebsd: ${L.machine} PTmap disagrees with the window`);
    this.aptw = L.aptdptdi >= 0 ? new hw.RecursiveWindow(f, L.aptdptdi, L.ptdptdi) : null;
    if (this.aptw !== null) {
      for (let k = 0; k < L.npgptd; k++) this.aptdpdeVa.push(this.ptw.entryVa(this.aptw.base + k * L.nbpdr, 1));
    }
    this.pmap1Va = this.ptw.pteVa(L.paddr1);
    this.sysmapPteVa = this.ptw.pteVa(L.sysmapsVa);
    const n = machine.cpus.length;
    this.loaded = new Array<WindowPmap | null>(n).fill(null);
    this.pinned = new Int32Array(n);
    const c = kernel.counters;
    this.cSwitch = c.counter("pmap.window.switch");
    this.cFlush = c.counter("pmap.window.flush");
    this.cP1Changed = c.counter("debug.PMAP1changed");
    this.cP1Unchanged = c.counter("debug.PMAP1unchanged");
    this.cP1ChangedCpu = c.counter("debug.PMAP1changedcpu");
    this.cShootdown = c.counter("pmap.shootdown");
  }

  // ------------------------------------------------------------------ raw access through the MMU

  /** A supervisor load at a window address; a fault means the windows are broken: panic. */
  load(cpu: Cpu, va: VAddr): number {
    const v = cpu.load32(va, false);
    if (v < 0) this.fault(cpu, va);
    return v;
  }

  /** High half of a 64-bit entry (0 on non-PAE i386). */
  loadHi(cpu: Cpu, va: VAddr): number {
    return this.wide ? this.load(cpu, va + 4) : 0;
  }

  /** A supervisor store at a window address. */
  store(cpu: Cpu, va: VAddr, v: number): void {
    if (!cpu.store32(va, v, false)) this.fault(cpu, va);
  }

  /** pte_store: write an entry, high half first, so it never becomes valid with a stale high half. */
  write(cpu: Cpu, ea: VAddr, lo: number, hi: number): void {
    if (this.wide) this.store(cpu, ea + 4, hi);
    this.store(cpu, ea, lo);
  }

  /** pte_clear: zero an entry, low half (PG_V) first. */
  zap(cpu: Cpu, ea: VAddr): void {
    this.store(cpu, ea, 0);
    if (this.wide) this.store(cpu, ea + 4, 0);
  }

  private fault(cpu: Cpu, va: VAddr): never {
    return this.kernel.panic(
      `pmap: page-table access at ${hex(va)} faulted (cpu ${cpu.id}, error ${hex(cpu.faultErrorCode)})`,
    );
  }

  /** PHYS_TO_DMAP(pa) (amd64). */
  dmapVa(pa: PAddr): VAddr {
    return DMAP_MIN_ADDRESS + pa;
  }

  // ------------------------------------------------------------------ sched_pin

  /** sched_pin(): the thread stays on this CPU (pmap_pte_quick's precondition). */
  pin(cpu: Cpu): void {
    this.pinned[cpu.id] = (this.pinned[cpu.id] as number) + 1;
  }

  /** sched_unpin(). */
  unpin(cpu: Cpu): void {
    const n = (this.pinned[cpu.id] as number) - 1;
    if (n < 0) this.kernel.panic("sched_unpin: not pinned");
    this.pinned[cpu.id] = n;
  }

  // ------------------------------------------------------------------ PTmap / APTmap

  /** pmap_is_current: the kernel pmap, or the pmap whose directory is in this CPU's CR3. */
  isCurrent(cpu: Cpu, pm: WindowPmap): boolean {
    return pm.isKernel || this.loaded[cpu.id] === pm;
  }

  /**
   * get_ptbase(pmap) (FreeBSD 2.x–4.x): PTmap for the current pmap, else APTmap after pointing
   * APTDpde of the current directory at pmap's directory and flushing the TLB (invltlb) — here and
   * on every other CPU running on the same directory — when it named another one. i386 only.
   */
  ptBase(cpu: Cpu, pm: WindowPmap): VAddr {
    const id = cpu.id;
    const cur = this.loaded[id];
    if (pm.isKernel || cur === pm) return this.ptw.base;
    if (cur === null || cur === undefined) return this.kernel.panic(`get_ptbase: cpu ${id} has no directory loaded`);
    let differs = false;
    const slots = this.aptdpdeVa;
    for (let k = 0; k < slots.length; k++) {
      const ea = slots[k] as number;
      const lo = this.load(cpu, ea);
      if ((lo & PG_V) === 0 || pteFrame(lo, this.loadHi(cpu, ea)) !== pm.pdirPa[k]) differs = true;
    }
    if (differs) {
      for (let k = 0; k < slots.length; k++) {
        const pa = pm.pdirPa[k] as number;
        this.write(cpu, slots[k] as number, pteLo(pa, PG_V | PG_RW), pteHi(pa));
      }
      this.aptdOf.set(cur, pm);
      this.cSwitch.value++;
      this.flushSharers(cpu, cur);
    }
    return (this.aptw as hw.RecursiveWindow).base;
  }

  /** invltlb on this CPU and on every other CPU that has `dir`'s directory loaded. */
  flushSharers(cpu: Cpu, dir: WindowPmap): void {
    const cpus = this.machine.cpus;
    for (let i = 0; i < cpus.length; i++) {
      if (this.loaded[i] !== dir) continue;
      const c = cpus[i] as Cpu;
      if (c === cpu) c.loadCr3(c.cr3);
      else {
        this.machine.ipi(cpu, c, this.flushHandler);
        this.cShootdown.value++;
      }
    }
    this.cFlush.value++;
  }

  /**
   * A page-table page of `pm` covering va was freed, or its PDE changed size (promotion,
   * demotion): invalidate its APTmap address on every CPU whose directory's APTDpde names pm.
   */
  ptpFreed(cpu: Cpu, pm: WindowPmap, va: VAddr): void {
    const aptw = this.aptw;
    if (aptw === null || this.aptdOf.size === 0) return;
    this.aptInvlVa = aptw.tablePageVa(va, 0);
    const cpus = this.machine.cpus;
    for (let i = 0; i < cpus.length; i++) {
      const dir = this.loaded[i];
      if (dir === null || dir === undefined || this.aptdOf.get(dir) !== pm) continue;
      const c = cpus[i] as Cpu;
      if (c === cpu) c.invlpg(this.aptInvlVa);
      else {
        this.machine.ipi(cpu, c, this.aptInvlHandler);
        this.cShootdown.value++;
      }
    }
  }

  /**
   * pmap_release: pm's directory goes away. The module has cleared every APTDpde naming it; the
   * CPUs running on those directories flush what they cached through them.
   */
  forget(cpu: Cpu, pm: WindowPmap): void {
    this.aptdOf.delete(pm);
    for (const [dir, target] of this.aptdOf) {
      if (target !== pm) continue;
      this.aptdOf.delete(dir);
      this.flushSharers(cpu, dir);
    }
  }

  /** APTDpde's addresses (through PTD) for the audit and release. */
  get aptdpde(): readonly VAddr[] {
    return this.aptdpdeVa;
  }

  // ------------------------------------------------------------------ pmap_pte_quick (PMAP1)

  /**
   * pmap_pte_quick's window: the VA at which the page-table page at `ptpPa` is visible through
   * PMAP1/PADDR1. The caller has checked that pm is not current. KASSERT "curthread not pinned".
   */
  quickPage(cpu: Cpu, ptpPa: PAddr): VAddr {
    if ((this.pinned[cpu.id] as number) === 0) this.kernel.panic("pmap_pte_quick: curthread not pinned");
    const ea = this.pmap1Va;
    const lo = this.load(cpu, ea);
    const bit = 1 << cpu.id;
    if ((lo & PG_V) === 0 || pteFrame(lo, this.loadHi(cpu, ea)) !== ptpPa) {
      this.write(cpu, ea, pteLo(ptpPa, PG_RW | PG_V | PG_A | PG_M), pteHi(ptpPa));
      this.pmap1Cpu = cpu.id;
      cpu.invlpg(this.L.paddr1);
      const others = this.pmap1Users & ~bit;
      if (others !== 0) {
        const cpus = this.machine.cpus;
        for (let i = 0; i < cpus.length; i++) {
          if (((others >>> i) & 1) === 0) continue;
          this.machine.ipi(cpu, cpus[i] as Cpu, this.paddr1Handler);
          this.cShootdown.value++;
        }
      }
      this.pmap1Users = bit;
      this.cP1Changed.value++;
      this.cSwitch.value++;
      this.cFlush.value++;
    } else if (this.pmap1Cpu !== cpu.id) {
      this.pmap1Cpu = cpu.id;
      cpu.invlpg(this.L.paddr1);
      this.cP1ChangedCpu.value++;
      this.cFlush.value++;
    } else {
      this.cP1Unchanged.value++;
    }
    this.pmap1Users |= bit;
    return this.L.paddr1;
  }

  /** Index of va's PTE within its page-table page. */
  pteIndex(va: VAddr): number {
    return Math.floor(va / PAGE_SIZE) % this.nptepg;
  }

  // ------------------------------------------------------------------ sysmaps (CMAP1/CMAP2)

  /** CADDRn of a CPU. */
  sysmapVa(cpuId: number, which: number): VAddr {
    return this.L.sysmapsVa + (cpuId * SYSMAPS_PER_CPU + which) * PAGE_SIZE;
  }

  /**
   * *CMAPn = pa | PG_V | PG_RW | PG_A | PG_M; invlcaddr(CADDRn). `busy` is FreeBSD's panic text
   * when the slot is in use ("pmap_zero_page: CMAP2 busy").
   */
  mapSysmap(cpu: Cpu, which: number, pa: PAddr, busy: string): VAddr {
    const va = this.sysmapVa(cpu.id, which);
    const ea = this.ptw.pteVa(va);
    if ((this.load(cpu, ea) & PG_V) !== 0) this.kernel.panic(busy);
    this.write(cpu, ea, pteLo(pa, PG_V | PG_RW | PG_A | PG_M), pteHi(pa));
    cpu.invlpg(va);
    return va;
  }

  /**
   * *CMAPn = 0, and (unlike FreeBSD, which invalidates before the next use only) INVLPG now, so no
   * TLB entry outlives the mapping at an audit point.
   */
  unmapSysmap(cpu: Cpu, which: number): void {
    const va = this.sysmapVa(cpu.id, which);
    this.zap(cpu, this.ptw.pteVa(va));
    cpu.invlpg(va);
  }

  /** vtopte(CADDR1) of CPU 0 (for the audit). */
  get sysmapPtes(): VAddr {
    return this.sysmapPteVa;
  }
}
