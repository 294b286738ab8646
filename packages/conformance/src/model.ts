/**
 * The reference model: BSD address-space semantics with no implementation inside, used as the
 * oracle every combination is compared against.
 *
 * A process is a set of pages keyed by virtual page number. Each page carries its protection,
 * maximum protection, inheritance, the user wiring flag (mlock/mlockall/MAP_WIRED) and a content
 * cell. A private page owns its cell; copy-on-write after fork is modelled by giving the child a
 * snapshot copy. A shared page (MAP_SHARED, or any page inherited with INHERIT_SHARE) holds the one
 * cell every process that maps it holds, so a write through one is seen by all.
 *
 * Nothing here imports a machine, pmap, VM layer or the kernel. Where the BSDs disagree the model
 * follows NetBSD (its manual pages and ATF tests first, then its code), POSIX where NetBSD is
 * silent; README.md "Semantics decisions" lists every choice.
 *
 * Some outcomes are implementation-defined, and the model says so rather than guess:
 *  - a read of a page that is writable or executable but not readable: x86 cannot map a page
 *    write-only or execute-only, so the access succeeds once the page is resident and fails
 *    (SEGV_ACCERR) when the fault reaches the VM layer's protection check first;
 *  - bytes whose value the BSDs leave open (after MADV_FREE, after msync(MS_INVALIDATE), and in a
 *    child's INHERIT_COPY copy of a MAP_SHARED region before the child writes it) are "unknown":
 *    any value is accepted until the process writes them.
 */
import {
  type ErrnoName,
  INHERIT_COPY,
  INHERIT_DONATE_COPY,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
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
  PAGE_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "@vmlab/core";

const P = PAGE_SIZE;
const PROT_ALL = PROT_READ | PROT_WRITE | PROT_EXEC;

/** What the model needs to know about the system it describes. */
export interface ModelConfig {
  /** VM_MIN_ADDRESS: lowest user address. */
  readonly userMin: number;
  /** VM_MAXUSER_ADDRESS: one past the highest user address. */
  readonly userMax: number;
  /** The machine has a no-execute bit (i386 PAE, amd64): PROT_EXEC is enforced. */
  readonly nx: boolean;
  /** RLIMIT_MEMLOCK of a spawned process, bytes (default: unlimited). */
  readonly memlockLimit?: number;
  /** System-wide limit on user-wired pages (uvmexp.wiredmax; default: unlimited). */
  readonly maxWiredPages?: number;
}

export type AccessKind = "read" | "write" | "exec";

/** A signal the model expects a user access to raise. */
export interface ModelFault {
  readonly signal: "SIGSEGV" | "SIGBUS";
  readonly code: "SEGV_MAPERR" | "SEGV_ACCERR";
  readonly addr: number;
  readonly why: string;
}

/**
 * The outcomes the model allows for one user access. `canSucceed` with an empty `faults` is a
 * definite success; no `canSucceed` with one fault is a definite signal; both at once is an
 * implementation-defined access (see the file comment).
 */
export interface AccessExpectation {
  readonly canSucceed: boolean;
  readonly faults: readonly ModelFault[];
  /** For loads and fetches that succeed: the bytes, null where the value is unknown. */
  readonly bytes: readonly (number | null)[];
}

/** A system call's expected result: a value, or the errno (by name) with the rule behind it. */
export type SysResult<T = undefined> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errno: ErrnoName; readonly why: string };

/** The model caught the implementation doing something no BSD rule allows (e.g. a bad mmap address). */
export class ModelViolation extends Error {
  override readonly name = "ModelViolation";
}

/** A content cell: one page of bytes, possibly shared by several processes. */
export class Cell {
  /** null until first written: fresh anonymous memory reads zero. */
  data: Uint8Array | null = null;
  /** null when every byte is known; otherwise 1 marks a known byte. */
  known: Uint8Array | null = null;

  /** @param object the cell is a MAP_SHARED object page (see INHERIT_COPY in `fork`). */
  constructor(readonly object: boolean) {}

