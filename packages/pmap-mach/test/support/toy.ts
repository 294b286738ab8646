/**
 * A minimal kernel and VM for testing the pmap alone: real kernel services from @vmlab/core
 * (witness in panic mode, counters, trace, PRNG, spl on the machine's CPUs, panic throwing
 * KernelPanic), a page array for every frame above the bootstrap pages with a free list, a bump
 * allocator for kernel VA, kmem_alloc as KVA + pages + kenter, and a page-table fault that
 * allocates a zeroed page and enters it wired at its UPT address — trap.c's vm_fault +
 * vm_map_pageable in one line.
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
import type { Cpu, Machine, MachineName, TranslateResult } from "@vmlab/machine";
import { type MachPmap, type MachPmapModule, machPmap } from "../../src/index.js";

export const MACHINES: readonly MachineName[] = ["i386", "i386-pae", "amd64"];

export class TestPage implements VmPage {
  wireCount = 0;
  md: unknown = null;
  free = true;
  constructor(
    readonly pa: number,
    readonly index: number,
  ) {}
}

export class ToyVm implements PmapHost {
  readonly pages: (TestPage | undefined)[] = [];
  /** Free pages, highest frame first (the low end is popped; the high end is taken at `highNext`). */
  private readonly freeList: TestPage[] = [];
  private highNext = 0;
  /** Hand out the highest frames first: for page tables and pv pages ("tables") or for everything ("all"). */
  high: "none" | "tables" | "all" = "none";
  private inKmem = false;
  private kvaNext: VAddr;
  /** Page-table pages faulted in per pmap (UPT address → page). */
  readonly ptPages = new Map<Pmap, Map<VAddr, TestPage>>();
  /** Make allocPage fail (memory shortage). */
  starve = false;
  faultPageTableFails = false;
  pmap!: MachPmapModule;

  constructor(
    readonly kernel: KernelServices,
    readonly machine: Machine,
    firstManaged: number,
  ) {
    const top = machine.memory.ranges.reduce((a, r) => Math.max(a, r.base + r.size), 0);
    for (const r of machine.memory.ranges) {
      for (let pa = Math.max(r.base, firstManaged); pa < r.base + r.size && pa < top; pa += PAGE_SIZE) {
        const pg = new TestPage(pa, pa / PAGE_SIZE);
        this.pages[pg.index] = pg;
      }
    }
    // Free list handing out the lowest frames first.
    for (let i = this.pages.length - 1; i >= 0; i--) {
      const pg = this.pages[i];
      if (pg) this.freeList.push(pg);
    }
    this.kvaNext = 0;
  }

  attach(pmap: MachPmapModule): void {
    this.pmap = pmap;
    this.kvaNext = pmap.layout.kernelMin;
  }

  get freeCount(): number {
    return this.freeList.length - this.highNext;
  }

  allocPage(opts: { zero?: boolean; interrupt?: boolean }): VmPage | null {
    if (this.starve || this.freeCount === 0) return null;
    const high = this.high === "all" || (this.high === "tables" && !this.inKmem);
    const pg = high ? this.freeList[this.highNext++] : this.freeList.pop();
    if (!pg) return null;
    pg.free = false;
    if (opts.zero) this.pmap.zeroPage(pg);
    return pg;
  }

  freePage(pg: VmPage): void {
    const p = pg as TestPage;
    if (p.free) throw new Error(`double free of ${p.pa.toString(16)}`);
    p.free = true;
    this.freeList.push(p);
  }

  pageOf(pa: number): VmPage | undefined {
    return this.pages[Math.floor(pa / PAGE_SIZE)];
  }

  kvaAlloc(bytes: number): VAddr {
    const va = this.kvaNext;
    this.kvaNext += Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
    if (this.kvaNext > this.pmap.layout.kernelMax) throw new Error("out of kernel VA");
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
      this.pmap.kenter(va + off, pg.pa, Prot.Read | Prot.Write);
    }
    return va;
  }

  kmemFree(va: VAddr, bytes: number): void {
    for (let off = 0; off < bytes; off += PAGE_SIZE) {
      const pa = this.pmap.kernelPmap.extract(va + off);
      if (pa === undefined) throw new Error("kmem_free of an unmapped page");
      this.pmap.kremove(va + off, 1);
      this.freePage(this.pageOf(pa) as VmPage);
    }
    this.kvaFree(va, bytes);
  }

  reservLevelIfFullPop(_pg: VmPage): number {
    return -1;
  }

  faultPageTable(pmap: Pmap, ptva: VAddr): boolean {
    if (this.faultPageTableFails) return false;
    const pg = this.allocPage({ zero: true }) as TestPage | null;
    if (!pg) return false;
    pmap.enter(ptva, pg, Prot.Read | Prot.Write, PMAP_WIRED);
    let m = this.ptPages.get(pmap);
    if (!m) {
      m = new Map();
      this.ptPages.set(pmap, m);
    }
    m.set(ptva, pg);
    return true;
  }

  /** What a VM does at exit: unmap the UPT region and free its pages. */
  releasePageTables(pmap: Pmap): void {
    const l = this.pmap.layout;
    pmap.remove(l.uptMin, l.uptMax);
    for (const pg of this.ptPages.get(pmap)?.values() ?? []) this.freePage(pg);
    this.ptPages.delete(pmap);
  }

  ptCount(pmap: Pmap): number {
    return this.ptPages.get(pmap)?.size ?? 0;
  }

  /** A free managed page taken for a test to map. */
  page(): TestPage {
    const pg = this.allocPage({}) as TestPage | null;
    if (!pg) throw new Error("out of pages");
    return pg;
  }
}

