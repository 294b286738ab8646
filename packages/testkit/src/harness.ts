/**
 * A tiny "kernel" for unit-testing a VM layer: the VM over the fake pmap and the fake pager I/O,
 * a PmapHost built the way the real kernel builds it, process spaces, and an MMU-like access path
 * that faults through vm.fault the way trap() does.
 */
import {
  hex,
  INHERIT_COPY,
  InvariantViolation,
  KERN_SUCCESS,
  type KernReturn,
  type MapRequest,
  type PAddr,
  PAGE_SIZE,
  type Pmap,
  type PmapHost,
  Prot,
  type VAddr,
  type VmFactory,
  type VmLayer,
  type VmPage,
  type VmSpace,
} from "@vmlab/core";
import { FakePagerIo } from "./fake-io.js";
import { type FakePmap, FakePmapModule, type FakePmapOptions } from "./fake-pmap.js";
import { TestKernel } from "./kernel.js";

export class AccessError extends Error {
  constructor(
    readonly rv: KernReturn,
    readonly va: VAddr,
  ) {
    super(`access at ${hex(va)} failed with kern_return ${rv}`);
  }
}

export interface TestSystemOptions extends FakePmapOptions {
  /** Managed RAM pages (before the stolen ones are taken out). */
  pages?: number;
  seed?: number;
  errata?: readonly string[];
  /** Swap slots of the fake swap device. */
  swapSlots?: number;
  /** Whether a managed page is on the VM's free list (for the "no mapping of a free page" audit). */
  isFree?: (pg: VmPage) => boolean;
}

export const RW = Prot.Read | Prot.Write;

export class TestSystem<V extends VmLayer = VmLayer> {
  readonly kernel: TestKernel;
  readonly pmap: FakePmapModule;
  readonly io: FakePagerIo;
  readonly vm: V;
  readonly spaceOfPmap = new Map<Pmap, VmSpace>();
  private readonly isFree: ((pg: VmPage) => boolean) | undefined;

  constructor(factory: VmFactory, opts: TestSystemOptions = {}) {
    this.kernel = new TestKernel(opts.seed ?? 1, opts.errata);
    this.pmap = new FakePmapModule(opts);
    this.io = new FakePagerIo(this.pmap, this.kernel, opts.swapSlots);
    this.isFree = opts.isFree;
    const pages = opts.pages ?? 1024;
    // Two RAM segments (base memory below the ISA hole, extended memory above 1 MiB).
    const low = Math.min(pages, 160);
    const segments = [{ base: 0, size: low * PAGE_SIZE }];
    if (pages > low) segments.push({ base: 0x10_0000, size: (pages - low) * PAGE_SIZE });
    const stolen = [0, PAGE_SIZE, 2 * PAGE_SIZE, 3 * PAGE_SIZE];
    this.vm = factory.create({ kernel: this.kernel, pmap: this.pmap, segments, stolen, io: this.io }) as V;
    const vm = this.vm;
    this.io.pagedaemon = () => vm.pagedaemon();
    const host: PmapHost = {
      kernel: this.kernel,
      allocPage: (o) => vm.allocPage(o),
      freePage: (pg) => vm.freePage(pg),
      pageOf: (pa) => vm.pageOf(pa),
      kvaAlloc: (b) => vm.kvaAlloc(b),
      kvaFree: (va, b) => vm.kvaFree(va, b),
      kmemAlloc: (b) => vm.kmemAlloc(b),
      kmemFree: (va, b) => vm.kmemFree(va, b),
      reservLevelIfFullPop: (pg) => vm.reservLevelIfFullPop(pg),
      faultPageTable: (pm, ptva) => {
        const s = this.spaceOfPmap.get(pm);
        return s !== undefined && this.faultPageTable(s, ptva);
      },
    };
    this.pmap.init(host);
  }

  spawn(): VmSpace {
    const s = this.vm.createSpace();
    this.spaceOfPmap.set(s.pmap, s);
    return s;
  }

  fork(parent: VmSpace): VmSpace {
    const s = this.vm.fork(parent);
    if (s === null) throw new Error("vmspace_fork: no memory for the child (call vm.fork to test that)");
    this.spaceOfPmap.set(s.pmap, s);
    return s;
  }

