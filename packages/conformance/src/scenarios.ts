/**
 * Named deterministic scenarios: the NetBSD ATF cases (tests/lib/libc/sys t_mlock, t_mmap,
 * t_mprotect, t_minherit, t_msync) re-expressed on the process API, one errno table per system
 * call, and "fork-heavy", a three-generation copy-on-write workout checked byte for byte against the
 * reference model. Each scenario runs on fresh systems from the factory and reports pass/fail with
 * the detail of every disagreement; none may panic, and every layer is audited along the way.
 */

import {
  type ErrnoName,
  INHERIT_COPY,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  IPC_CREAT,
  IPC_EXCL,
  IPC_RMID,
  IPC_STAT,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_SPACEAVAIL,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_WIRED,
  MCL_CURRENT,
  MCL_FUTURE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  O_RDONLY,
  O_RDWR,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  RLIM_INFINITY,
  RLIMIT_MEMLOCK,
  SEEK_SET,
} from "@vmlab/core";
import type { Process, System } from "@vmlab/kernel";
import { fileBytes } from "./commands.js";
import { forkStorm } from "./fork-storm.js";
import { hostMs } from "./host-clock.js";
import { BsdModel } from "./model.js";
import type { SystemFactory } from "./survive.js";

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;
const INT_MAX = 0x7fff_ffff;

export interface ScenarioResult {
  readonly name: string;
  readonly passed: boolean;
  /** What was checked, and every disagreement. */
  readonly detail: string;
  /** One line per failed check (empty when passed). */
  readonly failures: readonly string[];
  readonly seconds: number;
  /** Kernel statistics the scenario reports (fork-heavy: vm.object.shadow_depth.max). */
  readonly stats?: Readonly<Record<string, number>>;
}

export interface ScenarioReport {
  readonly passed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly results: readonly ScenarioResult[];
}

export interface Scenario {
  readonly name: string;
  /** Where it comes from (peer suite and case, or "vmlab"). */
  readonly source: string;
  /** The factory may be given a RunContext (seed and disk timing): the fork storm sweeps them. */
  run(factory: SystemFactory): Omit<ScenarioResult, "name" | "seconds">;
}

// ------------------------------------------------------------------ helpers

type Outcome =
  | { readonly kind: "ok"; readonly value: unknown }
  | { readonly kind: "errno"; readonly code: string }
  | { readonly kind: "signal"; readonly signal: string; readonly code: string; readonly addr: number };

function attempt(f: () => unknown): Outcome {
  try {
    return { kind: "ok", value: f() };
  } catch (e) {
    const x = e as { name?: unknown; code?: unknown; signal?: unknown; addr?: unknown };
    if (x !== null && typeof x === "object" && x.name === "SyscallError")
      return { kind: "errno", code: String(x.code) };
    if (x !== null && typeof x === "object" && x.name === "SignalError") {
      return { kind: "signal", signal: String(x.signal), code: String(x.code), addr: Number(x.addr) };
    }
    throw e;
  }
}

function show(o: Outcome): string {
  switch (o.kind) {
    case "ok":
      return typeof o.value === "number" ? `ok (${hex(o.value)})` : "ok";
    case "errno":
      return o.code;
    case "signal":
      return `${o.signal}/${o.code} at ${hex(o.addr)}`;
  }
}

function hex(x: number): string {
  return x >= 0 ? `0x${x.toString(16)}` : String(x);
}

function isPanic(e: unknown): e is Error {
  return e instanceof Error && (e.name === "KernelPanic" || e.message.startsWith("panic: "));
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** Collects checks; a scenario passes when nothing was recorded as a problem. */
class Checker {
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  checks = 0;

  constructor(readonly sys: System) {}

  /** A fresh process with an unlimited RLIMIT_MEMLOCK. */
  spawn(): Process {
    const p = this.sys.spawn();
    p.setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY);
    return p;
  }

  /** Expect a call to succeed ("ok") or fail with one errno. */
  call(label: string, expect: ErrnoName | "ok", f: () => unknown): Outcome {
    this.checks++;
    const o = attempt(f);
    const good = expect === "ok" ? o.kind === "ok" : o.kind === "errno" && o.code === expect;
    if (!good) this.problems.push(`${label}: expected ${expect === "ok" ? "success" : expect}, got ${show(o)}`);
    this.audit(label);
    return o;
  }

  /** Expect a call to fail (any errno), as the ATF cases that do not check errno. */
  fails(label: string, f: () => unknown): Outcome {
    this.checks++;
    const o = attempt(f);
    if (o.kind !== "errno") this.problems.push(`${label}: expected failure, got ${show(o)}`);
    this.audit(label);
    return o;
  }

  /** Expect a user access to raise a signal with this code. */
  signal(label: string, code: string, f: () => unknown): void {
    this.checks++;
    const o = attempt(f);
    if (o.kind !== "signal" || o.signal !== "SIGSEGV" || o.code !== code) {
      this.problems.push(`${label}: expected SIGSEGV/${code}, got ${show(o)}`);
    }
    this.audit(label);
  }

  /** Expect a user access to raise SIGBUS/BUS_ADRERR at `addr`. */
  bus(label: string, addr: number, f: () => unknown): void {
    this.checks++;
    const o = attempt(f);
    if (o.kind !== "signal" || o.signal !== "SIGBUS" || o.code !== "BUS_ADRERR" || o.addr !== addr) {
      this.problems.push(`${label}: expected SIGBUS/BUS_ADRERR at ${hex(addr)}, got ${show(o)}`);
    }
    this.audit(label);
  }

  /** Expect bytes. */
  bytes(label: string, expected: Uint8Array, f: () => unknown): void {
    this.checks++;
    const o = attempt(f);
    if (o.kind !== "ok" || !(o.value instanceof Uint8Array) || !equalBytes(o.value, expected)) {
      const got =
        o.kind === "ok" && o.value instanceof Uint8Array
          ? `bytes differing at ${firstDiff(o.value, expected)}`
          : show(o);
      this.problems.push(`${label}: expected ${expected.length} known bytes, got ${got}`);
    }
  }

  /** Expect a value. */
  value(label: string, expected: unknown, f: () => unknown): void {
    this.checks++;
    const o = attempt(f);
    if (o.kind !== "ok" || o.value !== expected) {
      this.problems.push(`${label}: expected ${String(expected)}, got ${show(o)}`);
    }
  }

  /** A successful mmap's address (or NaN after recording the problem). */
  mmap(label: string, p: Process, addr: number, len: number, prot: number, flags: number): number {
    const o = this.call(label, "ok", () => p.mmap(addr, len, prot, flags, -1, 0));
    return o.kind === "ok" && typeof o.value === "number" ? o.value : Number.NaN;
  }

  audit(label: string): void {
    try {
      this.sys.audit();
    } catch (e) {
      if (isPanic(e)) throw e;
      this.problems.push(`audit after ${label}: ${describeError(e)}`);
    }
  }

  result(summary: string): Omit<ScenarioResult, "name" | "seconds"> {
    const lines = [`${summary} (${this.checks} checks)`, ...this.notes.map((n) => `note: ${n}`), ...this.problems];
    return { passed: this.problems.length === 0, detail: lines.join("\n"), failures: [...this.problems] };
  }
}

/** Run a scenario body on one fresh system; a panic or an unexpected exception fails it. */
function onSystem(
  factory: () => System,
  summary: string,
  body: (c: Checker) => void,
): Omit<ScenarioResult, "name" | "seconds"> {
  let c: Checker | undefined;
  try {
    c = new Checker(factory());
    body(c);
    return c.result(summary);
  } catch (e) {
    const before = c === undefined ? [] : c.problems;
    const what = `${isPanic(e) ? "kernel panic" : "unexpected exception"}: ${describeError(e)}`;
    return { passed: false, detail: [summary, ...before, what].join("\n"), failures: [...before, what] };
  }
}

function fill(len: number, v: number): Uint8Array {
  return new Uint8Array(len).fill(v);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `byte ${i} (${a[i]} ≠ ${b[i]})`;
  return `length ${a.length} ≠ ${b.length}`;
}

function sameAll(p: Process, va: number, len: number, v: number): boolean {
  return equalBytes(p.readBytes(va, len), fill(len, v));
}

// ------------------------------------------------------------------ errno tables

/** The per-case environment: pages 0-1 RW, page 2 PROT_NONE, page 3 unmapped (a hole). */
export interface TableEnv {
  readonly p: Process;
  readonly base: number;
  readonly hole: number;
  readonly userMin: number;
  readonly userMax: number;
}

export interface ErrnoCase {
  readonly call: string;
  /** The expected errno, or "ok"; may depend on the layout (e.g. whether page 0 is user space). */
  readonly expect: ErrnoName | "ok" | ((env: TableEnv) => ErrnoName | "ok" | "n/a");
  readonly source: string;
  readonly run: (env: TableEnv) => unknown;
}

export interface ErrnoTable {
  readonly syscall: string;
  readonly cases: readonly ErrnoCase[];
}

