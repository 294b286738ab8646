/**
 * Model-based commands (fast-check `fc.commands` / `fc.modelRun`): each one runs a system call or
 * a user access on the real system and on the reference model, compares the outcome (value, errno
 * by name, or signal), and audits every layer afterwards.
 *
 * Commands carry abstract parameters (which live process, which of its regions, which page), so a
 * shrunk sequence stays meaningful; the concrete calls of a run are kept in a transcript that goes
 * into the failure message.
 */
import {
  type ErrnoName,
  INHERIT_COPY,
  INHERIT_DONATE_COPY,
  MADV_FREE,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_WIRED,
  MS_INVALIDATE,
  O_RDWR,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  RLIM_INFINITY,
  RLIMIT_MEMLOCK,
} from "@vmlab/core";
import type { Process, ProcessApi, System } from "@vmlab/kernel";
import fc from "fast-check";
import { FileView, type PageContent, PrivateView } from "./content.js";
import {
  type AccessExpectation,
  type AccessKind,
  BsdModel,
  ModelViolation,
  protName,
  type SysResult,
} from "./model.js";

const P = PAGE_SIZE;

/** A range an mmap (or shmat) created, remembered so later commands can aim at it. */
export interface Region {
  readonly start: number;
  readonly pages: number;
  /** What was mapped there (anonymous memory when absent). */
  readonly kind?: "anon" | "file" | "shm";
}

/** The fast-check "model": the reference model plus what the commands need to pick targets. */
export interface World {
  readonly model: BsdModel;
  /** Regions by pid, newest last (inherited by a forked child). */
  readonly regions: Map<number, Region[]>;
  /** A page-aligned window of the user range used for MAP_FIXED and wild addresses. */
  readonly window: number;
  readonly cpus: number;
  /** The first process: never exits, so there is always someone to run commands. */
  readonly root: number;
  /** The files made at setup (paths) and the descriptor every process has for each (O_RDWR). */
  readonly files: readonly string[];
  readonly fds: readonly number[];
  /** SysV segment ids shmget returned, newest last (removed ones stay, to aim stale ids). */
  readonly segs: number[];
  /**
   * Memory pressure is held (PressureCommand). A new wiring may then fail for want of pageable
   * memory — an outcome that depends on what the kernel can page out, which the model does not
   * track — so meanwhile, and only then, a call the model says succeeds may instead answer the
   * errno the BSDs give for it, and the model undoes what it wired as the kernel does (decision
   * 0011, `wiringShortage`): mmap with MAP_WIRED or under MCL_FUTURE ENOMEM (unmapped), mlock
   * ENOMEM and mlockall(MCL_CURRENT) EAGAIN (nothing newly locked), mprotect raising a PROT_NONE
   * page under MCL_FUTURE ENOMEM (protection kept, wiring probed), read(2)/write(2) with bytes to
   * move ENOMEM (nothing moved), and fork ENOMEM (no child).
   */
  pressure: boolean;
}

/** The fast-check "real system". */
export interface Real {
  readonly sys: System;
  readonly procs: Map<number, Process>;
  /** A thread on CPU 1 per process, created on first use (TLB shootdowns get exercised). */
  readonly threads: Map<number, ProcessApi>;
  readonly transcript: string[];
  /** Commands run so far in this run. */
  executed: number;
}

export type VmCommand = fc.Command<World, Real>;

const MAX_PROCS = 6;
const MAX_REGIONS = 8;
export const WINDOW_PAGES = 64;
const TRANSCRIPT_TAIL = 40;

/** A disagreement between the implementation and the model. */
export class Mismatch extends Error {
  override readonly name = "Mismatch";
}

export interface SetupFile {
  readonly path: string;
  readonly size: number;
}

export interface SetupOptions {
  /**
   * Create files (true: `SETUP_FILES`) with `fileBytes` contents and open each in the first
   * process (O_RDWR); every process forked later has the same descriptors.
   */
  readonly files?: boolean | readonly SetupFile[];
}

/**
 * The files a run with files starts with: a whole number of pages, a partial last page, and a
 * file shorter than a page (so EOF falls inside the first page).
 */
export const SETUP_FILES: readonly SetupFile[] = [
  { path: "/f0", size: 3 * P },
  { path: "/f1", size: 2 * P + 100 },
  { path: "/f2", size: 700 },
];

/** Deterministic file contents: distinct per file and per byte. */
export function fileBytes(index: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 12) * 31 + index * 101 + 1) & 0xff;
  return b;
}

/** Build the world and the real system for one run from a freshly made system. */
export function setup(sys: System, opts: SetupOptions = {}): { model: World; real: Real } {
  const { userMin, userMax } = sys.layout;
  const nx = sys.config.machine !== "i386";
  const model = new BsdModel({ userMin, userMax, nx });
  const root = sys.spawn();
  // An explicit, effectively unlimited RLIMIT_MEMLOCK, so the model knows it.
  root.setrlimit(RLIMIT_MEMLOCK, RLIM_INFINITY);
  model.spawn(root.pid);
  const window = windowFor(userMin, userMax, sys.config.machine);
  const files: string[] = [];
  const fds: number[] = [];
  const transcript: string[] = [];
  if (opts.files) {
    const list = opts.files === true ? SETUP_FILES : opts.files;
    list.forEach((f, i) => {
      const bytes = fileBytes(i, f.size);
      sys.fs.writeFile(f.path, bytes);
      model.createFile(f.path, bytes);
      const fd = root.open(f.path, O_RDWR);
      const exp = model.open(root.pid, f.path, O_RDWR);
      if (!exp.ok || exp.value !== fd)
        throw new Mismatch(`setup: open(${f.path}) returned fd ${fd}, expected ${showExpected(exp)}`);
      files.push(f.path);
      fds.push(fd);
      transcript.push(`setup: ${f.path} (${f.size} bytes) open as fd ${fd}`);
    });
  }
  return {
    model: {
      model,
      regions: new Map([[root.pid, []]]),
      window,
      cpus: sys.config.cpus,
      root: root.pid,
      files,
      fds,
      segs: [],
      pressure: false,
    },
    real: { sys, procs: new Map([[root.pid, root]]), threads: new Map(), transcript, executed: 0 },
  };
}