  byte(i: number): number | null {
    if (this.known !== null && this.known[i] === 0) return null;
    return this.data === null ? 0 : this.data[i]!;
  }

  write(i: number, v: number): void {
    if (this.data === null) this.data = new Uint8Array(P);
    this.data[i] = v & 0xff;
    if (this.known !== null) this.known[i] = 1;
  }

  /** The BSDs leave the contents open (MADV_FREE, MS_INVALIDATE): accept anything until written. */
  forget(): void {
    this.known = new Uint8Array(P);
  }

  /** A private snapshot (copy-on-write resolved eagerly). */
  copy(object: boolean, unknown: boolean): Cell {
    const c = new Cell(object);
    if (this.data !== null) c.data = this.data.slice();
    if (unknown) c.known = new Uint8Array(P);
    else if (this.known !== null) c.known = this.known.slice();
    return c;
  }
}

export interface ModelPage {
  prot: number;
  maxProt: number;
  inherit: number;
  /** The user wiring (mlock, mlockall, MAP_WIRED): a flag, not a count — locks do not nest. */
  wired: boolean;
  cell: Cell;
}

export type ProcState = "running" | "zombie" | "reaped";

export interface ModelProcess {
  readonly pid: number;
  /** Parent pid; ORPHANED (init, which is not modelled) after the parent exits. */
  ppid: number;
  state: ProcState;
  status: number | undefined;
  /** Pages by virtual page number. */
  readonly pages: Map<number, ModelPage>;
  /** mlockall(MCL_FUTURE) is in force (VM_MAP_WIREFUTURE). */
  wireFuture: boolean;
  /** RLIMIT_MEMLOCK, bytes. */
  memlockLimit: number;
}

/** The ppid of a process without a modelled parent (spawned, or orphaned and adopted by init). */
export const ORPHANED = -1;

const ok = <T>(value: T): SysResult<T> => ({ ok: true, value });
const err = (errno: ErrnoName, why: string): SysResult<never> => ({ ok: false, errno, why });
const OK: SysResult = ok(undefined);

function isInt(v: number): boolean {
  return Number.isSafeInteger(v);
}

function roundUp(x: number): number {
  const r = x % P;
  return r === 0 ? x : x + (P - r);
}

function hex(x: number): string {
  return Number.isFinite(x) && x >= 0 ? `0x${x.toString(16)}` : String(x);
}

export function protName(p: number): string {
  if (p === PROT_NONE) return "NONE";
  const n: string[] = [];
  if (p & PROT_READ) n.push("R");
  if (p & PROT_WRITE) n.push("W");
  if (p & PROT_EXEC) n.push("X");
  return n.join("");
}

const INHERIT_NAMES: Record<number, string> = {
  [INHERIT_SHARE]: "SHARE",
  [INHERIT_COPY]: "COPY",
  [INHERIT_NONE]: "NONE",
  [INHERIT_DONATE_COPY]: "DONATE_COPY",
  [INHERIT_ZERO]: "ZERO",
};

export function inheritName(i: number): string {
  return INHERIT_NAMES[i] ?? String(i);
}

const VALID_ADVICE = new Set([MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE]);

/** The reference model of every process's address space. */
export class BsdModel {
  readonly userMin: number;
  readonly userMax: number;
  readonly nx: boolean;
  readonly maxWiredPages: number;
  readonly defaultMemlock: number;
  private readonly procs = new Map<number, ModelProcess>();

  constructor(cfg: ModelConfig) {
    if (cfg.userMin % P !== 0 || cfg.userMax % P !== 0 || cfg.userMin >= cfg.userMax) {
      throw new RangeError(`bad user range ${hex(cfg.userMin)}..${hex(cfg.userMax)}`);
    }
    this.userMin = cfg.userMin;
    this.userMax = cfg.userMax;
    this.nx = cfg.nx;
    this.maxWiredPages = cfg.maxWiredPages ?? Number.POSITIVE_INFINITY;
    this.defaultMemlock = cfg.memlockLimit ?? Number.POSITIVE_INFINITY;
  }