/** NULL: unmapped user memory where the layout starts at 0, outside user space otherwise. */
const nullAddr =
  (unmapped: ErrnoName | "ok", outside: ErrnoName | "ok") =>
  (env: TableEnv): ErrnoName | "ok" =>
    env.userMin === 0 ? unmapped : outside;

export const ERRNO_TABLES: readonly ErrnoTable[] = [
  {
    syscall: "mmap",
    cases: [
      {
        call: "len 0",
        expect: "EINVAL",
        source: "POSIX 2008; OpenBSD mmap0",
        run: (e) => e.p.mmap(0, 0, RW, ANON, -1, 0),
      },
      {
        call: "negative len",
        expect: "EINVAL",
        source: "vmlab",
        run: (e) => e.p.mmap(0, -P, RW, ANON, -1, 0),
      },
      {
        call: "neither MAP_SHARED nor MAP_PRIVATE",
        expect: "EINVAL",
        source: "POSIX",
        run: (e) => e.p.mmap(0, P, RW, MAP_ANON, -1, 0),
      },
      {
        call: "both MAP_SHARED and MAP_PRIVATE",
        expect: "EINVAL",
        source: "NetBSD uvm_mmap.c",
        run: (e) => e.p.mmap(0, P, RW, MAP_ANON | MAP_SHARED | MAP_PRIVATE, -1, 0),
      },
      {
        call: "MAP_FIXED unaligned, no MAP_ANON, fd -1 (address checked before fd)",
        expect: "EINVAL",
        source: "NetBSD t_mmap mmap_err",
        run: (e) => e.p.mmap(e.base + 1, P, PROT_READ, MAP_FIXED | MAP_PRIVATE, -1, 0),
      },
      {
        call: "MAP_FIXED at (void *)-1",
        expect: "EINVAL",
        source: "NetBSD t_mmap mmap_err",
        run: (e) => e.p.mmap(0xffff_ffff, P, PROT_READ, MAP_FIXED | ANON, -1, 0),
      },
      {
        call: "MAP_FIXED below VM_MIN_ADDRESS",
        expect: (e) => (e.userMin >= P ? "EINVAL" : "n/a"),
        source: "NetBSD range_test",
        run: (e) => e.p.mmap(e.userMin - P, P, RW, MAP_FIXED | ANON, -1, 0),
      },
      {
        call: "MAP_FIXED range ending past VM_MAXUSER_ADDRESS",
        expect: "EINVAL",
        source: "NetBSD mmap(2): addr outside the valid range",
        run: (e) => e.p.mmap(e.userMax - P, 2 * P, RW, MAP_FIXED | ANON, -1, 0),
      },
      {
        call: "MAP_ANON with fd INT_MAX",
        expect: "EINVAL",
        source: "NetBSD t_mmap mmap_err",
        run: (e) => e.p.mmap(0, P, PROT_READ, ANON, INT_MAX, 0),
      },
      {
        call: "not MAP_ANON, fd -1",
        expect: "EBADF",
        source: "NetBSD t_mmap mmap_err",
        run: (e) => e.p.mmap(0, 3, PROT_READ, MAP_PRIVATE, -1, 0),
      },
      {
        call: "offset not page aligned",
        expect: "EINVAL",
        source: "POSIX mmap: off not a multiple of the page size",
        run: (e) => e.p.mmap(0, P, RW, ANON, -1, 100),
      },
      {
        call: "hint on an occupied page (not MAP_FIXED)",
        expect: "ok",
        source: "NetBSD t_mmap mmap_hint",
        run: (e) => e.p.mmap(e.base, P, RW, ANON, -1, 0),
      },
      {
        call: "hint beyond user space",
        expect: "ok",
        source: "NetBSD t_mmap mmap_hint",
        run: (e) => e.p.mmap(e.userMax, P, RW, ANON, -1, 0),
      },
    ],
  },
  {
    syscall: "munmap",
    cases: [
      {
        call: "address not page aligned",
        expect: "EINVAL",
        source: "Open POSIX munmap/3-1",
        run: (e) => e.p.munmap(e.base + 1, P),
      },
      { call: "len 0", expect: "EINVAL", source: "Open POSIX munmap/9-1", run: (e) => e.p.munmap(e.base, 0) },
      { call: "negative len", expect: "EINVAL", source: "vmlab", run: (e) => e.p.munmap(e.base, -P) },
      {
        call: "range outside user space",
        expect: "EINVAL",
        source: "LTP munmap03",
        run: (e) => e.p.munmap(e.userMax, P),
      },
      {
        call: "range crossing VM_MAXUSER_ADDRESS",
        expect: "EINVAL",
        source: "LTP munmap03",
        run: (e) => e.p.munmap(e.userMax - P, 2 * P),
      },
      { call: "nothing mapped there", expect: "ok", source: "POSIX munmap", run: (e) => e.p.munmap(e.hole, P) },
    ],
  },
  {
    syscall: "mprotect",
    cases: [
      {
        call: "(char *)-1",
        expect: "EINVAL",
        source: "NetBSD t_mprotect mprotect_err",
        run: (e) => e.p.mprotect(-1, 1, PROT_READ),
      },
      {
        call: "address not page aligned",
        expect: "EINVAL",
        source: "LTP mprotect01",
        run: (e) => e.p.mprotect(e.base + 1, 1024, PROT_READ),
      },
      {
        call: "NULL",
        expect: nullAddr("ENOMEM", "EINVAL"),
        source: "LTP mprotect01",
        run: (e) => e.p.mprotect(0, 1024, PROT_READ),
      },
      {
        call: "range outside user space",
        expect: "EINVAL",
        source: "POSIX",
        run: (e) => e.p.mprotect(e.userMax, P, PROT_READ),
      },
      {
        call: "unmapped page in the range",
        expect: "ENOMEM",
        source: "POSIX",
        run: (e) => e.p.mprotect(e.base, 4 * P, PROT_READ),
      },
      { call: "unmapped range", expect: "ENOMEM", source: "POSIX", run: (e) => e.p.mprotect(e.hole, P, PROT_READ) },
      { call: "len 0", expect: "ok", source: "vmlab", run: (e) => e.p.mprotect(e.base, 0, PROT_READ) },
    ],
  },
  {
    syscall: "mlock",
    cases: [
      { call: "NULL", expect: "ENOMEM", source: "NetBSD t_mlock mlock_err", run: (e) => e.p.mlock(0, P) },
      { call: "(char *)-1", expect: "ENOMEM", source: "NetBSD t_mlock mlock_err (1.6+)", run: (e) => e.p.mlock(-1, P) },
      {
        call: "wrapping length",
        expect: "ENOMEM",
        source: "NetBSD t_mlock mlock_err (1.6)",
        run: (e) => e.p.mlock(e.base, -P),
      },
      { call: "unmapped page", expect: "ENOMEM", source: "NetBSD t_mlock mlock_err", run: (e) => e.p.mlock(e.hole, P) },
      { call: "hole in the range", expect: "ENOMEM", source: "POSIX", run: (e) => e.p.mlock(e.base, 4 * P) },
      {
        call: "range outside user space",
        expect: "ENOMEM",
        source: "NetBSD range_test",
        run: (e) => e.p.mlock(e.userMax, P),
      },
      {
        call: "PROT_NONE page",
        expect: "ENOMEM",
        source: "NetBSD t_mlock mlock_mmap",
        run: (e) => e.p.mlock(e.base + 2 * P, P),
      },
      {
        call: "over RLIMIT_MEMLOCK",
        expect: "EAGAIN",
        source: "NetBSD t_mlock mlock_limits (PR kern/48962)",
        run: (e) => {
          e.p.setrlimit(RLIMIT_MEMLOCK, P - 1);
          try {
            e.p.mlock(e.base, P);
          } finally {
            e.p.setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY);
          }
        },
      },
      {
        call: "unaligned address and length (rounded)",
        expect: "ok",
        source: "NetBSD t_mlock mlock_err (1.8)",
        run: (e) => e.p.mlock(e.base + Math.floor(P / 3), Math.floor(P / 5)),
      },
      { call: "len 0", expect: "ok", source: "vmlab", run: (e) => e.p.mlock(e.base, 0) },
    ],
  },
  {
    syscall: "munlock",
    cases: [
      { call: "NULL", expect: "ENOMEM", source: "NetBSD t_mlock mlock_err", run: (e) => e.p.munlock(0, P) },
      {
        call: "(char *)-1",
        expect: "ENOMEM",
        source: "NetBSD t_mlock mlock_err (1.6+)",
        run: (e) => e.p.munlock(-1, P),
      },
      {
        call: "wrapping length",
        expect: "ENOMEM",
        source: "NetBSD t_mlock mlock_err (1.6)",
        run: (e) => e.p.munlock(e.base, -P),
      },
      {
        call: "unmapped page",
        expect: "ENOMEM",
        source: "NetBSD t_mlock mlock_err",
        run: (e) => e.p.munlock(e.hole, P),
      },
      {
        call: "never locked",
        expect: "ENOMEM",
        source: "NetBSD t_mlock mlock_err (1.8)",
        run: (e) => e.p.munlock(e.base, P),
      },
      {
        call: "partly locked range",
        expect: "ENOMEM",
        source: "NetBSD uvm_map_pageable",
        run: (e) => {
          e.p.mlock(e.base, P);
          e.p.munlock(e.base, 2 * P);
        },
      },
      {
        call: "hole after a locked page",
        expect: "ENOMEM",
        source: "LTP munlock02",
        run: (e) => {
          e.p.mlock(e.base, 2 * P);
          e.p.munlock(e.base, 4 * P);
        },
      },
      {
        call: "LONG_MAX rounded down, 8 bytes",
        expect: "ENOMEM",
        source: "Open POSIX munlock/10-1",
        run: (e) => e.p.munlock(Math.max(e.userMax, 0x7fff_f000), 8),
      },
    ],
  },
  {
    syscall: "mlockall",
    cases: [
      { call: "flags 0", expect: "EINVAL", source: "LTP mlockall02; NetBSD code", run: (e) => e.p.mlockall(0) },
      { call: "unknown flag 4", expect: "EINVAL", source: "NetBSD code", run: (e) => e.p.mlockall(4) },
      {
        call: "MCL_CURRENT with an unknown flag",
        expect: "EINVAL",
        source: "NetBSD code",
        run: (e) => e.p.mlockall(MCL_CURRENT | 0x100),
      },
      {
        call: "MCL_CURRENT | MCL_FUTURE",
        expect: "ok",
        source: "POSIX",
        run: (e) => e.p.mlockall(MCL_CURRENT | MCL_FUTURE),
      },
    ],
  },
  {
    syscall: "minherit",
    cases: [
      {
        call: "value 666",
        expect: "EINVAL",
        source: "NetBSD t_minherit minherit_bad",
        run: (e) => e.p.minherit(e.base, P, 666),
      },
      { call: "value -1", expect: "EINVAL", source: "NetBSD uvm_map_inherit", run: (e) => e.p.minherit(e.base, P, -1) },
      {
        call: "address not page aligned",
        expect: "EINVAL",
        source: "NetBSD minherit(2)",
        run: (e) => e.p.minherit(e.base + 1, P, INHERIT_SHARE),
      },
      {
        call: "range outside user space",
        expect: "EINVAL",
        source: "NetBSD minherit(2)",
        run: (e) => e.p.minherit(e.userMax, P, INHERIT_SHARE),
      },
      {
        call: "range with a hole (holes are skipped)",
        expect: "ok",
        source: "NetBSD uvm_map_inherit",
        run: (e) => e.p.minherit(e.base, 4 * P, INHERIT_COPY),
      },
      {
        call: "INHERIT_ZERO",
        expect: "ok",
        source: "NetBSD t_minherit",
        run: (e) => e.p.minherit(e.base, P, INHERIT_ZERO),
      },
    ],
  },
  {
    syscall: "msync",
    cases: [
      { call: "flags -1", expect: "EINVAL", source: "NetBSD t_msync msync_err", run: (e) => e.p.msync(e.base, P, -1) },
      {
        call: "flags INT_MAX",
        expect: "EINVAL",
        source: "NetBSD t_msync msync_err",
        run: (e) => e.p.msync(e.base, P, INT_MAX),
      },
      { call: "flags 0", expect: "EINVAL", source: "NetBSD code", run: (e) => e.p.msync(e.base, P, 0) },
      {
        call: "MS_ASYNC | MS_SYNC",
        expect: "EINVAL",
        source: "POSIX",
        run: (e) => e.p.msync(e.base, P, MS_ASYNC | MS_SYNC),
      },
      {
        call: "address not page aligned",
        expect: "EINVAL",
        source: "POSIX (may fail)",
        run: (e) => e.p.msync(e.base + 1, P, MS_SYNC),
      },
      {
        call: "unmapped page",
        expect: "ENOMEM",
        source: "NetBSD msync(2) (t_msync msync_err expects EFAULT)",
        run: (e) => e.p.msync(e.hole, P, MS_SYNC),
      },
      {
        call: "range outside user space",
        expect: "ENOMEM",
        source: "POSIX; LTP msync03",
        run: (e) => e.p.msync(e.userMax, P, MS_ASYNC),
      },
      {
        call: "MS_INVALIDATE on locked pages",
        expect: "EBUSY",
        source: "POSIX msync",
        run: (e) => {
          e.p.mlock(e.base, P);
          e.p.msync(e.base, P, MS_INVALIDATE | MS_SYNC);
        },
      },
      { call: "MS_SYNC", expect: "ok", source: "POSIX", run: (e) => e.p.msync(e.base, 2 * P, MS_SYNC) },
    ],
  },
  {
    syscall: "madvise",
    cases: [
      { call: "advice 1212", expect: "EINVAL", source: "LTP madvise02", run: (e) => e.p.madvise(e.base, P, 1212) },
      {
        call: "MADV_SPACEAVAIL",
        expect: "EINVAL",
        source: "NetBSD sys_madvise",
        run: (e) => e.p.madvise(e.base, P, MADV_SPACEAVAIL),
      },
      {
        call: "address not page aligned",
        expect: "EINVAL",
        source: "LTP madvise02",
        run: (e) => e.p.madvise(e.base + 100, P, MADV_NORMAL),
      },
      {
        call: "range with a hole",
        expect: "ENOMEM",
        source: "LTP madvise02; NetBSD madvise(2)",
        run: (e) => e.p.madvise(e.base, 4 * P, MADV_NORMAL),
      },
      {
        call: "range outside user space",
        expect: "EINVAL",
        source: "NetBSD range_test",
        run: (e) => e.p.madvise(e.userMax, P, MADV_NORMAL),
      },
      { call: "MADV_DONTNEED", expect: "ok", source: "POSIX", run: (e) => e.p.madvise(e.base, 2 * P, MADV_DONTNEED) },
      { call: "MADV_FREE", expect: "ok", source: "NetBSD", run: (e) => e.p.madvise(e.base, 2 * P, MADV_FREE) },
    ],
  },
];

