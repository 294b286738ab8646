/**
 * The kernel: composes a machine, a pmap and a VM layer passed in as values, boots them in the
 * BSD order (machine → pmap_bootstrap → VM page array and kernel_map → pmap_init), and owns
 * processes, threads, context switches and the u-area.
 */
import {
  type AddressLayout,
  ConfigError,
  type Counter,
  hex,
  InvariantViolation,
  KERN_SUCCESS,
  KernelPanic,
  type KernReturn,
  PAGE_SIZE,
  type PagerIo,
  PMAP_CANFAIL,
  PMAP_WIRED,
  type Pmap,
  type PmapHost,
  type PmapModule,
  Prot,
  type TraceEvent,
  type TraceFilter,
  type VmLayer,
  type VmPage,
  type VmSpace,
} from "@vmlab/core";
import { alternateWindow, type Cpu, type Machine } from "@vmlab/machine";
import { auditUserMappings } from "./audit.js";
import { DEFAULT_DISK_TIMING, Disk } from "./dev/disk.js";
import { SwapDevice } from "./dev/swap.js";
import { FileSystem } from "./fs/fs.js";
import type { Inode } from "./fs/inode.js";
import { Proc, type Thread as ThreadImpl } from "./proc.js";
import { Scheduler } from "./sched.js";
import { Services } from "./services.js";
import { ShmTable } from "./sysv_shm.js";
import type { Process, System, SystemConfig, SystemOptions, Tunables } from "./types.js";

/** Where the bootstrap allocator starts (the kernel "image" is physical [0, 1 MiB)). */
const BOOT_STEAL_START = 0x10_0000;
/** The pmaps map physical [0, 4 MiB) at KERNBASE; bootstrap pages must stay below. */
const BOOT_STEAL_LIMIT = 0x40_0000;

export class Kernel implements System {
  readonly config: SystemConfig;
  readonly machine: Machine;
  readonly services: Services;
  readonly pmap: PmapModule;
  readonly vm: VmLayer;
  readonly layout: AddressLayout;
  readonly tunables: Tunables;
  readonly procs = new Map<number, Proc>();
  /** Which space owns each pmap (for the page-table faults the Mach pmap asks for). */
  readonly spaceOfPmap = new Map<Pmap, VmSpace>();
  private nextPid = 1;
  nextTid = 1;
  /** Thread running on each CPU (undefined: idle, kernel pmap loaded). */
  readonly running: (ThreadImpl | undefined)[];
  readonly auditEveryOp: boolean;
  readonly faults: Counter;
  readonly syscalls: Counter;
  readonly switches: Counter;
  private heldPages: VmPage[] = [];
  /** The file system's disk and the swap device (a second disk). */
  readonly disk: Disk;
  readonly swapDisk: Disk;
  readonly swap: SwapDevice;
  readonly fs: FileSystem;
  readonly sched: Scheduler;
  readonly shm: ShmTable;

