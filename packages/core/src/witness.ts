/**
 * WITNESS: lock-order verification as FreeBSD's sys/kern/subr_witness.c does it.
 *
 * Locks are grouped by type (all pmaps share the type "pmap"). Acquiring B while holding A records
 * the order A -> B, with where each was taken. A later acquisition that contradicts a recorded
 * order (directly or through a chain) is a "lock order reversal"; the report names both locks and
 * where the other order was first established. Holding two locks of one type is reported as a
 * duplicate unless the type is DUPOK (locked in a defined order, e.g. two pmaps by address).
 * Like FreeBSD with debug.witness.kdb=0 the default is to record reports; `mode = "panic"` panics.
 */
import type { TraceRing } from "./trace.js";

/** A thread, or whatever stands for one: locks compare owners by identity. */
export type LockOwner = object;

export type LockClassName = "sleep mutex" | "spin mutex" | "rw" | "sx";

/** What the witness needs from the kernel that owns it. */
export interface WitnessHost {
  curthread(): LockOwner;
  panic(msg: string): never;
  trace?: TraceRing | undefined;
}

export interface WitnessLock {
  readonly name: string;
  readonly type: string;
  readonly lockClass: LockClassName;
  readonly dupok: boolean;
}

interface Held {
  readonly lock: WitnessLock;
  readonly where: string;
  readonly shared: boolean;
}

interface OrderEdge {
  readonly firstWhere: string;
  readonly secondWhere: string;
}

export interface WitnessReport {
  readonly kind: "reversal" | "duplicate";
  readonly first: { name: string; type: string; where: string };
  readonly second: { name: string; type: string; where: string };
  /** For a reversal: where the opposite order was established. */
  readonly established?: string;
  readonly message: string;
}

export class Witness {
  /** Recorded orders: type -> (type taken after it -> where). */
  private readonly order = new Map<string, Map<string, OrderEdge>>();
  private readonly held = new Map<LockOwner, Held[]>();
  private readonly seen = new Set<string>();
  readonly reports: WitnessReport[] = [];
  mode: "record" | "panic" = "record";

  constructor(readonly host: WitnessHost) {}

  /** The locks the given thread holds, innermost last. */
  heldBy(owner: LockOwner = this.host.curthread()): readonly { name: string; where: string }[] {
    return (this.held.get(owner) ?? []).map((h) => ({ name: h.lock.name, where: h.where }));
  }

  /** witness_checkorder + witness_lock: called once the lock is acquired (not on recursion). */
  acquired(lock: WitnessLock, where: string, shared = false): void {
    const owner = this.host.curthread();
    let list = this.held.get(owner);
    if (!list) {
      list = [];
      this.held.set(owner, list);
    }
    if (lock.lockClass !== "spin mutex") {
      const spin = list.find((h) => h.lock.lockClass === "spin mutex");
      if (spin) {
        this.host.panic(
          `acquiring blockable sleep lock with spinlock or critical section held (${lock.lockClass}) ${lock.name} @ ${where}`,
        );
      }
    }
    for (const h of list) this.check(h, lock, where);
    list.push({ lock, where, shared });
  }

  /** witness_unlock: the lock is being released by the current thread. */
  released(lock: WitnessLock, where: string): void {
    const owner = this.host.curthread();
    const list = this.held.get(owner);
    let i = -1;
    if (list) for (let j = list.length - 1; j >= 0 && i < 0; j--) if (list[j]?.lock === lock) i = j;
    if (!list || i < 0) {
      this.host.panic(`witness_unlock: lock (${lock.lockClass}) ${lock.name} not locked @ ${where}`);
    }
    list.splice(i, 1);
    if (list.length === 0) this.held.delete(owner);
  }

  /** Forget a thread's held locks (its kernel entry was unwound by a panic or an exception). */
  forget(owner: LockOwner): void {
    this.held.delete(owner);
  }

  private check(h: Held, lock: WitnessLock, where: string): void {
    if (h.lock === lock) return;
    const a = h.lock.type;
    const b = lock.type;
    if (a === b) {
      if (h.lock.dupok && lock.dupok) return;
      this.report({
        kind: "duplicate",
        first: { name: h.lock.name, type: a, where: h.where },
        second: { name: lock.name, type: b, where },
        message: `acquiring duplicate lock of same type: "${b}"\n 1st ${h.lock.name} @ ${h.where}\n 2nd ${lock.name} @ ${where}`,
      });
      return;
    }
    // Fast path: this order is already recorded, so it was checked when first seen.
    if (this.order.get(a)?.has(b)) return;
    const back = this.path(b, a);
    if (back) {
      this.report({
        kind: "reversal",
        first: { name: h.lock.name, type: a, where: h.where },
        second: { name: lock.name, type: b, where },
        established: `${back.firstWhere} then ${back.secondWhere}`,
        message:
          "lock order reversal:\n" +
          ` 1st ${h.lock.name} (${a}) @ ${h.where}\n` +
          ` 2nd ${lock.name} (${b}) @ ${where}\n` +
          ` lock order ${b} -> ${a} established at ${back.firstWhere} then ${back.secondWhere}`,
      });
      return;
    }
    let out = this.order.get(a);
    if (!out) {
      out = new Map();
      this.order.set(a, out);
    }
    if (!out.has(b)) out.set(b, { firstWhere: h.where, secondWhere: where });
  }

  /** The first recorded edge of a chain from type `from` to type `to`, if one exists. */
  private path(from: string, to: string): OrderEdge | undefined {
    const direct = this.order.get(from)?.get(to);
    if (direct) return direct;
    const visited = new Set<string>([from]);
    const stack: [string, OrderEdge][] = [];
    for (const [n, e] of this.order.get(from) ?? []) stack.push([n, e]);
    while (stack.length > 0) {
      const [node, firstEdge] = stack.pop() as [string, OrderEdge];
      if (node === to) return firstEdge;
      if (visited.has(node)) continue;
      visited.add(node);
      for (const [n] of this.order.get(node) ?? []) stack.push([n, firstEdge]);
    }
    return undefined;
  }

  private report(r: WitnessReport): void {
    const key = `${r.kind}:${r.first.type}:${r.second.type}`;
    if (this.seen.has(key)) return; // witness reports each pair once
    this.seen.add(key);
    this.reports.push(r);
    this.host.trace?.emit("witness", r.kind, { first: r.first.name, second: r.second.name });
    if (this.mode === "panic") this.host.panic(r.message);
  }
}
