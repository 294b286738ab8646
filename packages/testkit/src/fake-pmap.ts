/**
 * A software pmap for testing a VM layer alone: translations are (pmap, va) → {page, prot,
 * wired} in Maps, with a reverse map per page (so pageProtect and the reference/modify bits
 * work), and page contents are byte arrays keyed by physical address. Memory that was never
 * zeroed or copied reads as 0xa5 garbage, so a missing zero-fill shows.
 *
 * Page-table pages in user VA (the 4.4BSD i386 UPT region) are modelled when the layout has one:
 * one "page-table page" per 4 MiB of user VA at uptMin + (va >> 22) * 4096. In "trap" mode the
 * harness faults them in first (trap.c); in "pmap" mode enter() asks the host (NetBSD pmap_enter).
 */
import {
  type AddressLayout,
  hex,
  InvariantViolation,
  type PAddr,
  PAGE_SIZE,
  PMAP_CANFAIL,
  PMAP_WIRED,
  type Pmap,
  type PmapHost,
  type PmapModule,
  Prot,
  type VAddr,
  type VmPage,
} from "@vmlab/core";

export const PT_SPAN = 0x40_0000;
export const GARBAGE = 0xa5;

/** A layout with a UPT region below the kernel, like 4.4BSD i386. */
export const UPT_LAYOUT: AddressLayout = {
  userMin: 0x1000,
  userMax: 0xbf00_0000,
  uareaVa: 0xbfbf_e000,
  uareaPages: 2,
  uptMin: 0xbfc0_0000,
  uptMax: 0xc000_0000,
  mapMax: 0xc000_0000,
  kernelBase: 0xc000_0000,
  kernelMin: 0xc040_0000,
  kernelMax: 0xc800_0000,
};

/** The same without a UPT region (pmaps that own their page tables). */
export const FLAT_LAYOUT: AddressLayout = { ...UPT_LAYOUT, uptMin: 0xc000_0000, uptMax: 0xc000_0000 };

interface Mapping {
  pg: VmPage;
  prot: Prot;
  wired: boolean;
}

export class FakePmap implements Pmap {
  static nextId = 1;
  readonly id = FakePmap.nextId++;
  readonly maps = new Map<VAddr, Mapping>();
  refs = 1;
  destroyed = false;
  /** Kernel VA of this pmap's "page directory" (kmem, as pmap_pinit allocated it). */
  pdir = 0;
  /** The fake keeps no page tables in physical memory: no tree to load into CR3 or walk. */
  readonly cr3 = 0;

  constructor(
    readonly mod: FakePmapModule,
    readonly isKernel: boolean,
  ) {}

  enter(va: VAddr, pg: VmPage, prot: Prot, flags: number): boolean {
    if (this.destroyed) throw new Error(`pmap_enter on destroyed pmap ${this.id}`);
    if (va % PAGE_SIZE !== 0) throw new Error(`pmap_enter: unaligned va ${hex(va)}`);
    const mod = this.mod;
    mod.enters++;
    if (flags & PMAP_CANFAIL && mod.failEnters > 0) {
      mod.failEnters--;
      return false;
    }
    if (!this.isKernel && mod.hasUpt && va < mod.layout.uptMin) {
      const ptva = mod.ptOf(va);
      if (!this.maps.has(ptva)) {
        if (mod.uptMode === "pmap") {
          if (!mod.host?.faultPageTable(this, ptva))
            throw new Error(`pmap_enter: cannot fault page table ${hex(ptva)}`);
        }
        if (!this.maps.has(ptva)) throw new Error(`pmap_enter: no page table for ${hex(va)} (ptdi)`);
      }
    }
    const old = this.maps.get(va);
    if (old && old.pg !== pg) this.removeOne(va);
    if (!old || old.pg !== pg) mod.pvAdd(pg, this, va);
    this.maps.set(va, { pg, prot, wired: (flags & PMAP_WIRED) !== 0 });
    const access = flags & Prot.All;
    if (access) mod.referenced.add(pg.index);
    if (access & Prot.Write) mod.modified.add(pg.index);
    return true;
  }

  removeOne(va: VAddr): void {
    const m = this.maps.get(va);
    if (!m) return;
    this.maps.delete(va);
    this.mod.pvRemove(m.pg, this, va);
  }

  remove(sva: VAddr, eva: VAddr): void {
    for (const va of [...this.maps.keys()]) if (va >= sva && va < eva) this.removeOne(va);
  }

