/**
 * A toy kernel and VM for testing a pmap alone: the real kernel services of @vmlab/core (locks
 * with a witness, counters, trace, spl on the machine's CPUs, panic throwing KernelPanic) and a
 * small PmapHost — a page array with a free stack, a bump allocator for kernel VA that calls
 * pmap_growkernel as kernel_map would, kmem_alloc as KVA + zeroed pages entered wired in the
 * kernel pmap, switches to make memory short (`normalFloor` refuses ordinary allocations once
 * that few pages are left, interrupt-level ones may go lower; `starve` refuses everything), and
 * optional full-reservation answers for superpage promotion (`reservations`, `contiguousRun`).
 */
import {
  Counters,
  KernelPanic,
  type KernelServices,
  type LockOptions,
  Mutex,
  PAGE_SIZE,
  PMAP_WIRED,
  type Pmap,
  type PmapHost,
  type PmapModule,
  Prng,
  Prot,
  RwLock,
  SpinMutex,
  splraise,
  splx,
  TraceRing,
  type VAddr,
  type VmPage,
  Witness,
} from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { alternateWindow, type Cpu, type Machine, type MachineName, type PmapFactory } from "@vmlab/machine";
import { RW } from "./harness.js";

export const MACHINES: readonly MachineName[] = ["i386", "i386-pae", "amd64"];
export const RO = Prot.Read;
export const RX = Prot.Read | Prot.Exec;
export const RWX = Prot.All;

export class ToyPage implements VmPage {
  wireCount = 0;
  md: unknown = null;
  allocated = false;
  constructor(
    readonly pa: number,
    readonly index: number,
  ) {}
}

export class ToyHost<M extends PmapModule = PmapModule> implements PmapHost {
  readonly pages: ToyPage[] = [];
  private readonly byFrame: (ToyPage | undefined)[] = [];
  private readonly freeStack: ToyPage[] = [];
  private kvaNext = 0;
  private grownTo = 0;
  pmap!: M;
  /** Ordinary allocations fail once this many pages (or fewer) are free. */
  normalFloor = 0;
  /** Every allocation fails. */
  starve = false;
  /** Hand out the highest frames first (above 4 GiB on a big PAE/amd64 machine)... */
  highFirst = false;
  /** ...kmem_alloc's pages too (else kmem takes the lowest: PAE PDPTs must be below 4 GiB). */
  highKmem = false;
  private inKmem = false;
  /** Allocations made, by kind. */
  allocs = 0;
  interruptAllocs = 0;
  refusals = 0;

  constructor(
    readonly kernel: KernelServices,
    readonly machine: Machine,
    firstManaged: number,
  ) {
    for (const r of machine.memory.ranges) {
      for (let pa = Math.max(r.base, firstManaged); pa < r.base + r.size; pa += PAGE_SIZE) {
        const pg = new ToyPage(pa, pa / PAGE_SIZE);
        this.pages.push(pg);
        this.byFrame[pg.index] = pg;
      }
    }
    for (let i = this.pages.length - 1; i >= 0; i--) this.freeStack.push(this.pages[i] as ToyPage);
  }

  attach(pmap: M): void {
    this.pmap = pmap;
    this.kvaNext = pmap.layout.kernelMin;
    this.grownTo = pmap.layout.kernelMin;
  }

  get freeCount(): number {
    return this.freeStack.length;
  }

  allocPage(opts: { zero?: boolean; interrupt?: boolean }): VmPage | null {
    const floor = opts.interrupt ? 0 : this.normalFloor;
    if (this.starve || this.freeStack.length <= floor) {
      this.refusals++;
      return null;
    }
    const high = this.highFirst && (!this.inKmem || this.highKmem);
    const pg = (high ? this.freeStack.shift() : this.freeStack.pop()) as ToyPage;
    pg.allocated = true;
    this.allocs++;
    if (opts.interrupt) this.interruptAllocs++;
    if (opts.zero) this.pmap.zeroPage(pg);
    return pg;
  }

  freePage(pg: VmPage): void {
    const p = pg as ToyPage;
    if (!p.allocated) throw new Error(`double free of ${p.pa.toString(16)}`);
    p.allocated = false;
    p.wireCount = 0;
    this.freeStack.push(p);
  }

