/**
 * Cranor's pmap module as a whole (NetBSD sys/arch/i386/i386/pmap.c): pmap_bootstrap, pmap_init,
 * pmap_create (pmap_pinit) / pmap_release, the page-centric calls that go from a pv_head to the
 * pmaps (pmap_page_remove, pmap_clear_attrs / pmap_change_attrs, pmap_test_attrs), pmap_zero_page
 * and pmap_copy_page on per-CPU special pages, pmap_kenter_pa / pmap_kremove, pmap_growkernel and
 * pmap_collect.
 *
 * Locks (all through the kernel's lock services, so the witness checks them):
 *   pmap_main_lock (rw)  shared on pmap → pv paths (enter, remove, collect), exclusive on
 *                        pv → pmap paths (page_remove, clear/test attributes)
 *   pmap ("pm_lock")     one per pmap, DUPOK, two taken in address (id) order by pmap_map_ptes
 *   pvh_lock             one per pv_head
 *   pvalloc_lock         the pv page allocator
 *   pmaps_lock           the list of pmaps (pinit, release, growkernel)
 * One order everywhere: pmap_main_lock → pmap(s) → pvh_lock → pvalloc_lock, and pmap → pmaps_lock.
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
import type { Cpu, Machine } from "@vmlab/machine";
import * as hw from "@vmlab/machine";
import { auditCranorPmap } from "./audit.js";
import { type CranorLayout, SP_CDST, SP_CSRC, SP_ZERO } from "./layout.js";
import { PteAccess } from "./map_ptes.js";
import { CranorPmap } from "./pmap.js";
import { PG_NX, PG_PVLIST, PG_W } from "./pte.js";
import { freePtp, ptpOf } from "./ptp.js";
import { type PvEntry, PvPool, type PvTunables } from "./pv.js";

const { hex, PAGE_SIZE, Prot } = core;
const SPLVM = core.IPL.VM;
const { ACC_READ, ACC_WRITE, PG_A, PG_G, PG_M, PG_RW, PG_V, pteFrame, pteHi, pteLo } = hw;
const PG_AM = PG_A | PG_M;
const MiB = 1024 * 1024;
/** missingPageTables: never any (page tables are not in the user map). */
const NO_TABLES: VAddr[] = [];

/** Tunables of the Cranor pmap (tests shrink them; the defaults are NetBSD's). */
export interface CranorPmapOptions {
  /** PVE_LOWAT: grow the pv cache below this many free entries (default PVE_PER_PVPAGE / 2). */
  pvLowat?: number;
  /** PVE_HIWAT: free unused pv pages above this many free entries (default LOWAT + 2 pages). */
  pvHiwat?: number;
  /** Free pv entries only interrupt-level allocations may take (default 32). */
  pvReserve?: number;
  /** Kernel VA reserved for pv pages, in pages (default RAM/8, at least 256, at most 16384). */
  pvKvaPages?: number;
  /** Pages per remove record before it becomes a full flush (PMAP_RR_MAX, default 16). */
  rrMax?: number;
}

export class CranorModule implements PmapModule {
  readonly name = "cranor";
  /** PG_W, for the kernel's cross-layer audit. */
  readonly pteWiredBit = PG_W;
  readonly layout: AddressLayout;
  readonly kernelPmap: CranorPmap;
  readonly win: PteAccess;
  readonly pv: PvPool;
  /** pmap_main_lock. */
  readonly mainLock: RwLock;
  /** pmaps_lock. */
  readonly pmapsLock: Mutex;
  /** The `pmaps` list: every user pmap not yet released. */
  readonly pmaps = new Set<CranorPmap>();
  /** Kernel page-table pages below the top level (never freed), by frame. */
  readonly kptps: PAddr[] = [];
  /** nkpde: kernel page tables exist for [KERNBASE, kernelPtEnd). */
  kernelPtEnd: VAddr = 0;
  /** Frames taken at bootstrap (never managed by the VM). */
  readonly stolen: PAddr[] = [];
  readonly wide: boolean;
  readonly hasNx: boolean;
  readonly userMax: VAddr;
  readonly rrMax: number;
  readonly cEnter: Counter;
  readonly cRemove: Counter;
  readonly cShootdown: Counter;
  readonly cPtpAlloc: Counter;
  readonly cPtpFree: Counter;
  private readonly cZero: Counter;
  private readonly cCopy: Counter;
  /** Per CPU: the pmap_remove_record of the call in progress, and one for kernel-only mappings. */
  private readonly batches: hw.TlbBatch[] = [];
  private readonly kbatches: hw.TlbBatch[] = [];
  /** Per CPU: pv entries unlinked by the call in progress, freed once it has unlocked. */
  private readonly tofree: (PvEntry | null)[];
  private readonly allCpus: number;
  private hostRef: PmapHost | null = null;
  private nextId = 1;

