/**
 * How the Mach pmap reaches page tables: through virtual addresses, translated by the current
 * CPU's MMU and TLB, never by physical address (ARCHITECTURE.md decision 2).
 *
 * - PTmap (4.4BSD `vtopte`): the self slot of every pmap points at its own top-level table, so
 *   the tables of the address space in CR3 — and the kernel's, which every address space shares —
 *   appear as one linear array of entries.
 * - APTmap (4.4BSD `avtopte`): any other pmap is reached by loading its top-level table into the
 *   alternate slot of the *current* top-level table (written through PTD, i.e. through PTmap) and
 *   flushing the TLB when that entry changed. This is 4.4BSD `pmap_pte`: "if APTDpde differs,
 *   install it and tlbflush".
 *
 * 4.4BSD ran on one CPU. With several, the alternate slot of a shared address space is shared by
 * every CPU running it, and a CPU's TLB may hold APTmap translations from an earlier use of the
 * slot (possibly of tables since freed). So each CPU also remembers which pmap — and which
 * generation of that pmap's page-table pages — its TLB may have cached through APTmap, and
 * flushes when that differs even if the slot in memory already holds the right value.
 */

import type { Counter, KernelServices } from "@vmlab/core";
import type { Cpu, Machine } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import type { MachLayout } from "./layout.js";
import * as pte from "./pte.js";

// Module-local copies of hot constants (see pmap.ts).
const { PG_RW, PG_V } = hw;
const { PG_FRAME_HI, PG_FRAME_LO } = pte;

/** NetBSD i386 trap types (machine/trap.h): T_PROTFLT and T_PAGEFLT. */
const T_PROTFLT = 4;
const T_PAGEFLT = 6;

/** What the windows need to know about a pmap. */
export interface WindowPmap {
  readonly isKernel: boolean;
  /** The value loaded into CR3 (PD, PDPT or PML4 physical address). */
  readonly cr3: number;
  /** Frames the window slots point at: the top-level table (PAE: PD0..PD3). */
  readonly topPa: readonly number[];
  /** Bumped whenever one of the pmap's page-table pages is unmapped or replaced. */
  readonly ptpGen: number;
}

export class PteWindows {
  /** PTmap: RecursiveWindow(format, PTDPTDI, PTDPTDI). */
  readonly ptw: hw.RecursiveWindow;
  /** APTmap: RecursiveWindow(format, APTDPTDI, PTDPTDI). */
  readonly aptw: hw.RecursiveWindow;
  readonly wide: boolean;
  readonly entryBytes: number;
  readonly levels: number;
  /** Bytes of address space one entry covers at each level (span[0] = one page). */
  readonly span: readonly number[];
  /** Virtual address of the current pmap's first alternate-slot entry (through PTD). */
  private readonly altEntryVa: number;
  private readonly slots: number;
  // Per CPU: what its TLB may hold through APTmap (see the file comment).
  private readonly aptPmap: (WindowPmap | null)[];
  private readonly aptGen: number[];
  private readonly aptClean: boolean[];
  private readonly cSwitch: Counter;
  private readonly cFlush: Counter;

  constructor(
    machine: Machine,
    readonly L: MachLayout,
    private readonly kernel: KernelServices,
  ) {
    const f = machine.format;
    this.ptw = new hw.RecursiveWindow(f, L.selfSlot, L.selfSlot);
    this.aptw = new hw.RecursiveWindow(f, L.altSlot, L.selfSlot);
    if (this.ptw.base !== L.layout.ptmap || this.ptw.entryVa(0, L.levels - 1) !== L.ptd) {
      throw new Error(`pmap-mach: layout of ${L.machine} disagrees with the recursive window`);
    }
    this.wide = L.entryBytes === 8;
    this.entryBytes = L.entryBytes;
    this.levels = L.levels;
    const span: number[] = [];
    for (let l = 0; l < L.levels; l++) span.push(2 ** (12 + L.indexBits * l));
    this.span = span;
    this.altEntryVa = L.ptd + L.altSlot * L.entryBytes;
    this.slots = L.windowSlots;
    const n = machine.cpus.length;
    this.aptPmap = new Array<WindowPmap | null>(n).fill(null);
    this.aptGen = new Array<number>(n).fill(0);
    this.aptClean = new Array<boolean>(n).fill(false);
    this.cSwitch = kernel.counters.counter("pmap.window.switch");
    this.cFlush = kernel.counters.counter("pmap.window.flush");
  }