/**
 * The wild/MAP_FIXED window straddles a page-table boundary (so mappings there need two
 * page-table pages): a 4 MiB page-directory boundary on i386 (also a 2 MiB one for PAE), a 512 GiB
 * PML4 boundary on amd64 where the user range reaches that far.
 */
export function windowFor(userMin: number, userMax: number, machine: string): number {
  const half = (WINDOW_PAGES / 2) * P;
  for (const boundary of machine === "amd64" ? [2 ** 39, 2 ** 30, 2 ** 22] : [2 ** 22]) {
    const centre = Math.ceil((userMin + (userMax - userMin) / 4) / boundary) * boundary;
    if (centre - half >= userMin && centre + half <= userMax) return centre - half;
  }
  return userMin + Math.floor((userMax - userMin) / 4 / P) * P;
}

// ------------------------------------------------------------------ observing the real system

export type Observed<T> =
  | { readonly kind: "ok"; readonly value: T }
  | { readonly kind: "errno"; readonly code: string }
  | { readonly kind: "signal"; readonly signal: string; readonly code: string; readonly addr: number };

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  signal?: unknown;
  addr?: unknown;
}

/** Run one call; SyscallError and SignalError become observations, anything else propagates. */
export function observe<T>(f: () => T): Observed<T> {
  try {
    return { kind: "ok", value: f() };
  } catch (e) {
    const x = e as ErrorLike;
    if (x !== null && typeof x === "object" && x.name === "SyscallError" && typeof x.code === "string") {
      return { kind: "errno", code: x.code };
    }
    if (x !== null && typeof x === "object" && x.name === "SignalError" && typeof x.signal === "string") {
      return { kind: "signal", signal: x.signal, code: String(x.code), addr: Number(x.addr) };
    }
    throw e;
  }
}

export function hex(x: number): string {
  return Number.isFinite(x) && x >= 0 ? `0x${x.toString(16)}` : String(x);
}

export function showObserved(o: Observed<unknown>): string {
  switch (o.kind) {
    case "ok":
      return typeof o.value === "number" ? `ok ${hex(o.value)}` : "ok";
    case "errno":
      return o.code;
    case "signal":
      return `${o.signal}/${o.code} at ${hex(o.addr)}`;
  }
}

export function showExpected(r: SysResult<unknown>): string {
  return r.ok ? "success" : `${r.errno} (${r.why})`;
}

function showAccess(e: AccessExpectation): string {
  const parts: string[] = [];
  if (e.canSucceed) {
    const b = e.bytes.map((x) => (x === null ? "??" : x.toString(16).padStart(2, "0"))).join(" ");
    parts.push(`success [${b}]`);
  }
  for (const f of e.faults) parts.push(`${f.signal}/${f.code} at ${hex(f.addr)} (${f.why})`);
  return parts.join(" or ");
}

// ------------------------------------------------------------------ the command base

/** Which live process `index` designates (creation order, wrapping). */
export function pickPid(w: World, index: number): number {
  const live = w.model.live();
  return live[index % live.length]!.pid;
}

export function api(w: World, r: Real, pid: number, via: number): ProcessApi {
  const proc = r.procs.get(pid)!;
  if (via === 0 || w.cpus < 2) return proc;
  let t = r.threads.get(pid);
  if (t === undefined) {
    t = proc.newThread({ cpu: 1 });
    r.threads.set(pid, t);
  }
  return t;
}

/** The command base: runs, audits, decorates failures with the model and the transcript. */
export abstract class Base implements VmCommand {
  /** The call in the transcript, filled in by `run`. */
  protected call = "";

  check(_w: Readonly<World>): boolean {
    return true;
  }

  abstract toString(): string;

  protected abstract exec(w: World, r: Real): void;

  run(w: World, r: Real): void {
    this.call = this.toString();
    r.executed++;
    try {
      this.exec(w, r);
    } catch (e) {
      throw this.decorate(w, r, e);
    }
    try {
      r.sys.audit();
    } catch (e) {
      throw this.decorate(w, r, e, "audit after the command");
    }
  }

  /** Log a concrete call and its outcome. */
  note(line: string): void {
    this.call = line;
  }

  record(r: Real, line: string): void {
    r.transcript.push(line);
  }

  private decorate(w: World, r: Real, e: unknown, where?: string): Error {
    const base = e instanceof Mismatch ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const lines = [`${where ? `${where}: ` : ""}${base}`, `  command: ${this.toString()}`, `  call: ${this.call}`];
    for (const p of w.model.live()) lines.push(`  model ${w.model.describe(p.pid)}`);
    const tail = r.transcript.slice(-TRANSCRIPT_TAIL);
    lines.push(`  transcript (last ${tail.length} of ${r.transcript.length} calls):`);
    for (const t of tail) lines.push(`    ${t}`);
    const out = new Mismatch(lines.join("\n"));
    // fast-check prints the stack: keep it to the message, plus where an unexpected error came from.
    const foreign = e instanceof Error && !(e instanceof Mismatch) && !(e instanceof ModelViolation);
    out.stack = foreign && e.stack !== undefined ? `${out.message}\n  original stack:\n${e.stack}` : out.message;
    return out;
  }