  // ---------------------------------------------------------------- processes

  /** A new process with an empty user address space. */
  spawn(pid: number): ModelProcess {
    if (this.procs.has(pid)) throw new ModelViolation(`pid ${pid} is already in use`);
    const p: ModelProcess = {
      pid,
      ppid: ORPHANED,
      state: "running",
      status: undefined,
      pages: new Map(),
      wireFuture: false,
      memlockLimit: this.defaultMemlock,
    };
    this.procs.set(pid, p);
    return p;
  }

  proc(pid: number): ModelProcess {
    const p = this.procs.get(pid);
    if (p === undefined) throw new RangeError(`model: no process ${pid}`);
    return p;
  }

  running(pid: number): ModelProcess {
    const p = this.proc(pid);
    if (p.state !== "running") throw new RangeError(`model: process ${pid} is ${p.state}`);
    return p;
  }

  /** Running processes, in creation order. */
  live(): ModelProcess[] {
    return [...this.procs.values()].filter((p) => p.state === "running");
  }

  all(): ModelProcess[] {
    return [...this.procs.values()];
  }

  /**
   * fork(2): the child's address space by each page's inheritance. SHARE: the same cell.
   * COPY and DONATE_COPY: a snapshot (unknown bytes where the parent's page is a MAP_SHARED object
   * page: the BSDs differ on whether the parent's later writes show through before the child
   * writes). NONE: absent. ZERO: fresh zeros with the same protection. Wiring and MCL_FUTURE are not
   * inherited; RLIMIT_MEMLOCK and each page's inheritance are.
   */
  fork(parentPid: number, childPid: number): ModelProcess {
    const parent = this.running(parentPid);
    const child = this.spawn(childPid);
    child.ppid = parentPid;
    child.memlockLimit = parent.memlockLimit;
    for (const [vpn, pg] of parent.pages) {
      let cell: Cell;
      switch (pg.inherit) {
        case INHERIT_NONE:
          continue;
        case INHERIT_SHARE:
          cell = pg.cell;
          break;
        case INHERIT_ZERO:
          cell = new Cell(false);
          break;
        default:
          cell = pg.cell.copy(false, pg.cell.object);
      }
      child.pages.set(vpn, { prot: pg.prot, maxProt: pg.maxProt, inherit: pg.inherit, wired: false, cell });
    }
    return child;
  }

  /** exit(2): the address space is gone; the process is a zombie until its parent waits. */
  exit(pid: number, status: number): void {
    const p = this.running(pid);
    p.pages.clear();
    p.wireFuture = false;
    p.status = status;
    const parent = this.procs.get(p.ppid);
    p.state = parent !== undefined && parent.state === "running" ? "zombie" : "reaped";
    for (const c of this.procs.values()) {
      if (c.ppid !== pid || c.state === "reaped") continue;
      // Orphans go to init, which reaps them.
      c.ppid = ORPHANED;
      if (c.state === "zombie") c.state = "reaped";
    }
  }

  /**
   * wait(2): the pids any of which the implementation may reap. ECHILD without children; EAGAIN
   * when children exist but none has exited (the simulator cannot block: docs/decisions/0005).
   */
  waitCandidates(pid: number): SysResult<number[]> {
    this.running(pid);
    const children = [...this.procs.values()].filter((c) => c.ppid === pid && c.state !== "reaped");
    if (children.length === 0) return err("ECHILD", "no children");
    const zombies = children.filter((c) => c.state === "zombie").map((c) => c.pid);
    if (zombies.length === 0) return err("EAGAIN", "children exist but none has exited");
    return ok(zombies);
  }

  /** Record that `parent` reaped `child`; returns the status the child exited with. */
  reap(parent: number, child: number): number {
    const c = this.proc(child);
    if (c.ppid !== parent || c.state !== "zombie") {
      throw new ModelViolation(`wait in ${parent} returned ${child}, which is not an exited child of it`);
    }
    c.state = "reaped";
    return c.status ?? 0;
  }

