/**
 * A machine: physical memory, N CPUs (each with its TLB and MMU), the device event queue, IPIs and
 * the cost model. Built from a MachineSpec — the value a hw package's factory (`i386()`,
 * `i386Pae()`, `amd64()`) returns and `createSystem` receives.
 */

import type { KernelServices, PmapModule } from "@vmlab/core";
import { ConfigError } from "@vmlab/core";
import { auditTlbCoherence } from "./coherence.js";
import { type CostModel, DEFAULT_COSTS } from "./cost.js";
import { Cpu, type CpuHost } from "./cpu.js";
import { EventQueue } from "./events.js";
import type { PagingFormat } from "./format.js";
import { PhysicalMemory } from "./memory.js";
import { DEFAULT_TLB } from "./tlb.js";
import type { MachineName, TlbGeometry } from "./types.js";

export interface MachineOptions {
  /** RAM in MiB (default 64). */
  memoryMiB?: number;
  /** Number of CPUs (default 1). */
  cpus?: number;
  /** TLB geometry per CPU. */
  tlb?: Partial<TlbGeometry>;
  /** Overrides of the default cycle cost table. */
  costs?: Partial<CostModel>;
}

export interface ResolvedMachineOptions {
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly tlb: TlbGeometry;
  readonly costs: CostModel;
}

/** What a hw package tells the generic machine about itself. */
export interface MachineTraits {
  readonly format: PagingFormat;
  /** Largest RAM size in MiB the format can address (with the PC hole at 3–4 GiB). */
  readonly maxMemoryMiB: number;
  /** Why larger sizes are refused (goes into the ConfigError). */
  readonly memoryLimitReason: string;
}

export const MAX_CPUS = 32;

/** The value a factory returns: options checked, ready to boot any number of times. */
export class MachineSpec {
  readonly name: MachineName;
  readonly format: PagingFormat;
  readonly options: ResolvedMachineOptions;

  constructor(
    readonly traits: MachineTraits,
    opts: MachineOptions = {},
  ) {
    this.name = traits.format.name;
    this.format = traits.format;
    const memoryMiB = opts.memoryMiB ?? 64;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > traits.maxMemoryMiB) {
      throw new ConfigError(
        "memoryMiB",
        memoryMiB,
        `an integer from 1 to ${traits.maxMemoryMiB} on ${this.name} (${traits.memoryLimitReason})`,
      );
    }
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
      throw new ConfigError("cpus", cpus, `an integer from 1 to ${MAX_CPUS}`);
    }
    const tlb = { ...DEFAULT_TLB, ...opts.tlb };
    const pow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
    if (!pow2(tlb.smallSets) || tlb.smallSets > 4096)
      throw new ConfigError("tlb.smallSets", tlb.smallSets, "a power of two up to 4096");
    if (!Number.isInteger(tlb.smallWays) || tlb.smallWays < 1 || tlb.smallWays > 64) {
      throw new ConfigError("tlb.smallWays", tlb.smallWays, "an integer from 1 to 64");
    }
    if (!Number.isInteger(tlb.largeEntries) || tlb.largeEntries < 1 || tlb.largeEntries > 256) {
      throw new ConfigError("tlb.largeEntries", tlb.largeEntries, "an integer from 1 to 256");
    }
    const costs: CostModel = { ...DEFAULT_COSTS, ...opts.costs };
    for (const [k, v] of Object.entries(costs)) {
      if (k !== "name" && !(typeof v === "number" && v >= 0 && Number.isFinite(v))) {
        throw new ConfigError(`costs.${k}`, v, "a finite number of cycles >= 0");
      }
    }
    this.options = { memoryMiB, cpus, tlb, costs };
  }

  boot(): Machine {
    return new Machine(this);
  }
}

export class Machine implements CpuHost {
  readonly name: MachineName;
  readonly format: PagingFormat;
  readonly memory: PhysicalMemory;
  readonly cpus: readonly Cpu[];
  readonly costs: CostModel;
  readonly events = new EventQueue();
  /** The CPU whose code runs now (interrupt handlers and IPI handlers switch it). */
  curcpu: Cpu;
  ipisSent = 0;