/** Prepare a case's process: pages 0-1 RW (touched), page 2 PROT_NONE, page 3 unmapped. */
function tableEnv(sys: System, p: Process): TableEnv {
  const base = p.mmap(0, 4 * P, RW, ANON, -1, 0);
  p.store32(base, 1);
  p.store32(base + P, 2);
  p.mprotect(base + 2 * P, P, PROT_NONE);
  p.munmap(base + 3 * P, P);
  return { p, base, hole: base + 3 * P, userMin: sys.layout.userMin, userMax: sys.layout.userMax };
}

function runTable(factory: () => System, table: ErrnoTable): Omit<ScenarioResult, "name" | "seconds"> {
  const lines: string[] = [];
  const failures: string[] = [];
  let sys: System | undefined;
  for (const k of table.cases) {
    const label = `${table.syscall}: ${k.call} [${k.source}]`;
    try {
      sys ??= factory();
      const p = sys.spawn();
      p.setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY);
      const env = tableEnv(sys, p);
      const expect = typeof k.expect === "function" ? k.expect(env) : k.expect;
      if (expect === "n/a") {
        lines.push(`n/a  ${label}: not applicable to this layout`);
        continue;
      }
      const o = attempt(() => k.run(env));
      const good = expect === "ok" ? o.kind === "ok" : o.kind === "errno" && o.code === expect;
      let audit = "";
      try {
        sys.audit();
      } catch (e) {
        if (isPanic(e)) throw e;
        audit = `; audit: ${describeError(e)}`;
      }
      const line = `${label}: expected ${expect}, got ${show(o)}${audit}`;
      if (!good || audit !== "") failures.push(line);
      lines.push(`${good && audit === "" ? "ok  " : "FAIL"} ${line}`);
      if (p.state === "running") p.exit(0);
    } catch (e) {
      const line = `${label}: ${isPanic(e) ? "kernel panic" : "unexpected exception"}: ${describeError(e)}`;
      failures.push(line);
      lines.push(`FAIL ${line}`);
      sys = undefined; // a panicked system is dead: the next case gets a new one
    }
  }
  return {
    passed: failures.length === 0,
    detail: `${table.cases.length} cases, ${failures.length} failed\n${lines.join("\n")}`,
    failures,
  };
}

// ------------------------------------------------------------------ fork-heavy

export interface ForkHeavyOptions {
  /** Pages the first process writes (default 1000). */
  readonly pages?: number;
}

/** Byte j of page i as written by writer `gen`: distinct per page and per writer. */
function pattern(i: number, gen: number): Uint8Array {
  const b = new Uint8Array(P);
  for (let j = 0; j < P; j++) b[j] = (i * 131 + j * 7 + gen * 29 + (j >> 8) * 17) & 0xff;
  b[0] = i & 0xff;
  b[1] = (i >> 8) & 0xff;
  b[2] = gen;
  return b;
}