export interface TestSystem {
  readonly machine: Machine;
  readonly kernel: KernelServices;
  readonly counters: Counters;
  readonly witness: Witness;
  readonly pmap: MachPmapModule;
  readonly vm: ToyVm;
  readonly stolen: number[];
  readonly panics: string[];
  cpu(i: number): Cpu;
  /** Run fn as kernel code on CPU i. */
  on<T>(i: number, fn: () => T): T;
  create(): MachPmap;
  counter(name: string): number;
}

export function bootSystem(
  name: MachineName,
  opts: { cpus?: number; memoryMiB?: number; high?: "none" | "tables" | "all" } = {},
): TestSystem {
  const spec =
    name === "i386"
      ? i386({ memoryMiB: opts.memoryMiB ?? 32, cpus: opts.cpus ?? 2 })
      : name === "i386-pae"
        ? i386Pae({ memoryMiB: opts.memoryMiB ?? 32, cpus: opts.cpus ?? 2 })
        : amd64({ memoryMiB: opts.memoryMiB ?? 32, cpus: opts.cpus ?? 2 });
  const machine = spec.boot();
  const threads = machine.cpus.map((c) => ({ tid: 100 + c.id }));
  const panics: string[] = [];
  const trace = new TraceRing(1024);
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
  witness.mode = "panic";
  const counters = new Counters();
  const critical = { enter() {}, exit() {} };
  const kernel: KernelServices = {
    counters,
    trace,
    witness,
    prng: new Prng(1),
    panic,
    erratum: () => false,
    curcpu: () => machine.curcpu.id,
    curthread,
    mutex: (n: string, o?: LockOptions) => new Mutex(witness, n, o),
    spinMutex: (n: string, o?: LockOptions) => new SpinMutex(witness, n, critical, o),
    rwlock: (n: string, o?: LockOptions) => new RwLock(witness, n, o),
    critical,
    splraise: (level: number) => splraise(machine.curcpu, level),
    splx: (s: number) => splx(machine.curcpu, s),
  };
  const pmap = machPmap().create(machine, kernel) as MachPmapModule;
  const stolen: number[] = [];
  let next = 1024 * 1024;
  pmap.bootstrap(() => {
    const pa = next;
    next += PAGE_SIZE;
    stolen.push(pa);
    return pa;
  });
  const vm = new ToyVm(kernel, machine, next);
  vm.high = opts.high ?? "none";
  vm.attach(pmap);
  pmap.init(vm);
  return {
    machine,
    kernel,
    counters,
    witness,
    pmap,
    vm,
    stolen,
    panics,
    cpu: (i) => machine.cpu(i),
    on: (i, fn) => machine.runOn(machine.cpu(i), fn),
    create: () => pmap.create() as MachPmap,
    counter: (n) => counters.get(n),
  };
}

/** A user-mode access through CPU i's MMU and TLB. */
export function userAccess(sys: TestSystem, i: number, va: number, access: "read" | "write" | "exec"): TranslateResult {
  return sys.on(i, () => sys.cpu(i).translate(va, { access, user: true }));
}

/** The physical address a user access reaches, or "fault". */
export function userPa(
  sys: TestSystem,
  i: number,
  va: number,
  access: "read" | "write" | "exec" = "read",
): number | "fault" {
  const r = userAccess(sys, i, va, access);
  return "pa" in r ? r.pa : "fault";
}

export const RW = Prot.Read | Prot.Write;
export const RX = Prot.Read | Prot.Exec;
export const RWX = Prot.Read | Prot.Write | Prot.Exec;