  pageOf(pa: number): VmPage | undefined {
    return this.byFrame[Math.floor(pa / PAGE_SIZE)];
  }

  kvaAlloc(bytes: number): VAddr {
    const va = this.kvaNext;
    this.kvaNext += Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
    if (this.kvaNext > this.pmap.layout.kernelMax) throw new Error("out of kernel VA");
    if (this.kvaNext > this.grownTo) {
      this.grownTo = this.kvaNext;
      this.pmap.growKernel(this.kvaNext);
    }
    return va;
  }

  kvaFree(_va: VAddr, _bytes: number): void {}

  kmemAlloc(bytes: number): VAddr {
    const va = this.kvaAlloc(bytes);
    for (let off = 0; off < bytes; off += PAGE_SIZE) {
      this.inKmem = true;
      const pg = this.allocPage({ zero: true });
      this.inKmem = false;
      if (!pg) throw new Error("kmem_alloc: out of pages");
      this.pmap.kernelPmap.enter(va + off, pg, RW, PMAP_WIRED | Prot.Write);
    }
    return va;
  }

  kmemFree(va: VAddr, bytes: number): void {
    const pgs: VmPage[] = [];
    for (let off = 0; off < bytes; off += PAGE_SIZE) {
      const pa = this.pmap.kernelPmap.extract(va + off);
      if (pa === undefined) throw new Error("kmem_free of an unmapped page");
      pgs.push(this.pageOf(pa) as VmPage);
    }
    this.pmap.kernelPmap.remove(va, va + bytes);
    for (const pg of pgs) this.freePage(pg);
  }

  /**
   * vm_reserv_level_iffullpop: the test decides. `reservations` on: 0 when every page of the
   * page's aligned superpage-sized run of frames is allocated (a fully populated reservation).
   */
  reservations = false;
  superpageBytes = 0;
  reservLevelIfFullPop(pg: VmPage): number {
    if (!this.reservations) return -1;
    const n = this.superpageBytes / PAGE_SIZE;
    const first = Math.floor(pg.pa / this.superpageBytes) * n;
    for (let i = 0; i < n; i++) {
      const p = this.byFrame[first + i];
      if (p === undefined || !p.allocated) return -1;
    }
    return 0;
  }

  /**
   * An aligned, physically contiguous run of `n` free frames (a reservation's superpage), taken
   * off the free list; null if none.
   */
  contiguousRun(n: number): ToyPage[] | null {
    const bytes = n * PAGE_SIZE;
    for (const r of this.machine.memory.ranges) {
      for (let base = Math.ceil(r.base / bytes) * bytes; base + bytes <= r.base + r.size; base += bytes) {
        const run: ToyPage[] = [];
        for (let i = 0; i < n; i++) {
          const p = this.byFrame[base / PAGE_SIZE + i];
          if (p === undefined || p.allocated) break;
          run.push(p);
        }
        if (run.length !== n) continue;
        const set = new Set(run);
        const keep = this.freeStack.filter((p) => !set.has(p));
        this.freeStack.length = 0;
        this.freeStack.push(...keep);
        for (const p of run) {
          p.allocated = true;
          this.allocs++;
        }
        return run;
      }
    }
    return null;
  }

  faultPageTable(_pmap: Pmap, ptva: VAddr): boolean {
    throw new Error(`the ${this.pmap.name} pmap asked for a page-table fault at ${ptva.toString(16)}`);
  }

  /** A free managed page for a test to map. */
  page(): ToyPage {
    const pg = this.allocPage({}) as ToyPage | null;
    if (!pg) throw new Error("out of pages");
    return pg;
  }
}

export interface PmapTestSystem<M extends PmapModule = PmapModule, P extends Pmap = Pmap> {
  readonly name: MachineName;
  readonly machine: Machine;
  readonly kernel: KernelServices;
  readonly counters: Counters;
  readonly witness: Witness;
  readonly pmap: M;
  readonly host: ToyHost<M>;
  readonly panics: string[];
  cpu(i: number): Cpu;
  /** Run fn as kernel code on CPU i. */
  on<T>(i: number, fn: () => T): T;
  create(): P;
  counter(name: string): number;
  /** audit() plus: the witness reported nothing. */
  check(): void;
}