/**
 * A parent writes every page (a distinct pattern each), forks; the child writes some pages and
 * forks again, for three generations, every process writing after each fork. Every process then
 * reads back exactly the model's bytes on every page, before and after the children exit.
 */
export function forkHeavy(
  factory: () => System,
  opts: ForkHeavyOptions = {},
): Omit<ScenarioResult, "name" | "seconds"> {
  const n = opts.pages ?? 1000;
  let stats: Record<string, number> | undefined;
  const res = onSystem(factory, `fork-heavy: ${n} pages, 3 generations`, (c) => {
    const sys = c.sys;
    const model = new BsdModel({
      userMin: sys.layout.userMin,
      userMax: sys.layout.userMax,
      nx: sys.config.machine !== "i386",
    });
    const root = c.spawn();
    model.spawn(root.pid);
    const procs: Process[] = [root];
    const base = c.mmap("mmap region", root, 0, n * P, RW, ANON);
    if (Number.isNaN(base)) return;
    model.mmap(root.pid, 0, n * P, RW, ANON, -1, 0, base);

    const write = (p: Process, every: number, gen: number) => {
      for (let i = 0; i < n; i += every) {
        const bytes = pattern(i, gen);
        const o = attempt(() => p.writeBytes(base + i * P, bytes));
        if (o.kind !== "ok") {
          c.problems.push(`pid ${p.pid} writing page ${i}: ${show(o)}`);
          return;
        }
        model.write(p.pid, base + i * P, bytes);
      }
      c.audit(`pid ${p.pid} writes every ${every} pages`);
    };
    const verify = (when: string) => {
      for (const p of procs) {
        if (p.state !== "running") continue;
        let wrong = 0;
        let first = "";
        for (let i = 0; i < n; i++) {
          c.checks++;
          const o = attempt(() => p.readBytes(base + i * P, P));
          const exp = model.peek(p.pid, base + i * P, P);
          const got = o.kind === "ok" && o.value instanceof Uint8Array ? o.value : undefined;
          const same = got !== undefined && exp.every((b, j) => b === null || b === got[j]);
          if (!same) {
            wrong++;
            if (first === "") {
              const j = got === undefined ? -1 : exp.findIndex((b, k) => b !== null && b !== got[k]);
              first = got === undefined ? `page ${i}: ${show(o)}` : `page ${i} byte ${j}: ${got[j]} ≠ ${exp[j]}`;
            }
          }
        }
        if (wrong > 0) c.problems.push(`${when}: pid ${p.pid} has ${wrong} wrong pages (first: ${first})`);
      }
    };

    write(root, 1, 0);
    let parent = root;
    const steps = [
      { childEvery: 3, parentEvery: 11 },
      { childEvery: 5, parentEvery: 13 },
      { childEvery: 7, parentEvery: 17 },
    ];
    steps.forEach((s, g) => {
      const o = c.call(`fork generation ${g + 1}`, "ok", () => parent.fork());
      if (o.kind !== "ok") return;
      const child = o.value as Process;
      model.fork(parent.pid, child.pid);
      procs.push(child);
      write(child, s.childEvery, g + 1);
      write(parent, s.parentEvery, 10 + g);
      parent = child;
    });
    verify("after three generations");
    stats = sys.stats();
    // Children exit youngest first; the survivors must be unchanged (collapse must not lose pages).
    for (let g = procs.length - 1; g >= 1; g--) {
      const child = procs[g]!;
      const parentProc = procs[g - 1]!;
      c.call(`exit pid ${child.pid}`, "ok", () => child.exit(0));
      model.exit(child.pid, 0);
      const w = c.call(`wait in pid ${parentProc.pid}`, "ok", () => parentProc.wait());
      if (w.kind === "ok") model.reap(parentProc.pid, (w.value as { pid: number }).pid);
      verify(`after pid ${child.pid} exited`);
    }
    c.notes.push(`vm.object.shadow_depth.max = ${stats["vm.object.shadow_depth.max"] ?? "(not reported)"}`);
  });
  return stats === undefined ? res : { ...res, stats: pickStats(stats) };
}

function pickStats(all: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith("vm.object.") || k === "vm.fault.cow" || k === "pmap.enter") out[k] = v;
  }
  return out;
}

// ------------------------------------------------------------------ ATF-derived scenarios