  /** setrlimit(RLIMIT_MEMLOCK). */
  setMemlockLimit(pid: number, bytes: number): void {
    this.running(pid).memlockLimit = bytes;
  }

  // ---------------------------------------------------------------- helpers

  private inUser(addr: number, size: number): boolean {
    return addr >= this.userMin && addr + size <= this.userMax && size >= 0;
  }

  private *vpns(addr: number, size: number): Generator<number> {
    const first = addr / P;
    for (let i = 0; i < size / P; i++) yield first + i;
  }

  private anyUnmapped(p: ModelProcess, addr: number, size: number): number | undefined {
    for (const v of this.vpns(addr, size)) if (!p.pages.has(v)) return v * P;
    return undefined;
  }

  /** Pages wired by user requests, in this process. */
  wiredPages(pid: number): number {
    let n = 0;
    for (const pg of this.proc(pid).pages.values()) if (pg.wired) n++;
    return n;
  }

  /** Pages wired by user requests, in every process. */
  systemWiredPages(): number {
    let n = 0;
    for (const p of this.procs.values()) for (const pg of p.pages.values()) if (pg.wired) n++;
    return n;
  }

  /** The wiring limits shared by mlock and MAP_WIRED / MCL_FUTURE mmap (NetBSD sys_mlock). */
  private overWireLimit(p: ModelProcess, size: number): string | undefined {
    if (size / P + this.systemWiredPages() > this.maxWiredPages) return "over the system wired-page limit";
    if (size + this.wiredPages(p.pid) * P > p.memlockLimit) return "over RLIMIT_MEMLOCK";
    return undefined;
  }

  /** mlock/munlock/minherit-style range: the page offset folded into the length, rounded. */
  private rounded(addr: number, len: number): { start: number; size: number } {
    const off = ((addr % P) + P) % P;
    return { start: addr - off, size: roundUp(len + off) };
  }

  // ---------------------------------------------------------------- mmap family

  /**
   * mmap(2), anonymous memory. For a non-MAP_FIXED request the kernel chooses the address; pass
   * the address it returned as `chosen` (undefined if the call failed) and the model checks it is
   * page aligned, inside the user range and clear of every live mapping, then maps it there.
   * Without `chosen` a predicted success returns NaN and changes nothing.
   */
  mmap(
    pid: number,
    addr: number,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
    chosen?: number,
  ): SysResult<number> {
    const p = this.running(pid);
    if (![addr, len, prot, flags, fd, offset].every(isInt)) return err("EINVAL", "an argument is not an integer");
    prot &= PROT_ALL;
    const kind = flags & (MAP_SHARED | MAP_PRIVATE);
    if (kind === (MAP_SHARED | MAP_PRIVATE)) return err("EINVAL", "both MAP_SHARED and MAP_PRIVATE");
    if (kind === 0) return err("EINVAL", "neither MAP_SHARED nor MAP_PRIVATE");
    if (len <= 0) return err("EINVAL", "length is zero or negative");
    if (offset < 0 || offset % P !== 0) return err("EINVAL", "offset not page aligned (POSIX)");
    const size = roundUp(len);
    const fixed = (flags & MAP_FIXED) !== 0;
    if (fixed) {
      if (addr % P !== 0) return err("EINVAL", "MAP_FIXED address not page aligned");
      if (!this.inUser(addr, size)) return err("EINVAL", "MAP_FIXED range outside the user address space");
    }
    if ((flags & MAP_ANON) === 0) return err("EBADF", "not MAP_ANON and fd is not an open file");
    if (fd !== -1) return err("EINVAL", "MAP_ANON with fd other than -1");
    const wire = ((flags & MAP_WIRED) !== 0 || p.wireFuture) && prot !== PROT_NONE;
    if (wire) {
      const over = this.overWireLimit(p, size);
      if (over !== undefined) return err("EAGAIN", `the new mapping cannot be locked: ${over}`);
    }
    let at: number;
    if (fixed) {
      at = addr;
    } else {
      if (chosen === undefined) return ok(Number.NaN);
      if (!isInt(chosen) || chosen % P !== 0) {
        throw new ModelViolation(`mmap returned ${hex(chosen)}, which is not page aligned`);
      }
      if (!this.inUser(chosen, size)) {
        throw new ModelViolation(
          `mmap returned ${hex(chosen)}+${hex(size)}, outside the user range ${hex(this.userMin)}..${hex(this.userMax)}`,
        );
      }
      const busy = this.firstMapped(p, chosen, size);
      if (busy !== undefined) {
        throw new ModelViolation(`mmap returned ${hex(chosen)}+${hex(size)}, overlapping the live page ${hex(busy)}`);
      }
      at = chosen;
    }
    const shared = kind === MAP_SHARED;
    const cell = shared ? () => new Cell(true) : () => new Cell(false);
    for (const v of this.vpns(at, size)) {
      p.pages.set(v, {
        prot,
        maxProt: PROT_ALL,
        inherit: shared ? INHERIT_SHARE : INHERIT_COPY,
        wired: wire,
        cell: cell(),
      });
    }
    return ok(at);
  }