  exit(s: VmSpace): void {
    this.spaceOfPmap.delete(s.pmap);
    this.vm.destroySpace(s);
  }

  pmapOf(s: VmSpace): FakePmap {
    return s.pmap as FakePmap;
  }

  /** mmap of anonymous memory; throws unless it succeeds. */
  mmap(s: VmSpace, len: number, r: Partial<MapRequest> = {}): VAddr {
    const req: MapRequest = {
      addr: 0,
      len,
      prot: RW,
      maxProt: Prot.All,
      fixed: false,
      shared: false,
      inheritance: INHERIT_COPY,
      wired: false,
      ...r,
    };
    const { rv, va } = this.vm.map(s, req);
    if (rv !== KERN_SUCCESS) throw new AccessError(rv, req.addr);
    return va;
  }

  /** trap.c: fault a page-table page into the map and wire it. */
  faultPageTable(s: VmSpace, ptva: VAddr): boolean {
    if (this.vm.fault(s, ptva, RW) !== KERN_SUCCESS) return false;
    return this.vm.wire(s, ptva, PAGE_SIZE, "system") === KERN_SUCCESS;
  }

  /**
   * The MMU and trap(): translate va for the access, faulting through the VM as needed; the
   * physical address on success, AccessError with the VM's kern_return otherwise.
   */
  translate(s: VmSpace, va: VAddr, access: Prot): PAddr {
    const pmap = this.pmapOf(s);
    const page = va - (va % PAGE_SIZE);
    for (let attempt = 0; attempt < 4; attempt++) {
      const m = pmap.maps.get(page);
      if (m && (access !== Prot.Write || m.prot & Prot.Write)) {
        this.pmap.referenced.add(m.pg.index);
        if (access === Prot.Write) this.pmap.modified.add(m.pg.index);
        return m.pg.pa + (va - page);
      }
      if (this.pmap.uptMode === "trap") {
        for (const ptva of this.pmap.missingPageTables(pmap, page)) {
          if (!this.faultPageTable(s, ptva)) throw new AccessError(-1, va);
        }
      }
      const rv = this.vm.fault(s, page, access);
      if (rv !== KERN_SUCCESS) throw new AccessError(rv, va);
    }
    throw new Error(`fault loop at ${hex(va)}`);
  }

  load8(s: VmSpace, va: VAddr): number {
    return this.pmap.read8(this.translate(s, va, Prot.Read));
  }

  store8(s: VmSpace, va: VAddr, v: number): void {
    this.pmap.write8(this.translate(s, va, Prot.Write), v);
  }

  /** Store v at the first byte of every page of [va, va+len). */
  fillPages(s: VmSpace, va: VAddr, len: number, v: number): void {
    for (let off = 0; off < len; off += PAGE_SIZE) this.store8(s, va + off, v);
  }

  /** The first byte of every page of [va, va+len). */
  readPages(s: VmSpace, va: VAddr, len: number): number[] {
    const out: number[] = [];
    for (let off = 0; off < len; off += PAGE_SIZE) out.push(this.load8(s, va + off));
    return out;
  }

  /** kern_return of an access, KERN_SUCCESS when it worked. */
  tryStore(s: VmSpace, va: VAddr, v: number): KernReturn {
    try {
      this.store8(s, va, v);
      return KERN_SUCCESS;
    } catch (e) {
      if (e instanceof AccessError) return e.rv;
      throw e;
    }
  }

  tryLoad(s: VmSpace, va: VAddr): KernReturn | { value: number } {
    try {
      return { value: this.load8(s, va) };
    } catch (e) {
      if (e instanceof AccessError) return e.rv;
      throw e;
    }
  }

  /** Every layer's audit, plus: no translation targets a free page. */
  audit(): void {
    this.vm.audit();
    this.pmap.audit();
    for (const p of [...this.pmap.pmaps, this.pmap.kernelPmap]) {
      for (const [va, m] of p.maps) {
        if (this.isFree?.(m.pg)) {
          throw new InvariantViolation(
            "test",
            "mapping of a free page",
            `pmap ${p.id} va ${hex(va)} → ${hex(m.pg.pa)}`,
          );
        }
      }
    }
  }

  stat(name: string): number {
    return this.kernel.counters.get(name);
  }
}