const atf: Scenario[] = [
  {
    name: "atf: t_mlock mlock_clip",
    source: "NetBSD tests/lib/libc/sys/t_mlock.c mlock_clip (PR kern/44788)",
    run: (f) =>
      onSystem(f, "mlock/munlock of growing ranges from an unaligned address inside one page", (c) => {
        const p = c.spawn();
        const page = c.mmap("mmap", p, 0, P, RW, ANON);
        const buf = page + 100;
        for (let i = P; i >= 1; i -= 1024) {
          attempt(() => p.mlock(buf, P - i));
          c.audit(`mlock(buf, ${P - i})`);
          attempt(() => p.munlock(buf, P - i));
          c.audit(`munlock(buf, ${P - i})`);
        }
        // Everything is unlocked again: a further munlock finds nothing locked.
        c.call("munlock after the loop (nothing locked)", "ENOMEM", () => p.munlock(page, P));
      }),
  },
  {
    name: "atf: t_mlock mlock_err",
    source: "NetBSD tests/lib/libc/sys/t_mlock.c mlock_err (revisions 1.6 and 1.8)",
    run: (f) =>
      onSystem(f, "bad addresses are ENOMEM for mlock and munlock", (c) => {
        const p = c.spawn();
        const buf = c.mmap("mmap buf", p, 0, 2 * P, RW, ANON);
        c.call("munmap the page above buf (invalid_ptr)", "ok", () => p.munmap(buf + P, P));
        const invalid = buf + P;
        const nullExpect = "ENOMEM";
        c.call("mlock(NULL, P)", nullExpect, () => p.mlock(0, P));
        c.call("munlock(NULL, P)", nullExpect, () => p.munlock(0, P));
        c.call("mlock((char *)-1, P)", "ENOMEM", () => p.mlock(-1, P));
        c.call("munlock((char *)-1, P)", "ENOMEM", () => p.munlock(-1, P));
        c.call("mlock(buf, -P)", "ENOMEM", () => p.mlock(buf, -P));
        c.call("munlock(buf, -P)", "ENOMEM", () => p.munlock(buf, -P));
        c.call("munlock(buf, P) never locked (1.8)", "ENOMEM", () => p.munlock(buf, P));
        c.call("mlock(buf + P/3, P/5)", "ok", () => p.mlock(buf + Math.floor(P / 3), Math.floor(P / 5)));
        c.call("munlock(buf + P/3, P/5)", "ok", () => p.munlock(buf + Math.floor(P / 3), Math.floor(P / 5)));
        c.call("mlock(invalid_ptr, P)", "ENOMEM", () => p.mlock(invalid, P));
        c.call("munlock(invalid_ptr, P)", "ENOMEM", () => p.munlock(invalid, P));
      }),
  },
  {
    name: "atf: t_mlock mlock_limits",
    source: "NetBSD tests/lib/libc/sys/t_mlock.c mlock_limits",
    run: (f) =>
      onSystem(f, "mlock over RLIMIT_MEMLOCK is EAGAIN, in a forked child", (c) => {
        const parent = c.spawn();
        const buf = c.mmap("mmap buf", parent, 0, P, RW, ANON);
        const o = c.call("fork", "ok", () => parent.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        for (let i = P; i >= 2; i -= 100) {
          c.call(`setrlimit(RLIMIT_MEMLOCK, ${i - 1})`, "ok", () => child.setrlimit(RLIMIT_MEMLOCK, i - 1));
          const r = c.call(`mlock(buf, ${i}) with the limit at ${i - 1}`, "EAGAIN", () => child.mlock(buf, i));
          if (r.kind === "ok") attempt(() => child.munlock(buf, i));
        }
        c.call("child exit(0)", "ok", () => child.exit(0));
        const w = c.call("parent wait", "ok", () => parent.wait());
        if (w.kind === "ok") {
          const st = w.value as { pid: number; status: number };
          if (st.pid !== child.pid || st.status !== 0) c.problems.push(`wait returned ${JSON.stringify(st)}`);
        }
      }),
  },
  {
    name: "atf: t_mlock mlock_mmap",
    source: "NetBSD tests/lib/libc/sys/t_mlock.c mlock_mmap",
    run: (f) =>
      onSystem(f, "mlock and MAP_WIRED: accounting balances; PROT_NONE MAP_WIRED maps but cannot be locked", (c) => {
        const p = c.spawn();
        const flags = ANON | MAP_WIRED;
        const buf = c.mmap("mmap(P, RW, MAP_WIRED)", p, 0, P, RW, flags);
        c.call("mlock(buf, P) on a wired mapping", "ok", () => p.mlock(buf, P));
        c.call("munlock(buf, P)", "ok", () => p.munlock(buf, P));
        c.call("munmap(buf, P)", "ok", () => p.munmap(buf, P));
        c.fails("munlock(buf, P) after munmap", () => p.munlock(buf, P));
        const none = c.mmap("mmap(P, PROT_NONE, MAP_WIRED)", p, 0, P, PROT_NONE, flags);
        c.call("mlock of the PROT_NONE mapping", "ENOMEM", () => p.mlock(none, P));
        c.call("munmap", "ok", () => p.munmap(none, P));
      }),
  },
  {
    name: "atf: t_mlock mlock_nested",
    source: "NetBSD tests/lib/libc/sys/t_mlock.c mlock_nested",
    run: (f) =>
      onSystem(f, "100 mlocks, one munlock undoes them", (c) => {
        const p = c.spawn();
        const buf = c.mmap("mmap", p, 0, P, RW, ANON);
        for (let i = 0; i < 100; i++) {
          const o = attempt(() => p.mlock(buf, P));
          if (o.kind !== "ok") c.problems.push(`mlock #${i + 1}: ${show(o)}`);
        }
        c.checks += 100;
        c.call("one munlock", "ok", () => p.munlock(buf, P));
        c.call("a second munlock finds nothing locked", "ENOMEM", () => p.munlock(buf, P));
      }),
  },
  {
    name: "atf: t_mmap mmap_err",
    source: "NetBSD tests/lib/libc/sys/t_mmap.c mmap_err",
    run: (f) =>
      onSystem(
        f,
        "EBADF for fd -1 without MAP_ANON; EINVAL for a bad MAP_FIXED address first; EINVAL for MAP_ANON with a fd",
        (c) => {
          const p = c.spawn();
          const local = c.mmap("mmap a page (the 'local variable')", p, 0, P, RW, ANON);
          c.call("mmap(NULL, 3, READ, MAP_FILE|MAP_PRIVATE, -1)", "EBADF", () =>
            p.mmap(0, 3, PROT_READ, MAP_PRIVATE, -1, 0),
          );
          c.call("mmap(&local, P, READ, MAP_FIXED|MAP_PRIVATE, -1)", "EINVAL", () =>
            p.mmap(local + 8, P, PROT_READ, MAP_FIXED | MAP_PRIVATE, -1, 0),
          );
          c.call("mmap((void *)-1, P, READ, MAP_FIXED|MAP_PRIVATE, -1)", "EINVAL", () =>
            p.mmap(-1, P, PROT_READ, MAP_FIXED | MAP_PRIVATE, -1, 0),
          );
          c.call("mmap(NULL, P, READ, MAP_ANON|MAP_PRIVATE, INT_MAX)", "EINVAL", () =>
            p.mmap(0, P, PROT_READ, ANON, INT_MAX, 0),
          );
        },
      ),
  },
  {
    name: "atf: t_mmap mmap_prot_2",
    source: "NetBSD tests/lib/libc/sys/t_mmap.c mmap_prot_2 (mmap_prot_3 with anonymous memory)",
    run: (f) =>
      onSystem(f, "a PROT_NONE mapping read in a forked child raises SIGSEGV", (c) => {
        const p = c.spawn();
        const map = c.mmap("mmap(P, PROT_NONE)", p, 0, P, PROT_NONE, ANON);
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        c.signal("child reads the PROT_NONE page", "SEGV_ACCERR", () => child.load8(map));
        c.call("child exit(11)", "ok", () => child.exit(11));
        const w = c.call("parent wait", "ok", () => p.wait());
        if (w.kind === "ok" && (w.value as { status: number }).status !== 11) c.problems.push("wrong exit status");
        const shared = c.mmap("mmap(P, PROT_NONE, MAP_SHARED)", p, 0, P, PROT_NONE, MAP_ANON | MAP_SHARED);
        const o2 = c.call("fork again", "ok", () => p.fork());
        if (o2.kind === "ok") {
          const c2 = o2.value as Process;
          c.signal("child reads the shared PROT_NONE page", "SEGV_ACCERR", () => c2.load32(shared));
          c.call("second child exit", "ok", () => c2.exit(11));
          c.call("wait", "ok", () => p.wait());
        }
        c.call("munmap", "ok", () => p.munmap(map, P));
      }),
  },
  {
    name: "atf: t_mmap mmap_hint",
    source: "NetBSD tests/lib/libc/sys/t_mmap.c mmap_hint",
    run: (f) =>
      onSystem(f, "a hint never makes mmap fail, even occupied or outside user space", (c) => {
        const p = c.spawn();
        const { userMin, userMax } = c.sys.layout;
        for (const hint of [0, -1, P, userMin, userMax, userMax - P + 1]) {
          const m1 = c.mmap(`m1 = mmap(${hex(hint)})`, p, hint, P, RW, ANON);
          const m2 = c.mmap(`m2 = mmap(m1)`, p, m1, P, RW, ANON);
          if (m1 === m2) c.problems.push(`hint ${hex(hint)}: m2 was placed on m1 (${hex(m1)})`);
          const m3 = c.mmap(`m3 = mmap(${hex(hint)})`, p, hint, P, RW, ANON);
          for (const m of [m1, m2, m3]) {
            if (m % P !== 0 || m < userMin || m + P > userMax)
              c.problems.push(`hint ${hex(hint)}: bad address ${hex(m)}`);
          }
          if (new Set([m1, m2, m3]).size !== 3)
            c.problems.push(`hint ${hex(hint)}: overlapping ${[m1, m2, m3].map(hex)}`);
          for (const m of [m3, m2, m1]) c.call(`munmap(${hex(m)})`, "ok", () => p.munmap(m, P));
        }
      }),
  },
  {
    name: "atf: t_mprotect mprotect_err",
    source: "NetBSD tests/lib/libc/sys/t_mprotect.c mprotect_err",
    run: (f) =>
      onSystem(f, "mprotect((char *)-1, 1, PROT_READ) is EINVAL", (c) => {
        const p = c.spawn();
        c.call("mprotect((char *)-1, 1, PROT_READ)", "EINVAL", () => p.mprotect(-1, 1, PROT_READ));
      }),
  },
  {
    name: "atf: t_mprotect mprotect_write",
    source: "NetBSD tests/lib/libc/sys/t_mprotect.c mprotect_write",
    run: (f) =>
      onSystem(f, "a child writing a page made read-only gets SIGSEGV; the contents stay", (c) => {
        const p = c.spawn();
        const map = c.mmap("mmap(P, RW)", p, 0, P, RW, ANON);
        const xxx = new Uint8Array([0x58, 0x58, 0x58, 0]);
        c.call('write "XXX"', "ok", () => p.writeBytes(map, xxx));
        c.call("mprotect(map, P, PROT_READ)", "ok", () => p.mprotect(map, P, PROT_READ));
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind === "ok") {
          const child = o.value as Process;
          c.signal("child writes", "SEGV_ACCERR", () => child.store8(map, 0x59));
          c.value("child still reads XXX", 0x0058_5858, () => child.load32(map));
          c.call("child exit", "ok", () => child.exit(11));
          c.call("wait", "ok", () => p.wait());
        }
        c.signal("parent writes", "SEGV_ACCERR", () => p.store8(map, 0x59));
        c.value("parent reads XXX", 0x0058_5858, () => p.load32(map));
        c.call("munmap", "ok", () => p.munmap(map, P));
      }),
  },
  {
    name: "atf: t_mprotect mprotect_exec",
    source: "NetBSD tests/lib/libc/sys/t_mprotect.c mprotect_exec; API.md (NX only where the machine has it)",
    run: (f) =>
      onSystem(f, "fetches need PROT_EXEC on NX machines; a readable page is executable on non-PAE i386", (c) => {
        const p = c.spawn();
        const nx = c.sys.config.machine !== "i386";
        const map = c.mmap("mmap(P, RW)", p, 0, P, RW, ANON);
        c.call("store the 'function'", "ok", () => p.store32(map, 0xc3c3c3c3));
        c.call("mprotect(READ|EXEC)", "ok", () => p.mprotect(map, P, PROT_READ | PROT_EXEC));
        c.value("fetch from READ|EXEC", 0xc3, () => p.exec(map));
        c.call("mprotect(READ)", "ok", () => p.mprotect(map, P, PROT_READ));
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        if (nx) c.signal("child fetches from READ (NX)", "SEGV_ACCERR", () => child.exec(map));
        else c.value("child fetches from READ (no NX)", 0xc3, () => child.exec(map));
        c.call("child exit", "ok", () => child.exit(0));
        c.call("wait", "ok", () => p.wait());
        if (nx) c.signal("parent fetches from READ (NX)", "SEGV_ACCERR", () => p.exec(map));
        c.call("mprotect(NONE)", "ok", () => p.mprotect(map, P, PROT_NONE));
        c.signal("fetch from PROT_NONE", "SEGV_ACCERR", () => p.exec(map));
      }),
  },
  {
    name: "atf: t_minherit minherit_copy",
    source: "NetBSD tests/lib/libc/sys/t_minherit.c minherit_copy",
    run: (f) =>
      onSystem(f, "MAP_INHERIT_COPY on MAP_SHARED memory: the child's writes are invisible to the parent", (c) => {
        const p = c.spawn();
        const [m1, m2] = [makemap(c, p, 1, INHERIT_COPY), makemap(c, p, 1, INHERIT_COPY)];
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        if (!equalBytes(child.readBytes(m1, P), child.readBytes(m2, P))) c.problems.push("child: m1 ≠ m2");
        c.call("child zeroes m1", "ok", () => child.writeBytes(m1, fill(P, 0)));
        c.call("child exit", "ok", () => child.exit(0));
        c.call("wait", "ok", () => p.wait());
        if (!equalBytes(p.readBytes(m1, P), p.readBytes(m2, P)))
          c.problems.push("parent: m1 ≠ m2 after the child wrote");
        c.checks += 2;
      }),
  },
  {
    name: "atf: t_minherit minherit_share",
    source: "NetBSD tests/lib/libc/sys/t_minherit.c minherit_share",
    run: (f) =>
      onSystem(f, "MAP_INHERIT_SHARE: the child's writes are visible to the parent", (c) => {
        const p = c.spawn();
        const [m1, m2] = [makemap(c, p, 1, INHERIT_SHARE), makemap(c, p, 1, INHERIT_SHARE)];
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        if (!equalBytes(child.readBytes(m1, P), child.readBytes(m2, P))) c.problems.push("child: m1 ≠ m2");
        c.call("child zeroes m1", "ok", () => child.writeBytes(m1, fill(P, 0)));
        c.call("child exit", "ok", () => child.exit(0));
        c.call("wait", "ok", () => p.wait());
        c.call("parent zeroes m2", "ok", () => p.writeBytes(m2, fill(P, 0)));
        if (!equalBytes(p.readBytes(m1, P), p.readBytes(m2, P)))
          c.problems.push("parent: the child's write to m1 is not visible");
        c.checks += 2;
      }),
  },
  {
    name: "atf: t_minherit minherit_none",
    source: "NetBSD tests/lib/libc/sys/t_minherit.c minherit_none",
    run: (f) =>
      onSystem(f, "MAP_INHERIT_NONE: the range is unmapped in the child (SIGSEGV)", (c) => {
        const p = c.spawn();
        const m1 = makemap(c, p, 0, INHERIT_NONE);
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        c.signal("child writes m1", "SEGV_MAPERR", () => child.store8(m1, 1));
        c.call("child exit(SIGSEGV)", "ok", () => child.exit(11));
        c.call("wait", "ok", () => p.wait());
        c.value("parent still has m1", 0, () => p.load32(m1));
      }),
  },
  {
    name: "atf: t_minherit minherit_zero",
    source: "NetBSD tests/lib/libc/sys/t_minherit.c minherit_zero",
    run: (f) =>
      onSystem(f, "MAP_INHERIT_ZERO: the child sees zeros; the parent is unaffected", (c) => {
        const p = c.spawn();
        const m1 = makemap(c, p, 1, INHERIT_ZERO);
        const m2 = makemap(c, p, 0, INHERIT_SHARE);
        const o = c.call("fork", "ok", () => p.fork());
        if (o.kind !== "ok") return;
        const child = o.value as Process;
        if (!equalBytes(child.readBytes(m1, P), child.readBytes(m2, P)))
          c.problems.push("child: m1 is not zero-filled");
        c.call("child writes 2s into m1", "ok", () => child.writeBytes(m1, fill(P, 2)));
        c.call("child exit", "ok", () => child.exit(0));
        c.call("wait", "ok", () => p.wait());
        c.call("parent fills m2 with 1s", "ok", () => p.writeBytes(m2, fill(P, 1)));
        if (!sameAll(p, m1, P, 1)) c.problems.push("parent: m1 changed");
        c.checks += 2;
      }),
  },
  {
    name: "atf: t_minherit minherit_bad",
    source: "NetBSD tests/lib/libc/sys/t_minherit.c minherit_bad",
    run: (f) =>
      onSystem(f, "minherit(map, P, 666) fails", (c) => {
        const p = c.spawn();
        const m = c.mmap("mmap", p, 0, P, RW, MAP_ANON | MAP_SHARED);
        c.call("minherit(map, P, 666)", "EINVAL", () => p.minherit(m, P, 666));
      }),
  },
  {
    name: "atf: t_msync msync_err",
    source: "NetBSD tests/lib/libc/sys/t_msync.c msync_err (ENOMEM per NetBSD msync(2); the test expects EFAULT)",
    run: (f) =>
      onSystem(f, "bad flags are EINVAL; an unmapped range is ENOMEM", (c) => {
        const p = c.spawn();
        const map = c.mmap("mmap", p, 0, P, RW, ANON);
        c.call("msync(map, P, -1)", "EINVAL", () => p.msync(map, P, -1));
        c.call("msync(map, P, INT_MAX)", "EINVAL", () => p.msync(map, P, INT_MAX));
        c.call("msync(map, P, MS_ASYNC)", "ok", () => p.msync(map, P, MS_ASYNC));
        c.call("munmap", "ok", () => p.munmap(map, P));
        c.call("msync(unmapped, P, MS_SYNC)", "ENOMEM", () => p.msync(map, P, MS_SYNC));
      }),
  },
  {
    name: "mlockall MCL_FUTURE",
    source: "NetBSD regress/sys/uvm/mmap (Jason Thorpe); NetBSD uvm_mmap.c, uvm_map_protect",
    run: (f) =>
      onSystem(f, "MCL_FUTURE wires new mappings, skips PROT_NONE until mprotect raises it; munlockall undoes", (c) => {
        const p = c.spawn();
        const a = c.mmap("mmap RW", p, 0, 2 * P, RW, ANON);
        c.call("mlockall(MCL_CURRENT|MCL_FUTURE)", "ok", () => p.mlockall(MCL_CURRENT | MCL_FUTURE));
        c.call("munlock of a current mapping succeeds (it is locked)", "ok", () => p.munlock(a, P));
        const b = c.mmap("mmap READ under MCL_FUTURE", p, 0, P, PROT_READ, ANON);
        c.call("munlock of the new mapping succeeds (it was locked)", "ok", () => p.munlock(b, P));
        const n = c.mmap("mmap PROT_NONE under MCL_FUTURE", p, 0, P, PROT_NONE, ANON);
        c.call("munlock of the PROT_NONE mapping fails (not locked)", "ENOMEM", () => p.munlock(n, P));
        c.call("mprotect(PROT_READ) wires it", "ok", () => p.mprotect(n, P, PROT_READ));
        c.call("munlock now succeeds", "ok", () => p.munlock(n, P));
        c.call("munlockall", "ok", () => p.munlockall());
        c.call("munlock after munlockall fails", "ENOMEM", () => p.munlock(a + P, P));
        const d = c.mmap("mmap after munlockall", p, 0, P, RW, ANON);
        c.call("new mappings are not locked any more", "ENOMEM", () => p.munlock(d, P));
      }),
  },
];