  constructor(opts: SystemOptions) {
    if (!opts || typeof opts !== "object") throw new ConfigError("options", opts, "an object");
    for (const [field, v] of [
      ["machine", opts.machine],
      ["pmap", opts.pmap],
      ["vm", opts.vm],
    ] as const) {
      if (!v || typeof v !== "object") throw new ConfigError(field, v, `a ${field} factory value`);
    }
    const seed = opts.seed ?? 1;
    if (!Number.isInteger(seed)) throw new ConfigError("seed", seed, "an integer");
    const errata = [...(opts.errata ?? [])];
    this.machine = opts.machine.boot();
    const memPages = this.machine.memory.frames;
    this.tunables = {
      maxWiredPages: Math.floor(memPages / 3),
      memlockLimit: 64 * 1024 * 1024,
      traceCapacity: 8192,
      ...opts.tunables,
    };
    this.services = new Services(this.machine, seed, errata, this.tunables.traceCapacity);
    const diskTiming = { ...DEFAULT_DISK_TIMING, ...opts.disk };
    const swapMiB = opts.swapMiB ?? this.machine.spec.options.memoryMiB;
    const diskMiB = opts.diskMiB ?? 64;
    for (const [field, v] of [
      ["swapMiB", swapMiB],
      ["diskMiB", diskMiB],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 65536)
        throw new ConfigError(field, v, "an integer number of MiB from 0 to 65536");
    }
    const mib = 1024 * 1024;
    this.disk = new Disk("wd0", (diskMiB * mib) / PAGE_SIZE, this.machine, this.services, diskTiming);
    this.swapDisk = new Disk("wd1", (swapMiB * mib) / PAGE_SIZE, this.machine, this.services, diskTiming);
    this.swap = new SwapDevice(this.swapDisk, this.services);
    this.sched = new Scheduler(this);
    this.fs = new FileSystem(this, this.disk);
    this.shm = new ShmTable(this);
    this.auditEveryOp = opts.auditEveryOp ?? false;
    const c = this.services.counters;
    this.faults = c.counter("trap.pagefault");
    this.syscalls = c.counter("kern.syscall");
    this.switches = c.counter("kern.cpu_switch");
    c.addSource((out) => Object.assign(out, this.machine.stats()));
    c.addSource((out) => {
      out["vm.page.free"] = this.vm.freePages;
      out["vm.page.wired"] = this.vm.wiredPages;
    });

    // pmap_bootstrap: kernel page tables from pages stolen before the VM exists.
    this.pmap = opts.pmap.create(this.machine, this.services);
    let next = BOOT_STEAL_START;
    this.pmap.bootstrap(() => {
      if (next >= BOOT_STEAL_LIMIT) this.services.panic("pmap_bootstrap: out of bootstrap memory");
      const pa = next;
      next += PAGE_SIZE;
      this.machine.memory.zeroRange(pa, PAGE_SIZE);
      return pa;
    });
    const stolen: number[] = [];
    for (let pa = 0; pa < next; pa += PAGE_SIZE) stolen.push(pa);
    this.layout = this.pmap.layout;

    // vm_page_startup / kernel_map, then pmap_init.
    const fs = this.fs;
    const swap = this.swap;
    const sched = this.sched;
    const io: PagerIo = {
      vnodeStrategy: (vp, pindex, pa, write, done) => fs.strategy(vp as Inode, pindex, pa, write, done),
      swapAlloc: () => swap.alloc(),
      swapFree: (slot) => swap.free(slot),
      swapStrategy: (slot, pa, write, done) => swap.strategy(slot, pa, write, done),
      sleep: (wmesg, cond) => sched.sleep(wmesg, cond),
      wakeupPagedaemon: () => sched.wakeupPagedaemon(),
    };
    this.vm = opts.vm.create({
      kernel: this.services,
      pmap: this.pmap,
      segments: this.machine.memory.ranges,
      stolen,
      io,
    });
    const vm = this.vm;
    const host: PmapHost = {
      kernel: this.services,
      allocPage: (o) => vm.allocPage(o),
      freePage: (pg) => vm.freePage(pg),
      pageOf: (pa) => vm.pageOf(pa),
      kvaAlloc: (b) => vm.kvaAlloc(b),
      kvaFree: (va, b) => vm.kvaFree(va, b),
      kmemAlloc: (b) => vm.kmemAlloc(b),
      kmemFree: (va, b) => vm.kmemFree(va, b),
      reservLevelIfFullPop: (pg) => vm.reservLevelIfFullPop(pg),
      faultPageTable: (pmap, ptva) => {
        const space = this.spaceOfPmap.get(pmap);
        return space !== undefined && this.faultPageTable(space, ptva);
      },
    };
    this.pmap.init(host);
    this.running = this.machine.cpus.map(() => undefined);
    this.config = Object.freeze({
      machine: this.machine.name,
      pmap: opts.pmap.name,
      vm: opts.vm.name,
      cpus: this.machine.cpus.length,
      memoryMiB: this.machine.spec.options.memoryMiB,
      seed,
      errata: Object.freeze(errata),
    });
    this.services.trace.emit("kernel", "boot", {
      machine: this.config.machine,
      pmap: this.config.pmap,
      vm: this.config.vm,
      stolen: stolen.length,
    });
  }