  private firstMapped(p: ModelProcess, addr: number, size: number): number | undefined {
    for (const v of this.vpns(addr, size)) if (p.pages.has(v)) return v * P;
    return undefined;
  }

  /** munmap(2): removing nothing is not an error; locks on the range go with it. */
  munmap(pid: number, addr: number, len: number): SysResult {
    const p = this.running(pid);
    if (!isInt(addr) || !isInt(len)) return err("EINVAL", "an argument is not an integer");
    if (addr % P !== 0) return err("EINVAL", "address not page aligned");
    if (len <= 0) return err("EINVAL", "length is zero or negative");
    const size = roundUp(len);
    if (!this.inUser(addr, size)) return err("EINVAL", "range outside the user address space");
    for (const v of this.vpns(addr, size)) p.pages.delete(v);
    return OK;
  }

  /** mprotect(2). Under MCL_FUTURE a page raised from PROT_NONE becomes wired (uvm_map_protect). */
  mprotect(pid: number, addr: number, len: number, prot: number): SysResult {
    const p = this.running(pid);
    if (![addr, len, prot].every(isInt)) return err("EINVAL", "an argument is not an integer");
    prot &= PROT_ALL;
    if (addr % P !== 0) return err("EINVAL", "address not page aligned");
    if (len < 0) return err("EINVAL", "negative length");
    const size = roundUp(len);
    if (!this.inUser(addr, size)) return err("EINVAL", "range outside the user address space");
    const hole = this.anyUnmapped(p, addr, size);
    if (hole !== undefined) return err("ENOMEM", `page ${hex(hole)} is not mapped`);
    for (const v of this.vpns(addr, size)) {
      const pg = p.pages.get(v)!;
      if ((prot & pg.maxProt) !== prot) return err("EACCES", `${protName(prot)} exceeds the maximum protection`);
    }
    for (const v of this.vpns(addr, size)) {
      const pg = p.pages.get(v)!;
      if (p.wireFuture && !pg.wired && pg.prot === PROT_NONE && prot !== PROT_NONE) pg.wired = true;
      pg.prot = prot;
    }
    return OK;
  }

  /** minherit(2): holes in the range are skipped, as uvm_map_inherit does. */
  minherit(pid: number, addr: number, len: number, inherit: number): SysResult {
    const p = this.running(pid);
    if (![addr, len, inherit].every(isInt)) return err("EINVAL", "an argument is not an integer");
    if (addr % P !== 0) return err("EINVAL", "address not page aligned");
    if (len < 0) return err("EINVAL", "negative length");
    const size = roundUp(len);
    if (!this.inUser(addr, size)) return err("EINVAL", "range outside the user address space");
    if (!(inherit in INHERIT_NAMES)) return err("EINVAL", `unknown inheritance ${inherit}`);
    for (const v of this.vpns(addr, size)) {
      const pg = p.pages.get(v);
      if (pg !== undefined) pg.inherit = inherit;
    }
    return OK;
  }