function makemap(c: Checker, p: Process, v: number, inherit: number): number {
  const m = c.mmap("makemap: mmap(P, RW, MAP_SHARED|MAP_ANON)", p, 0, P, RW, MAP_ANON | MAP_SHARED);
  c.call(`makemap: fill with ${v}`, "ok", () => p.writeBytes(m, fill(P, v)));
  c.call(`makemap: minherit ${inherit}`, "ok", () => p.minherit(m, P, inherit));
  return m;
}

// ------------------------------------------------------------------ files, SysV shm, I/O wiring

const SHARED = MAP_SHARED;

/** A successful mmap of a file descriptor (NaN after recording the problem). */
function mmapFile(
  c: Checker,
  label: string,
  p: Process,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  off = 0,
): number {
  const o = c.call(label, "ok", () => p.mmap(0, len, prot, flags, fd, off));
  return o.kind === "ok" && typeof o.value === "number" ? o.value : Number.NaN;
}

/** A successful open (or -1 after recording the problem). */
function openFd(c: Checker, p: Process, path: string, flags: number): number {
  const o = c.call(`open(${path})`, "ok", () => p.open(path, flags));
  return o.kind === "ok" && typeof o.value === "number" ? o.value : -1;
}

function le32(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
}

const io: Scenario[] = [
  {
    name: "files: MAP_SHARED coherence between two processes and read()/write()",
    source: "POSIX mmap/msync; docs/decisions/0007 (one merged cache on every VM layer)",
    run: (f) =>
      onSystem(
        f,
        "two shared mappings of one file, read(2) and write(2) see the same bytes; msync puts them in the file",
        (c) => {
          c.sys.fs.writeFile("/coherent", new Uint8Array(2 * P));
          const a = c.spawn();
          const b = c.spawn();
          const fa = openFd(c, a, "/coherent", O_RDWR);
          const fb = openFd(c, b, "/coherent", O_RDWR);
          const ma = mmapFile(c, "a: mmap MAP_SHARED", a, 2 * P, RW, SHARED, fa);
          const mb = mmapFile(c, "b: mmap MAP_SHARED", b, 2 * P, RW, SHARED, fb);
          c.call("a stores 0xfeedface at page 1 + 8", "ok", () => a.store32(ma + P + 8, 0xfeedface));
          c.value("b's mapping sees it", 0xfeedface, () => b.load32(mb + P + 8));
          const buf = c.mmap("b: anonymous buffer", b, 0, P, RW, ANON);
          c.value("b: lseek to page 1 + 8", P + 8, () => b.lseek(fb, P + 8, SEEK_SET));
          c.value("b: read(2) 4 bytes", 4, () => b.read(fb, buf, 4));
          c.value("read(2) returns the mapped store", 0xfeedface, () => b.load32(buf));
          c.call("b fills the buffer", "ok", () => b.store32(buf, 0x12345678));
          c.value("b: lseek to 16", 16, () => b.lseek(fb, 16, SEEK_SET));
          c.value("b: write(2) 4 bytes", 4, () => b.write(fb, buf, 4));
          c.value("a's mapping sees the write(2)", 0x12345678, () => a.load32(ma + 16));
          c.value("b's mapping sees the write(2)", 0x12345678, () => b.load32(mb + 16));
          c.call("a: msync(MS_SYNC)", "ok", () => a.msync(ma, 2 * P, MS_SYNC));
          const file = c.sys.fs.readFile("/coherent");
          c.bytes("the file holds the write(2)", le32(0x12345678), () => file.slice(16, 20));
          c.bytes("the file holds the mapped store", le32(0xfeedface), () => file.slice(P + 8, P + 12));
          c.call("a unmaps", "ok", () => a.munmap(ma, 2 * P));
          c.call("b exits", "ok", () => b.exit(0));
          c.bytes("the data outlives every mapping", le32(0xfeedface), () =>
            c.sys.fs.readFile("/coherent").slice(P + 8, P + 12),
          );
        },
      ),
  },
  {
    name: "files: MAP_PRIVATE copy-on-write of a file",
    source: "POSIX mmap MAP_PRIVATE; 4.4BSD vm_mmap needs_copy, UVM amap_copy, FreeBSD shadow objects",
    run: (f) =>
      onSystem(
        f,
        "a private page shows the file until its first write, then a private copy; the same in a forked child",
        (c) => {
          const data = fileBytes(4, 2 * P);
          c.sys.fs.writeFile("/private", data);
          const p = c.spawn();
          const fd = openFd(c, p, "/private", O_RDWR);
          const priv = mmapFile(c, "mmap MAP_PRIVATE", p, 2 * P, RW, MAP_PRIVATE, fd);
          const shared = mmapFile(c, "mmap MAP_SHARED", p, 2 * P, RW, SHARED, fd);
          c.bytes("the private mapping shows the file", data, () => p.readBytes(priv, 2 * P));
          const x = data[0]! ^ 0xff;
          c.call("store to private page 0", "ok", () => p.store8(priv, x));
          c.value("the private page holds the store", x, () => p.load8(priv));
          c.value("the shared mapping does not", data[0], () => p.load8(shared));
          c.bytes("nor does the file", data.slice(0, 16), () => c.sys.fs.readFile("/private").slice(0, 16));
          c.call("store through the shared mapping to page 1", "ok", () => p.store8(shared + P, 0x5a));
          c.value("private page 1 (not yet written) shows it", 0x5a, () => p.load8(priv + P));
          c.call("store through the shared mapping to page 0", "ok", () => p.store8(shared + 1, 0x77));
          c.value("private page 0 (copied) does not", data[1], () => p.load8(priv + 1));
          const buf = c.mmap("anonymous buffer", p, 0, P, RW, ANON);
          c.call("fill the buffer", "ok", () => p.store32(buf, 0x01020304));
          c.value("lseek to page 1 + 4", P + 4, () => p.lseek(fd, P + 4, SEEK_SET));
          c.value("write(2) into the file", 4, () => p.write(fd, buf, 4));
          c.value("private page 1 shows the write(2)", 0x01020304, () => p.load32(priv + P + 4));
          const o = c.call("fork", "ok", () => p.fork());
          if (o.kind !== "ok") return;
          const child = o.value as Process;
          c.value("the child sees the parent's copy of page 0", x, () => child.load8(priv));
          c.value("the child's page 1 still shows the file", 0x5a, () => child.load8(priv + P));
          c.call("the child writes its page 1", "ok", () => child.store8(priv + P, 1));
          c.value("the parent's page 1 still shows the file", 0x5a, () => p.load8(priv + P));
          c.call("store through the shared mapping to page 1 + 2", "ok", () => p.store8(shared + P + 2, 0x33));
          c.value("the parent's uncopied page 1 sees it", 0x33, () => p.load8(priv + P + 2));
          c.value("the child's copy does not", data[P + 2], () => child.load8(priv + P + 2));
          c.call("ftruncate(0)", "ok", () => p.ftruncate(fd, 0));
          c.value("the parent's copied page 0 survives truncation", x, () => p.load8(priv));
          c.bus("the parent's uncopied page 1 is gone: SIGBUS", priv + P, () => p.load8(priv + P));
          c.value("the child's copied page 1 survives", 1, () => child.load8(priv + P));
          c.value("the child's page 0 (a copy of the parent's copy) survives", x, () => child.load8(priv));
          c.call("child exit", "ok", () => child.exit(0));
          c.call("wait", "ok", () => p.wait());
        },
      ),
  },
  {
    name: "files: SIGBUS past EOF; ftruncate shrinks and grows under a mapping",
    source: "POSIX mmap (SIGBUS beyond the object, zero-filled partial page), ftruncate; NetBSD uvm_vnp_setsize",
    run: (f) =>
      onSystem(
        f,
        "pages wholly past EOF are SIGBUS, the partial page reads zero past EOF, truncation zero-fills",
        (c) => {
          const data = fileBytes(5, P + 100);
          c.sys.fs.writeFile("/eof", data);
          const p = c.spawn();
          const fd = openFd(c, p, "/eof", O_RDWR);
          const m = mmapFile(c, "mmap 4 pages of a 1-page + 100-byte file", p, 4 * P, RW, SHARED, fd);
          c.value("last byte of the file", data[P + 99], () => p.load8(m + P + 99));
          c.value("the partial page reads zero past EOF", 0, () => p.load8(m + P + 100));
          c.bus("load from the page after the partial one", m + 2 * P, () => p.load8(m + 2 * P));
          c.bus("store to a page past EOF", m + 3 * P, () => p.store8(m + 3 * P, 1));
          c.bus("a load crossing into a page past EOF faults there", m + 2 * P, () => p.load32(m + 2 * P - 2));
          c.call("ftruncate(3 pages)", "ok", () => p.ftruncate(fd, 3 * P));
          c.value("the grown page reads zero", 0, () => p.load8(m + 2 * P));
          c.call("store 9 into it", "ok", () => p.store8(m + 2 * P, 9));
          c.call("store 0x44 at 200", "ok", () => p.store8(m + 200, 0x44));
          c.call("ftruncate(100)", "ok", () => p.ftruncate(fd, 100));
          c.value("truncation zero-fills the partial page past EOF", 0, () => p.load8(m + 200));
          c.bus("page 1 is gone", m + P, () => p.load8(m + P));
          c.bus("page 2 is gone", m + 2 * P, () => p.load8(m + 2 * P));
          c.call("ftruncate(3 pages) again", "ok", () => p.ftruncate(fd, 3 * P));
          c.value("the old data does not come back", 0, () => p.load8(m + 2 * P));
          c.value("lseek(0)", 0, () => p.lseek(fd, 0, SEEK_SET));
          const buf = c.mmap("buffer", p, 0, P, RW, ANON);
          c.value("read(2) of the first 100 bytes", 100, () => p.read(fd, buf, 100));
          c.bytes("read(2) returns the file's bytes", data.slice(0, 100), () => p.readBytes(buf, 100));
        },
      ),
  },
  {
    name: "files: msync MS_SYNC, MS_ASYNC and MS_INVALIDATE",
    source: "NetBSD msync(2), t_msync; 4.4BSD vm_map_clean; FreeBSD vm_object_sync",
    run: (f) =>
      onSystem(
        f,
        "msync writes a shared mapping back; MS_INVALIDATE leaves the bytes (they were cleaned first)",
        (c) => {
          const data = fileBytes(6, P);
          c.sys.fs.writeFile("/sync", data);
          const p = c.spawn();
          const fd = openFd(c, p, "/sync", O_RDWR);
          const m = mmapFile(c, "mmap MAP_SHARED", p, P, RW, SHARED, fd);
          c.call("store", "ok", () => p.store32(m, 0xabcdef01));
          c.call("msync(MS_SYNC|MS_INVALIDATE)", "ok", () => p.msync(m, P, MS_SYNC | MS_INVALIDATE));
          c.value("the store survives invalidation", 0xabcdef01, () => p.load32(m));
          c.bytes("and is in the file", le32(0xabcdef01), () => c.sys.fs.readFile("/sync").slice(0, 4));
          c.call("store again", "ok", () => p.store32(m + 4, 0x55aa55aa));
          c.call("msync(MS_INVALIDATE) alone", "ok", () => p.msync(m, P, MS_INVALIDATE));
          c.value("the store survives (cleaned before freed)", 0x55aa55aa, () => p.load32(m + 4));
          c.call("msync(MS_ASYNC)", "ok", () => p.msync(m, P, MS_ASYNC));
          c.call("msync(MS_ASYNC|MS_SYNC)", "EINVAL", () => p.msync(m, P, MS_ASYNC | MS_SYNC));
          const q = mmapFile(c, "mmap MAP_PRIVATE", p, P, RW, MAP_PRIVATE, fd);
          c.call("private store", "ok", () => p.store32(q + 8, 7));
          c.call("msync(MS_SYNC) of the private mapping", "ok", () => p.msync(q, P, MS_SYNC));
          c.value("the private copy stays", 7, () => p.load32(q + 8));
          c.bytes("the file does not get it", data.slice(8, 12), () => c.sys.fs.readFile("/sync").slice(8, 12));
        },
      ),
  },
  {
    name: "shm: shared between processes and across fork; IPC_RMID",
    source: "NetBSD sys/kern/sysv_shm.c (shm_find_segment_by_shmid: a removed id is EINVAL); shmctl(2)",
    run: (f) =>
      onSystem(
        f,
        "a segment is shared by shmat and fork; IPC_RMID hides it at once and frees it at the last detach",
        (c) => {
          const a = c.spawn();
          const b = c.spawn();
          const key = 0x1234;
          const g = c.call("a: shmget(IPC_CREAT)", "ok", () => a.shmget(key, 3 * P, IPC_CREAT | 0o600));
          if (g.kind !== "ok") return;
          const id = g.value as number;
          c.value("b finds it by key", id, () => b.shmget(key, 0, 0));
          c.call("IPC_CREAT|IPC_EXCL on the key", "EEXIST", () => b.shmget(key, P, IPC_CREAT | IPC_EXCL | 0o600));
          c.call("a larger size than the segment", "EINVAL", () => b.shmget(key, 4 * P, 0));
          const oa = c.call("a: shmat", "ok", () => a.shmat(id, 0, 0));
          const ob = c.call("b: shmat", "ok", () => b.shmat(id, 0, 0));
          if (oa.kind !== "ok" || ob.kind !== "ok") return;
          const sa = oa.value as number;
          const sb = ob.value as number;
          c.value("fresh segment reads zero", 0, () => b.load32(sb + P));
          c.call("a stores", "ok", () => a.store32(sa + P, 0xcafe));
          c.value("b sees it", 0xcafe, () => b.load32(sb + P));
          const o = c.call("a forks", "ok", () => a.fork());
          if (o.kind !== "ok") return;
          const child = o.value as Process;
          c.call("the child stores", "ok", () => child.store32(sa + 2 * P, 7));
          c.value("b sees the child's store", 7, () => b.load32(sb + 2 * P));
          c.value("IPC_STAT: 3 attaches", 3, () => (a.shmctl(id, IPC_STAT) as { shm_nattch: number }).shm_nattch);
          c.call("the child exits", "ok", () => child.exit(0));
          c.call("wait", "ok", () => a.wait());
          c.value("IPC_STAT: 2 attaches", 2, () => (a.shmctl(id, IPC_STAT) as { shm_nattch: number }).shm_nattch);
          c.call("IPC_RMID", "ok", () => a.shmctl(id, IPC_RMID));
          c.call("the key is gone at once", "ENOENT", () => a.shmget(key, P, 0));
          c.call("the removed id no longer attaches", "EINVAL", () => b.shmat(id, 0, 0));
          c.call("nor answers IPC_STAT", "EINVAL", () => b.shmctl(id, IPC_STAT));
          c.value("the memory stays while attached", 0xcafe, () => a.load32(sa + P));
          c.call("a detaches", "ok", () => a.shmdt(sa));
          c.signal("a's range is unmapped", "SEGV_MAPERR", () => a.load32(sa));
          c.value("b still sees the data", 0xcafe, () => b.load32(sb + P));
          c.call("shmdt at an address with nothing attached", "EINVAL", () => b.shmdt(sb + P));
          c.call("b detaches: the segment is freed", "ok", () => b.shmdt(sb));
          c.call("the id is gone", "EINVAL", () => a.shmctl(id, IPC_STAT));
          const g2 = c.call("a: shmget(IPC_PRIVATE)", "ok", () => a.shmget(0, P, IPC_CREAT | 0o600));
          if (g2.kind !== "ok") return;
          const at = c.call("a: shmat", "ok", () => a.shmat(g2.value as number, 0, 0));
          if (at.kind !== "ok") return;
          // uvm_map / vm_map_find without replacing: only Linux's SHM_REMAP replaces a mapping.
          c.call("shmat at an occupied address", "ENOMEM", () => a.shmat(g2.value as number, at.value as number, 0));
        },
      ),
  },
  {
    name: "wiring: mlock, read() into the locked buffer, munlock",
    source: "NetBSD uvm_vslock / uvm_map_pageable (transient wiring nests with mlock); docs/decisions/0007",
    run: (f) =>
      onSystem(
        f,
        "read(2) wires the buffer transiently; the mlock wiring stays; the wired count returns to the start",
        (c) => {
          const data = fileBytes(8, 2 * P);
          c.sys.fs.writeFile("/wired", data);
          const p = c.spawn();
          const fd = openFd(c, p, "/wired", O_RDONLY);
          const buf = c.mmap("buffer", p, 0, 2 * P, RW, ANON);
          c.call("touch the buffer", "ok", () => p.writeBytes(buf, fill(2 * P, 1)));
          const wired = () => c.sys.stats()["vm.page.wired"] ?? Number.NaN;
          const w0 = wired();
          c.call("mlock the buffer", "ok", () => p.mlock(buf, 2 * P));
          c.value("mlock wired two pages", w0 + 2, wired);
          c.value("read(2) into the locked buffer", 2 * P, () => p.read(fd, buf, 2 * P));
          c.bytes("the buffer holds the file", data, () => p.readBytes(buf, 2 * P));
          c.value("the transient wiring is gone, the mlock one stays", w0 + 2, wired);
          c.value("lseek(0)", 0, () => p.lseek(fd, 0, SEEK_SET));
          c.value("read(2) again", P, () => p.read(fd, buf + P, P));
          c.call("munlock: the pages were still locked", "ok", () => p.munlock(buf, 2 * P));
          c.value("the wired count is back to the start", w0, wired);
          c.call("a second munlock finds nothing locked", "ENOMEM", () => p.munlock(buf, 2 * P));
          c.value("lseek(0)", 0, () => p.lseek(fd, 0, SEEK_SET));
          c.value("read(2) into the unlocked buffer", 2 * P, () => p.read(fd, buf, 2 * P));
          c.value("no wiring left behind", w0, wired);
          c.bytes("the buffer holds the file", data, () => p.readBytes(buf, 2 * P));
        },
      ),
  },
];