  get panicked(): string | undefined {
    return this.services.panicked;
  }

  /** Every entry point starts here: a dead system stays dead. */
  guard(): void {
    if (this.services.panicked !== undefined) throw new KernelPanic(this.services.panicked.slice("panic: ".length));
  }

  /**
   * After each system call and fault: a scheduling point (the pageout daemon runs if it was
   * woken), then the audits when the system was built with auditEveryOp.
   */
  afterOp(): void {
    this.sched.yield();
    if (this.auditEveryOp) this.audit();
  }

  /**
   * The alternate page-table window, if the pmap has one: it spans every page table of an address
   * space (2^vaBits / PAGE_SIZE entries). Its TLB entries may be stale until the pmap next points
   * it elsewhere, which always flushes first; the coherence audit leaves them alone.
   */
  private windowRanges(): (readonly [number, number])[] {
    const a = this.layout.aptmap;
    return a === undefined ? [] : [alternateWindow(this.machine.format, a)];
  }

  /** Disk and swap transfers started and not yet completed. */
  disksInFlight(): number {
    return this.disk.inFlight + this.swapDisk.inFlight;
  }

  // ---------------------------------------------------------------- processes

  spawn(): Process {
    this.guard();
    const space = this.vm.createSpace();
    this.spaceOfPmap.set(space.pmap, space);
    const kva = this.uareaAlloc();
    if (kva === 0) this.services.panic("vm_fork: no memory for a u-area");
    const uva = this.uareaEnter(space, kva);
    if (uva !== undefined) this.services.panic(`vm_fork: no page table for the u-area at ${hex(uva)}`);
    return this.newProc(space, undefined, kva);
  }

  /**
   * fork1 + vm_fork: the child's address space and u-area, or undefined when there is no memory
   * for them even by waiting (the caller fails fork with ENOMEM and nothing is left behind).
   *
   * The order is 4.4BSD vm_fork's: vmspace_fork, then the u-area (kmem_alloc_pageable +
   * vm_map_pageable), then cpu_fork enters it in the child's pmap (the page-table page faulted in
   * and wired with vm_map_pageable, then pmap_enter). Each allocation waits for memory as the
   * originals do (VM_WAIT, uvm_wait); only a wait that can never end — nothing left to page out
   * — makes fork fail, where 4.4BSD would sleep for ever: ENOMEM, as NetBSD's fork1 answers when
   * uvm_uarea_alloc fails and FreeBSD's when vmspace_fork returns NULL.
   */
  forkProc(parent: Proc): Proc | undefined {
    const space = this.vm.fork(parent.space);
    if (space === null) return undefined;
    this.spaceOfPmap.set(space.pmap, space);
    const kva = this.uareaAlloc();
    if (kva === 0) {
      this.spaceOfPmap.delete(space.pmap);
      this.vm.destroySpace(space);
      return undefined;
    }
    if (this.uareaEnter(space, kva) !== undefined) {
      this.uareaRelease(space, kva);
      return undefined;
    }
    return this.newProc(space, parent, kva);
  }

  private newProc(space: VmSpace, parent: Proc | undefined, uareaKva: number): Proc {
    const p = new Proc(this, this.nextPid++, space, parent);
    p.uareaKva = uareaKva;
    this.procs.set(p.pid, p);
    this.services.trace.emit("proc", parent ? "fork" : "spawn", { pid: p.pid, parent: parent?.pid ?? 0 });
    return p;
  }

  /**
   * VM_WAIT for the kernel's own allocations (the u-area, its page tables): wake the pageout
   * daemon and sleep until free pages rise. False when they never will (decision 0007).
   */
  private vmWait(wmesg: string): boolean {
    const before = this.vm.freePages;
    this.sched.wakeupPagedaemon();
    return this.sched.sleep(wmesg, () => this.vm.freePages > before);
  }