  /**
   * Whether an outcome is a wiring that failed for want of memory while pressure is held (decision
   * 0011): only when pressure is held, the model expected success, the kernel answered exactly
   * `errno`, and the call had pages to wire that were not wired before (`before`, the model's
   * wired pages then). Otherwise undefined, and the outcome is judged as usual.
   */
  protected wiringShortage(
    w: World,
    pid: number,
    before: ReadonlySet<number>,
    exp: SysResult<unknown>,
    got: Observed<unknown>,
    errno: ErrnoName,
  ): number[] | undefined {
    if (!w.pressure || !exp.ok || got.kind !== "errno" || got.code !== errno) return undefined;
    const fresh = [...w.model.wiredVpns(pid)].filter((v) => !before.has(v));
    return fresh.length > 0 ? fresh : undefined;
  }

  /** Compare a system call's outcome with the model's verdict. */
  expectSys(r: Real, call: string, exp: SysResult<unknown>, got: Observed<unknown>): void {
    this.note(call);
    this.record(r, `${call} → ${showObserved(got)}`);
    const agree = exp.ok ? got.kind === "ok" : got.kind === "errno" && got.code === exp.errno;
    if (!agree) throw new Mismatch(`${call}: expected ${showExpected(exp)}, got ${showObserved(got)}`);
  }
}

// ------------------------------------------------------------------ targets

/** An abstract range: a region of the process (or the wild window) and pages relative to it. */
export interface Target {
  readonly region: number;
  readonly page: number;
  readonly pages: number;
  /** 0: page-exact; 1: the address is off by `slop` bytes; 2: the length is off by `slop` bytes. */
  readonly shape: 0 | 1 | 2;
  readonly slop: number;
}

export const targetArb: fc.Arbitrary<Target> = fc.record({
  region: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 0, 1) }, { weight: 1, arbitrary: fc.nat({ max: 15 }) }),
  page: fc.integer({ min: -1, max: 8 }),
  pages: fc.integer({ min: 0, max: 6 }),
  shape: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 0, 1, 2),
  slop: fc.integer({ min: -100, max: 100 }),
});

function showTarget(t: Target): string {
  const shape =
    t.shape === 0
      ? ""
      : t.shape === 1
        ? ` addr${t.slop >= 0 ? "+" : ""}${t.slop}`
        : ` len${t.slop >= 0 ? "+" : ""}${t.slop}`;
  return `r${t.region}${t.page >= 0 ? "+" : ""}${t.page}p×${t.pages}${shape}`;
}

/**
 * The region `index` designates: 0 the newest, 1 the oldest, 2 the second newest, 3 the second
 * oldest, ...; past twice the number of regions, a slot of the wild window.
 */
export function regionOf(w: World, pid: number, index: number): Region {
  const regions = w.regions.get(pid) ?? [];
  const n = regions.length;
  if (n === 0 || index >= 2 * n) return { start: w.window + (index % 8) * 8 * P, pages: 8 };
  const k = Math.floor(index / 2) % n;
  return regions[index % 2 === 0 ? n - 1 - k : k]!;
}

export function resolve(w: World, pid: number, t: Target): { addr: number; len: number } {
  const reg = regionOf(w, pid, t.region);
  let addr = reg.start + t.page * P;
  let len = t.pages * P;
  if (t.shape === 1) addr += t.slop;
  else if (t.shape === 2) len = Math.max(0, len + t.slop);
  return { addr, len };
}

export function remember(w: World, pid: number, start: number, pages: number, kind?: Region["kind"]): void {
  const list = w.regions.get(pid) ?? [];
  list.push(kind === undefined ? { start, pages } : { start, pages, kind });
  if (list.length > MAX_REGIONS) list.shift();
  w.regions.set(pid, list);
}

/** A page whose bytes come from a file (shared, or private and possibly not yet copied). */
export function isFileContent(c: PageContent): boolean {
  return c instanceof FileView || c instanceof PrivateView;
}

/** The contents of the live pages a range touches (page-rounded; empty for absurd ranges). */
export function contentsIn(w: Readonly<World>, pid: number, addr: number, len: number): PageContent[] {
  if (!Number.isFinite(addr) || !Number.isFinite(len) || len < 0 || len > 64 * P) return [];
  const out: PageContent[] = [];
  const pages = w.model.proc(pid).pages;
  for (let v = Math.floor(addr / P); v * P < addr + Math.max(len, 1); v++) {
    const pg = pages.get(v);
    if (pg !== undefined) out.push(pg.cell);
  }
  return out;
}

// ------------------------------------------------------------------ mmap

export type Placement = "any" | "hint-region" | "hint-wild" | "hint-unaligned" | "fixed-region" | "fixed-window";

export interface MmapArgs {
  readonly p: number;
  readonly via: number;
  readonly pages: number;
  readonly prot: number;
  readonly shared: boolean;
  readonly wired: boolean;
  readonly placement: Placement;
  readonly region: number;
  readonly page: number;
}

export class MmapCommand extends Base {
  constructor(readonly a: MmapArgs) {
    super();
  }

