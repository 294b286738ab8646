/**
 * The Mach pmap module as a whole (4.4BSD sys/i386/i386/pmap.c): pmap_bootstrap, pmap_init,
 * pmap_pinit / pmap_release, the page-centric calls over pv_table (pmap_page_protect,
 * pmap_changebit / pmap_testbit and what is built on them), pmap_zero_page / pmap_copy_page with
 * per-CPU temporary mappings (NetBSD's CMAP1/CADDR1, CMAP2/CADDR2), kernel-only mappings
 * (pmap_kenter_pa / pmap_kremove, NetBSD), pmap_growkernel and the trap handler's question
 * "which page tables must be faulted in first" (4.4BSD trap.c).
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
  VAddr,
  VmPage,
} from "@vmlab/core";
import { hex, IPL, PAGE_SIZE, Prot } from "@vmlab/core";
import {
  ACC_READ,
  ACC_WRITE,
  type ControlSettings,
  type Cpu,
  type Machine,
  PG_A,
  PG_M,
  PG_RW,
  PG_V,
  type RecursiveWindow,
} from "@vmlab/machine";
import { auditMachPmap } from "./audit.js";
import type { MachLayout } from "./layout.js";
import { MachPmap } from "./pmap.js";
import { frameOf, hiOf, loOf, PG_NX, PG_PVLIST, PG_W } from "./pte.js";
import { type PvEntry, PvTable } from "./pv.js";
import { PteWindows } from "./window.js";

export class MachPmapModule implements PmapModule {
  readonly name = "mach";
  /** PG_W, for the kernel's cross-layer audit. */
  readonly pteWiredBit = PG_W;
  readonly layout: AddressLayout;
  readonly kernelPmap: MachPmap;
  readonly win: PteWindows;
  readonly pv: PvTable;
  /** The pv_table lock; taken before any pmap lock (FreeBSD's pvh_global_lock order). */
  readonly pvLock: Mutex;
  readonly wide: boolean;
  readonly hasNx: boolean;
  readonly userMax: VAddr;
  /** UPT_MIN_ADDRESS (= PTmap): a user pmap's addresses from here up are its page-table pages. */
  readonly uptMin: VAddr;
  /** Bytes of address space the entries of one table page cover (4 MiB i386, 2 MiB PAE/amd64). */
  readonly tableSpan: number;
  /** Address ranges a user pmap maps (user, u-area, its own table pages): [ownLo[i], ownHi[i]). */
  readonly ownLo: readonly number[];
  readonly ownHi: readonly number[];
  /** The kernel pmap's range: [KERNBASE, VM_MAX_KERNEL_ADDRESS). */
  readonly kernLo: readonly number[];
  readonly kernHi: readonly number[];
  /** The pmap each CPU was last activated with. */
  readonly onCpu: (MachPmap | null)[];
  /** Every pmap not yet released, the kernel's included. */
  readonly pmaps = new Set<MachPmap>();
  /** Frames taken at bootstrap (never managed by the VM). */
  readonly stolen: PAddr[] = [];
  /** Per CPU: CADDR1 / CADDR2, the temporary mapping addresses of zero/copy page. */
  readonly caddr1: VAddr[] = [];
  readonly caddr2: VAddr[] = [];
  readonly cEnter: Counter;
  readonly cRemove: Counter;
  readonly cProtect: Counter;
  readonly cShootdown: Counter;
  private readonly cZero: Counter;
  private readonly cCopy: Counter;
  /**
   * The netbsd-1997-stale-pv erratum: removing a page-table page leaves what it maps (4.4BSD's
   * pmap_remove), see MachPmap.removePte.
   */
  readonly stalePv: boolean;
  private hostRef: PmapHost | null = null;
  private nextId = 1;

  constructor(
    readonly machine: Machine,
    readonly kernel: KernelServices,
    readonly L: MachLayout,
  ) {
    this.layout = L.layout;
    this.wide = L.entryBytes === 8;
    this.hasNx = machine.format.hasNx;
    this.userMax = L.layout.userMax;
    this.uptMin = L.layout.uptMin;
    this.tableSpan = (PAGE_SIZE / L.entryBytes) * PAGE_SIZE;
    this.win = new PteWindows(machine, L, kernel);
    this.pvLock = kernel.mutex("pv_table", { type: "pv_table" });
    this.pv = new PvTable(L.npvppg, kernel, {
      kenter: (va, pa) => this.kenter(va, pa, Prot.Read | Prot.Write),
      kremove: (va) => this.kremove(va, 1),
    });
    const own = this.ownedRanges();
    this.ownLo = own.map((r) => r[0]);
    this.ownHi = own.map((r) => r[1]);
    this.kernLo = [L.layout.kernelBase];
    this.kernHi = [L.layout.kernelMax];
    this.onCpu = new Array<MachPmap | null>(machine.cpus.length).fill(null);
    const c = kernel.counters;
    this.cEnter = c.counter("pmap.enter");
    this.cRemove = c.counter("pmap.remove");
    this.cProtect = c.counter("pmap.protect");
    this.cShootdown = c.counter("pmap.shootdown");
    this.cZero = c.counter("pmap.zero_page");
    this.cCopy = c.counter("pmap.copy_page");
    this.stalePv = kernel.erratum("netbsd-1997-stale-pv");
    this.kernelPmap = new MachPmap(this, 0, true);
  }

  /** Whether pmap_init has run. */
  get initialized(): boolean {
    return this.hostRef !== null;
  }

  /** The host given at pmap_init. */
  get host(): PmapHost {
    const h = this.hostRef;
    if (h === null) return this.kernel.panic("pmap: used before pmap_init");
    return h;
  }

  /**
   * A user pmap's own addresses: everything below PTmap, plus the table pages (seen through
   * PTmap) of every address below the self slot, level by level. They merge into [0, PTD).
   */
  private ownedRanges(): [number, number][] {
    const w = this.win.ptw;
    const L = this.L;
    const top = (this.win.span[L.levels - 1] as number) * L.selfSlot;
    const raw: [number, number][] = [[0, L.layout.ptmap]];
    for (let l = 0; l < L.levels - 1; l++) raw.push([w.entryVa(0, l), w.entryVa(top, l)]);
    raw.sort((a, b) => a[0] - b[0]);
    const out: [number, number][] = [];
    for (const r of raw) {
      const last = out[out.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else out.push([r[0], r[1]]);
    }
    return out;
  }

  /** For a page-table page at UPT address va: the first address its entries map. */
  tableTarget(va: VAddr): VAddr {
    return ((va - this.L.layout.ptmap) / this.L.entryBytes) * PAGE_SIZE;
  }

  // ------------------------------------------------------------------ bootstrap, init

  /**
   * pmap_bootstrap: the kernel's top-level table(s), its self slot(s), all NKPT kernel page
   * tables for [KERNBASE, VM_MAX_KERNEL_ADDRESS), physical [0, 4 MiB) mapped at KERNBASE, the
   * per-CPU CADDR pages, then CR3 (with WP, PGE, PSE on i386 and NXE where there is NX) on every
   * CPU. Bootstrap writes the tables physically: nothing is mapped yet.
   */
  bootstrap(steal: () => PAddr): void {
    const L = this.L;
    const mem = this.machine.memory;
    const e = L.entryBytes;
    const kb = L.layout.kernelBase;
    const take = (): PAddr => {
      const pa = steal();
      if (pa % PAGE_SIZE !== 0 || pa < 0 || pa + PAGE_SIZE > 4 * 1024 * 1024) {
        this.kernel.panic(`pmap_bootstrap: stolen page ${hex(pa)} not a page below 4 MiB`);
      }
      mem.zeroRange(pa, PAGE_SIZE);
      this.stolen.push(pa);
      return pa;
    };
    const read = (pa: number): number => mem.read32(pa);
    const frame = (pa: number): number => frameOf(mem.read32(pa), this.wide ? mem.read32(pa + 4) : 0);
    const write = (pa: number, lo: number, hi: number): void => {
      if (this.wide) mem.write64(pa, lo, hi);
      else mem.write32(pa, lo);
    };

    const kp = this.kernelPmap;
    let pdpt = -1;
    if (L.windowSlots === 4) {
      // PAE: a 32-byte PDPT in its own page, and four page directories.
      pdpt = take();
      for (let k = 0; k < 4; k++) kp.topPa.push(take());
      for (let k = 0; k < 4; k++) write(pdpt + k * 8, loOf(kp.topPa[k] as number, PG_V), 0);
    } else {
      kp.topPa.push(take());
    }
    kp.cr3 = pdpt >= 0 ? pdpt : (kp.topPa[0] as number);
    kp.pdirVa = kp.topPa.map((pa) => kb + pa);
    if (pdpt >= 0) kp.pdptVa = kb + pdpt;

    const span = this.win.span;
    const topEntry = (t: number): number =>
      L.windowSlots === 4 ? (kp.topPa[t >> 9] as number) + (t & 511) * 8 : (kp.topPa[0] as number) + t * e;
    const index = (va: number, l: number): number =>
      l === L.levels - 1
        ? Math.floor(va / (span[l] as number))
        : Math.floor(va / (span[l] as number)) % 2 ** L.indexBits;
    /** Physical address of the level-`to` entry for va, creating tables above it. */
    const entryPa = (va: number, to: number): number => {
      let ea = topEntry(index(va, L.levels - 1));
      for (let l = L.levels - 1; l > to; l--) {
        if ((read(ea) & PG_V) === 0) write(ea, loOf(take(), PG_V | PG_RW), 0);
        ea = frame(ea) + index(va, l - 1) * e;
      }
      return ea;
    };
    // NKPT page tables: every kernel page table exists from now on (growKernel only checks).
    for (let k = 0; k < L.nkpt; k++) entryPa(kb + k * (span[1] as number), 0);
    // The kernel image and the bootstrap pages: physical [0, 4 MiB) at KERNBASE.
    for (let pa = 0; pa < 4 * 1024 * 1024; pa += PAGE_SIZE) write(entryPa(kb + pa, 0), loOf(pa, PG_V | PG_RW), 0);
    // PTDPTDI: the self slot(s).
    for (let k = 0; k < L.windowSlots; k++) {
      const pa = kp.topPa[k] as number;
      write(topEntry(L.selfSlot + k), loOf(pa, PG_V | PG_RW), hiOf(pa));
    }
    // CADDR1/CADDR2 per CPU: the KERNBASE alias of two stolen pages each, whose PTEs
    // zero/copy page rewrite (4.4BSD carved them out of the kernel's VA the same way, SYSMAP).
    for (let i = 0; i < this.machine.cpus.length; i++) {
      this.caddr1.push(kb + take());
      this.caddr2.push(kb + take());
    }
    const ctl: ControlSettings = { cr3: kp.cr3, wp: true, pge: true };
    if (this.hasNx) ctl.nxe = true;
    else ctl.pse = true;
    for (const c of this.machine.cpus) c.setControl(ctl);
    for (let i = 0; i < this.onCpu.length; i++) this.onCpu[i] = kp;
    this.pmaps.add(kp);
    this.kernel.trace.emit("pmap", "bootstrap", { cr3: kp.cr3, stolen: this.stolen.length });
  }

  /** pmap_init: the VM page array exists; size pv_table and pmap_attributes. */
  init(host: PmapHost): void {
    this.hostRef = host;
    this.pv.size(this.machine.memory.frames);
  }

  // ------------------------------------------------------------------ pmap_pinit / release

  /**
   * pmap_create → pmap_pinit: the top-level table from kmem_alloc (PAE: four page directories
   * and a page for the PDPT, all at once — PDPTEs are only read at CR3 loads), the kernel's
   * top-level entries copied in, and the self slot(s) pointing at itself (supervisor RW; 4.4BSD
   * used PG_URKW, NetBSD PG_KW). Page tables are not allocated: they are faulted in later.
   */
  create(): Pmap {
    const L = this.L;
    const host = this.host;
    const kp = this.kernelPmap;
    const pm = new MachPmap(this, this.nextId++, false);
    const n = L.windowSlots;
    const va = host.kmemAlloc(n * PAGE_SIZE);
    for (let k = 0; k < n; k++) {
      const pdva = va + k * PAGE_SIZE;
      const pa = kp.extract(pdva);
      if (pa === undefined) return this.kernel.panic(`pmap_pinit: kmem at ${hex(pdva)} not mapped`);
      pm.pdirVa.push(pdva);
      pm.topPa.push(pa);
    }
    const cpu = this.machine.curcpu;
    const win = this.win;
    if (n === 4) {
      const pdpt = this.allocPdpt(pm);
      for (let k = 0; k < 4; k++) {
        const pa = pm.topPa[k] as number;
        win.store(cpu, pm.pdptVa + k * 8 + 4, hiOf(pa));
        win.store(cpu, pm.pdptVa + k * 8, loOf(pa, PG_V));
      }
      pm.cr3 = pdpt;
    } else {
      pm.cr3 = pm.topPa[0] as number;
    }
    const e = L.entryBytes;
    const entryVa = (p: MachPmap, t: number): number =>
      n === 4 ? (p.pdirVa[t >> 9] as number) + (t & 511) * 8 : (p.pdirVa[0] as number) + t * e;
    for (let t = L.kernSlotFirst; t < L.kernSlotFirst + L.kernSlotCount; t++) {
      const src = entryVa(kp, t);
      const dst = entryVa(pm, t);
      if (this.wide) win.store(cpu, dst + 4, win.load(cpu, src + 4));
      win.store(cpu, dst, win.load(cpu, src));
    }
    for (let k = 0; k < n; k++) {
      const dst = entryVa(pm, L.selfSlot + k);
      const pa = pm.topPa[k] as number;
      if (this.wide) win.store(cpu, dst + 4, hiOf(pa));
      win.store(cpu, dst, loOf(pa, PG_V | PG_RW));
    }
    this.pmaps.add(pm);
    this.kernel.trace.emit("pmap", "pinit", { pmap: pm.id, cr3: pm.cr3 });
    return pm;
  }

  /**
   * PAE: the page holding a pmap's PDPT. CR3 is a 32-bit register in PAE mode, so the PDPT must
   * lie below 4 GiB (FreeBSD allocates PDPTs from low memory for the same reason): kmem pages
   * above are tried again a bounded number of times, and given back.
   */
  private allocPdpt(pm: MachPmap): PAddr {
    const host = this.host;
    const rejects: VAddr[] = [];
    let found: PAddr | undefined;
    for (let i = 0; i < 64 && found === undefined; i++) {
      const va = host.kmemAlloc(PAGE_SIZE);
      const pa = this.kernelPmap.extract(va);
      if (pa === undefined) return this.kernel.panic(`pmap_pinit: kmem at ${hex(va)} not mapped`);
      if (pa + PAGE_SIZE <= 0x1_0000_0000) {
        pm.pdptVa = va;
        found = pa;
      } else rejects.push(va);
    }
    for (const va of rejects) host.kmemFree(va, PAGE_SIZE);
    if (found === undefined) return this.kernel.panic("pmap_pinit: no page below 4 GiB for the PDPT");
    return found;
  }

  /**
   * pmap_release: the last reference is gone. User page-table pages belong to the VM map, which
   * removes and frees them; whatever is still mapped is removed here so no pv entry outlives the
   * pmap. No CPU may keep running on the tables: those that still have it in CR3 switch to the
   * kernel pmap. Then the top-level table(s) go back with kmem_free.
   */
  release(pm: MachPmap): void {
    if (pm.residentCount > 0) {
      this.kernel.trace.emit("pmap", "release.resident", { pmap: pm.id, resident: pm.residentCount });
      for (let i = 0; i < this.ownLo.length; i++) pm.remove(this.ownLo[i] as number, this.ownHi[i] as number);
    }
    const kp = this.kernelPmap;
    for (const c of this.machine.cpus) {
      if (c.cr3 === pm.cr3) {
        c.loadCr3(kp.cr3);
        this.win.markClean(c.id);
      }
      if (this.onCpu[c.id] === pm) this.onCpu[c.id] = kp;
    }
    pm.active = 0;
    this.win.forget(pm);
    const host = this.host;
    host.kmemFree(pm.pdirVa[0] as number, this.L.windowSlots * PAGE_SIZE);
    if (pm.pdptVa !== 0) host.kmemFree(pm.pdptVa, PAGE_SIZE);
    pm.released = true;
    this.pmaps.delete(pm);
    this.kernel.trace.emit("pmap", "release", { pmap: pm.id });
  }

  // ------------------------------------------------------------------ page-centric calls

  /**
   * pmap_page_protect(pa, prot): Prot.None removes every mapping (pmap_remove_all). Otherwise
   * rights are lowered in every mapping: no write → clear PG_RW (pmap_copy_on_write in the
   * NetBSD mask form; 4.4BSD's changebit(PG_RO, TRUE) ORed in zero and did nothing), no execute
   * → NX where the machine has it. 4.4BSD removed all mappings for READ|WRITE; we lower instead.
   */
  pageProtect(pg: VmPage, prot: number): void {
    if ((prot & Prot.Read) === 0) {
      this.removeAll(pg);
      return;
    }
    const clearRw = (prot & Prot.Write) === 0;
    const setNx = this.hasNx && (prot & Prot.Exec) === 0;
    if (clearRw || setNx) this.changebit(pg, clearRw ? PG_RW : 0, setNx ? PG_NX : 0, true);
  }

  /** pmap_remove_all: remove mappings from the pv list's head until it is empty. */
  private removeAll(pg: VmPage): void {
    const s = this.kernel.splraise(IPL.VM);
    this.pvLock.lock("pmap_remove_all");
    const h = this.pv.head(pg);
    while (h.pmap !== null) {
      const pm = h.pmap as MachPmap;
      const va = h.va;
      pm.lock.lock("pmap_remove_all");
      const cpu = this.machine.curcpu;
      const w = this.win.select(cpu, pm);
      this.checkPv(cpu, w, pm, va, "pmap_remove_all");
      const ea = w.pteVa(va);
      const lo = this.win.load(cpu, ea);
      const hi = this.wide ? this.win.load(cpu, ea + 4) : 0;
      if ((lo & PG_V) === 0 || frameOf(lo, hi) !== pg.pa) {
        this.kernel.panic(`pmap_remove_all: pv entry (pmap ${pm.id}, ${hex(va)}) without its mapping of ${hex(pg.pa)}`);
      }
      pm.removePte(cpu, w, va, ea, lo, hi);
      pm.flushInvalidations(cpu);
      pm.lock.unlock("pmap_remove_all");
    }
    this.pvLock.unlock("pmap_remove_all");
    this.kernel.splx(s);
    this.pv.reclaim(this.host);
  }

  /**
   * pmap_changebit (NetBSD's set/mask form): clear `clearLo` bits and set `setHi` bits in every
   * mapping of pg, invalidating each changed one. Clearing also clears the saved attribute.
   * Returns whether any of the cleared bits was set (saved or live). With `protect`, page-table
   * pages are skipped (their entries stay forced user + writable).
   */
  private changebit(pg: VmPage, clearLo: number, setHi: number, protect: boolean): boolean {
    const pv = this.pv;
    let was = (pv.attr(pg) & clearLo) !== 0;
    pv.clearAttr(pg, clearLo);
    const s = this.kernel.splraise(IPL.VM);
    this.pvLock.lock("pmap_changebit");
    for (let e: PvEntry | null = pv.head(pg); e !== null && e.pmap !== null; e = e.next) {
      const pm = e.pmap as MachPmap;
      const va = e.va;
      if (protect && !pm.isKernel && va >= this.uptMin) continue;
      pm.lock.lock("pmap_changebit");
      const cpu = this.machine.curcpu;
      const w = this.win.select(cpu, pm);
      this.checkPv(cpu, w, pm, va, "pmap_changebit");
      const ea = w.pteVa(va);
      const lo = this.win.load(cpu, ea);
      if ((lo & clearLo) !== 0) was = true;
      const nlo = (lo & ~clearLo) >>> 0;
      let changed = false;
      if (nlo !== lo) {
        this.win.store(cpu, ea, nlo);
        changed = true;
      }
      if (setHi !== 0 && this.wide) {
        const hi = this.win.load(cpu, ea + 4);
        const nhi = (hi | setHi) >>> 0;
        if (nhi !== hi) {
          this.win.store(cpu, ea + 4, nhi);
          changed = true;
        }
      }
      if (changed) {
        pm.queueInvalidation(va);
        pm.flushInvalidations(cpu);
      }
      pm.lock.unlock("pmap_changebit");
    }
    this.pvLock.unlock("pmap_changebit");
    this.kernel.splx(s);
    return was;
  }

  /**
   * The old pmap's diagnostic on a pv walk (seed 002, port-i386 11/1997): pmap_pte finds no page
   * table for a <pmap, va> of a page's pv list. Printed — a trace event here — and not fatal: the
   * caller goes on to dereference the PTE (4.4BSD had no NULL check), and that supervisor access
   * through the window is what faults (PteWindows.fault: panic "trap").
   */
  private checkPv(cpu: Cpu, w: RecursiveWindow, pm: MachPmap, va: VAddr, fn: string): void {
    if (this.win.tablesPresent(cpu, w, va) === 0) return;
    this.kernel.trace.emit("pmap", "bad_pv", {
      fn,
      pmap: pm.id,
      va,
      message: `Bad PV entry discovered: pmap=${pm.id}, va=${hex(va)}\n  NO page-table!`,
    });
  }

  /** pmap_testbit: the saved attribute, then every mapping's PTE. */
  private testbit(pg: VmPage, bit: number): boolean {
    const pv = this.pv;
    if ((pv.attr(pg) & bit) !== 0) return true;
    const s = this.kernel.splraise(IPL.VM);
    this.pvLock.lock("pmap_testbit");
    let found = false;
    for (let e: PvEntry | null = pv.head(pg); !found && e !== null && e.pmap !== null; e = e.next) {
      const cpu = this.machine.curcpu;
      const w = this.win.select(cpu, e.pmap as MachPmap);
      this.checkPv(cpu, w, e.pmap as MachPmap, e.va, "pmap_testbit");
      if ((this.win.load(cpu, w.pteVa(e.va)) & bit) !== 0) found = true;
    }
    this.pvLock.unlock("pmap_testbit");
    this.kernel.splx(s);
    return found;
  }

  /** pmap_clear_modify = changebit(PG_M, FALSE); returns whether the page was modified. */
  clearModify(pg: VmPage): boolean {
    return this.changebit(pg, PG_M, 0, false);
  }

  /** pmap_clear_reference = changebit(PG_U (our PG_A), FALSE). */
  clearReference(pg: VmPage): boolean {
    return this.changebit(pg, PG_A, 0, false);
  }

  /** pmap_is_modified = testbit(PG_M). */
  isModified(pg: VmPage): boolean {
    return this.testbit(pg, PG_M);
  }

  /** pmap_is_referenced = testbit(PG_U (our PG_A)). */
  isReferenced(pg: VmPage): boolean {
    return this.testbit(pg, PG_A);
  }

  /**
   * pmap_ts_referenced (not in 4.4BSD; FreeBSD/NetBSD): count the mappings (and the saved
   * attribute) with the reference bit set, clearing them.
   */
  tsReferenced(pg: VmPage): number {
    const pv = this.pv;
    let n = (pv.attr(pg) & PG_A) !== 0 ? 1 : 0;
    pv.clearAttr(pg, PG_A);
    const s = this.kernel.splraise(IPL.VM);
    this.pvLock.lock("pmap_ts_referenced");
    for (let e: PvEntry | null = pv.head(pg); e !== null && e.pmap !== null; e = e.next) {
      const pm = e.pmap as MachPmap;
      pm.lock.lock("pmap_ts_referenced");
      const cpu = this.machine.curcpu;
      const w = this.win.select(cpu, pm);
      this.checkPv(cpu, w, pm, e.va, "pmap_ts_referenced");
      const ea = w.pteVa(e.va);
      const lo = this.win.load(cpu, ea);
      if ((lo & PG_A) !== 0) {
        n++;
        this.win.store(cpu, ea, (lo & ~PG_A) >>> 0);
        pm.queueInvalidation(e.va);
        pm.flushInvalidations(cpu);
      }
      pm.lock.unlock("pmap_ts_referenced");
    }
    this.pvLock.unlock("pmap_ts_referenced");
    this.kernel.splx(s);
    return n;
  }

  // ------------------------------------------------------------------ zero / copy page

  /**
   * Point this CPU's CMAP PTE at pa and return the frame the MMU now translates CADDR to (so a
   * stale TLB entry would really hit the wrong page).
   */
  private tmpmap(cpu: Cpu, caddr: VAddr, pa: PAddr, write: boolean): PAddr {
    const ea = this.win.ptw.pteVa(caddr);
    if (this.wide) this.win.store(cpu, ea + 4, (hiOf(pa) | (this.hasNx ? PG_NX : 0)) >>> 0);
    this.win.store(cpu, ea, loOf(pa, PG_V | PG_A | (write ? PG_RW | PG_M : 0)));
    cpu.invlpg(caddr);
    const got = cpu.xlate(caddr, write ? ACC_WRITE : ACC_READ, false);
    if (got < 0) this.kernel.panic(`pmap: temporary mapping at ${hex(caddr)} faulted`);
    return got;
  }

  /** pmap_zero_page: CMAP2 = pa | PG_V | PG_KW, invalidate, bzero(CADDR2) (NetBSD). */
  zeroPage(pg: VmPage): void {
    this.zeroPageArea(pg, 0, PAGE_SIZE);
  }

  /** pmap_zero_page_area (FreeBSD i386 pmap.c): the same CMAP2 window, bzero of [off, off+size). */
  zeroPageArea(pg: VmPage, off: number, size: number): void {
    if (!(off >= 0 && size >= 0 && off + size <= PAGE_SIZE)) {
      this.kernel.panic(`pmap_zero_page_area: bad range ${off}+${size}`);
    }
    const s = this.kernel.splraise(IPL.VM);
    const cpu = this.machine.curcpu;
    const pa = this.tmpmap(cpu, this.caddr2[cpu.id] as number, pg.pa, true);
    this.machine.memory.zeroRange(pa + off, size);
    cpu.cycles += Math.ceil((this.machine.costs.pageZero * size) / PAGE_SIZE);
    this.cZero.value++;
    this.kernel.splx(s);
  }

  /** pmap_copy_page: CMAP1 = src (read-only), CMAP2 = dst, bcopy(CADDR1, CADDR2). */
  copyPage(src: VmPage, dst: VmPage): void {
    const s = this.kernel.splraise(IPL.VM);
    const cpu = this.machine.curcpu;
    const from = this.tmpmap(cpu, this.caddr1[cpu.id] as number, src.pa, false);
    const to = this.tmpmap(cpu, this.caddr2[cpu.id] as number, dst.pa, true);
    this.machine.memory.copyRange(to, from, PAGE_SIZE);
    cpu.cycles += this.machine.costs.pageCopy;
    this.cCopy.value++;
    this.kernel.splx(s);
  }

  // ------------------------------------------------------------------ kernel-only mappings

  /** pmap_kenter_pa (NetBSD): a wired, unmanaged kernel mapping — no pv entry, no statistics. */
  kenter(va: VAddr, pa: PAddr, prot: number): void {
    this.checkKernelVa(va, "pmap_kenter_pa");
    const kp = this.kernelPmap;
    const s = this.kernel.splraise(IPL.VM);
    kp.lock.lock("pmap_kenter_pa");
    const cpu = this.machine.curcpu;
    const ea = this.win.ptw.pteVa(va);
    const old = this.win.load(cpu, ea);
    if ((old & PG_PVLIST) !== 0) this.kernel.panic(`pmap_kenter_pa: ${hex(va)} has a managed mapping`);
    const bits = PG_V | ((prot & Prot.Write) !== 0 ? PG_RW : 0);
    const hi = (hiOf(pa) | (this.hasNx && (prot & Prot.Exec) === 0 ? PG_NX : 0)) >>> 0;
    kp.writeEntry(cpu, ea, loOf(pa, bits), hi);
    if ((old & PG_V) !== 0) {
      kp.queueInvalidation(va);
      kp.flushInvalidations(cpu);
    }
    kp.lock.unlock("pmap_kenter_pa");
    this.kernel.splx(s);
  }

  /** pmap_kremove: remove unmanaged kernel mappings. */
  kremove(va: VAddr, pages: number): void {
    const kp = this.kernelPmap;
    const s = this.kernel.splraise(IPL.VM);
    kp.lock.lock("pmap_kremove");
    const cpu = this.machine.curcpu;
    for (let i = 0; i < pages; i++) {
      const v = va + i * PAGE_SIZE;
      this.checkKernelVa(v, "pmap_kremove");
      const ea = this.win.ptw.pteVa(v);
      const lo = this.win.load(cpu, ea);
      if ((lo & PG_V) === 0) continue;
      if ((lo & PG_PVLIST) !== 0) this.kernel.panic(`pmap_kremove: ${hex(v)} is a managed mapping`);
      this.win.store(cpu, ea, 0);
      if (this.wide) this.win.store(cpu, ea + 4, 0);
      kp.queueInvalidation(v);
    }
    kp.flushInvalidations(cpu);
    kp.lock.unlock("pmap_kremove");
    this.kernel.splx(s);
  }

  private checkKernelVa(va: VAddr, fn: string): void {
    const l = this.L.layout;
    if (va % PAGE_SIZE !== 0 || va < l.kernelBase || va >= l.kernelMax) {
      this.kernel.panic(`${fn}: va ${hex(va)} outside the kernel range`);
    }
  }

  /** pmap_growkernel: every kernel page table exists since bootstrap (NKPT); only the bound is checked. */
  growKernel(end: VAddr): void {
    if (end > this.L.layout.kernelMax) {
      this.kernel.panic(
        `pmap_growkernel: ${hex(end)} is beyond the ${this.L.nkpt} kernel page tables (${hex(this.L.layout.kernelMax)})`,
      );
    }
  }

  /**
   * trap.c: `if (!(PTD[va >> PDSHIFT] & PG_V))` fault in `trunc_page(vtopte(va))` first. The
   * UPT addresses (through PTmap) of the table pages va still needs, top level first.
   */
  missingPageTables(pmap: Pmap, va: VAddr): VAddr[] {
    const pm = pmap as MachPmap;
    if (pm.isKernel || !pm.inRange(va - (va % PAGE_SIZE))) return [];
    const cpu = this.machine.curcpu;
    const w = this.win.select(cpu, pm);
    const l = this.win.tablesPresent(cpu, w, va);
    const out: VAddr[] = [];
    for (let k = l - 1; k >= 0; k--) out.push(this.win.ptw.tablePageVa(va, k));
    return out;
  }

  audit(): void {
    auditMachPmap(this);
  }
}
