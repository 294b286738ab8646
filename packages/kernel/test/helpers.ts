/** Shared test helpers: catching the error types of the public API. */
import { KernelPanic, SignalError, SyscallError } from "@vmlab/core";

export function signal(fn: () => unknown): SignalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SignalError) return e;
    throw e;
  }
  throw new Error("expected a signal");
}

export function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
  throw new Error("expected a SyscallError");
}

export function panicOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelPanic) return e.message;
    throw e;
  }
  throw new Error("expected a panic");
}

/** Deterministic bytes for file contents. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