  toString(): string {
    const a = this.a;
    return `mmap(p${a.p}${a.via ? "/t1" : ""}, ${a.pages}p, ${protName(a.prot)}, ${a.shared ? "SHARED" : "PRIVATE"}${a.wired ? "|WIRED" : ""}, ${a.placement} r${a.region}+${a.page})`;
  }

  protected exec(w: World, r: Real): void {
    const a = this.a;
    const pid = pickPid(w, a.p);
    const reg = regionOf(w, pid, a.region);
    let addr = 0;
    let flags = MAP_ANON | (a.shared ? MAP_SHARED : MAP_PRIVATE) | (a.wired ? MAP_WIRED : 0);
    switch (a.placement) {
      case "any":
        break;
      case "hint-region":
        addr = reg.start + a.page * P;
        break;
      case "hint-wild":
        addr = w.window + (a.region * 8 + a.page) * P;
        break;
      case "hint-unaligned":
        addr = reg.start + a.page * P + 123;
        break;
      case "fixed-region":
        addr = reg.start + a.page * P;
        flags |= MAP_FIXED;
        break;
      case "fixed-window":
        addr = w.window + ((a.region * 8 + a.page + WINDOW_PAGES) % WINDOW_PAGES) * P;
        flags |= MAP_FIXED;
        break;
    }
    const len = a.pages * P;
    const call = `[${pid}] mmap(${hex(addr)}, ${hex(len)}, ${protName(a.prot)}, ${hex(flags)}, -1, 0)`;
    const got = observe(() => api(w, r, pid, a.via).mmap(addr, len, a.prot, flags, -1, 0));
    let exp: SysResult<number>;
    try {
      exp = w.model.mmap(pid, addr, len, a.prot, flags, -1, 0, got.kind === "ok" ? got.value : undefined);
    } catch (e) {
      this.record(r, `${call} → ${showObserved(got)}`);
      throw e;
    }
    // Decision 0011: a new wiring (MAP_WIRED, or any mapping under MCL_FUTURE) may find no
    // memory while pressure is held: ENOMEM, and the kernel unmapped what it could not wire
    // (NetBSD uvm_mmap returns uvm_map_pageable's error after uvm_unmap); so does the model.
    const wiring =
      ((flags & MAP_WIRED) !== 0 || w.model.running(pid).wireFuture) &&
      (a.prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0;
    if (exp.ok && wiring && w.pressure && got.kind === "errno" && got.code === "ENOMEM") {
      this.record(r, `${call} → ENOMEM under memory pressure (accepted: no memory left to wire; unmapped)`);
      // A MAP_FIXED mapping the model made goes again; a kernel-chosen one it never placed (NaN).
      if (Number.isFinite(exp.value)) w.model.munmap(pid, exp.value, len);
      return;
    }
    this.expectSys(r, call, exp, got);
    if (exp.ok && got.kind === "ok") {
      if (got.value !== exp.value) {
        throw new Mismatch(`${call}: MAP_FIXED mapping returned ${hex(got.value)}, expected ${hex(exp.value)}`);
      }
      remember(w, pid, got.value, a.pages);
    }
  }
}

// ------------------------------------------------------------------ range system calls

export type RangeCall = "munmap" | "mprotect" | "mlock" | "munlock" | "minherit" | "msync" | "madvise";

export class RangeCommand extends Base {
  constructor(
    readonly callName: RangeCall,
    readonly p: number,
    readonly via: number,
    readonly t: Target,
    readonly arg: number,
  ) {
    super();
  }

  /**
   * Tight preconditions where file pages are in the range and the BSDs part ways (README
   * "Semantics decisions"): no mlock/munlock of file pages, no MADV_FREE of them, no
   * MS_INVALIDATE of private file pages already copied, no INHERIT_COPY of MAP_SHARED file pages.
   */
  override check(w: Readonly<World>): boolean {
    const pid = pickPid(w as World, this.p);
    const { addr, len } = resolve(w as World, pid, this.t);
    const touched = contentsIn(w, pid, addr, len);
    if (touched.length === 0) return true;
    switch (this.callName) {
      case "mlock":
      case "munlock":
        return !touched.some(isFileContent);
      case "madvise":
        return this.arg !== MADV_FREE || !touched.some(isFileContent);
      case "msync":
        return (this.arg & MS_INVALIDATE) === 0 || !touched.some((c) => c instanceof PrivateView && c.copy !== null);
      case "minherit":
        return (
          (this.arg !== INHERIT_COPY && this.arg !== INHERIT_DONATE_COPY) || !touched.some((c) => c instanceof FileView)
        );
      default:
        return true;
    }
  }

  toString(): string {
    const extra =
      this.callName === "munmap" || this.callName === "mlock" || this.callName === "munlock"
        ? ""
        : `, ${this.showArg()}`;
    return `${this.callName}(p${this.p}${this.via ? "/t1" : ""}, ${showTarget(this.t)}${extra})`;
  }