  /**
   * The u-area's UPAGES wired kernel-stack pages (4.4BSD vm_fork: kmem_alloc_pageable +
   * vm_map_pageable, which sleeps in VM_WAIT for each page; NetBSD uvm_uarea_alloc). 0 when no
   * memory will come.
   */
  private uareaAlloc(): number {
    for (;;) {
      const kva = this.vm.kmemAlloc(this.layout.uareaPages * PAGE_SIZE);
      if (kva !== 0) return kva;
      if (!this.vmWait("uarea")) return 0;
    }
  }

  /**
   * Enter the u-area at its fixed address in the process's own pmap (4.4BSD cpu_fork). The
   * page-table pages it needs are faulted into the map first where the pmap keeps them there, and
   * pmap_enter is asked with PMAP_CANFAIL; a shortage waits for memory and tries again. Returns
   * the address that could not be mapped (no memory, ever), else undefined. For a child that is
   * not running, the pmap reaches its page tables through its alternate window.
   */
  private uareaEnter(space: VmSpace, kva: number): number | undefined {
    const kp = this.pmap.kernelPmap;
    for (let i = 0; i < this.layout.uareaPages; i++) {
      const pa = kp.extract(kva + i * PAGE_SIZE);
      const pg = pa === undefined ? undefined : this.vm.pageOf(pa);
      if (!pg) this.services.panic(`vm_fork: u-area page ${i} at ${hex(kva + i * PAGE_SIZE)} is not mapped`);
      const uva = this.layout.uareaVa + i * PAGE_SIZE;
      for (;;) {
        const tables = this.pmap.missingPageTables(space.pmap, uva).every((ptva) => this.faultPageTable(space, ptva));
        if (tables && space.pmap.enter(uva, pg, Prot.Read | Prot.Write, PMAP_WIRED | PMAP_CANFAIL | Prot.Write)) break;
        if (!this.vmWait("uarea")) return uva;
      }
    }
    return undefined;
  }

  /** Undo a u-area: out of the process's pmap, the space destroyed, the kernel pages freed (exit, failed fork). */
  uareaRelease(space: VmSpace, kva: number): void {
    const ua = this.layout.uareaVa;
    space.pmap.remove(ua, ua + this.layout.uareaPages * PAGE_SIZE);
    this.spaceOfPmap.delete(space.pmap);
    this.vm.destroySpace(space);
    this.vm.kmemFree(kva, this.layout.uareaPages * PAGE_SIZE);
  }

  /** trap.c: vm_fault a page-table page into the map at ptva and wire it. */
  faultPageTable(space: VmSpace, ptva: number): boolean {
    return this.pageTableFault(space, ptva) === KERN_SUCCESS;
  }

  /**
   * 4.4BSD trap.c's page-table fault (vm_fault, then vm_map_pageable to wire it), with the VM's
   * answer: KERN_RESOURCE_SHORTAGE when memory for it will never come.
   */
  pageTableFault(space: VmSpace, ptva: number): KernReturn {
    const rv = this.vm.fault(space, ptva, Prot.Read | Prot.Write);
    if (rv !== KERN_SUCCESS) return rv;
    return this.vm.wire(space, ptva, PAGE_SIZE, "system");
  }

