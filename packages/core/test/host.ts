/**
 * A kernel stand-in for the lock and witness tests: a current thread the test can switch, and a
 * panic that records the message and throws KernelPanic as the real kernel's panic() would.
 */
import { KernelPanic, type LockOwner, type TraceRing, Witness, type WitnessHost } from "../src/index.js";

export interface Thread {
  readonly tid: number;
}

export class TestHost implements WitnessHost {
  readonly td0: Thread = { tid: 100000 };
  readonly td1: Thread = { tid: 100001 };
  current: LockOwner = this.td0;
  readonly panics: string[] = [];
  trace: TraceRing | undefined = undefined;

  curthread(): LockOwner {
    return this.current;
  }

  panic(msg: string): never {
    this.panics.push(msg);
    throw new KernelPanic(msg);
  }
}

/** A fresh host and a witness bound to it. */
export function kernel(): { host: TestHost; witness: Witness } {
  const host = new TestHost();
  return { host, witness: new Witness(host) };
}