  private showArg(): string {
    return this.callName === "mprotect" ? protName(this.arg) : hex(this.arg);
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const { addr, len } = resolve(w, pid, this.t);
    const m = w.model;
    const u = api(w, r, pid, this.via);
    const x = this.arg;
    const before = m.wiredVpns(pid);
    let exp: SysResult<unknown>;
    let got: Observed<unknown>;
    switch (this.callName) {
      case "munmap":
        got = observe(() => u.munmap(addr, len));
        exp = m.munmap(pid, addr, len);
        break;
      case "mprotect":
        got = observe(() => u.mprotect(addr, len, x));
        exp = m.mprotect(pid, addr, len, x);
        break;
      case "mlock":
        got = observe(() => u.mlock(addr, len));
        exp = m.mlock(pid, addr, len);
        break;
      case "munlock":
        got = observe(() => u.munlock(addr, len));
        exp = m.munlock(pid, addr, len);
        break;
      case "minherit":
        got = observe(() => u.minherit(addr, len, x));
        exp = m.minherit(pid, addr, len, x);
        break;
      case "msync":
        got = observe(() => u.msync(addr, len, x));
        exp = m.msync(pid, addr, len, x);
        break;
      case "madvise":
        got = observe(() => u.madvise(addr, len, x));
        exp = m.madvise(pid, addr, len, x);
        break;
    }
    const args =
      this.callName === "munmap" || this.callName === "mlock" || this.callName === "munlock"
        ? ""
        : `, ${this.showArg()}`;
    const call = `[${pid}] ${this.callName}(${hex(addr)}, ${hex(len)}${args})`;
    if (this.callName === "mlock" || this.callName === "mprotect") {
      const fresh = this.wiringShortage(w, pid, before, exp, got, "ENOMEM");
      if (fresh !== undefined) {
        this.note(call);
        if (this.callName === "mlock") {
          // uvm_map_pageable unwound: nothing this call wired stays wired (mlock(2) "the locked
          // status of all pages in the range remains unchanged").
          this.record(r, `${call} → ENOMEM under memory pressure (accepted: ${fresh.length} pages left unlocked)`);
        } else {
          this.probeProtectWiring(r, u, fresh, call);
        }
        m.undoWiring(pid, before);
        return;
      }
    }
    this.expectSys(r, call, exp, got);
  }

  /**
   * mprotect raised PROT_NONE pages under MCL_FUTURE and could not wire them all: NetBSD's
   * uvm_map_protect wires entry by entry, keeps going after a failure and answers ENOMEM, so each
   * entry is wired or not depending on the memory it found, and entries the model does not know.
   * So ask the kernel, page by page, with munlock(2): success means that page was wired, ENOMEM
   * that it was not — and afterwards neither side has it wired. At least one page must have been
   * left unwired (the entry whose wiring failed was unwound); anything else is a mismatch.
   */
  private probeProtectWiring(r: Real, u: ProcessApi, fresh: readonly number[], call: string): void {
    let wired = 0;
    let unwired = 0;
    for (const v of fresh) {
      const got = observe(() => u.munlock(v * P, P));
      if (got.kind === "ok") wired++;
      else if (got.kind === "errno" && got.code === "ENOMEM") unwired++;
      else throw new Mismatch(`${call} → ENOMEM, then probing munlock(${hex(v * P)}, ${hex(P)}): ${showObserved(got)}`);
    }
    this.record(
      r,
      `${call} → ENOMEM under memory pressure (accepted: protection kept; munlock probes found ${wired} of ${fresh.length} raised pages wired, now unlocked)`,
    );
    if (unwired === 0) {
      throw new Mismatch(
        `${call}: ENOMEM, yet every page it raised from PROT_NONE is wired: the failed wiring was not undone`,
      );
    }
  }
}

export class MlockallCommand extends Base {
  constructor(
    readonly p: number,
    readonly via: number,
    readonly flags: number | "munlockall",
  ) {
    super();
  }

  /** mlockall would wire file pages (not modelled past EOF): only for processes without any. */
  override check(w: Readonly<World>): boolean {
    if (this.flags === "munlockall") return true;
    const pid = pickPid(w as World, this.p);
    for (const pg of w.model.proc(pid).pages.values()) if (isFileContent(pg.cell)) return false;
    return true;
  }

  toString(): string {
    return this.flags === "munlockall" ? `munlockall(p${this.p})` : `mlockall(p${this.p}, ${this.flags})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const u = api(w, r, pid, this.via);
    const f = this.flags;
    if (f === "munlockall") {
      this.expectSys(
        r,
        `[${pid}] munlockall()`,
        w.model.munlockall(pid),
        observe(() => u.munlockall()),
      );
    } else {
      const before = w.model.wiredVpns(pid);
      const got = observe(() => u.mlockall(f));
      const exp = w.model.mlockall(pid, f);
      const call = `[${pid}] mlockall(${f})`;
      const fresh = this.wiringShortage(w, pid, before, exp, got, "EAGAIN");
      if (fresh !== undefined) {
        // uvm_map_pageable_all unwound what it wired; MCL_FUTURE, recorded first, stays.
        this.note(call);
        this.record(r, `${call} → EAGAIN under memory pressure (accepted: ${fresh.length} pages left unlocked)`);
        w.model.undoWiring(pid, before);
        return;
      }
      this.expectSys(r, call, exp, got);
    }
  }
}

// ------------------------------------------------------------------ processes

export class ForkCommand extends Base {
  constructor(readonly p: number) {
    super();
  }

  override check(w: Readonly<World>): boolean {
    return w.model.live().length < MAX_PROCS;
  }

  toString(): string {
    return `fork(p${this.p})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const got = observe(() => r.procs.get(pid)!.fork());
    if (got.kind === "errno" && got.code === "ENOMEM" && w.pressure) {
      // Decision 0011: the child's memory (copies of wired regions, its u-area and page tables —
      // wired kernel memory) is waited for, and with pressure held nothing may be left to page
      // out, wired user memory or not: ENOMEM, no child (NetBSD fork1 when uvm_uarea_alloc
      // fails, FreeBSD fork1 when vmspace_fork returns NULL). The parent's memory is as it was;
      // later commands check it.
      this.note(`[${pid}] fork()`);
      this.record(r, `[${pid}] fork() → ENOMEM under memory pressure (accepted: no memory for the child)`);
      return;
    }
    this.expectSys(r, `[${pid}] fork()`, { ok: true, value: undefined }, got);
    if (got.kind !== "ok") return;
    const child = got.value;
    this.record(r, `  child pid ${child.pid}`);
    w.model.fork(pid, child.pid);
    r.procs.set(child.pid, child);
    w.regions.set(child.pid, [...(w.regions.get(pid) ?? [])]);
  }
}

/** exit(2) of a non-root process, then wait(2) by its parent if the parent is alive. */
export class ExitCommand extends Base {
  constructor(
    readonly p: number,
    readonly status: number,
  ) {
    super();
  }

