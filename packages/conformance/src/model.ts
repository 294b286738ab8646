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
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
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
  O_ACCMODE,
  O_APPEND,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
  SHM_LOCK,
  SHM_RDONLY,
  SHM_RND,
  SHM_UNLOCK,
} from "@vmlab/core";
import { Cell, FileView, ModelFile, type ModelOpenFile, type PageContent, PrivateView } from "./content.js";

export { Cell, FileView, ModelFile, type ModelOpenFile, type PageContent, PrivateView };

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
  /** shminfo.shmmax: the largest SysV segment in bytes (default: unlimited). */
  readonly shmmax?: number;
}

/** A SysV shared memory segment (struct shmid_ds + its anonymous object's pages). */
export interface ModelShm {
  readonly id: number;
  key: number;
  readonly size: number;
  readonly cells: readonly Cell[];
  nattch: number;
  readonly cpid: number;
  /** IPC_RMID done: the key is private and the id no longer names it (NetBSD, FreeBSD). */
  removed: boolean;
  locked: boolean;
}

/** One shmat of a process. */
export interface ModelShmAttach {
  readonly va: number;
  readonly size: number;
  readonly seg: ModelShm;
}

export type AccessKind = "read" | "write" | "exec";

/** A signal the model expects a user access to raise. */
export interface ModelFault {
  readonly signal: "SIGSEGV" | "SIGBUS";
  readonly code: "SEGV_MAPERR" | "SEGV_ACCERR" | "BUS_ADRERR";
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

export interface ModelPage {
  prot: number;
  maxProt: number;
  inherit: number;
  /** The user wiring (mlock, mlockall, MAP_WIRED): a flag, not a count — locks do not nest. */
  wired: boolean;
  /** The bytes: an anonymous cell, a file's page (MAP_SHARED) or a private view of one. */
  cell: PageContent;
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
  /** The descriptor table: fd → open file entry (shared with the parent/children fork made). */
  files: (ModelOpenFile | undefined)[];
  /** SysV segments attached (shmmap_state): where, and which segment. */
  shm: ModelShmAttach[];
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

/** The largest file offset (the kernel's limit; EFBIG beyond). */
const MAX_FILE_SIZE = 2 ** 32;

const VALID_ADVICE = new Set([MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE]);

/** The reference model of every process's address space. */
export class BsdModel {
  readonly userMin: number;
  readonly userMax: number;
  readonly nx: boolean;
  readonly maxWiredPages: number;
  readonly defaultMemlock: number;
  readonly shmmax: number;
  private readonly procs = new Map<number, ModelProcess>();
  /** The file system: regular files by path. */
  readonly files = new Map<string, ModelFile>();
  /** SysV segments by id (freed ones are removed). */
  readonly segments = new Map<number, ModelShm>();

  constructor(cfg: ModelConfig) {
    if (cfg.userMin % P !== 0 || cfg.userMax % P !== 0 || cfg.userMin >= cfg.userMax) {
      throw new RangeError(`bad user range ${hex(cfg.userMin)}..${hex(cfg.userMax)}`);
    }
    this.userMin = cfg.userMin;
    this.userMax = cfg.userMax;
    this.nx = cfg.nx;
    this.maxWiredPages = cfg.maxWiredPages ?? Number.POSITIVE_INFINITY;
    this.defaultMemlock = cfg.memlockLimit ?? Number.POSITIVE_INFINITY;
    this.shmmax = cfg.shmmax ?? Number.POSITIVE_INFINITY;
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
      files: [],
      shm: [],
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
      let cell: PageContent;
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
          cell = pg.cell.forkCopy();
      }
      child.pages.set(vpn, { prot: pg.prot, maxProt: pg.maxProt, inherit: pg.inherit, wired: false, cell });
    }
    // fdcopy: the child shares the open file entries (and so their offsets); shmfork.
    child.files = [...parent.files];
    child.shm = [...parent.shm];
    for (const a of child.shm) a.seg.nattch++;
    return child;
  }