  protect(sva: VAddr, eva: VAddr, prot: Prot): void {
    if ((prot & Prot.Read) === 0) {
      this.remove(sva, eva);
      return;
    }
    for (const [va, m] of this.maps) if (va >= sva && va < eva) m.prot &= prot;
  }

  unwire(va: VAddr): void {
    const m = this.maps.get(va);
    if (!m) throw new Error(`pmap_unwire: no mapping at ${hex(va)} in pmap ${this.id}`);
    m.wired = false;
  }

  extract(va: VAddr): PAddr | undefined {
    return this.maps.get(va - (va % PAGE_SIZE))?.pg.pa;
  }

  activate(): void {}
  deactivate(): void {}

  destroy(): void {
    if (--this.refs > 0) return;
    if (this.maps.size !== 0) {
      throw new Error(
        `pmap_destroy: pmap ${this.id} still has ${this.maps.size} mappings (first ${hex([...this.maps.keys()][0] ?? 0)})`,
      );
    }
    this.destroyed = true;
    if (this.pdir) this.mod.host?.kmemFree(this.pdir, PAGE_SIZE);
    this.mod.pmaps.delete(this);
  }

  reference(): void {
    this.refs++;
  }

  get residentCount(): number {
    return this.maps.size;
  }

  get wiredCount(): number {
    let n = 0;
    for (const m of this.maps.values()) if (m.wired) n++;
    return n;
  }

  /** The rights of the mapping at va, or undefined. */
  protOf(va: VAddr): Prot | undefined {
    return this.maps.get(va - (va % PAGE_SIZE))?.prot;
  }
}

export interface FakePmapOptions {
  layout?: AddressLayout;
  /** How user page-table pages get faulted in when the layout has a UPT region. */
  uptMode?: "trap" | "pmap";
  /** Allocate a page directory with kmemAlloc in create(), as pmap_pinit did. */
  pdir?: boolean;
}

export class FakePmapModule implements PmapModule {
  readonly name = "fake";
  readonly layout: AddressLayout;
  readonly kernelPmap: FakePmap;
  readonly uptMode: "trap" | "pmap";
  readonly hasUpt: boolean;
  host: PmapHost | undefined;
  readonly pmaps = new Set<FakePmap>();
  /** pv lists: page index → (pmap, va) pairs. */
  readonly pv = new Map<number, Set<string>>();
  private readonly pvTarget = new Map<string, [FakePmap, VAddr]>();
  readonly referenced = new Set<number>();
  readonly modified = new Set<number>();
  /** Page contents by physical address. */
  readonly mem = new Map<PAddr, Uint8Array>();
  readonly kentered = new Map<VAddr, PAddr>();
  growKernelCalls: VAddr[] = [];
  enters = 0;
  /** Make the next N pmap_enter calls with PMAP_CANFAIL fail. */
  failEnters = 0;
  private readonly pdir: boolean;

  constructor(opts: FakePmapOptions = {}) {
    this.layout = opts.layout ?? FLAT_LAYOUT;
    this.uptMode = opts.uptMode ?? "trap";
    this.hasUpt = this.layout.uptMin < this.layout.uptMax;
    this.pdir = opts.pdir ?? true;
    this.kernelPmap = new FakePmap(this, true);
  }

  ptOf(va: VAddr): VAddr {
    return this.layout.uptMin + Math.floor(va / PT_SPAN) * PAGE_SIZE;
  }

  bootstrap(): void {}

  init(host: PmapHost): void {
    this.host = host;
  }

  create(): Pmap {
    const p = new FakePmap(this, false);
    this.pmaps.add(p);
    if (this.pdir && this.host) {
      p.pdir = this.host.kmemAlloc(PAGE_SIZE);
      if (!p.pdir) throw new Error("pmap_pinit: kmem_alloc failed");
    }
    return p;
  }

  pvAdd(pg: VmPage, pmap: FakePmap, va: VAddr): void {
    const key = `${pmap.id}:${va}`;
    let set = this.pv.get(pg.index);
    if (!set) {
      set = new Set();
      this.pv.set(pg.index, set);
    }
    set.add(key);
    this.pvTarget.set(key, [pmap, va]);
  }

  pvRemove(pg: VmPage, pmap: FakePmap, va: VAddr): void {
    const key = `${pmap.id}:${va}`;
    this.pv.get(pg.index)?.delete(key);
    this.pvTarget.delete(key);
  }