  /** madvise(2). MADV_FREE lets the system discard unwired pages: their bytes become unknown. */
  madvise(pid: number, addr: number, len: number, advice: number): SysResult {
    const p = this.running(pid);
    if (![addr, len, advice].every(isInt)) return err("EINVAL", "an argument is not an integer");
    if (addr % P !== 0) return err("EINVAL", "address not page aligned");
    if (len < 0) return err("EINVAL", "negative length");
    const size = roundUp(len);
    if (!this.inUser(addr, size)) return err("EINVAL", "range outside the user address space");
    if (!VALID_ADVICE.has(advice)) return err("EINVAL", `advice ${advice} is not supported`);
    const hole = this.anyUnmapped(p, addr, size);
    if (hole !== undefined) return err("ENOMEM", `page ${hex(hole)} is not mapped`);
    if (advice === MADV_FREE) {
      for (const v of this.vpns(addr, size)) {
        const pg = p.pages.get(v)!;
        if (!pg.wired) pg.cell.forget();
      }
    }
    return OK;
  }

  /**
   * msync(2). For anonymous memory MS_ASYNC and MS_SYNC change nothing visible; MS_INVALIDATE
   * may discard the pages (4.4BSD vm_map_clean, UVM uvm_map_clean), so their bytes become unknown,
   * and is refused with EBUSY where pages are locked (POSIX).
   */
  msync(pid: number, addr: number, len: number, flags: number): SysResult {
    const p = this.running(pid);
    if (![addr, len, flags].every(isInt)) return err("EINVAL", "an argument is not an integer");
    const all = MS_ASYNC | MS_SYNC | MS_INVALIDATE;
    if ((flags & ~all) !== 0) return err("EINVAL", `unknown flags in ${hex(flags)}`);
    if ((flags & all) === 0) return err("EINVAL", "no flag");
    if ((flags & (MS_ASYNC | MS_SYNC)) === (MS_ASYNC | MS_SYNC)) return err("EINVAL", "MS_ASYNC with MS_SYNC");
    if (addr % P !== 0) return err("EINVAL", "address not page aligned");
    if (len < 0) return err("EINVAL", "negative length");
    const size = roundUp(len);
    if (!this.inUser(addr, size)) return err("ENOMEM", "range outside the user address space");
    const hole = this.anyUnmapped(p, addr, size);
    if (hole !== undefined) return err("ENOMEM", `page ${hex(hole)} is not mapped`);
    if (flags & MS_INVALIDATE) {
      for (const v of this.vpns(addr, size)) {
        if (p.pages.get(v)!.wired) return err("EBUSY", `MS_INVALIDATE on the locked page ${hex(v * P)}`);
      }
      for (const v of this.vpns(addr, size)) p.pages.get(v)!.cell.forget();
    }
    return OK;
  }

  /**
   * mlock(2), NetBSD: the range is rounded to whole pages; a bad range is ENOMEM; the limits are
   * checked next (EAGAIN); then holes and PROT_NONE pages (ENOMEM). Locks do not nest.
   */
  mlock(pid: number, addr: number, len: number): SysResult {
    const p = this.running(pid);
    if (!isInt(addr) || !isInt(len)) return err("EINVAL", "an argument is not an integer");
    if (addr < 0 || len < 0) return err("ENOMEM", "bad address or wrapping length");
    const { start, size } = this.rounded(addr, len);
    if (!this.inUser(start, size)) return err("ENOMEM", "range outside the user address space");
    if (size === 0) return OK;
    const over = this.overWireLimit(p, size);
    if (over !== undefined) return err("EAGAIN", over);
    const hole = this.anyUnmapped(p, start, size);
    if (hole !== undefined) return err("ENOMEM", `page ${hex(hole)} is not mapped`);
    for (const v of this.vpns(start, size)) {
      if (p.pages.get(v)!.prot === PROT_NONE) return err("ENOMEM", `page ${hex(v * P)} is PROT_NONE`);
    }
    for (const v of this.vpns(start, size)) p.pages.get(v)!.wired = true;
    return OK;
  }

