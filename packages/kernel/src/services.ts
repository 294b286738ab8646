/**
 * The kernel services every layer receives (core's KernelServices): counters, the trace ring, the
 * witness, the seeded PRNG, panic, the errata switchboard, and locks and spl bound to "the
 * current CPU / current thread" as the kernel tracks them.
 */
import {
  Counters,
  type CriticalSection,
  IPL,
  KernelPanic,
  type KernelServices,
  type LockOptions,
  type LockOwner,
  Mutex,
  Prng,
  RwLock,
  SpinMutex,
  splraise,
  splx,
  TraceRing,
  Witness,
} from "@vmlab/core";
import type { Machine } from "@vmlab/machine";

export class Services implements KernelServices {
  readonly counters = new Counters();
  readonly trace: TraceRing;
  readonly witness: Witness;
  readonly prng: Prng;
  readonly critical: CriticalSection;
  /** The thread on each CPU (a per-CPU idle owner until a process runs there). */
  readonly curthreadOf: LockOwner[];
  /** Set once the system panicked: "panic: ..." */
  panicked: string | undefined;
  private readonly errata: ReadonlySet<string>;
  private readonly savedIpl: number[] = [];

  constructor(
    readonly machine: Machine,
    seed: number,
    errata: readonly string[],
    traceCapacity: number,
  ) {
    this.prng = new Prng(seed);
    this.errata = new Set(errata);
    this.trace = new TraceRing(traceCapacity);
    this.trace.clock = {
      cycles: () => machine.curcpu.cycles,
      cpu: () => machine.curcpu.id,
      depth: () => machine.curcpu.depth,
    };
    this.curthreadOf = machine.cpus.map((c) => ({ idle: c.id }));
    this.witness = new Witness({ curthread: () => this.curthread(), panic: (m) => this.panic(m), trace: this.trace });
    this.critical = {
      enter: () => {
        this.savedIpl.push(splraise(machine.curcpu, IPL.HIGH));
      },
      exit: () => {
        const s = this.savedIpl.pop();
        if (s !== undefined) splx(machine.curcpu, s);
      },
    };
  }

  panic(msg: string): never {
    if (this.panicked === undefined) {
      this.panicked = `panic: ${msg}`;
      this.trace.emit("kernel", "panic", { message: msg });
    }
    throw new KernelPanic(msg);
  }

  erratum(id: string): boolean {
    return this.errata.has(id);
  }

  curcpu(): number {
    return this.machine.curcpu.id;
  }

  curthread(): LockOwner {
    return this.curthreadOf[this.machine.curcpu.id] as LockOwner;
  }

  mutex(name: string, opts?: LockOptions): Mutex {
    return new Mutex(this.witness, name, opts);
  }

  spinMutex(name: string, opts?: LockOptions): SpinMutex {
    return new SpinMutex(this.witness, name, this.critical, opts);
  }

  rwlock(name: string, opts?: LockOptions): RwLock {
    return new RwLock(this.witness, name, opts);
  }

  splraise(level: number): number {
    return splraise(this.machine.curcpu, level);
  }

  splx(s: number): void {
    splx(this.machine.curcpu, s);
  }

  /** spl0 on the current CPU; returns the level to restore with splx. */
  splx0(): number {
    const cpu = this.machine.curcpu;
    const s = cpu.ipl;
    splx(cpu, 0);
    return s;
  }
}
