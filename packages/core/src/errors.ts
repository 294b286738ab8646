/**
 * The error types of the public API (see API.md): every failure a user sees is one of these,
 * with named fields so programs can branch on them without parsing text.
 */
import { hex } from "./addr.js";
import { type ErrnoName, errnoOf } from "./errno.js";

/** A bad option to createSystem or a part factory: names the field and what it accepts. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly accepted: string,
  ) {
    super(`${field}: ${JSON.stringify(value)} is not accepted; expected ${accepted}`);
  }
}

/** A system call that failed with an errno, as the BSD kernel would return it. */
export class SyscallError extends Error {
  override readonly name = "SyscallError";
  readonly errno: number;
  constructor(
    readonly syscall: string,
    readonly code: ErrnoName,
    detail?: string,
  ) {
    super(`${syscall}: ${code}${detail ? ` (${detail})` : ""}`);
    this.errno = errnoOf(code);
  }
}

/** SIGKILL: the kernel killed the process because memory ran out with nothing left to page out. */
export type SignalName = "SIGSEGV" | "SIGBUS" | "SIGKILL";
export type SignalCode = "SEGV_MAPERR" | "SEGV_ACCERR" | "BUS_ADRERR" | "BUS_ADRALN" | "BUS_OBJERR" | "SI_NOINFO";

/** A user access the VM could not resolve: the signal the process receives. */
export class SignalError extends Error {
  override readonly name = "SignalError";
  constructor(
    readonly signal: SignalName,
    readonly code: SignalCode,
    readonly addr: number,
    /** Why the kernel sent it, when it was not a fault (e.g. "out of swap space"). */
    readonly reason?: string,
  ) {
    super(`${signal} (${code}) at ${hex(addr)}${reason ? `: ${reason}` : ""}`);
  }
}

/** A kernel panic: the message starts with "panic: " and the system is dead afterwards. */
export class KernelPanic extends Error {
  override readonly name = "KernelPanic";
  constructor(readonly panicMessage: string) {
    super(`panic: ${panicMessage}`);
  }
}

/** An audit found a broken invariant: which layer, which rule, and the details. */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
  constructor(
    readonly layer: string,
    readonly rule: string,
    readonly details: string,
  ) {
    super(`${layer}: ${rule}: ${details}`);
  }
}