export interface PmapBootOptions {
  cpus?: number;
  memoryMiB?: number;
  /** Witness mode (default "record": reports are collected and check() fails on any). */
  witness?: "record" | "panic";
}

/** Boot a bare machine of `name` with the pmap from `factory` over a ToyHost. */
export function bootPmapSystem<M extends PmapModule, P extends Pmap>(
  factory: PmapFactory,
  name: MachineName,
  opts: PmapBootOptions = {},
): PmapTestSystem<M, P> {
  const o = { memoryMiB: opts.memoryMiB ?? 32, cpus: opts.cpus ?? 2 };
  const spec = name === "i386" ? i386(o) : name === "i386-pae" ? i386Pae(o) : amd64(o);
  const machine = spec.boot();
  const threads = machine.cpus.map((c) => ({ thread: c.id }));
  const panics: string[] = [];
  const trace = new TraceRing(2048);
  trace.clock = {
    cycles: () => machine.curcpu.cycles,
    cpu: () => machine.curcpu.id,
    depth: () => machine.curcpu.depth,
  };
  const panic = (msg: string): never => {
    panics.push(msg);
    throw new KernelPanic(msg);
  };
  const curthread = () => threads[machine.curcpu.id] as object;
  const witness = new Witness({ curthread, panic, trace });
  witness.mode = opts.witness ?? "record";
  const counters = new Counters();
  const critical = { enter() {}, exit() {} };
  const kernel: KernelServices = {
    counters,
    trace,
    witness,
    prng: new Prng(7),
    panic,
    erratum: () => false,
    curcpu: () => machine.curcpu.id,
    curthread,
    mutex: (n: string, lo?: LockOptions) => new Mutex(witness, n, lo),
    spinMutex: (n: string, lo?: LockOptions) => new SpinMutex(witness, n, critical, lo),
    rwlock: (n: string, lo?: LockOptions) => new RwLock(witness, n, lo),
    critical,
    splraise: (level: number) => splraise(machine.curcpu, level),
    splx: (s: number) => splx(machine.curcpu, s),
  };
  const pmap = factory.create(machine, kernel) as unknown as M;
  let next = 0x10_0000;
  pmap.bootstrap(() => {
    const pa = next;
    next += PAGE_SIZE;
    return pa;
  });
  const host = new ToyHost<M>(kernel, machine, next);
  host.attach(pmap);
  host.superpageBytes = pmap.layout.superpageSize ?? 0;
  pmap.init(host);
  return {
    name,
    machine,
    kernel,
    counters,
    witness,
    pmap,
    host,
    panics,
    cpu: (i) => machine.cpu(i),
    on: (i, fn) => machine.runOn(machine.cpu(i), fn),
    create: () => pmap.create() as P,
    counter: (n) => counters.get(n),
    check: () => {
      pmap.audit();
      const a = pmap.layout.aptmap;
      machine.audit(a === undefined ? [] : [alternateWindow(machine.format, a)]);
      if (witness.reports.length > 0) throw new Error(`witness: ${witness.reports.map((r) => r.message).join("\n")}`);
    },
  };
}

/** The physical address a user access through CPU i's MMU reaches, or "fault". */
export function userPa(
  sys: PmapTestSystem,
  i: number,
  va: number,
  access: "read" | "write" | "exec" = "read",
): number | "fault" {
  const r = sys.on(i, () => sys.cpu(i).translate(va, { access, user: true }));
  return "pa" in r ? r.pa : "fault";
}

/** The physical address a supervisor access through CPU i's MMU reaches, or "fault". */
export function kernPa(
  sys: PmapTestSystem,
  i: number,
  va: number,
  access: "read" | "write" | "exec" = "read",
): number | "fault" {
  const r = sys.on(i, () => sys.cpu(i).translate(va, { access, user: false }));
  return "pa" in r ? r.pa : "fault";
}

/** Whether fn panics with a message starting with `text`. */
export function panicText(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelPanic) return e.panicMessage;
    throw e;
  }
  return "(no panic)";
}