  /** Every (pmap, va) mapping the page. */
  mappings(pg: VmPage): [FakePmap, VAddr][] {
    const out: [FakePmap, VAddr][] = [];
    for (const key of this.pv.get(pg.index) ?? []) {
      const t = this.pvTarget.get(key);
      if (t) out.push(t);
    }
    return out;
  }

  pageProtect(pg: VmPage, prot: Prot): void {
    for (const [pmap, va] of this.mappings(pg)) {
      if ((prot & Prot.Read) === 0) pmap.removeOne(va);
      else {
        const m = pmap.maps.get(va);
        if (m && (prot & Prot.Write) === 0) m.prot &= ~Prot.Write;
      }
    }
  }

  clearModify(pg: VmPage): boolean {
    return this.modified.delete(pg.index);
  }
  clearReference(pg: VmPage): boolean {
    return this.referenced.delete(pg.index);
  }
  isModified(pg: VmPage): boolean {
    return this.modified.has(pg.index);
  }
  isReferenced(pg: VmPage): boolean {
    return this.referenced.has(pg.index);
  }
  tsReferenced(pg: VmPage): number {
    return this.referenced.delete(pg.index) ? 1 : 0;
  }

  zeroPage(pg: VmPage): void {
    this.mem.set(pg.pa, new Uint8Array(PAGE_SIZE));
  }

  zeroPageArea(pg: VmPage, off: number, size: number): void {
    const bytes = this.readPage(pg.pa);
    bytes.fill(0, off, off + size);
    this.writePage(pg.pa, bytes);
  }

  copyPage(src: VmPage, dst: VmPage): void {
    const from = this.mem.get(src.pa);
    this.mem.set(dst.pa, from ? from.slice() : new Uint8Array(PAGE_SIZE).fill(GARBAGE));
  }

  /** The bytes of the frame at `pa` (a copy); never-written frames read as garbage. */
  readPage(pa: PAddr): Uint8Array {
    const buf = this.mem.get(pa - (pa % PAGE_SIZE));
    return buf ? buf.slice() : new Uint8Array(PAGE_SIZE).fill(GARBAGE);
  }

  /** Replace the bytes of the frame at `pa` (DMA into memory). */
  writePage(pa: PAddr, bytes: Uint8Array): void {
    this.mem.set(pa - (pa % PAGE_SIZE), bytes.slice(0, PAGE_SIZE));
  }

  read8(pa: PAddr): number {
    const base = pa - (pa % PAGE_SIZE);
    const buf = this.mem.get(base);
    return buf ? (buf[pa - base] as number) : GARBAGE;
  }

  write8(pa: PAddr, v: number): void {
    const base = pa - (pa % PAGE_SIZE);
    let buf = this.mem.get(base);
    if (!buf) {
      buf = new Uint8Array(PAGE_SIZE).fill(GARBAGE);
      this.mem.set(base, buf);
    }
    buf[pa - base] = v & 0xff;
  }

  kenter(va: VAddr, pa: PAddr): void {
    this.kentered.set(va, pa);
  }

  kremove(va: VAddr, pages: number): void {
    for (let i = 0; i < pages; i++) this.kentered.delete(va + i * PAGE_SIZE);
  }

  growKernel(end: VAddr): void {
    this.growKernelCalls.push(end);
  }

  missingPageTables(pmap: Pmap, va: VAddr): VAddr[] {
    if (!this.hasUpt || va >= this.layout.uptMin || pmap === this.kernelPmap) return [];
    const ptva = this.ptOf(va);
    return (pmap as FakePmap).maps.has(ptva) ? [] : [ptva];
  }

  /** pv ↔ mapping consistency. */
  audit(): void {
    let pvCount = 0;
    for (const [idx, set] of this.pv) {
      for (const key of set) {
        const t = this.pvTarget.get(key);
        if (!t) throw new InvariantViolation("pmap", "pv target", `page ${idx}: ${key}`);
        const m = t[0].maps.get(t[1]);
        if (!m || m.pg.index !== idx)
          throw new InvariantViolation("pmap", "pv entry", `page ${idx}: ${key} not mapped`);
        pvCount++;
      }
    }
    let mapped = 0;
    for (const p of [...this.pmaps, this.kernelPmap]) mapped += p.maps.size;
    if (mapped !== pvCount)
      throw new InvariantViolation("pmap", "pv count", `${mapped} mappings, ${pvCount} pv entries`);
  }
}