  /** munlock(2), NetBSD ≥ t_mlock 1.8: every page must be mapped and locked, else ENOMEM. */
  munlock(pid: number, addr: number, len: number): SysResult {
    const p = this.running(pid);
    if (!isInt(addr) || !isInt(len)) return err("EINVAL", "an argument is not an integer");
    if (addr < 0 || len < 0) return err("ENOMEM", "bad address or wrapping length");
    const { start, size } = this.rounded(addr, len);
    if (!this.inUser(start, size)) return err("ENOMEM", "range outside the user address space");
    if (size === 0) return OK;
    for (const v of this.vpns(start, size)) {
      const pg = p.pages.get(v);
      if (pg === undefined) return err("ENOMEM", `page ${hex(v * P)} is not mapped`);
      if (!pg.wired) return err("ENOMEM", `page ${hex(v * P)} is not locked`);
    }
    for (const v of this.vpns(start, size)) p.pages.get(v)!.wired = false;
    return OK;
  }

  /**
   * mlockall(2), NetBSD uvm_map_pageable_all: MCL_FUTURE is recorded first (and never cleared by
   * a later mlockall without it); MCL_CURRENT wires every page except PROT_NONE ones; over a limit
   * is ENOMEM.
   */
  mlockall(pid: number, flags: number): SysResult {
    const p = this.running(pid);
    if (!isInt(flags)) return err("EINVAL", "flags not an integer");
    if (flags === 0 || (flags & ~(MCL_CURRENT | MCL_FUTURE)) !== 0) return err("EINVAL", `flags ${hex(flags)}`);
    if (flags & MCL_FUTURE) p.wireFuture = true;
    if ((flags & MCL_CURRENT) === 0) return OK;
    const toWire = [...p.pages.values()].filter((pg) => !pg.wired && pg.prot !== PROT_NONE);
    if (toWire.length + this.systemWiredPages() > this.maxWiredPages) {
      return err("ENOMEM", "over the system wired-page limit");
    }
    if ((toWire.length + this.wiredPages(pid)) * P > p.memlockLimit) return err("ENOMEM", "over RLIMIT_MEMLOCK");
    for (const pg of toWire) pg.wired = true;
    return OK;
  }

  /** munlockall(2): every lock goes, and MCL_FUTURE with them. */
  munlockall(pid: number): SysResult {
    const p = this.running(pid);
    for (const pg of p.pages.values()) pg.wired = false;
    p.wireFuture = false;
    return OK;
  }

  // ---------------------------------------------------------------- user accesses

  /**
   * What a user access of `size` bytes at `va` may do. Pages are checked in address order; an
   * implementation-defined page lets both outcomes through.
   */
  access(pid: number, va: number, size: number, kind: AccessKind): AccessExpectation {
    const p = this.running(pid);
    const faults: ModelFault[] = [];
    const bytes: (number | null)[] = [];
    let canSucceed = true;
    for (let a = va; a < va + size && canSucceed; ) {
      const pageEnd = a - (a % P) + P;
      const verdict = this.pageVerdict(p, a, kind);
      if (verdict !== "ok") {
        faults.push(verdict.fault);
        if (!verdict.maybe) canSucceed = false;
      }
      const pg = p.pages.get(Math.floor(a / P));
      for (; a < Math.min(pageEnd, va + size); a++) bytes.push(pg === undefined ? null : pg.cell.byte(a % P));
    }
    return { canSucceed, faults, bytes: canSucceed ? bytes : [] };
  }