  override check(w: Readonly<World>): boolean {
    return w.model.live().length > 1;
  }

  toString(): string {
    return `exit(p${this.p}, ${this.status})`;
  }

  protected exec(w: World, r: Real): void {
    const others = w.model.live().filter((p) => p.pid !== w.root);
    const victim = others[this.p % others.length]!;
    const pid = victim.pid;
    const parent = victim.ppid;
    const got = observe(() => r.procs.get(pid)!.exit(this.status));
    this.expectSys(r, `[${pid}] exit(${this.status})`, { ok: true, value: undefined }, got);
    w.model.exit(pid, this.status);
    r.threads.delete(pid);
    w.regions.delete(pid);
    const pp = r.procs.get(parent);
    if (pp === undefined || w.model.proc(parent).state !== "running") return;
    const exp = w.model.waitCandidates(parent);
    const waited = observe(() => pp.wait());
    this.expectSys(r, `[${parent}] wait()`, exp, waited);
    if (waited.kind !== "ok") return;
    const status = w.model.reap(parent, waited.value.pid);
    if (waited.value.status !== status) {
      throw new Mismatch(`wait returned status ${waited.value.status} for ${waited.value.pid}, expected ${status}`);
    }
  }
}

// ------------------------------------------------------------------ user accesses

export type AccessOp =
  | "load8"
  | "load16"
  | "load32"
  | "store8"
  | "store16"
  | "store32"
  | "exec"
  | "readBytes"
  | "writeBytes";

export interface AccessArgs {
  readonly p: number;
  readonly via: number;
  readonly op: AccessOp;
  readonly region: number;
  /** Page within the region (one past its end reaches the neighbour), or within the wild window. */
  readonly page: number;
  /** Byte within the page: a few hot slots, so loads meet earlier stores. */
  readonly slot: number;
  readonly value: number;
  readonly wild: boolean;
}

function sizeOf(op: AccessOp, value: number): number {
  switch (op) {
    case "load8":
    case "store8":
    case "exec":
      return 1;
    case "load16":
    case "store16":
      return 2;
    case "load32":
    case "store32":
      return 4;
    default:
      return 1 + (value % 64);
  }
}

/** The bytes a store writes: the scalar little-endian, or a pattern seeded by the value. */
function bytesOf(op: AccessOp, value: number, size: number): number[] {
  const out: number[] = [];
  let v = value;
  for (let i = 0; i < size; i++) {
    if (op === "writeBytes") {
      out.push((value + i * 0x3d) % 256);
    } else {
      out.push(v % 256);
      v = Math.floor(v / 256);
    }
  }
  return out;
}

export class AccessCommand extends Base {
  constructor(readonly a: AccessArgs) {
    super();
  }

  toString(): string {
    const a = this.a;
    const where = `${a.wild ? "wild" : `r${a.region}`}+${a.page}p+${hex(a.slot)}`;
    return `${a.op}(p${a.p}${a.via ? "/t1" : ""}, ${where}${a.op.startsWith("store") || a.op === "writeBytes" ? `, ${hex(a.value)}` : ""})`;
  }