// ------------------------------------------------------------------ the catalogue

export const SCENARIOS: readonly Scenario[] = [
  { name: "fork-heavy", source: "vmlab", run: (f) => forkHeavy(f) },
  ...ERRNO_TABLES.map(
    (t): Scenario => ({
      name: `errno: ${t.syscall}`,
      source: "NetBSD manual pages and ATF tests, POSIX, LTP (per case)",
      run: (f) => runTable(f, t),
    }),
  ),
  ...atf,
  ...io,
  {
    name: "stress: fork storm under asynchronous writes of mapped file pages",
    source: "vmlab (seed 000: FreeBSD 1996, pmap_page_protect at bio interrupt time during fork)",
    run: (f) => forkStorm(f),
  },
];

export interface ScenarioOptions {
  /** Only these scenarios (by name). */
  readonly names?: readonly string[];
  /** fork-heavy page count (default 1000). */
  readonly forkHeavyPages?: number;
}

/** Run scenarios on fresh systems from `factory`. Never throws. */
export function runScenarios(factory: SystemFactory, opts: ScenarioOptions = {}): ScenarioReport {
  const t0 = hostMs();
  const results: ScenarioResult[] = [];
  for (const s of SCENARIOS) {
    if (opts.names !== undefined && !opts.names.includes(s.name)) continue;
    const t = hostMs();
    let r: Omit<ScenarioResult, "name" | "seconds">;
    try {
      r =
        s.name === "fork-heavy" && opts.forkHeavyPages !== undefined
          ? forkHeavy(factory, { pages: opts.forkHeavyPages })
          : s.run(factory);
    } catch (e) {
      const what = `could not run: ${describeError(e)}`;
      r = { passed: false, detail: what, failures: [what] };
    }
    results.push({ name: s.name, ...r, seconds: (hostMs() - t) / 1000 });
  }
  const passed = results.filter((r) => r.passed).length;
  return { passed, failed: results.length - passed, seconds: (hostMs() - t0) / 1000, results };
}