  private pageVerdict(p: ModelProcess, a: number, kind: AccessKind): "ok" | { fault: ModelFault; maybe: boolean } {
    const segv = (code: ModelFault["code"], why: string, maybe = false) => ({
      fault: { signal: "SIGSEGV" as const, code, addr: a, why },
      maybe,
    });
    if (a < this.userMin || a >= this.userMax) return segv("SEGV_MAPERR", "outside the user address space");
    const pg = p.pages.get(Math.floor(a / P));
    if (pg === undefined) return segv("SEGV_MAPERR", "not mapped");
    const prot = pg.prot;
    if (prot === PROT_NONE) return segv("SEGV_ACCERR", "PROT_NONE");
    switch (kind) {
      case "write":
        return prot & PROT_WRITE ? "ok" : segv("SEGV_ACCERR", `write to a ${protName(prot)} page`);
      case "read":
        // x86 has no write-only or execute-only pages: a resident page is readable.
        return prot & PROT_READ ? "ok" : segv("SEGV_ACCERR", `read of a ${protName(prot)} page`, true);
      case "exec":
        if (this.nx) return prot & PROT_EXEC ? "ok" : segv("SEGV_ACCERR", `fetch from a ${protName(prot)} page (NX)`);
        // Without NX a fetch is a read to the MMU (and to the fault handler).
        return prot & PROT_READ ? "ok" : segv("SEGV_ACCERR", `fetch from a ${protName(prot)} page (no NX)`, true);
    }
  }

  /** Apply a user store the implementation performed (call only after it succeeded). */
  write(pid: number, va: number, bytes: ArrayLike<number>): void {
    const p = this.running(pid);
    for (let i = 0; i < bytes.length; i++) {
      const a = va + i;
      const pg = p.pages.get(Math.floor(a / P));
      if (pg === undefined) throw new ModelViolation(`a store to ${hex(a)} succeeded but the page is not mapped`);
      pg.cell.write(a % P, bytes[i]!);
    }
  }

  /** The bytes a process would read (null where unknown or unmapped), ignoring protection. */
  peek(pid: number, va: number, len: number): (number | null)[] {
    const p = this.proc(pid);
    const out: (number | null)[] = [];
    for (let a = va; a < va + len; a++) {
      const pg = p.pages.get(Math.floor(a / P));
      out.push(pg === undefined ? null : pg.cell.byte(a % P));
    }
    return out;
  }

  /** The page at `va`, if mapped. */
  page(pid: number, va: number): ModelPage | undefined {
    return this.proc(pid).pages.get(Math.floor(va / P));
  }

  /** The process's mappings as runs of pages with equal attributes, for failure reports. */
  describe(pid: number): string {
    const p = this.proc(pid);
    const vpns = [...p.pages.keys()].sort((a, b) => a - b);
    const runs: string[] = [];
    let i = 0;
    while (i < vpns.length) {
      const first = vpns[i]!;
      const a = p.pages.get(first)!;
      const key = (pg: ModelPage) => `${protName(pg.prot)}/${inheritName(pg.inherit)}${pg.wired ? "/wired" : ""}`;
      let j = i + 1;
      while (j < vpns.length && vpns[j] === first + (j - i) && key(p.pages.get(vpns[j]!)!) === key(a)) j++;
      runs.push(`${hex(first * P)}-${hex((first + (j - i)) * P)} ${key(a)}`);
      i = j;
    }
    const flags = p.wireFuture ? " MCL_FUTURE" : "";
    return `pid ${pid} (${p.state}${flags}): ${runs.length === 0 ? "no mappings" : runs.join(", ")}`;
  }
}

/** Assemble the little-endian value of `size` bytes; null when any byte is unknown. */
export function littleEndian(bytes: readonly (number | null)[]): number | null {
  let v = 0;
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i];
    if (b === null || b === undefined) return null;
    v = v * 256 + b;
  }
  return v;
}

/** Does an observed little-endian value agree with the expected bytes where they are known? */
export function valueMatches(bytes: readonly (number | null)[], value: number): boolean {
  let v = value;
  for (let i = 0; i < bytes.length; i++) {
    const b = v % 256;
    v = Math.floor(v / 256);
    const e = bytes[i];
    if (e !== null && e !== undefined && e !== b) return false;
  }
  return v === 0;
}