  protected exec(w: World, r: Real): void {
    const a = this.a;
    const pid = pickPid(w, a.p);
    let va: number;
    if (a.wild) {
      va = w.window + ((a.region * 8 + a.page) % WINDOW_PAGES) * P + a.slot;
    } else {
      const reg = regionOf(w, pid, a.region);
      va = reg.start + (a.page % (reg.pages + 1)) * P + a.slot;
    }
    // Slots near the end of a page make accesses that cross into the next one: a scalar access
    // is one instruction (all or nothing); writeBytes is a loop of byte stores.
    const u = api(w, r, pid, a.via);
    userAccess(w, r, u, pid, a.op, va, a.value, (call) => this.note(call));
  }
}

/**
 * One user access through `u` (a process or one of its threads), judged against the model, which
 * then applies what a store wrote. Throws Mismatch on a disagreement.
 */
export function userAccess(
  w: World,
  r: Real,
  u: ProcessApi,
  pid: number,
  op: AccessOp,
  va: number,
  value: number,
  note: (call: string) => void,
): void {
  const size = sizeOf(op, value);
  const write = op.startsWith("store") || op === "writeBytes";
  const kind: AccessKind = write ? "write" : op === "exec" ? "exec" : "read";
  const exp = w.model.access(pid, va, size, kind);
  const data = write ? bytesOf(op, value, size) : [];
  const call = `[${pid}] ${op}(${hex(va)}${write ? `, [${data.map((b) => b.toString(16)).join(" ")}]` : ""})`;
  let got: Observed<number | Uint8Array | undefined>;
  switch (op) {
    case "load8":
      got = observe(() => u.load8(va));
      break;
    case "load16":
      got = observe(() => u.load16(va));
      break;
    case "load32":
      got = observe(() => u.load32(va));
      break;
    case "exec":
      got = observe(() => u.exec(va));
      break;
    case "readBytes":
      got = observe(() => u.readBytes(va, size));
      break;
    case "store8":
      got = observe(() => void u.store8(va, data[0]!));
      break;
    case "store16":
      got = observe(() => void u.store16(va, data[0]! + data[1]! * 256));
      break;
    case "store32":
      got = observe(() => void u.store32(va, data[0]! + data[1]! * 0x100 + data[2]! * 0x10000 + data[3]! * 0x1000000));
      break;
    case "writeBytes":
      got = observe(() => void u.writeBytes(va, Uint8Array.from(data)));
      break;
  }
  note(call);
  r.transcript.push(`${call} → ${showGot(got)}`);
  const problem = judgeAccess(exp, got);
  if (problem !== undefined)
    throw new Mismatch(`${call}: expected ${showAccess(exp)}, got ${showGot(got)}: ${problem}`);
  if (write && got.kind === "ok") w.model.write(pid, va, data);
  // A byte-string store that faulted part way has written the bytes before the faulting one.
  if (op === "writeBytes" && got.kind === "signal" && got.addr > va)
    w.model.write(pid, va, data.slice(0, got.addr - va));
}

function showGot(got: Observed<number | Uint8Array | undefined>): string {
  if (got.kind === "ok" && got.value instanceof Uint8Array) {
    return `ok [${[...got.value].map((b) => b.toString(16).padStart(2, "0")).join(" ")}]`;
  }
  return showObserved(got);
}

/** Why an observed access is not one the model allows (undefined when it is). */
export function judgeAccess(
  exp: AccessExpectation,
  got: Observed<number | Uint8Array | undefined> | { kind: "ok"; value: number | Uint8Array | undefined },
): string | undefined {
  if (got.kind === "errno") return "a user access cannot fail with an errno";
  if (got.kind === "signal") {
    const match = exp.faults.some((f) => f.signal === got.signal && f.code === got.code && f.addr === got.addr);
    return match ? undefined : "wrong or unexpected signal";
  }
  if (!exp.canSucceed) return "the access should have faulted";
  const v = got.value;
  if (v === undefined) return undefined;
  if (v instanceof Uint8Array) {
    if (v.length !== exp.bytes.length) return `read ${v.length} bytes, expected ${exp.bytes.length}`;
    for (let i = 0; i < v.length; i++) {
      const e = exp.bytes[i];
      if (e !== null && e !== undefined && e !== v[i]) return `byte ${i} differs`;
    }
    return undefined;
  }
  let rest = v;
  for (let i = 0; i < exp.bytes.length; i++) {
    const b = rest % 256;
    rest = Math.floor(rest / 256);
    const e = exp.bytes[i];
    if (e !== null && e !== undefined && e !== b) return `byte ${i} differs`;
  }
  return rest === 0 ? undefined : "value wider than the access";
}

/**
 * Read back every readable page of a process and compare it with the model: a content bug shows
 * up wherever it is, not only where a later load happens to look.
 */
export class VerifyCommand extends Base {
  constructor(
    readonly p: number,
    readonly via: number,
  ) {
    super();
  }

