/**
 * KernelServices for unit tests, from core's pieces: one CPU, one thread, panic throws
 * KernelPanic, spl only records the level.
 */
import {
  Counters,
  type CriticalSection,
  KernelPanic,
  type KernelServices,
  type LockOptions,
  Mutex,
  Prng,
  RwLock,
  SpinMutex,
  TraceRing,
  Witness,
} from "@vmlab/core";

export class TestKernel implements KernelServices {
  readonly counters = new Counters();
  readonly trace = new TraceRing(2048);
  readonly prng: Prng;
  readonly witness: Witness;
  readonly critical: CriticalSection = { enter() {}, exit() {} };
  panicked: string | undefined;
  private readonly thread = { name: "test" };
  private ipl = 0;
  /** Interrupt nesting depth: FakePagerIo runs completions with it raised. */
  depth = 0;
  private readonly errata: ReadonlySet<string>;

  constructor(seed = 1, errata: readonly string[] = []) {
    this.prng = new Prng(seed);
    this.errata = new Set(errata);
    this.trace.clock = { cycles: () => 0, cpu: () => 0, depth: () => this.depth };
    this.witness = new Witness({ curthread: () => this.thread, panic: (m) => this.panic(m), trace: this.trace });
  }

  panic(msg: string): never {
    this.panicked ??= `panic: ${msg}`;
    throw new KernelPanic(msg);
  }
  erratum(id: string): boolean {
    return this.errata.has(id);
  }
  curcpu(): number {
    return 0;
  }
  curthread(): object {
    return this.thread;
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
    const s = this.ipl;
    if (level > s) this.ipl = level;
    return s;
  }
  splx(s: number): void {
    this.ipl = s;
  }
}