  /** exit(2): the address space is gone; the process is a zombie until its parent waits. */
  exit(pid: number, status: number): void {
    const p = this.running(pid);
    p.pages.clear();
    p.wireFuture = false;
    p.files = [];
    for (const a of p.shm.splice(0)) this.detached(a.seg);
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

  /**
   * What a protection means on x86 (docs/decisions/0006): write and execute imply read, and
   * without NX read implies execute. The maximum-protection check compares these, so on non-PAE
   * i386 an RW maximum admits PROT_EXEC (the page tables cannot tell them apart).
   */
  private widen(prot: number): number {
    let p = prot & PROT_ALL;
    if (p !== PROT_NONE) p |= PROT_READ;
    if (p & PROT_READ && !this.nx) p |= PROT_EXEC;
    return p;
  }

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

  /** The virtual page numbers this process's user wiring (mlock, mlockall, MAP_WIRED) holds now. */
  wiredVpns(pid: number): Set<number> {
    const out = new Set<number>();
    for (const [v, pg] of this.proc(pid).pages) if (pg.wired) out.add(v);
    return out;
  }

  /**
   * Undo a wiring the kernel could not complete for want of memory (decision 0011): every page
   * wired now that is not in `before` is unwired again, as the BSDs' unwinding leaves it (NetBSD
   * uvm_map_pageable / uvm_map_pageable_all, FreeBSD vm_map_wire, 4.4BSD vm_map_pageable unwire
   * what the call wired and keep the locks that were there before). Protections, MCL_FUTURE and
   * contents stay as the call left them: the pages it faulted in read the same. (The harness
   * never wires private file pages, where the wiring would have resolved the copy.)
   */
  undoWiring(pid: number, before: ReadonlySet<number>): number[] {
    const undone: number[] = [];
    for (const [v, pg] of this.proc(pid).pages) {
      if (!pg.wired || before.has(v)) continue;
      pg.wired = false;
      undone.push(v);
    }
    return undone;
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
   * mmap(2) of anonymous memory or of an open file (pages `offset / P` on: MAP_SHARED pages are the
   * file's pages, MAP_PRIVATE ones show the file until their first write). For a non-MAP_FIXED request the kernel chooses the address; pass
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
    // NetBSD sys_mmap: a file mapping needs a descriptor open for reading; a shared one that is
    // not open for writing cannot be writable, now or later (its maximum protection lacks write).
    let file: ModelFile | undefined;
    let maxProt = PROT_ALL;
    const shared = kind === MAP_SHARED;
    if (flags & MAP_ANON) {
      if (fd !== -1) return err("EINVAL", "MAP_ANON with fd other than -1");
    } else {
      const fp = p.files[fd];
      if (fp === undefined) return err("EBADF", "not MAP_ANON and fd is not an open file");
      const acc = fp.flags & O_ACCMODE;
      if (acc === O_WRONLY) return err("EACCES", `fd ${fd} is not open for reading`);
      if (shared && acc === O_RDONLY) {
        if (prot & PROT_WRITE) return err("EACCES", `shared writable mapping of the read-only fd ${fd}`);
        maxProt = PROT_READ | PROT_EXEC;
      }
      file = fp.file;
    }
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
      this.checkChosen(p, chosen, size, "mmap");
      at = chosen;
    }
    const first = offset / P;
    const content = (i: number): PageContent => {
      if (file === undefined) return new Cell(shared);
      return shared ? new FileView(file, first + i) : new PrivateView(file, first + i);
    };
    let i = 0;
    for (const v of this.vpns(at, size)) {
      p.pages.set(v, {
        prot,
        maxProt,
        inherit: shared ? INHERIT_SHARE : INHERIT_COPY,
        wired: wire,
        cell: content(i++),
      });
      if (wire) wireContent(p.pages.get(v)!);
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

  /**
   * mprotect(2). Under MCL_FUTURE a page raised from PROT_NONE becomes wired (uvm_map_protect;
   * under held memory pressure that wiring may fail: ENOMEM with the protection kept, decision 0011).
   */
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
      if ((this.widen(prot) & ~this.widen(pg.maxProt)) !== 0)
        return err("EACCES", `${protName(prot)} exceeds the maximum protection ${protName(pg.maxProt)}`);
    }
    for (const v of this.vpns(addr, size)) {
      const pg = p.pages.get(v)!;
      const wire = p.wireFuture && !pg.wired && pg.prot === PROT_NONE && prot !== PROT_NONE;
      pg.prot = prot;
      if (wire) {
        pg.wired = true;
        wireContent(pg);
      }
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
   * checked next (EAGAIN); then holes and PROT_NONE pages (ENOMEM). Locks do not nest. (While
   * memory pressure is held the kernel may instead find no memory to wire: ENOMEM, undone with
   * `undoWiring`; decision 0011.)
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
    for (const v of this.vpns(start, size)) {
      const pg = p.pages.get(v)!;
      pg.wired = true;
      wireContent(pg);
    }
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
   * is ENOMEM. (Under held memory pressure the wiring may fail: EAGAIN, MCL_FUTURE kept, the new
   * locks undone with `undoWiring`; decision 0011.)
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
    for (const pg of toWire) {
      pg.wired = true;
      wireContent(pg);
    }
    return OK;
  }

  /** munlockall(2): every lock goes, and MCL_FUTURE with them. */
  munlockall(pid: number): SysResult {
    const p = this.running(pid);
    for (const pg of p.pages.values()) pg.wired = false;
    p.wireFuture = false;
    return OK;
  }

  // ---------------------------------------------------------------- files

  /** Create or replace a file with these bytes (sys.fs.writeFile). */
  createFile(path: string, bytes: Uint8Array): ModelFile {
    const old = this.files.get(path);
    if (old !== undefined) {
      old.truncate(0);
      old.write(0, bytes);
      return old;
    }
    const f = new ModelFile(path, bytes);
    this.files.set(path, f);
    return f;
  }

  /** The descriptor the kernel hands out next: the lowest free slot (fdalloc). */
  private lowestFd(p: ModelProcess): number {
    const i = p.files.indexOf(undefined);
    return i < 0 ? p.files.length : i;
  }

  /** open(2): ENOENT without O_CREAT, EEXIST with O_CREAT|O_EXCL, O_TRUNC of a writable open. */
  open(pid: number, path: string, flags: number): SysResult<number> {
    const p = this.running(pid);
    if (!isInt(flags)) return err("EINVAL", "flags not an integer");
    const acc = flags & O_ACCMODE;
    if (acc === O_ACCMODE) return err("EINVAL", "O_ACCMODE is not an access mode");
    let f = this.files.get(path);
    if (f !== undefined && flags & O_CREAT && flags & O_EXCL) return err("EEXIST", path);
    if (f === undefined) {
      if ((flags & O_CREAT) === 0) return err("ENOENT", path);
      f = this.createFile(path, new Uint8Array(0));
    }
    if (flags & O_TRUNC && acc !== O_RDONLY) f.truncate(0);
    const fd = this.lowestFd(p);
    p.files[fd] = { file: f, flags: flags & (O_ACCMODE | O_APPEND), offset: 0 };
    return ok(fd);
  }

  /** close(2) */
  close(pid: number, fd: number): SysResult {
    const p = this.running(pid);
    if (p.files[fd] === undefined) return err("EBADF", `fd ${fd} is not open`);
    p.files[fd] = undefined;
    while (p.files.length > 0 && p.files[p.files.length - 1] === undefined) p.files.pop();
    return OK;
  }

  /** The open file behind fd (fd_getfile). */
  openFile(pid: number, fd: number): ModelOpenFile | undefined {
    return Number.isInteger(fd) && fd >= 0 ? this.proc(pid).files[fd] : undefined;
  }

  /**
   * Why the user buffer [buf, buf+n) of read(2) (`write` true: the kernel stores into it) or
   * write(2) cannot be wired for the transfer (uvm_vslock → EFAULT), or undefined. read(2) needs
   * every page writable; write(2) needs every page mapped with some protection (x86 makes every
   * present page readable: decision 0006). A page past the end of its file cannot be wired.
   */
  bufferFault(pid: number, buf: number, n: number, write: boolean): string | undefined {
    const p = this.running(pid);
    if (buf < 0 || buf + n > this.userMax) return "buffer outside user space";
    for (let v = Math.floor(buf / P); v * P < buf + n; v++) {
      const pg = p.pages.get(v);
      if (pg === undefined) return `page ${hex(v * P)} is not mapped`;
      if (write ? (pg.prot & PROT_WRITE) === 0 : pg.prot === PROT_NONE)
        return `page ${hex(v * P)} is ${protName(pg.prot)}`;
      if (pg.cell.pastEof()) return `page ${hex(v * P)} is past the end of its file`;
    }
    return undefined;
  }

  /**
   * uvm_vslock / vslock: wiring the buffer faults each page with the entry's full protection
   * (UVM uvm_fault_wire: enter_prot; FreeBSD vm_fault with VM_FAULT_WIRE: fs.prot; 4.4BSD
   * vm_map_pageable shadows writable needs-copy entries), so a writable MAP_PRIVATE file page is
   * copied now, for write(2) as for read(2); a read-only one still shows the file.
   */
  private vslock(p: ModelProcess, buf: number, n: number): void {
    for (let v = Math.floor(buf / P); v * P < buf + n; v++) wireContent(p.pages.get(v)!);
  }

  /**
   * What read(2) (`write` false) or write(2) of n bytes at buf would do, without doing it: the
   * errno, or the byte count it would transfer (0 for a read at or past EOF, which wires nothing).
   * The checks are readFd's and writeFd's, in their order.
   */
  rdwrCheck(pid: number, fd: number, buf: number, n: number, write: boolean): SysResult<number> {
    this.running(pid);
    const fp = this.openFile(pid, fd);
    if (fp === undefined) return err("EBADF", `fd ${fd} is not open`);
    if (!isInt(n) || !isInt(buf)) return err("EINVAL", "an argument is not an integer");
    if (!write && (fp.flags & O_ACCMODE) === O_WRONLY) return err("EBADF", `fd ${fd} is not open for reading`);
    if (write && (fp.flags & O_ACCMODE) === O_RDONLY) return err("EBADF", `fd ${fd} is not open for writing`);
    if (n < 0) return err("EINVAL", "negative byte count");
    const at = write && fp.flags & O_APPEND ? fp.file.size : fp.offset;
    const cnt = write ? n : Math.max(0, Math.min(n, fp.file.size - at));
    if (cnt === 0) return ok(0);
    if (write && at + n > MAX_FILE_SIZE) return err("EFBIG", "past the largest file");
    const bad = this.bufferFault(pid, buf, cnt, !write);
    if (bad !== undefined) return err("EFAULT", bad);
    return ok(cnt);
  }

  /**
   * read(2): up to n bytes from the offset into user memory at buf, through the cache. The buffer
   * is wired first (vslock, which resolves copy-on-write on every page it spans: they are all
   * writable, or the call is EFAULT). (While memory pressure is held the wiring may instead find
   * no memory: ENOMEM with nothing done, decision 0011; the harness accepts that by rdwrCheck.)
   */
  readFd(pid: number, fd: number, buf: number, n: number): SysResult<number> {
    const p = this.running(pid);
    const r = this.rdwrCheck(pid, fd, buf, n, false);
    if (!r.ok || r.value === 0) return r;
    const fp = this.openFile(pid, fd)!;
    const cnt = r.value;
    this.vslock(p, buf, cnt);
    const bytes = fp.file.read(fp.offset, cnt);
    for (let i = 0; i < cnt; i++) {
      const a = buf + i;
      const c = p.pages.get(Math.floor(a / P))!.cell;
      const b = bytes[i];
      if (b === null || b === undefined) c.forgetByte(a % P);
      else c.write(a % P, b);
    }
    fp.offset += cnt;
    return ok(cnt);
  }

  /**
   * write(2): n bytes of user memory at buf into the file at the offset (O_APPEND: at EOF, where
   * the offset moves even when a later check fails, as the kernel's does). (Under held memory
   * pressure: ENOMEM with nothing written is possible too, decision 0011.)
   */
  writeFd(pid: number, fd: number, buf: number, n: number): SysResult<number> {
    const r = this.rdwrCheck(pid, fd, buf, n, true);
    const fp = this.openFile(pid, fd);
    if (fp === undefined) return r;
    if (r.ok ? r.value > 0 : r.errno === "EFBIG" || r.errno === "EFAULT") this.appendSeek(fp);
    if (!r.ok || r.value === 0) return r;
    this.vslock(this.proc(pid), buf, n);
    fp.file.write(fp.offset, this.peek(pid, buf, n));
    fp.offset += n;
    return ok(n);
  }

  /**
   * A read(2) or write(2) whose buffer could not be wired for want of memory while pressure was
   * held (ENOMEM, decision 0011): nothing was transferred, and the only trace is O_APPEND's move
   * of the offset to EOF, which a write makes before it wires.
   */
  rdwrShortage(pid: number, fd: number, write: boolean): void {
    const fp = this.openFile(pid, fd);
    if (write && fp !== undefined) this.appendSeek(fp);
  }

  /** O_APPEND: a write starts at EOF. */
  private appendSeek(fp: ModelOpenFile): void {
    if (fp.flags & O_APPEND) fp.offset = fp.file.size;
  }

  /** lseek(2) */
  lseek(pid: number, fd: number, offset: number, whence: number): SysResult<number> {
    this.running(pid);
    const fp = this.openFile(pid, fd);
    if (fp === undefined) return err("EBADF", `fd ${fd} is not open`);
    if (!isInt(offset) || !isInt(whence)) return err("EINVAL", "an argument is not an integer");
    const base =
      whence === SEEK_SET ? 0 : whence === SEEK_CUR ? fp.offset : whence === SEEK_END ? fp.file.size : Number.NaN;
    if (Number.isNaN(base)) return err("EINVAL", `whence ${whence}`);
    if (base + offset < 0) return err("EINVAL", "resulting offset is negative");
    fp.offset = base + offset;
    return ok(fp.offset);
  }

  /**
   * ftruncate(2): NetBSD sys_ftruncate refuses a descriptor not open for writing (EINVAL).
   * Shrinking takes the pages past the new EOF away from every shared mapping and from every
   * private page not yet copied (SIGBUS there); growing makes them exist again, zero-filled.
   */
  ftruncate(pid: number, fd: number, length: number): SysResult {
    this.running(pid);
    const fp = this.openFile(pid, fd);
    if (fp === undefined) return err("EBADF", `fd ${fd} is not open`);
    if (!isInt(length)) return err("EINVAL", "length not an integer");
    if ((fp.flags & O_ACCMODE) === O_RDONLY) return err("EINVAL", `fd ${fd} is not open for writing`);
    if (length < 0) return err("EINVAL", "negative length");
    if (length > MAX_FILE_SIZE) return err("EFBIG", "past the largest file");
    fp.file.truncate(length);
    return OK;
  }

  // ---------------------------------------------------------------- SysV shared memory

  /**
   * shmget(2), NetBSD sysv_shm.c: an existing key (not IPC_PRIVATE) is found unless removed;
   * IPC_CREAT|IPC_EXCL on it is EEXIST, a larger size EINVAL; a missing key without IPC_CREAT is
   * ENOENT; a new segment must be 1..shmmax bytes. The kernel chooses the id: pass it as `chosen`.
   */
  shmget(pid: number, key: number, size: number, flags: number, chosen?: number): SysResult<number> {
    const p = this.running(pid);
    if (![key, size, flags].every(isInt)) return err("EINVAL", "an argument is not an integer");
    if (key !== IPC_PRIVATE) {
      const s = [...this.segments.values()].find((x) => !x.removed && x.key === key);
      if (s !== undefined) {
        if (flags & IPC_CREAT && flags & IPC_EXCL) return err("EEXIST", `key ${key} exists`);
        if (size > s.size) return err("EINVAL", `size ${size} is larger than the segment's ${s.size}`);
        if (chosen !== undefined && chosen !== s.id)
          throw new ModelViolation(`shmget(${key}) returned ${chosen}, but the key names segment ${s.id}`);
        return ok(s.id);
      }
      if ((flags & IPC_CREAT) === 0) return err("ENOENT", `no segment with key ${key}`);
    }
    if (size < 1 || size > this.shmmax) return err("EINVAL", `size ${size} outside [1, shmmax]`);
    if (chosen === undefined) return ok(Number.NaN);
    if (this.segments.has(chosen)) throw new ModelViolation(`shmget returned ${chosen}, the id of a live segment`);
    const cells = Array.from({ length: Math.ceil(size / P) }, () => new Cell(true));
    this.segments.set(chosen, {
      id: chosen,
      key,
      size,
      cells,
      nattch: 0,
      cpid: p.pid,
      removed: false,
      locked: false,
    });
    return ok(chosen);
  }

  /** shm_find_segment_by_shmid: a removed segment is no longer found (EINVAL), as on NetBSD and FreeBSD. */
  private segment(id: number): ModelShm | undefined {
    const s = this.segments.get(id);
    return s === undefined || s.removed ? undefined : s;
  }

  /**
   * shmat(2): SHM_RND rounds the address down to SHMLBA (a page), an unaligned one is EINVAL, as
   * is a range outside user space. The segment is mapped shared (inherited shared by fork), read-only
   * with SHM_RDONLY; the kernel chooses the address when addr is 0 (pass it as `chosen`).
   */
  shmat(pid: number, id: number, addr: number, flags: number, chosen?: number): SysResult<number> {
    const p = this.running(pid);
    if (![id, addr, flags].every(isInt)) return err("EINVAL", "an argument is not an integer");
    const s = this.segment(id);
    if (s === undefined) return err("EINVAL", `no segment ${id}`);
    const size = s.cells.length * P;
    let va = addr;
    if (va !== 0) {
      if (flags & SHM_RND) va -= va % P;
      else if (va % P !== 0) return err("EINVAL", "address not aligned to SHMLBA");
      if (!this.inUser(va, size)) return err("EINVAL", "address outside user space");
      // uvm_map / vm_map_find without "replace": an occupied range is no space (ENOMEM); only
      // Linux's SHM_REMAP replaces what is there.
      const busy = this.firstMapped(p, va, size);
      if (busy !== undefined) return err("ENOMEM", `page ${hex(busy)} is already mapped`);
    } else {
      if (chosen === undefined) return ok(Number.NaN);
      this.checkChosen(p, chosen, size, "shmat");
      va = chosen;
    }
    const prot = flags & SHM_RDONLY ? PROT_READ : PROT_READ | PROT_WRITE;
    let i = 0;
    for (const v of this.vpns(va, size)) {
      p.pages.set(v, { prot, maxProt: prot, inherit: INHERIT_SHARE, wired: false, cell: s.cells[i++]! });
    }
    s.nattch++;
    p.shm.push({ va, size, seg: s });
    return ok(va);
  }

  /** shmdt(2): the address must be where a segment was attached; the range is unmapped. */
  shmdt(pid: number, addr: number): SysResult {
    const p = this.running(pid);
    if (!isInt(addr)) return err("EINVAL", "address not an integer");
    const i = p.shm.findIndex((a) => a.va === addr);
    if (i < 0) return err("EINVAL", "no segment attached at that address");
    const a = p.shm.splice(i, 1)[0]!;
    for (const v of this.vpns(a.va, a.size)) p.pages.delete(v);
    this.detached(a.seg);
    return OK;
  }

  /** One attachment fewer: a removed segment goes at its last detach (shm_delete_mapping). */
  private detached(s: ModelShm): void {
    s.nattch--;
    if (s.removed && s.nattch === 0) this.segments.delete(s.id);
  }

  /**
   * shmctl(2): IPC_STAT, IPC_SET, IPC_RMID (the key becomes private at once, the memory goes at
   * the last detach), SHM_LOCK / SHM_UNLOCK (wiring, invisible to the model except in IPC_STAT).
   */
  shmctl(pid: number, id: number, cmd: number): SysResult<ModelShm | undefined> {
    this.running(pid);
    if (!isInt(id) || !isInt(cmd)) return err("EINVAL", "an argument is not an integer");
    const s = this.segment(id);
    if (s === undefined) return err("EINVAL", `no segment ${id}`);
    switch (cmd) {
      case IPC_STAT:
        return ok(s);
      case IPC_SET:
        return ok(undefined);
      case IPC_RMID:
        s.key = IPC_PRIVATE;
        s.removed = true;
        if (s.nattch === 0) this.segments.delete(s.id);
        return ok(undefined);
      case SHM_LOCK:
      case SHM_UNLOCK:
        s.locked = cmd === SHM_LOCK;
        return ok(undefined);
      default:
        return err("EINVAL", `command ${cmd}`);
    }
  }

  /** A kernel-chosen address must be aligned, inside user space and clear of live pages. */
  private checkChosen(p: ModelProcess, chosen: number, size: number, call: string): void {
    if (!isInt(chosen) || chosen % P !== 0) {
      throw new ModelViolation(`${call} returned ${hex(chosen)}, which is not page aligned`);
    }
    if (!this.inUser(chosen, size)) {
      throw new ModelViolation(
        `${call} returned ${hex(chosen)}+${hex(size)}, outside the user range ${hex(this.userMin)}..${hex(this.userMax)}`,
      );
    }
    const busy = this.firstMapped(p, chosen, size);
    if (busy !== undefined) {
      throw new ModelViolation(`${call} returned ${hex(chosen)}+${hex(size)}, overlapping the live page ${hex(busy)}`);
    }
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
      const bus = canSucceed ? this.eofFault(p, a) : undefined;
      if (bus !== undefined) {
        faults.push(bus);
        canSucceed = false;
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

  /**
   * A page wholly past the end of its file does not exist: the access that the protection allows
   * is SIGBUS/BUS_ADRERR (vm_fault: the pager has no page; the protection is checked first).
   */
  private eofFault(p: ModelProcess, a: number): ModelFault | undefined {
    const pg = p.pages.get(Math.floor(a / P));
    if (pg === undefined || !pg.cell.pastEof()) return undefined;
    return { signal: "SIGBUS", code: "BUS_ADRERR", addr: a, why: "page wholly past the end of the file" };
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
      out.push(pg === undefined || pg.cell.pastEof() ? null : pg.cell.byte(a % P));
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

/**
 * Wiring a writable MAP_PRIVATE file page (mlock, MAP_WIRED, MCL_FUTURE, or the transient wiring
 * of read(2)/write(2)) resolves its copy-on-write first (4.4BSD vm_map_pageable shadows needs-copy
 * entries and faults with the entry's protection; UVM uvm_fault_wire faults with full access;
 * FreeBSD vm_fault with VM_FAULT_WIRE), so from then on it no longer shows the file. Wiring file
 * pages past EOF is not modelled (the harness never asks).
 */
function wireContent(pg: ModelPage): void {
  if (pg.cell instanceof PrivateView && pg.prot & PROT_WRITE && !pg.cell.pastEof()) pg.cell.materialize();
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
