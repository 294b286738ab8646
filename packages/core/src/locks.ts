/**
 * Kernel locks that are real objects: they record their owner, refuse recursion unless created
 * recursive, and report every acquisition to the witness. Panic texts follow FreeBSD's
 * sys/kern/kern_mutex.c and kern_rwlock.c.
 *
 * The simulation runs one kernel path at a time per CPU and interleaves only at waits and
 * interrupts, so a lock held by someone else when we try to take it cannot be waited for: the
 * interrupted code holds it and we are its interrupt handler. That is the deadlock the original
 * kernels had too, and it panics.
 */
import type { LockClassName, LockOwner, Witness, WitnessLock } from "./witness.js";

export interface LockOptions {
  /** Lock type for the witness (defaults to the name). */
  type?: string;
  /** MTX_RECURSE / RW_RECURSE. */
  recursive?: boolean;
  /** MTX_DUPOK: several locks of this type may be held, in an order the caller defines. */
  dupok?: boolean;
}

/** Hooks a spin mutex uses to block interrupts on the current CPU (spinlock_enter/exit). */
export interface CriticalSection {
  enter(): void;
  exit(): void;
}

abstract class LockBase implements WitnessLock {
  readonly type: string;
  readonly recursive: boolean;
  readonly dupok: boolean;
  abstract readonly lockClass: LockClassName;

  constructor(
    protected readonly witness: Witness,
    readonly name: string,
    opts: LockOptions = {},
  ) {
    this.type = opts.type ?? name;
    this.recursive = opts.recursive ?? false;
    this.dupok = opts.dupok ?? false;
  }

  protected cur(): LockOwner {
    return this.witness.host.curthread();
  }

  protected panic(msg: string): never {
    return this.witness.host.panic(msg);
  }
}

/** mtx(9) sleep mutex. */
export class Mutex extends LockBase {
  readonly lockClass: LockClassName = "sleep mutex";
  owner: LockOwner | null = null;
  recursion = 0;

  /** mtx_lock */
  lock(where = "?"): void {
    const td = this.cur();
    if (this.owner === td) {
      if (!this.recursive) this.panic(`_mtx_lock_sleep: recursed on non-recursive mutex ${this.name} @ ${where}`);
      this.recursion++;
      return;
    }
    if (this.owner !== null) {
      this.panic(`_mtx_lock_sleep: ${this.name} is held by a thread this path interrupted @ ${where}`);
    }
    this.owner = td;
    this.witness.acquired(this, where);
  }

  /** mtx_trylock: false when another thread owns it, or we own it and it is not recursive. */
  tryLock(where = "?"): boolean {
    if (this.owner !== null && (this.owner !== this.cur() || !this.recursive)) return false;
    this.lock(where);
    return true;
  }

  /** mtx_unlock */
  unlock(where = "?"): void {
    if (this.owner !== this.cur()) this.panic(`mutex ${this.name} not owned at ${where}`);
    if (this.recursion > 0) {
      this.recursion--;
      return;
    }
    this.witness.released(this, where);
    this.owner = null;
  }

  owned(): boolean {
    return this.owner === this.cur();
  }

  /** mtx_assert(m, MA_OWNED) */
  assertLocked(where = "?"): void {
    if (!this.owned()) this.panic(`mutex ${this.name} not owned at ${where}`);
  }

  /** mtx_assert(m, MA_NOTOWNED) */
  assertUnlocked(where = "?"): void {
    if (this.owned()) this.panic(`mutex ${this.name} owned at ${where}`);
  }
}

/** A spin mutex: also blocks interrupts on this CPU while held. */
export class SpinMutex extends Mutex {
  override readonly lockClass: LockClassName = "spin mutex";

  constructor(
    witness: Witness,
    name: string,
    private readonly critical: CriticalSection,
    opts: LockOptions = {},
  ) {
    super(witness, name, opts);
  }

  override lock(where = "?"): void {
    const td = this.cur();
    if (this.owner === td && !this.recursive) {
      this.panic(`_mtx_lock_spin: recursed on non-recursive mutex ${this.name} @ ${where}`);
    }
    this.critical.enter();
    super.lock(where);
  }

  override unlock(where = "?"): void {
    super.unlock(where);
    this.critical.exit();
  }
}

/** rwlock(9): many readers or one writer. */
export class RwLock extends LockBase {
  readonly lockClass: LockClassName = "rw";
  writer: LockOwner | null = null;
  writerRecursion = 0;
  private readonly readers = new Map<LockOwner, number>();

  /** rw_rlock (read recursion is allowed, as in FreeBSD). */
  rlock(where = "?"): void {
    const td = this.cur();
    if (this.writer !== null) {
      if (this.writer === td) this.panic(`rw_rlock: wlock already held for ${this.name} @ ${where}`);
      this.panic(`rw_rlock: ${this.name} is write-held by a thread this path interrupted @ ${where}`);
    }
    const n = this.readers.get(td) ?? 0;
    this.readers.set(td, n + 1);
    if (n === 0) this.witness.acquired(this, where, true);
  }

  runlock(where = "?"): void {
    const td = this.cur();
    const n = this.readers.get(td) ?? 0;
    if (n === 0) this.panic(`Lock ${this.name} not read locked @ ${where}`);
    if (n === 1) {
      this.readers.delete(td);
      this.witness.released(this, where);
    } else this.readers.set(td, n - 1);
  }

  /** rw_wlock */
  wlock(where = "?"): void {
    const td = this.cur();
    if (this.writer === td) {
      if (!this.recursive) this.panic(`_rw_wlock_hard: recursing but non-recursive rw ${this.name} @ ${where}`);
      this.writerRecursion++;
      return;
    }
    if (this.readers.has(td)) this.panic(`rw_wlock: ${this.name} read-held by the current thread @ ${where}`);
    if (this.writer !== null || this.readers.size > 0) {
      this.panic(`_rw_wlock_hard: ${this.name} is held by a thread this path interrupted @ ${where}`);
    }
    this.writer = td;
    this.witness.acquired(this, where);
  }

  wunlock(where = "?"): void {
    if (this.writer !== this.cur()) this.panic(`Lock ${this.name} not exclusively locked @ ${where}`);
    if (this.writerRecursion > 0) {
      this.writerRecursion--;
      return;
    }
    this.witness.released(this, where);
    this.writer = null;
  }

  wowned(): boolean {
    return this.writer === this.cur();
  }

  rowned(): boolean {
    return this.readers.has(this.cur());
  }

  /** rw_assert(RA_WLOCKED) */
  assertWlocked(where = "?"): void {
    if (!this.wowned()) this.panic(`Lock ${this.name} not exclusively locked @ ${where}`);
  }

  /** rw_assert(RA_LOCKED) */
  assertLocked(where = "?"): void {
    if (!this.wowned() && !this.rowned()) this.panic(`Lock ${this.name} not locked @ ${where}`);
  }

  /** rw_assert(RA_UNLOCKED) */
  assertUnlocked(where = "?"): void {
    if (this.wowned() || this.rowned()) this.panic(`Lock ${this.name} locked @ ${where}`);
  }
}