  /** A supervisor load through the MMU; a fault here means the windows are broken: panic. */
  load(cpu: Cpu, va: number): number {
    const v = cpu.load32(va, false);
    if (v < 0) this.fault(cpu, va);
    return v;
  }

  /** A supervisor store through the MMU. */
  store(cpu: Cpu, va: number, v: number): void {
    if (!cpu.store32(va, v, false)) this.fault(cpu, va);
  }

  /**
   * A supervisor-mode access of the pmap faulted: no pcb_onfault covers pmap code, so trap()
   * takes its `we_re_toast` path (NetBSD 1.x sys/arch/i386/i386/trap.c): print "fatal <trap
   * type> in supervisor mode" and the trap frame line, then panic("trap"). The console lines are
   * trace events (the simulator has no eip/cs/eflags: the line keeps type, code, cr2 and the
   * CPU's interrupt level as cpl); the panic keeps NetBSD's "trap" first, with the cause after it.
   * The windows never fault while the tables are consistent — the netbsd-1997-stale-pv erratum
   * (a pv entry under a page-table page the pagedaemon took away) is how one does.
   */
  private fault(cpu: Cpu, va: number): never {
    const gp = cpu.faultVector === hw.VEC_GP;
    const type = gp ? T_PROTFLT : T_PAGEFLT;
    const what = `fatal ${gp ? "protection fault" : "page fault"} in supervisor mode`;
    const frame = `trap type ${type} code ${cpu.faultErrorCode.toString(16)} cr2 ${va.toString(16)} cpl ${cpu.ipl.toString(16)}`;
    this.kernel.trace.emit("trap", "fatal", { message: what, frame, cpu: cpu.id, va });
    return this.kernel.panic(`trap: ${what} (${frame})`);
  }

  /**
   * pmap_pte's choice of window: PTmap for the kernel pmap and the pmap in this CPU's CR3,
   * otherwise APTmap after installing the pmap's top-level table in the alternate slot(s).
   */
  select(cpu: Cpu, pm: WindowPmap): hw.RecursiveWindow {
    if (pm.isKernel || cpu.cr3 === pm.cr3) return this.ptw;
    const e = this.entryBytes;
    let changed = false;
    for (let k = 0; k < this.slots; k++) {
      const ea = this.altEntryVa + k * e;
      const want = pm.topPa[k] as number;
      const wantLo = ((want % 0x1_0000_0000) | PG_V | PG_RW) >>> 0;
      const wantHi = want < 0x1_0000_0000 ? 0 : Math.floor(want / 0x1_0000_0000);
      const lo = this.load(cpu, ea);
      const hi = this.wide ? this.load(cpu, ea + 4) : 0;
      if (
        (lo & PG_V) === 0 ||
        (lo & PG_FRAME_LO) >>> 0 !== (wantLo & PG_FRAME_LO) >>> 0 ||
        (hi & PG_FRAME_HI) !== wantHi
      ) {
        if (this.wide) this.store(cpu, ea + 4, wantHi);
        this.store(cpu, ea, wantLo);
        changed = true;
      }
    }
    const id = cpu.id;
    if (changed) this.cSwitch.value++;
    const stale = this.aptPmap[id] !== pm || this.aptGen[id] !== pm.ptpGen;
    if (changed || (stale && !this.aptClean[id])) {
      // tlbflush(): a CR3 reload (no PG_G in this pmap, so it drops every APTmap translation).
      cpu.loadCr3(cpu.cr3);
      this.cFlush.value++;
    }
    this.aptPmap[id] = pm;
    this.aptGen[id] = pm.ptpGen;
    this.aptClean[id] = false;
    return this.aptw;
  }

  /** This CPU's TLB was just flushed (CR3 load): it holds no APTmap translations. */
  markClean(cpuId: number): void {
    this.aptClean[cpuId] = true;
  }

  /** A pmap is going away: no CPU may treat its alternate-window translations as current. */
  forget(pm: WindowPmap): void {
    for (let i = 0; i < this.aptPmap.length; i++) if (this.aptPmap[i] === pm) this.aptPmap[i] = null;
  }

  /**
   * Whether every table down to the page table for `va` is present in window `w`: 0 if so, else
   * the level (>= 1) of the first entry, from the top, that is not valid — the tables of levels
   * below it are missing. The top-level table is always there (it is PTD itself).
   */
  tablesPresent(cpu: Cpu, w: hw.RecursiveWindow, va: number): number {
    for (let l = this.levels - 1; l >= 1; l--) {
      if ((this.load(cpu, w.entryVa(va, l)) & PG_V) === 0) return l;
    }
    return 0;
  }
}