  toString(): string {
    return `verify(p${this.p}${this.via ? "/t1" : ""})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const u = api(w, r, pid, this.via);
    const proc = w.model.proc(pid);
    const vpns = [...proc.pages.keys()].sort((a, b) => a - b);
    let checked = 0;
    for (const vpn of vpns) {
      const va = vpn * P;
      const exp = w.model.access(pid, va, P, "read");
      if (!exp.canSucceed || exp.faults.length > 0) continue;
      const got = observe(() => u.readBytes(va, P));
      this.note(`[${pid}] readBytes(${hex(va)}, ${hex(P)})`);
      const problem = judgeAccess(exp, got);
      if (problem !== undefined) {
        r.transcript.push(`${this.call} → ${got.kind === "ok" ? "ok" : showObserved(got)}`);
        const detail =
          got.kind === "ok" && got.value instanceof Uint8Array ? firstDifference(exp, got.value) : showObserved(got);
        throw new Mismatch(`verify: page ${hex(va)} of pid ${pid}: ${problem}: ${detail}`);
      }
      checked++;
    }
    r.transcript.push(`[${pid}] verify: ${checked} readable pages match`);
  }
}

function firstDifference(exp: AccessExpectation, got: Uint8Array): string {
  const i = exp.bytes.findIndex((b, j) => b !== null && b !== got[j]);
  if (i < 0) return "no difference";
  const near = (xs: ArrayLike<number | null>) =>
    Array.from({ length: 8 }, (_, k) => xs[i + k])
      .map((b) => (b === null ? "??" : b === undefined ? "" : b.toString(16).padStart(2, "0")))
      .join(" ");
  return `from byte ${hex(i)}: expected ${near(exp.bytes)}, got ${near(got)}`;
}

/**
 * Memory pressure: hold all but `leave` free pages, run the pagedaemon, give the pages back.
 * Paging must be invisible: the model does not change, later loads and verifies must agree.
 */
export class PageoutCommand extends Base {
  constructor(readonly leave: number) {
    super();
  }

  toString(): string {
    return `pageout(leave ${this.leave})`;
  }

  protected exec(_w: World, r: Real): void {
    const sys = r.sys;
    const free = sys.stats()["vm.page.free"] ?? sys.vm.freePages;
    const hold = Math.max(0, free - this.leave);
    this.note(`memoryPressure(${hold}); runPagedaemon(); memoryPressure(0)`);
    r.transcript.push(`pageout: ${free} free, holding ${hold}`);
    try {
      sys.memoryPressure(hold);
      sys.runPagedaemon();
    } finally {
      if (sys.panicked === undefined) sys.memoryPressure(0);
    }
    r.transcript.push(`pageout: ${sys.stats()["vm.page.free"] ?? sys.vm.freePages} free after`);
  }
}

// ------------------------------------------------------------------ arbitraries

const procArb = fc.nat({ max: 7 });
/** Mostly the first regions (so commands meet), now and then any, or the wild window. */
const regionIndexArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 0, 1) },
  { weight: 1, arbitrary: fc.nat({ max: 15 }) },
);
const viaArb = fc.constantFrom(0, 0, 1);
const protArb = fc.constantFrom(0, 1, 2, 3, 3, 3, 4, 5, 7);

export const mmapArb: fc.Arbitrary<VmCommand> = fc
  .record({
    p: procArb,
    via: viaArb,
    pages: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: 8 }) },
      { weight: 1, arbitrary: fc.integer({ min: 16, max: 40 }) },
    ),
    prot: protArb,
    shared: fc.boolean(),
    wired: fc.constantFrom(false, false, false, false, false, true),
    placement: fc.constantFrom<Placement>(
      "any",
      "any",
      "any",
      "hint-region",
      "hint-wild",
      "hint-unaligned",
      "fixed-region",
      "fixed-region",
      "fixed-window",
    ),
    region: fc.nat({ max: 15 }),
    page: fc.integer({ min: -1, max: 8 }),
  })
  .map((a) => new MmapCommand(a));

function rangeArb(call: RangeCall, arg: fc.Arbitrary<number>): fc.Arbitrary<VmCommand> {
  return fc
    .tuple(procArb, viaArb, targetArb, arg)
    .map(([p, via, t, x]) => new RangeCommand(call, p, via, t, x) as VmCommand);
}

export const munmapArb = rangeArb("munmap", fc.constant(0));
export const mprotectArb = rangeArb("mprotect", protArb);
export const mlockArb = rangeArb("mlock", fc.constant(0));
export const munlockArb = rangeArb("munlock", fc.constant(0));
/**
 * A page-exact range over the first pages of one of the process's two newest regions: an mlock or
 * munlock that mostly succeeds, so a property reaches wiring's rising and falling edges often
 * (`targetArb` spends most of its draws on errors).
 */
const insideArb: fc.Arbitrary<Target> = fc.record({
  region: fc.constantFrom(0, 0, 1),
  page: fc.constantFrom(0, 0, 1),
  pages: fc.integer({ min: 1, max: 2 }),
  shape: fc.constant<0 | 1 | 2>(0),
  slop: fc.constant(0),
});
export const mlockInsideArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, viaArb, insideArb)
  .map(([p, via, t]) => new RangeCommand("mlock", p, via, t, 0) as VmCommand);
export const munlockInsideArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, viaArb, insideArb)
  .map(([p, via, t]) => new RangeCommand("munlock", p, via, t, 0) as VmCommand);
/** SHARE, COPY, NONE, DONATE_COPY, ZERO, and a bad value now and then. */
export const minheritArb = rangeArb("minherit", fc.constantFrom(0, 0, 1, 2, 3, 4, 4, 666));
/** MS_ASYNC, MS_SYNC, MS_INVALIDATE alone and with each, and invalid combinations. */
export const msyncArb = rangeArb("msync", fc.constantFrom(1, 4, 1, 4, 2, 3, 6, 5, 0, 8));
export const madviseArb = rangeArb("madvise", fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 6, 99));
export const mlockallArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, viaArb, fc.constantFrom<number | "munlockall">(1, 2, 3, 3, 0, 4, "munlockall", "munlockall"))
  .map(([p, via, f]) => new MlockallCommand(p, via, f));
export const forkArb: fc.Arbitrary<VmCommand> = procArb.map((p) => new ForkCommand(p));
export const exitArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, fc.nat({ max: 255 }))
  .map(([p, s]) => new ExitCommand(p, s));

function accessArb(ops: AccessOp[]): fc.Arbitrary<VmCommand> {
  return fc
    .record({
      p: procArb,
      via: viaArb,
      op: fc.constantFrom(...ops),
      region: regionIndexArb,
      page: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(0, 0, 1, 2) },
        { weight: 1, arbitrary: fc.nat({ max: 8 }) },
      ),
      slot: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(0, 0, 0x800, P - 4, P - 2, P - 32) },
        { weight: 1, arbitrary: fc.nat({ max: P - 1 }) },
      ),
      value: fc.nat({ max: 0xffff_ffff }),
      wild: fc.constantFrom(false, false, false, false, false, false, false, true),
    })
    .map((a) => new AccessCommand(a));
}

export const loadArb = accessArb(["load32", "load32", "load8", "load16", "readBytes"]);
export const storeArb = accessArb(["store32", "store32", "store8", "store16", "writeBytes"]);
export const execArb = accessArb(["exec"]);
export const pageoutArb: fc.Arbitrary<VmCommand> = fc.constantFrom(0, 8, 64).map((n) => new PageoutCommand(n));
export const verifyArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, viaArb)
  .map(([p, via]) => new VerifyCommand(p, via));