  constructor(readonly spec: MachineSpec) {
    this.name = spec.name;
    this.format = spec.format;
    const o = spec.options;
    this.costs = o.costs;
    this.memory = new PhysicalMemory(o.memoryMiB * 1024 * 1024);
    const cpus: Cpu[] = [];
    for (let i = 0; i < o.cpus; i++) cpus.push(new Cpu(i, this.format, this.memory, this.costs, o.tlb, this));
    this.cpus = cpus;
    this.curcpu = cpus[0] as Cpu;
    this.events.onChange = () => {
      for (const c of this.cpus) c.recomputeAttention();
    };
  }

  cpu(i: number): Cpu {
    const c = this.cpus[i];
    if (!c) throw new RangeError(`no CPU ${i} (machine has ${this.cpus.length})`);
    return c;
  }

  // CpuHost
  runDueEvents(cpu: Cpu): number {
    for (;;) {
      const ev = this.events.popDue(cpu.cycles);
      if (!ev) break;
      ev.run(cpu);
    }
    return this.events.nextTime();
  }

  nextEventTime(): number {
    return this.events.nextTime();
  }

  enterCpu(cpu: Cpu): Cpu {
    const prev = this.curcpu;
    this.curcpu = cpu;
    return prev;
  }

  leaveCpu(prev: Cpu): void {
    this.curcpu = prev;
  }

  /** Run fn as code on `cpu` (the current CPU for attribution while it runs). */
  runOn<T>(cpu: Cpu, fn: (cpu: Cpu) => T): T {
    const prev = this.enterCpu(cpu);
    try {
      return fn(cpu);
    } finally {
      this.leaveCpu(prev);
    }
  }

  /**
   * Send an inter-processor interrupt: the target's handler runs to completion before the sender
   * continues (the sender waits for the acknowledgement, as a TLB shootdown does).
   */
  ipi(from: Cpu, to: Cpu, handler: (cpu: Cpu) => void): void {
    this.ipisSent++;
    from.cycles += this.costs.ipiSend;
    to.cycles += this.costs.ipiReceive;
    this.runOn(to, handler);
  }

  /** Let simulated time pass on every CPU (idle), then run what became due. */
  advance(cycles: number): void {
    if (!(cycles >= 0)) throw new RangeError(`cannot advance by ${cycles} cycles`);
    for (const c of this.cpus) {
      c.cycles += cycles;
      this.runOn(c, (cpu) => cpu.service());
    }
  }

  /**
   * The machine's invariants: every CPU's TLB agrees with its page tables (coherence.ts), except in
   * `exempt` ranges whose staleness the owning pmap handles by design (an alternate window).
   */
  audit(exempt: readonly (readonly [number, number])[] = []): void {
    auditTlbCoherence(this.cpus, exempt);
  }

  /** Hardware counters, summed over CPUs. */
  stats(): Record<string, number> {
    let hit = 0;
    let miss = 0;
    let inv = 0;
    let flush = 0;
    let pf = 0;
    let irq = 0;
    let cycles = 0;
    let levels = 0;
    let ad = 0;
    for (const c of this.cpus) {
      hit += c.tlbHits;
      miss += c.tlbMisses;
      inv += c.invlpgs;
      flush += c.flushes;
      pf += c.pageFaults;
      irq += c.interrupts;
      cycles += c.cycles;
      levels += c.walker.levelsRead;
      ad += c.walker.adUpdates;
    }
    return {
      "cpu.cycles": cycles,
      "tlb.hit": hit,
      "tlb.miss": miss,
      "walk.levels": levels,
      "walk.ad_updates": ad,
      "tlb.invlpg": inv,
      "tlb.flush": flush,
      "ipi.sent": this.ipisSent,
      "cpu.pagefault": pf,
      "cpu.interrupt": irq,
    };
  }
}

/** The value a pmap package exports (`machPmap()`, `freebsdPmap()`, `cranorPmap()`). */
export interface PmapFactory {
  readonly name: string;
  /** Build the pmap module for a booted machine (before pmap_bootstrap). */
  create(machine: Machine, kernel: KernelServices): PmapModule;
}