  constructor(
    readonly machine: Machine,
    readonly kernel: KernelServices,
    readonly L: CranorLayout,
    opts: CranorPmapOptions = {},
  ) {
    this.layout = L.layout;
    this.wide = L.entryBytes === 8;
    this.hasNx = machine.format.hasNx;
    this.userMax = L.layout.userMax;
    this.win = new PteAccess(machine, L, kernel);
    this.mainLock = kernel.rwlock("pmap_main_lock");
    this.pmapsLock = kernel.mutex("pmaps_lock");
    const per = L.pvePerPvpage;
    const lowat = opts.pvLowat ?? Math.floor(per / 2);
    const tune: PvTunables = {
      lowat,
      hiwat: opts.pvHiwat ?? lowat + 2 * per,
      reserve: opts.pvReserve ?? 32,
      kvaPages: opts.pvKvaPages ?? Math.min(16384, Math.max(256, Math.floor(machine.memory.frames / 8))),
    };
    this.pv = new PvPool(
      per,
      L.pvPageInfoBytes,
      tune,
      kernel,
      {
        kenter: (va, pa) => this.kenter(va, pa, Prot.Read | Prot.Write),
        kremove: (va) => this.kremove(va, 1),
        store: (va, v) => this.win.store(machine.curcpu, va, v),
      },
      () => machine.curcpu.depth > 0,
    );
    this.rrMax = opts.rrMax ?? 16;
    const n = machine.cpus.length;
    this.allCpus = n >= 32 ? -1 : (1 << n) - 1;
    for (let i = 0; i < n; i++) {
      const b = new hw.TlbBatch(machine, this.rrMax);
      b.onFlushAll = (c) => this.win.markClean(c.id);
      this.batches.push(b);
      const kb = new hw.TlbBatch(machine, this.rrMax);
      kb.onFlushAll = (c) => this.win.markClean(c.id);
      this.kbatches.push(kb);
    }
    this.tofree = new Array<PvEntry | null>(n).fill(null);
    const c = kernel.counters;
    this.cEnter = c.counter("pmap.enter");
    this.cRemove = c.counter("pmap.remove");
    this.cShootdown = c.counter("pmap.shootdown");
    this.cPtpAlloc = c.counter("pmap.ptp.alloc");
    this.cPtpFree = c.counter("pmap.ptp.free");
    this.cZero = c.counter("pmap.zero_page");
    this.cCopy = c.counter("pmap.copy_page");
    this.kernelPmap = new CranorPmap(this, 0, true);
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

  // ------------------------------------------------------------------ bootstrap, init

  /**
   * pmap_bootstrap: the kernel's top-level table(s) (PAE: PDPT + 4 PDs) with the recursive
   * slot(s), NKPTP kernel page tables from KERNBASE ("16MB to start"), physical [0, 4 MiB)
   * mapped at KERNBASE with PG_G (pmap_pg_g), the special pages' PTEs left invalid, then CR3
   * with WP, PGE and NXE (where there is NX) on every CPU. The tables are written physically:
   * nothing is mapped yet.
   */
  bootstrap(steal: () => PAddr): void {
    const L = this.L;
    const mem = this.machine.memory;
    const e = L.entryBytes;
    const wide = this.wide;
    const kb = L.layout.kernelBase;
    const span = this.win.span;
    const take = (): PAddr => {
      const pa = steal();
      if (pa % PAGE_SIZE !== 0 || pa < 0 || pa + PAGE_SIZE > 4 * MiB) {
        this.kernel.panic(`pmap_bootstrap: stolen page ${hex(pa)} not a page below 4 MiB`);
      }
      mem.zeroRange(pa, PAGE_SIZE);
      this.stolen.push(pa);
      return pa;
    };
    const frame = (pa: PAddr): PAddr => pteFrame(mem.read32(pa), wide ? mem.read32(pa + 4) : 0);
    const put = (pa: PAddr, lo: number, hi: number): void => {
      if (wide) mem.write64(pa, lo, hi);
      else mem.write32(pa, lo);
    };
    const kp = this.kernelPmap;
    if (L.pdpSize === 4) {
      const pdpt = take();
      for (let k = 0; k < 4; k++) kp.pdirPa.push(take());
      for (let k = 0; k < 4; k++) put(pdpt + k * 8, pteLo(kp.pdirPa[k] as number, PG_V), 0);
      kp.cr3 = pdpt;
    } else {
      kp.pdirPa.push(take());
      kp.cr3 = kp.pdirPa[0] as number;
    }
    kp.pdirVa = kp.pdirPa.map((pa) => kb + pa);
    kp.residentCount = 0;
    const top = L.levels - 1;
    const topEntryPa = (t: number): PAddr =>
      L.pdpSize === 4 ? (kp.pdirPa[t >> 9] as number) + (t & 511) * 8 : (kp.pdirPa[0] as number) + t * e;
    const index = (va: VAddr, l: number): number =>
      l === top ? Math.floor(va / (span[l] as number)) : Math.floor(va / (span[l] as number)) % 2 ** L.indexBits;
    const entryPa = (va: VAddr, to: number): PAddr => {
      let ea = topEntryPa(index(va, top));
      for (let l = top; l > to; l--) {
        if ((mem.read32(ea) & PG_V) === 0) {
          const t = take();
          this.kptps.push(t);
          put(ea, pteLo(t, PG_V | PG_RW), pteHi(t));
        }
        ea = frame(ea) + index(va, l - 1) * e;
      }
      return ea;
    };
    for (let k = 0; k < L.nkptp; k++) entryPa(kb + k * (span[1] as number), 0);
    this.kernelPtEnd = kb + L.nkptp * (span[1] as number);
    // The kernel image and bootstrap pages: physical [0, 4 MiB) at KERNBASE.
    for (let pa = 0; pa < 4 * MiB; pa += PAGE_SIZE) put(entryPa(kb + pa, 0), pteLo(pa, PG_V | PG_RW | PG_G), 0);
    // PDSLOT_PTE: the recursive slot(s).
    for (let k = 0; k < L.pdpSize; k++) {
      const pa = kp.pdirPa[k] as number;
      put(topEntryPa(L.slotPte + k), pteLo(pa, PG_V | PG_RW), pteHi(pa));
    }
    const ctl: hw.ControlSettings = { cr3: kp.cr3, wp: true, pge: true };
    if (this.hasNx) ctl.nxe = true;
    for (const c of this.machine.cpus) {
      c.setControl(ctl);
      this.win.loaded[c.id] = kp;
      this.win.markClean(c.id);
    }
    kp.active = this.allCpus;
    this.kernel.trace.emit("pmap", "bootstrap", { cr3: kp.cr3, stolen: this.stolen.length });
  }

  /** pmap_init: the VM exists; reserve the pv pages' KVA and allocate pv_initpage. */
  init(host: PmapHost): void {
    this.hostRef = host;
    this.pv.init(host);
  }

  // ------------------------------------------------------------------ pmap_create / release

  /**
   * pmap_create → pmap_pinit: the top-level table page(s) from kmem (PAE: the four page
   * directories at once, and a page below 4 GiB for the PDPT), the recursive slot(s), and under
   * pmaps_lock the kernel's top-level entries copied in. resident_count starts at PDP_SIZE.
   */
  create(): Pmap {
    const L = this.L;
    const host = this.host;
    const kp = this.kernelPmap;
    const pm = new CranorPmap(this, this.nextId++, false);
    const n = L.pdpSize;
    const va = host.kmemAlloc(n * PAGE_SIZE);
    if (!(va > 0)) return this.kernel.panic("pmap_pinit: kernel_map out of virtual space!");
    for (let k = 0; k < n; k++) {
      const pdva = va + k * PAGE_SIZE;
      const pa = kp.extract(pdva) ?? this.kernel.panic(`pmap_pinit: kmem at ${hex(pdva)} not mapped`);
      pm.pdirVa.push(pdva);
      pm.pdirPa.push(pa);
    }
    const win = this.win;
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    if (n === 4) {
      const pdpt = this.allocPdpt(pm);
      for (let k = 0; k < 4; k++) {
        const pa = pm.pdirPa[k] as number;
        win.write(cpu, pm.pdptVa + k * 8, pteLo(pa, PG_V), pteHi(pa));
      }
      pm.cr3 = pdpt;
    } else {
      pm.cr3 = pm.pdirPa[0] as number;
    }
    pm.residentCount = n;
    for (let k = 0; k < n; k++) {
      const pa = pm.pdirPa[k] as number;
      win.write(cpu, this.topEntryVa(pm, L.slotPte + k), pteLo(pa, PG_V | PG_RW), pteHi(pa));
    }
    this.pmapsLock.lock("pmap_pinit");
    for (let t = L.slotKern; t < L.slotKern + L.nslotKern; t++) this.copyTopEntry(cpu, kp, pm, t);
    this.pmaps.add(pm);
    this.pmapsLock.unlock("pmap_pinit");
    this.kernel.splx(s);
    this.kernel.trace.emit("pmap", "pinit", { pmap: pm.id, cr3: pm.cr3 });
    return pm;
  }

  /** Kernel VA of top-level entry t (combined index on PAE) in pm's table(s), through pm_pdir. */
  topEntryVa(pm: CranorPmap, t: number): VAddr {
    return this.L.pdpSize === 4
      ? (pm.pdirVa[t >> 9] as number) + (t & 511) * 8
      : (pm.pdirVa[0] as number) + t * this.L.entryBytes;
  }

  private copyTopEntry(cpu: Cpu, from: CranorPmap, to: CranorPmap, t: number): void {
    const win = this.win;
    const src = this.topEntryVa(from, t);
    const lo = win.load(cpu, src);
    win.write(cpu, this.topEntryVa(to, t), lo, this.wide ? win.load(cpu, src + 4) : 0);
  }

  /**
   * PAE: the page holding a pmap's PDPT. CR3 is a 32-bit register in PAE mode, so the PDPT must
   * lie below 4 GiB; kmem pages above are tried again a bounded number of times, then given back.
   */
  private allocPdpt(pm: CranorPmap): PAddr {
    const host = this.host;
    const rejects: VAddr[] = [];
    let found: PAddr | undefined;
    while (found === undefined && rejects.length < 64) {
      const va = host.kmemAlloc(PAGE_SIZE);
      if (!(va > 0)) break;
      const pa = this.kernelPmap.extract(va) ?? this.kernel.panic(`pmap_pinit: kmem at ${hex(va)} not mapped`);
      if (pa + PAGE_SIZE <= 0x1_0000_0000) {
        pm.pdptVa = va;
        found = pa;
      } else rejects.push(va);
    }
    for (const va of rejects) host.kmemFree(va, PAGE_SIZE);
    return found ?? this.kernel.panic("pmap_pinit: no page below 4 GiB for the PDPT");
  }

  /**
   * pmap_release: the last reference is gone. Whatever is still mapped is removed first (so no
   * pv entry outlives the pmap and every PTP is freed as it empties); CPUs still running on the
   * tables switch to the kernel pmap; alternate slots still naming this pmap are cleared (NetBSD:
   * "XXX: other CPUs' APTE slots are not flushed"); then the table page(s) go back to kmem.
   */
  release(pm: CranorPmap): void {
    const kp = this.kernelPmap;
    for (const c of this.machine.cpus) {
      if (this.win.loaded[c.id] === pm) {
        this.machine.runOn(c, () => kp.activate(c.id));
      }
    }
    pm.active = 0;
    if (pm.residentCount > this.L.pdpSize) {
      this.kernel.trace.emit("pmap", "release.resident", { pmap: pm.id, resident: pm.residentCount });
      pm.remove(0, this.layout.mapMax);
    }
    for (const obj of pm.obj) {
      if (obj.size !== 0) this.kernel.panic(`pmap_release: pmap ${pm.id} still has ${obj.size} page-table pages`);
    }
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    this.pmapsLock.lock("pmap_release");
    this.pmaps.delete(pm);
    const first = pm.pdirPa[0] as number;
    for (const other of [kp, ...this.pmaps]) {
      const ea = this.topEntryVa(other, this.L.slotApte);
      const lo = win.load(cpu, ea);
      if ((lo & PG_V) !== 0 && pteFrame(lo, this.wide ? win.load(cpu, ea + 4) : 0) === first) {
        for (let k = 0; k < this.L.pdpSize; k++) win.zap(cpu, this.topEntryVa(other, this.L.slotApte + k));
      }
    }
    this.pmapsLock.unlock("pmap_release");
    this.kernel.splx(s);
    win.forget(pm);
    const host = this.host;
    host.kmemFree(pm.pdirVa[0] as number, this.L.pdpSize * PAGE_SIZE);
    if (pm.pdptVa !== 0) host.kmemFree(pm.pdptVa, PAGE_SIZE);
    pm.residentCount = 0;
    pm.released = true;
    this.kernel.trace.emit("pmap", "release", { pmap: pm.id });
  }

  /** pmap_activate: the pmap runs on the CPU; load its table into CR3 unless it is there. */
  activate(pm: CranorPmap, cpuIndex: number): void {
    const c = this.machine.cpu(cpuIndex);
    const win = this.win;
    const bit = 1 << cpuIndex;
    const prev = win.loaded[cpuIndex] as CranorPmap | null;
    if (prev !== null && prev !== pm && !prev.isKernel) prev.active &= ~bit;
    pm.active |= bit;
    if (prev !== pm || c.cr3 !== pm.cr3) {
      c.loadCr3(pm.cr3);
      win.loaded[cpuIndex] = pm;
      win.markClean(cpuIndex);
    }
  }

  // ------------------------------------------------------------------ TLB shootdown, pv freeing

  /** The CPU's remove record (pmap_remove_record) for the call in progress. */
  batchOf(cpu: Cpu): hw.TlbBatch {
    return this.batches[cpu.id] as hw.TlbBatch;
  }

  /**
   * pmap_update for the record: invalidate on every CPU where pm may be cached — where it is
   * active or its table is in CR3; every CPU for the kernel pmap (whose entries are global).
   */
  flush(cpu: Cpu, pm: CranorPmap): void {
    const b = this.batches[cpu.id] as hw.TlbBatch;
    if (b.empty) return;
    this.cShootdown.value += b.send(cpu, this.targets(pm), pm.isKernel);
  }

  private targets(pm: CranorPmap): number {
    if (pm.isKernel) return this.allCpus;
    let mask = pm.active;
    const loaded = this.win.loaded;
    for (let i = 0; i < loaded.length; i++) if (loaded[i] === pm) mask |= 1 << i;
    return mask;
  }

  /** Put an unlinked pv entry on the CPU's to-free list. */
  collectPv(cpu: Cpu, pve: PvEntry): void {
    pve.next = this.tofree[cpu.id] ?? null;
    this.tofree[cpu.id] = pve;
  }

  /** pmap_free_pvs of what the call unlinked (after its pmap locks are released). */
  freeCollected(cpu: Cpu): void {
    const list = this.tofree[cpu.id] ?? null;
    if (list === null) return;
    this.tofree[cpu.id] = null;
    this.pv.freeList(list);
  }

  // ------------------------------------------------------------------ pv → pmap calls

  /**
   * pmap_page_protect(pg, prot): neither read nor execute → pmap_page_remove; otherwise lower
   * every mapping: PG_RW off without write (pmap_change_attrs(pg, PG_RO, PG_RW)), NX on without
   * execute where the machine has NX. Never raises.
   */
  pageProtect(pg: VmPage, prot: number): void {
    if ((prot & (Prot.Read | Prot.Exec)) === 0) {
      this.pageRemove(pg);
      return;
    }
    const clearLo = (prot & Prot.Write) === 0 ? PG_RW : 0;
    const setHi = this.hasNx && (prot & Prot.Exec) === 0 ? PG_NX : 0;
    if (clearLo !== 0 || setHi !== 0) this.changeAttrs(pg, clearLo, setHi, "pmap_page_protect");
  }

  /**
   * pmap_page_remove(pg): remove every mapping of the page, wired ones included (NetBSD did; the
   * VM only asks for pages it is freeing or cleaning). pmap_main_lock exclusive; each mapping's
   * pmap mapped with pmap_map_ptes; its PTP freed if it empties.
   */
  pageRemove(pg: VmPage): void {
    const pvh = this.pv.peek(pg);
    if (pvh === undefined || pvh.list === null) return;
    const s = this.kernel.splraise(SPLVM);
    this.mainLock.wlock("pmap_page_remove");
    const cpu = this.machine.curcpu;
    const win = this.win;
    for (let pve: PvEntry | null = pvh.list; pve !== null; pve = pvh.list) {
      const pm = pve.pmap as CranorPmap;
      const va = pve.va;
      const w = win.mapPtes(cpu, pm, "pmap_page_remove");
      const ptp = pve.ptp;
      if (ptp !== null && ptpOf(this, pm, cpu, w, va) !== ptp) {
        this.kernel.panic("pmap_page_remove: mapped managed page has invalid pv_ptp field");
      }
      const ea = w.pteVa(va);
      const lo = win.load(cpu, ea);
      const hi = this.wide ? win.load(cpu, ea + 4) : 0;
      if ((lo & PG_V) === 0 || pteFrame(lo, hi) !== pg.pa) {
        this.kernel.panic(`pmap_page_remove: pv entry (pmap ${pm.id}, ${hex(va)}) without its mapping`);
      }
      win.zap(cpu, ea);
      if ((lo & PG_W) !== 0) pm.wiredCount--;
      pm.residentCount--;
      this.batchOf(cpu).add(va);
      pvh.lock.lock("pmap_page_remove");
      pvh.attrs |= lo & PG_AM;
      pvh.list = pve.next;
      pvh.lock.unlock("pmap_page_remove");
      this.collectPv(cpu, pve);
      if (ptp !== null) {
        ptp.wireCount--;
        if (ptp.wireCount <= 1) freePtp(this, pm, cpu, w, ptp, va, 0);
      }
      this.flush(cpu, pm);
      win.unmapPtes(cpu, pm, "pmap_page_remove");
    }
    this.mainLock.wunlock("pmap_page_remove");
    this.freeCollected(cpu);
    this.kernel.splx(s);
  }

  /**
   * pmap_change_attrs(pg, set, clear) / pmap_clear_attrs: clear `clearLo` (and set `setHi`, NX)
   * in every mapping, invalidating each changed one; the saved attributes lose `clearLo` too.
   * Returns whether any cleared bit was set before (saved or live).
   *
   * NetBSD took pvh_lock around the whole walk and pmap_map_ptes inside it (pv → pmap). Under the
   * exclusive pmap_main_lock no one else can touch a pv list, so here the list is walked without
   * it and pvh_lock is only taken (alone, or inside the pmap lock) for the attributes — keeping
   * the one lock order pmap → pvh the witness checks.
   */
  private changeAttrs(pg: VmPage, clearLo: number, setHi: number, where: string): boolean {
    const pvh = this.pv.peek(pg);
    if (pvh === undefined) return false;
    const s = this.kernel.splraise(SPLVM);
    this.mainLock.wlock(where);
    pvh.lock.lock(where);
    let result = pvh.attrs & clearLo;
    pvh.attrs &= ~clearLo;
    pvh.lock.unlock(where);
    const cpu = this.machine.curcpu;
    const win = this.win;
    const wide = this.wide;
    for (let pve = pvh.list; pve !== null; pve = pve.next) {
      const pm = pve.pmap as CranorPmap;
      const va = pve.va;
      const w = win.mapPtes(cpu, pm, where);
      if (win.missingLevel(cpu, w, va) !== 0) this.kernel.panic("pmap_change_attrs: mapping without PTP detected");
      const ea = w.pteVa(va);
      const lo = win.load(cpu, ea);
      result |= lo & clearLo;
      let changed = false;
      if ((lo & clearLo) !== 0) {
        win.store(cpu, ea, (lo & ~clearLo) >>> 0);
        changed = true;
      }
      if (setHi !== 0 && wide) {
        const hi = win.load(cpu, ea + 4);
        if ((hi & setHi) === 0) {
          win.store(cpu, ea + 4, (hi | setHi) >>> 0);
          changed = true;
        }
      }
      if (changed) {
        this.batchOf(cpu).add(va);
        this.flush(cpu, pm);
      }
      win.unmapPtes(cpu, pm, where);
    }
    this.mainLock.wunlock(where);
    this.kernel.splx(s);
    return result !== 0;
  }

  /**
   * pmap_test_attrs(pg, bit): the saved attributes first; else each mapping's PTE, read with
   * pmap_tmpmap_pvepte (no APDP switch) under its pmap's lock, is ORed into the attributes until
   * the bit shows up.
   */
  private testAttrs(pg: VmPage, bit: number): boolean {
    const pvh = this.pv.peek(pg);
    if (pvh === undefined) return false;
    if ((pvh.attrs & bit) !== 0) return true;
    if (pvh.list === null) return false;
    const s = this.kernel.splraise(SPLVM);
    this.mainLock.wlock("pmap_test_attrs");
    const cpu = this.machine.curcpu;
    const win = this.win;
    for (let pve: PvEntry | null = pvh.list; pve !== null && (pvh.attrs & bit) === 0; pve = pve.next) {
      const pm = pve.pmap as CranorPmap;
      pm.lock.lock("pmap_test_attrs");
      let lo: number;
      if (pm.isKernel) lo = win.load(cpu, win.ptw.pteVa(pve.va));
      else {
        lo = win.load(cpu, win.tmpmapPvepte(cpu, pm, pve.va, (pve.ptp as VmPage).pa));
        win.tmpunmapPvepte(cpu, pm);
      }
      pvh.lock.lock("pmap_test_attrs");
      pvh.attrs |= lo & PG_AM;
      pvh.lock.unlock("pmap_test_attrs");
      pm.lock.unlock("pmap_test_attrs");
    }
    this.mainLock.wunlock("pmap_test_attrs");
    this.kernel.splx(s);
    return (pvh.attrs & bit) !== 0;
  }

  /** pmap_clear_modify(pg) = pmap_clear_attrs(pg, PG_M). */
  clearModify(pg: VmPage): boolean {
    return this.changeAttrs(pg, PG_M, 0, "pmap_clear_modify");
  }

  /** pmap_clear_reference(pg) = pmap_clear_attrs(pg, PG_U) (PG_U is our PG_A). */
  clearReference(pg: VmPage): boolean {
    return this.changeAttrs(pg, PG_A, 0, "pmap_clear_reference");
  }

  /** pmap_is_modified(pg) = pmap_test_attrs(pg, PG_M). */
  isModified(pg: VmPage): boolean {
    return this.testAttrs(pg, PG_M);
  }

  /** pmap_is_referenced(pg) = pmap_test_attrs(pg, PG_U) (our PG_A). */
  isReferenced(pg: VmPage): boolean {
    return this.testAttrs(pg, PG_A);
  }

  /**
   * pmap_ts_referenced (FreeBSD's KPI; NetBSD 1.4 had none): count the mappings — and the saved
   * attribute — with the reference bit, clearing them.
   */
  tsReferenced(pg: VmPage): number {
    const pvh = this.pv.peek(pg);
    if (pvh === undefined) return 0;
    const s = this.kernel.splraise(SPLVM);
    this.mainLock.wlock("pmap_ts_referenced");
    pvh.lock.lock("pmap_ts_referenced");
    let n = (pvh.attrs & PG_A) !== 0 ? 1 : 0;
    pvh.attrs &= ~PG_A;
    pvh.lock.unlock("pmap_ts_referenced");
    const cpu = this.machine.curcpu;
    const win = this.win;
    for (let pve = pvh.list; pve !== null; pve = pve.next) {
      const pm = pve.pmap as CranorPmap;
      const w = win.mapPtes(cpu, pm, "pmap_ts_referenced");
      const ea = w.pteVa(pve.va);
      const lo = win.load(cpu, ea);
      if ((lo & PG_A) !== 0) {
        n++;
        win.store(cpu, ea, (lo & ~PG_A) >>> 0);
        this.batchOf(cpu).add(pve.va);
        this.flush(cpu, pm);
      }
      win.unmapPtes(cpu, pm, "pmap_ts_referenced");
    }
    this.mainLock.wunlock("pmap_ts_referenced");
    this.kernel.splx(s);
    return n;
  }

  // ------------------------------------------------------------------ zero / copy page

  /** The frame the MMU now translates a special page to (so a stale TLB entry would show). */
  private specialPa(cpu: Cpu, va: VAddr, write: boolean): PAddr {
    const pa = cpu.xlate(va, write ? ACC_WRITE : ACC_READ, false);
    if (pa < 0) this.kernel.panic(`pmap: special page ${hex(va)} faulted`);
    return pa;
  }

  /** pmap_zero_page: map the page at this CPU's zerop, bzero, unmap. */
  zeroPage(pg: VmPage): void {
    this.zeroPageArea(pg, 0, PAGE_SIZE);
  }

  /** pmap_zero_page_area: the same special zero page (zerop), clearing [off, off+size). */
  zeroPageArea(pg: VmPage, off: number, size: number): void {
    if (!(off >= 0 && size >= 0 && off + size <= PAGE_SIZE)) {
      this.kernel.panic(`pmap_zero_page_area: bad range ${off}+${size}`);
    }
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const va = this.win.mapSpecial(cpu, SP_ZERO, pg.pa, "pmap_zero_page: lock botch");
    this.machine.memory.zeroRange(this.specialPa(cpu, va, true) + off, size);
    cpu.cycles += Math.ceil((this.machine.costs.pageZero * size) / PAGE_SIZE);
    this.win.unmapSpecial(cpu, SP_ZERO, "pmap_zero_page: lock botch");
    this.cZero.value++;
    this.kernel.splx(s);
  }

  /** pmap_copy_page: csrcp = src, cdstp = dst, bcopy, unmap both (pmap_update_2pg). */
  copyPage(src: VmPage, dst: VmPage): void {
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    const from = win.mapSpecial(cpu, SP_CSRC, src.pa, "pmap_copy_page: lock botch");
    const to = win.mapSpecial(cpu, SP_CDST, dst.pa, "pmap_copy_page: lock botch");
    this.machine.memory.copyRange(this.specialPa(cpu, to, true), this.specialPa(cpu, from, false), PAGE_SIZE);
    cpu.cycles += this.machine.costs.pageCopy;
    win.unmapSpecial(cpu, SP_CSRC, "pmap_copy_page: lock botch");
    win.unmapSpecial(cpu, SP_CDST, "pmap_copy_page: lock botch");
    this.cCopy.value++;
    this.kernel.splx(s);
  }

  // ------------------------------------------------------------------ kernel-only mappings

  /**
   * pmap_kenter_pa: an unmanaged, wired kernel mapping — no pv entry, no statistics, no lock (as
   * NetBSD: *vtopte(va) = pa | prot | PG_V | pmap_pg_g), invalidated only if the old PTE was valid.
   */
  kenter(va: VAddr, pa: PAddr, prot: number): void {
    this.checkKernelVa(va, "pmap_kenter_pa");
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    const w = win.ptw;
    if (win.missingLevel(cpu, w, va) !== 0) this.kernel.panic(`pmap_kenter_pa: missing kernel PTP for ${hex(va)}`);
    const ea = w.pteVa(va);
    const old = win.load(cpu, ea);
    if ((old & PG_PVLIST) !== 0) this.kernel.panic(`pmap_kenter_pa: ${hex(va)} has a managed mapping`);
    const bits = PG_V | PG_G | ((prot & Prot.Write) !== 0 ? PG_RW : 0);
    const hi = this.hasNx && (prot & Prot.Exec) === 0 ? (pteHi(pa) | PG_NX) >>> 0 : pteHi(pa);
    win.write(cpu, ea, pteLo(pa, bits), hi);
    if ((old & PG_V) !== 0) {
      const b = this.kbatches[cpu.id] as hw.TlbBatch;
      b.add(va);
      this.cShootdown.value += b.send(cpu, this.allCpus, true);
    }
    this.kernel.splx(s);
  }

  /** pmap_kremove: zap unmanaged kernel mappings and invalidate them everywhere. */
  kremove(va: VAddr, pages: number): void {
    const s = this.kernel.splraise(SPLVM);
    const cpu = this.machine.curcpu;
    const win = this.win;
    const b = this.kbatches[cpu.id] as hw.TlbBatch;
    for (let i = 0; i < pages; i++) {
      const v = va + i * PAGE_SIZE;
      this.checkKernelVa(v, "pmap_kremove");
      if (win.missingLevel(cpu, win.ptw, v) !== 0) continue;
      const ea = win.ptw.pteVa(v);
      const lo = win.load(cpu, ea);
      if ((lo & PG_V) === 0) continue;
      if ((lo & PG_PVLIST) !== 0) this.kernel.panic(`pmap_kremove: ${hex(v)} is a managed mapping`);
      win.zap(cpu, ea);
      b.add(v);
    }
    this.cShootdown.value += b.send(cpu, this.allCpus, true);
    this.kernel.splx(s);
  }

  private checkKernelVa(va: VAddr, fn: string): void {
    const l = this.layout;
    if (va % PAGE_SIZE !== 0 || va < l.kernelBase || va >= l.kernelMax) {
      this.kernel.panic(`${fn}: va ${hex(va)} outside the kernel range`);
    }
  }

  /**
   * pmap_growkernel(maxkvaddr): kernel page tables up to `end`, each a zeroed page from the VM
   * (never freed). A new top-level kernel entry (i386, PAE) is copied into every pmap under
   * pmaps_lock; on amd64 the kernel's one PML4 slot exists from bootstrap and only tables below
   * it — shared by every pmap — are added.
   */
  growKernel(end: VAddr): void {
    if (end <= this.kernelPtEnd) return;
    const L = this.L;
    if (end > L.layout.kernelMax) {
      this.kernel.panic(`pmap_growkernel: ${hex(end)} beyond VM_MAX_KERNEL_ADDRESS ${hex(L.layout.kernelMax)}`);
    }
    const host = this.hostRef ?? this.kernel.panic("pmap_growkernel: out of memory");
    const kp = this.kernelPmap;
    const win = this.win;
    const w = win.ptw;
    const top = L.levels - 1;
    const ptSpan = win.span[1] as number;
    const s = this.kernel.splraise(SPLVM);
    kp.lock.lock("pmap_growkernel");
    const cpu = this.machine.curcpu;
    while (this.kernelPtEnd < end) {
      const va = this.kernelPtEnd;
      for (let l = top; l >= 1; l--) {
        if ((win.load(cpu, w.entryVa(va, l)) & PG_V) !== 0) continue;
        const pg = host.allocPage({}) ?? this.kernel.panic("pmap_growkernel: alloc ptp failed");
        this.zeroPage(pg);
        const lo = pteLo(pg.pa, PG_V | PG_RW);
        const hi = pteHi(pg.pa);
        if (l === top) {
          const t = Math.floor(va / (win.span[top] as number));
          win.write(cpu, this.topEntryVa(kp, t), lo, hi);
          this.pmapsLock.lock("pmap_growkernel");
          for (const pm of this.pmaps) win.write(cpu, this.topEntryVa(pm, t), lo, hi);
          this.pmapsLock.unlock("pmap_growkernel");
        } else {
          win.write(cpu, w.entryVa(va, l), lo, hi);
        }
        this.kptps.push(pg.pa);
      }
      this.kernelPtEnd = va + ptSpan;
    }
    kp.lock.unlock("pmap_growkernel");
    this.kernel.splx(s);
    this.kernel.trace.emit("pmap", "growkernel", { end: this.kernelPtEnd });
  }

  /** Page tables are never pages of the user map: nothing for trap() to fault in. */
  missingPageTables(_pmap: Pmap, _va: VAddr): VAddr[] {
    return NO_TABLES;
  }

  /**
   * pmap_collect(pmap): give back what can be given back before a swap-out — every mapping that
   * is not wired is removed, and page-table pages that empty are freed (pmap(9): pmap_collect
   * must not remove wired mappings; NetBSD 1.4's was a stub, 1.5's removed everything).
   */
  collect(pmap: Pmap): void {
    const pm = pmap as CranorPmap;
    if (pm.isKernel || pm.released) return;
    const s = this.kernel.splraise(SPLVM);
    this.mainLock.rlock("pmap_collect");
    const cpu = this.machine.curcpu;
    const w = this.win.mapPtes(cpu, pm, "pmap_collect");
    const span = this.win.span[1] as number;
    const blocks = [...(pm.obj[0] as Map<number, VmPage>).keys()].sort((a, b) => a - b);
    for (const i of blocks) pm.removeRange(cpu, w, i * span, (i + 1) * span, true);
    this.flush(cpu, pm);
    this.win.unmapPtes(cpu, pm, "pmap_collect");
    this.mainLock.runlock("pmap_collect");
    this.freeCollected(cpu);
    this.kernel.splx(s);
  }

  audit(): void {
    auditCranorPmap(this);
  }
}