  /**
   * cpu_switch: make `td` the thread on its CPU. Loads its pmap (CR3) and touches the u-area —
   * the kernel stack — through the MMU: a missing u-area mapping is a double fault, as on the
   * real machine (where it was a silent reset).
   */
  switchTo(td: ThreadImpl): Cpu {
    const cpu = this.machine.cpus[td.cpu] as Cpu;
    this.machine.curcpu = cpu;
    if (this.running[cpu.id] === td) return cpu;
    const old = this.running[cpu.id];
    const pmap = td.proc.space.pmap;
    if (old !== undefined && old.proc.space.pmap !== pmap) old.proc.space.pmap.deactivate(cpu.id);
    this.running[cpu.id] = td;
    this.services.curthreadOf[cpu.id] = td;
    if (old === undefined || old.proc.space.pmap !== pmap) pmap.activate(cpu.id);
    this.switches.value++;
    const ua = this.layout.uareaVa;
    for (let i = 0; i < this.layout.uareaPages; i++) {
      if (cpu.load32(ua + i * PAGE_SIZE, false) < 0) {
        this.services.panic("double fault");
      }
    }
    return cpu;
  }

  /** Take a process's threads off every CPU (exit). */
  offCpu(p: Proc): void {
    for (let i = 0; i < this.running.length; i++) {
      const td = this.running[i];
      if (td !== undefined && td.proc === p) {
        const cpu = this.machine.cpus[i] as Cpu;
        this.machine.runOn(cpu, () => {
          p.space.pmap.deactivate(i);
          this.pmap.kernelPmap.activate(i);
        });
        this.running[i] = undefined;
        this.services.curthreadOf[i] = { idle: i };
      }
    }
  }

  /** Kernel-side work on CPU 0 on behalf of no particular process (fork setup, exit teardown). */
  onCpu<T>(cpu: number, fn: () => T): T {
    return this.machine.runOn(this.machine.cpus[cpu] as Cpu, fn);
  }

  // ---------------------------------------------------------------- inspection

  audit(): void {
    this.guard();
    this.vm.audit();
    this.pmap.audit();
    this.machine.audit(this.windowRanges());
    auditUserMappings(this);
    for (const r of this.services.witness.reports) {
      throw new InvariantViolation("witness", r.kind, r.message);
    }
    for (const [pid, p] of this.procs) {
      if (p.state === "reaped")
        throw new InvariantViolation("kernel", "proc table", `pid ${pid} reaped but still listed`);
    }
  }

  stats(): Record<string, number> {
    return this.services.counters.snapshot();
  }

  trace(filter?: TraceFilter): TraceEvent[] {
    return this.services.trace.recent(filter);
  }

  /**
   * Hold `pages` physical pages away from the VM until the next call (0 gives them back). Taking
   * them drives free memory down like a memory hog would: below the VM's free_min the pageout
   * daemon runs and the taker waits for it, so pages go to swap or back to their files; the
   * reserve under free_min is never taken. Stops early (holding fewer) when nothing more can be
   * freed.
   */
  memoryPressure(pages: number): void {
    this.guard();
    if (!Number.isInteger(pages) || pages < 0) throw new RangeError(`memoryPressure: ${pages} is not a page count`);
    this.onCpu(0, () => {
      for (const pg of this.heldPages) this.vm.freePage(pg);
      this.heldPages = [];
      while (this.heldPages.length < pages) {
        if (this.vm.freePages <= this.vm.freeMin) {
          this.sched.wakeupPagedaemon();
          if (!this.sched.sleep("pressure", () => this.vm.freePages > this.vm.freeMin)) break;
          continue;
        }
        const pg = this.vm.allocPage({});
        if (!pg) break;
        this.heldPages.push(pg);
      }
    });
    this.services.trace.emit("kernel", "memory_pressure", { requested: pages, held: this.heldPages.length });
    this.afterOp();
  }

  /** Pages held away by memoryPressure. */
  get pressureHeld(): number {
    return this.heldPages.length;
  }

  runPagedaemon(): void {
    this.guard();
    this.onCpu(0, () => this.sched.runPagedaemon());
    this.afterOp();
  }

  advance(cycles: number): void {
    this.guard();
    this.machine.advance(cycles);
  }

  reap(p: Proc): void {
    this.procs.delete(p.pid);
  }
}

/** createSystem({ machine, pmap, vm, seed, errata }): compose and boot a system from part values. */
export function createSystem(opts: SystemOptions): System {
  return new Kernel(opts);
}
