/**
 * Model-based commands for files, SysV shared memory, memory pressure and threads on several CPUs
 * (issue #4): file mappings (MAP_SHARED and MAP_PRIVATE at offsets), read(2)/write(2)/lseek(2)
 * between files and user memory, ftruncate(2) shrinking and growing under mappings, shmget/shmat/
 * shmdt/shmctl, memory pressure held across other commands, and a thread on CPU 1 touching pages
 * the main thread unmaps or protects. Every outcome is the reference model's verdict.
 */
import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  SEEK_SET,
  SHM_LOCK,
  SHM_RDONLY,
  SHM_RND,
  SHM_UNLOCK,
} from "@vmlab/core";
import type { ShmidDs } from "@vmlab/kernel";
import fc from "fast-check";
import {
  api,
  Base,
  contentsIn,
  hex,
  Mismatch,
  type Observed,
  observe,
  pickPid,
  type Real,
  regionOf,
  remember,
  userAccess,
  type VmCommand,
  WINDOW_PAGES,
  type World,
} from "./commands.js";
import { FileView, PrivateView } from "./content.js";
import { protName, type SysResult } from "./model.js";

const P = PAGE_SIZE;

/** A call both sides agree succeeded must also return the model's value. */
function sameValue(call: string, exp: SysResult<unknown>, got: Observed<unknown>): void {
  if (exp.ok && got.kind === "ok" && typeof exp.value === "number" && exp.value !== got.value) {
    throw new Mismatch(`${call}: returned ${String(got.value)}, expected ${exp.value}`);
  }
}

// ------------------------------------------------------------------ file mappings

export interface FileMmapArgs {
  readonly p: number;
  readonly via: number;
  /** Which of the setup files. */
  readonly file: number;
  /** Page offset into the file (may start past EOF). */
  readonly offset: number;
  readonly pages: number;
  readonly prot: number;
  readonly shared: boolean;
  /** MAP_FIXED over the start of region `region` instead of a kernel-chosen address. */
  readonly fixed: boolean;
  readonly region: number;
}

/** mmap(2) of one of the setup files, shared or private, at a page offset. */
export class FileMmapCommand extends Base {
  constructor(readonly a: FileMmapArgs) {
    super();
  }

  /** Not under mlockall(MCL_FUTURE): wiring file pages is not modelled past EOF. */
  override check(w: Readonly<World>): boolean {
    return w.files.length > 0 && !w.model.proc(pickPid(w as World, this.a.p)).wireFuture;
  }

  toString(): string {
    const a = this.a;
    return `mmapFile(p${a.p}${a.via ? "/t1" : ""}, f${a.file}+${a.offset}p, ${a.pages}p, ${protName(a.prot)}, ${a.shared ? "SHARED" : "PRIVATE"}${a.fixed ? `, FIXED r${a.region}` : ""})`;
  }

  protected exec(w: World, r: Real): void {
    const a = this.a;
    const pid = pickPid(w, a.p);
    const fd = w.fds[a.file % w.fds.length]!;
    const addr = a.fixed ? regionOf(w, pid, a.region).start : 0;
    const flags = (a.shared ? MAP_SHARED : MAP_PRIVATE) | (a.fixed ? MAP_FIXED : 0);
    const len = a.pages * P;
    const off = a.offset * P;
    const call = `[${pid}] mmap(${hex(addr)}, ${hex(len)}, ${protName(a.prot)}, ${hex(flags)}, ${fd}, ${hex(off)})`;
    const got = observe(() => api(w, r, pid, a.via).mmap(addr, len, a.prot, flags, fd, off));
    let exp: SysResult<number>;
    try {
      exp = w.model.mmap(pid, addr, len, a.prot, flags, fd, off, got.kind === "ok" ? got.value : undefined);
    } catch (e) {
      this.record(r, `${call} → ${got.kind === "ok" ? hex(got.value) : got.kind}`);
      throw e;
    }
    this.expectSys(r, call, exp, got);
    if (exp.ok && got.kind === "ok") {
      if (a.fixed && got.value !== addr) throw new Mismatch(`${call}: MAP_FIXED returned ${hex(got.value)}`);
      remember(w, pid, got.value, a.pages, "file");
    }
  }
}

// ------------------------------------------------------------------ read(2) / write(2)

export interface FileIoArgs {
  readonly p: number;
  readonly via: number;
  readonly op: "read" | "write";
  readonly file: number;
  /** File offset: page and byte. */
  readonly page: number;
  readonly slot: number;
  readonly len: number;
  /** The user buffer: region, page within it, byte. */
  readonly region: number;
  readonly bpage: number;
  readonly bslot: number;
}

/** lseek(fd, off, SEEK_SET), then read(2) or write(2) between the file and a user buffer. */
export class FileIoCommand extends Base {
  constructor(readonly a: FileIoArgs) {
    super();
  }

  private where(w: World, pid: number): { fd: number; off: number; buf: number } {
    const a = this.a;
    const reg = regionOf(w, pid, a.region);
    return {
      fd: w.fds[a.file % w.fds.length]!,
      off: a.page * P + a.slot,
      buf: reg.start + (a.bpage % (reg.pages + 1)) * P + a.bslot,
    };
  }

  /**
   * The buffer must not map the same file (the copy would overlap itself, and its order is the
   * kernel's business), and a call that fails with EFAULT must not span a private file page not
   * yet copied (whether wiring it copied it before the failure differs between the BSDs) — nor
   * may one while memory pressure is held, when the wiring may fail half-way with ENOMEM.
   */
  override check(w: Readonly<World>): boolean {
    if (w.files.length === 0) return false;
    const pid = pickPid(w as World, this.a.p);
    const { fd, off, buf } = this.where(w as World, pid);
    const fp = w.model.openFile(pid, fd);
    if (fp === undefined) return true;
    const n = this.a.op === "read" ? Math.max(0, Math.min(this.a.len, fp.file.size - off)) : this.a.len;
    const touched = contentsIn(w, pid, buf, n);
    const sameFile = touched.some((c) => (c instanceof FileView || c instanceof PrivateView) && c.file === fp.file);
    if (sameFile) return false;
    if (n > 0 && (w.pressure || w.model.bufferFault(pid, buf, n, this.a.op === "read") !== undefined)) {
      return !touched.some((c) => c instanceof PrivateView && c.copy === null);
    }
    return true;
  }

  toString(): string {
    const a = this.a;
    return `${a.op}(p${a.p}${a.via ? "/t1" : ""}, f${a.file}@${a.page}p+${hex(a.slot)}, ${hex(a.len)}, r${a.region}+${a.bpage}p+${hex(a.bslot)})`;
  }

  /** An ENOMEM the buffer's wiring may give under held pressure (shortageAccepted), recorded. */
  private bufferShortage(w: World, r: Real, pid: number, fd: number, buf: number, got: Observed<number>): boolean {
    const a = this.a;
    if (!shortageAccepted(w, pid, fd, buf, a.len, a.op === "write", got)) return false;
    const call = `[${pid}] ${a.op}(${fd}, ${hex(buf)}, ${hex(a.len)})`;
    this.note(call);
    this.record(r, `${call} → ENOMEM under memory pressure (accepted: the buffer could not be wired; nothing moved)`);
    return true;
  }

  protected exec(w: World, r: Real): void {
    const a = this.a;
    const pid = pickPid(w, a.p);
    const u = api(w, r, pid, a.via);
    const { fd, off, buf } = this.where(w, pid);
    const seekCall = `[${pid}] lseek(${fd}, ${hex(off)}, SEEK_SET)`;
    const sgot = observe(() => u.lseek(fd, off, SEEK_SET));
    const sexp = w.model.lseek(pid, fd, off, SEEK_SET);
    this.expectSys(r, seekCall, sexp, sgot);
    sameValue(seekCall, sexp, sgot);
    const call = `[${pid}] ${a.op}(${fd}, ${hex(buf)}, ${hex(a.len)})`;
    const got = observe(() => (a.op === "read" ? u.read(fd, buf, a.len) : u.write(fd, buf, a.len)));
    if (this.bufferShortage(w, r, pid, fd, buf, got)) return;
    const exp = a.op === "read" ? w.model.readFd(pid, fd, buf, a.len) : w.model.writeFd(pid, fd, buf, a.len);
    this.expectSys(r, call, exp, got);
    sameValue(call, exp, got);
    if (a.op === "read" && got.kind === "ok" && got.value > 0) {
      // What landed in the buffer, read back at once through the same thread.
      userAccess(w, r, u, pid, "readBytes", buf, Math.min(got.value, 64) - 1, (c) => this.note(c));
    }
  }
}

/**
 * Decision 0011: while memory pressure is held, the transient wiring of the user buffer (vslock)
 * may find no memory even by waiting. NetBSD's uvm_fault answers ENOMEM once nothing is
 * reclaimable, uvm_fault_wire and uvm_vslock pass it on, and physio returns it with nothing of the
 * chunk transferred (dofileread turns only ERESTART/EINTR/EWOULDBLOCK after a partial transfer into
 * success). Accepted only then, only as ENOMEM, and only where the model says the call would move
 * bytes (a read at EOF wires nothing): nothing is transferred, the offset stays (O_APPEND's move to
 * EOF aside), and later reads of the file and the buffer check it.
 */
function shortageAccepted(
  w: World,
  pid: number,
  fd: number,
  buf: number,
  len: number,
  write: boolean,
  got: Observed<number>,
): boolean {
  if (!w.pressure || got.kind !== "errno" || got.code !== "ENOMEM") return false;
  const would = w.model.rdwrCheck(pid, fd, buf, len, write);
  if (!would.ok || would.value === 0) return false;
  w.model.rdwrShortage(pid, fd, write);
  return true;
}

/** ftruncate(2) of a setup file to `pages` pages and `slop` bytes (shrinking or growing). */
export class FtruncateCommand extends Base {
  constructor(
    readonly p: number,
    readonly file: number,
    readonly pages: number,
    readonly slop: number,
  ) {
    super();
  }

  override check(w: Readonly<World>): boolean {
    return w.files.length > 0;
  }

  toString(): string {
    return `ftruncate(p${this.p}, f${this.file}, ${this.pages}p${this.slop >= 0 ? "+" : ""}${this.slop})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const fd = w.fds[this.file % w.fds.length]!;
    const len = Math.max(0, this.pages * P + this.slop);
    const call = `[${pid}] ftruncate(${fd}, ${hex(len)})`;
    const got = observe(() => r.procs.get(pid)!.ftruncate(fd, len));
    this.expectSys(r, call, w.model.ftruncate(pid, fd, len), got);
  }
}

// ------------------------------------------------------------------ SysV shared memory

const SHM_KEYS = [IPC_PRIVATE, 0x5301, 0x5302] as const;

/** A segment id to aim at: one shmget returned (newest first), or one that never existed. */
function segId(w: World, index: number): number {
  const n = w.segs.length;
  if (n === 0 || index >= 2 * n) return 0x7fff_0000 + index;
  return w.segs[n - 1 - (index % n)]!;
}

export class ShmgetCommand extends Base {
  constructor(
    readonly p: number,
    readonly key: number,
    readonly pages: number,
    readonly slop: number,
    readonly flags: number,
  ) {
    super();
  }

  toString(): string {
    return `shmget(p${this.p}, key${this.key}, ${this.pages}p-${this.slop}, ${hex(this.flags)})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const key = SHM_KEYS[this.key % SHM_KEYS.length]!;
    const size = this.pages * P - this.slop;
    const call = `[${pid}] shmget(${hex(key)}, ${hex(size)}, ${hex(this.flags)})`;
    const got = observe(() => r.procs.get(pid)!.shmget(key, size, this.flags | 0o600));
    let exp: SysResult<number>;
    try {
      exp = w.model.shmget(pid, key, size, this.flags, got.kind === "ok" ? got.value : undefined);
    } catch (e) {
      this.record(r, `${call} → ${got.kind === "ok" ? got.value : got.kind}`);
      throw e;
    }
    this.expectSys(r, call, exp, got);
    if (got.kind === "ok" && !w.segs.includes(got.value)) {
      w.segs.push(got.value);
      if (w.segs.length > 8) w.segs.shift();
    }
  }
}

export type ShmPlacement = "any" | "occupied" | "window";

export class ShmatCommand extends Base {
  constructor(
    readonly p: number,
    readonly via: number,
    readonly seg: number,
    readonly rdonly: boolean,
    readonly placement: ShmPlacement,
    readonly slot: number,
  ) {
    super();
  }

  toString(): string {
    return `shmat(p${this.p}${this.via ? "/t1" : ""}, s${this.seg}, ${this.placement}${this.rdonly ? ", RDONLY" : ""})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const id = segId(w, this.seg);
    let addr = 0;
    let flags = this.rdonly ? SHM_RDONLY : 0;
    if (this.placement === "occupied") addr = regionOf(w, pid, 0).start;
    else if (this.placement === "window") {
      addr = w.window + (this.slot % WINDOW_PAGES) * P + 123;
      flags |= SHM_RND;
    }
    const call = `[${pid}] shmat(${id}, ${hex(addr)}, ${hex(flags)})`;
    const got = observe(() => api(w, r, pid, this.via).shmat(id, addr, flags));
    let exp: SysResult<number>;
    try {
      exp = w.model.shmat(pid, id, addr, flags, got.kind === "ok" ? got.value : undefined);
    } catch (e) {
      this.record(r, `${call} → ${got.kind === "ok" ? hex(got.value) : got.kind}`);
      throw e;
    }
    this.expectSys(r, call, exp, got);
    sameValue(call, exp, got);
    if (exp.ok && got.kind === "ok") {
      const seg = w.model.segments.get(id)!;
      remember(w, pid, got.value, seg.cells.length, "shm");
    }
  }
}

export class ShmdtCommand extends Base {
  constructor(
    readonly p: number,
    readonly which: number,
  ) {
    super();
  }

  toString(): string {
    return `shmdt(p${this.p}, a${this.which})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const attached = w.model.proc(pid).shm;
    // Past the attachments: an address where nothing is attached (EINVAL).
    const addr =
      this.which < attached.length ? attached[attached.length - 1 - this.which]!.va : regionOf(w, pid, 0).start + P;
    const call = `[${pid}] shmdt(${hex(addr)})`;
    const got = observe(() => r.procs.get(pid)!.shmdt(addr));
    this.expectSys(r, call, w.model.shmdt(pid, addr), got);
  }
}

const SHMCTL_CMDS = [IPC_STAT, IPC_RMID, SHM_LOCK, SHM_UNLOCK, 99] as const;

export class ShmctlCommand extends Base {
  constructor(
    readonly p: number,
    readonly seg: number,
    readonly cmd: number,
  ) {
    super();
  }

  toString(): string {
    return `shmctl(p${this.p}, s${this.seg}, ${this.cmd})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const id = segId(w, this.seg);
    const cmd = this.cmd;
    const call = `[${pid}] shmctl(${id}, ${cmd})`;
    const got = observe(() => r.procs.get(pid)!.shmctl(id, cmd));
    const exp = w.model.shmctl(pid, id, cmd);
    this.expectSys(r, call, exp, got);
    if (cmd === IPC_STAT && exp.ok && exp.value !== undefined && got.kind === "ok") {
      const ds = got.value as ShmidDs;
      const s = exp.value;
      const want = { shm_segsz: s.size, shm_nattch: s.nattch, shm_cpid: s.cpid, locked: s.locked };
      const have = { shm_segsz: ds.shm_segsz, shm_nattch: ds.shm_nattch, shm_cpid: ds.shm_cpid, locked: ds.locked };
      this.record(r, `  IPC_STAT ${JSON.stringify(have)}`);
      if (JSON.stringify(want) !== JSON.stringify(have)) {
        throw new Mismatch(`${call}: IPC_STAT ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`);
      }
    }
  }
}

/**
 * Every wiring let go — munlockall, then SHM_UNLOCK of every segment the model says is locked —
 * and the kernel's wired-page count (`vm.page.wired`) must fall by exactly the pages the model
 * says were wired: each page user-wired by mlock and each page of a locked segment, once (a page
 * both locked and in a locked segment is one wired page); a locked segment removed while still
 * attached keeps its pages wired (its id no longer names it, so it cannot be unlocked). So mlock, SHM_LOCK and read(2)'s
 * transient wiring each give back exactly what they took, and the count returns to what it was
 * before any of them (NetBSD uvm_map_pageable's falling edge, uvm_obj_unwirepages,
 * uvm_vsunlock). Page tables the kernel wired meanwhile stay, and are not counted. Only while the
 * first process is the only one there ever was (copy-on-write sharing would blur "distinct").
 */
export class UnwireAllCommand extends Base {
  override check(w: Readonly<World>): boolean {
    return w.model.all().length === 1;
  }

  toString(): string {
    return "unwireAll()";
  }

  protected exec(w: World, r: Real): void {
    const pid = w.root;
    const proc = r.procs.get(pid)!;
    // A segment removed while attached cannot be named any more: its lock stays until it goes.
    const kept = new Set<unknown>();
    for (const s of w.model.segments.values()) if (s.locked && s.removed) for (const c of s.cells) kept.add(c);
    const held = new Set<unknown>();
    for (const pg of w.model.proc(pid).pages.values()) if (pg.wired && !kept.has(pg.cell)) held.add(pg.cell);
    for (const s of w.model.segments.values()) if (s.locked && !s.removed) for (const c of s.cells) held.add(c);
    const before = r.sys.stats()["vm.page.wired"] ?? 0;
    this.expectSys(
      r,
      `[${pid}] munlockall()`,
      w.model.munlockall(pid),
      observe(() => proc.munlockall()),
    );
    for (const s of [...w.model.segments.values()]) {
      if (!s.locked || s.removed) continue;
      const call = `[${pid}] shmctl(${s.id}, SHM_UNLOCK)`;
      this.expectSys(
        r,
        call,
        w.model.shmctl(pid, s.id, SHM_UNLOCK),
        observe(() => proc.shmctl(s.id, SHM_UNLOCK)),
      );
    }
    const after = r.sys.stats()["vm.page.wired"] ?? 0;
    this.record(r, `  vm.page.wired ${before} → ${after} (the model held ${held.size} pages wired)`);
    if (before - after !== held.size) {
      throw new Mismatch(
        `unwireAll: letting every mlock and SHM_LOCK go took vm.page.wired from ${before} to ${after}, ` +
          `but the model held ${held.size} distinct pages wired`,
      );
    }
  }
}

// ------------------------------------------------------------------ memory pressure

/**
 * Hold all but `leave` free pages away (the pageout daemon pushes pages to swap and to their
 * files) and keep holding them while later commands run; `leave` null gives them back. Paging must
 * be invisible: the model does not change.
 */
export class PressureCommand extends Base {
  constructor(readonly leave: number | null) {
    super();
  }

  toString(): string {
    return this.leave === null ? "relief()" : `pressure(leave ${this.leave})`;
  }

  protected exec(w: World, r: Real): void {
    const sys = r.sys;
    w.pressure = this.leave !== null;
    if (this.leave === null) {
      this.note("memoryPressure(0)");
      sys.memoryPressure(0);
      r.transcript.push(`relief: ${sys.vm.freePages} free`);
      return;
    }
    const hold = Math.max(0, sys.vm.freePages - this.leave);
    this.note(`memoryPressure(${hold})`);
    sys.memoryPressure(hold);
    const st = sys.stats();
    r.transcript.push(
      `pressure: holding ${hold}, ${sys.vm.freePages} free; swapout ${st["vm.swapout"] ?? 0}, pageout ${st["vm.pageout"] ?? 0}`,
    );
  }
}

// ------------------------------------------------------------------ threads on several CPUs

export type SmpOp = "munmap" | "mprotect" | "mmap-fixed";

/**
 * A thread of the process on CPU 1 touches pages (its TLB caches them), the main thread on CPU 0
 * unmaps, protects or replaces them, and the thread touches them again: a missed shootdown shows
 * as an access the model forbids, or stale bytes.
 */
export class SmpCommand extends Base {
  constructor(
    readonly p: number,
    readonly region: number,
    readonly page: number,
    readonly pages: number,
    readonly op: SmpOp,
    readonly prot: number,
    readonly value: number,
  ) {
    super();
  }

  override check(w: Readonly<World>): boolean {
    return w.cpus >= 2;
  }

  toString(): string {
    const arg = this.op === "munmap" ? "" : `, ${protName(this.prot)}`;
    return `smp(p${this.p}, r${this.region}+${this.page}p×${this.pages}, ${this.op}${arg})`;
  }

  protected exec(w: World, r: Real): void {
    const pid = pickPid(w, this.p);
    const t1 = api(w, r, pid, 1);
    const main = r.procs.get(pid)!;
    const reg = regionOf(w, pid, this.region);
    const start = reg.start + this.page * P;
    const len = this.pages * P;
    const note = (c: string) => this.note(c);
    for (let i = 0; i < this.pages; i++) userAccess(w, r, t1, pid, "load32", start + i * P + 8, 0, note);
    const flagsFixed = MAP_ANON | MAP_PRIVATE | MAP_FIXED;
    let call: string;
    let got: Observed<unknown>;
    let exp: SysResult<unknown>;
    switch (this.op) {
      case "munmap":
        call = `[${pid}] munmap(${hex(start)}, ${hex(len)})`;
        got = observe(() => main.munmap(start, len));
        exp = w.model.munmap(pid, start, len);
        break;
      case "mprotect":
        call = `[${pid}] mprotect(${hex(start)}, ${hex(len)}, ${protName(this.prot)})`;
        got = observe(() => main.mprotect(start, len, this.prot));
        exp = w.model.mprotect(pid, start, len, this.prot);
        break;
      case "mmap-fixed":
        call = `[${pid}] mmap(${hex(start)}, ${hex(len)}, ${protName(this.prot)}, MAP_ANON|MAP_PRIVATE|MAP_FIXED)`;
        got = observe(() => main.mmap(start, len, this.prot, flagsFixed, -1, 0));
        exp = w.model.mmap(pid, start, len, this.prot, flagsFixed, -1, 0);
        break;
    }
    this.expectSys(r, call, exp, got);
    for (let i = 0; i < this.pages; i++) {
      userAccess(w, r, t1, pid, "store32", start + i * P + 8, this.value + i, note);
      userAccess(w, r, t1, pid, "load32", start + i * P + 8, 0, note);
    }
  }
}

// ------------------------------------------------------------------ arbitraries

const procArb = fc.nat({ max: 7 });
const viaArb = fc.constantFrom(0, 0, 1);
const regionArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 0, 1, 2) },
  { weight: 1, arbitrary: fc.nat({ max: 15 }) },
);

export const fileMmapArb: fc.Arbitrary<VmCommand> = fc
  .record({
    p: procArb,
    via: viaArb,
    file: fc.nat({ max: 2 }),
    offset: fc.constantFrom(0, 0, 0, 1, 2, 3),
    pages: fc.integer({ min: 1, max: 4 }),
    prot: fc.constantFrom(1, 3, 3, 3, 3, 5, 0),
    shared: fc.boolean(),
    fixed: fc.constantFrom(false, false, false, false, true),
    region: fc.nat({ max: 3 }),
  })
  .map((a) => new FileMmapCommand(a));

function fileIoArbOf(op: "read" | "write"): fc.Arbitrary<VmCommand> {
  return fc
    .record({
      p: procArb,
      via: viaArb,
      op: fc.constant(op),
      file: fc.nat({ max: 2 }),
      page: fc.constantFrom(0, 0, 1, 2, 3),
      slot: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(0, 8, 96, P - 8) },
        { weight: 1, arbitrary: fc.nat({ max: P - 1 }) },
      ),
      len: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(4, 16, 200) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 * P }) },
      ),
      region: regionArb,
      bpage: fc.constantFrom(0, 0, 1, 2),
      bslot: fc.constantFrom(0, 8, P - 16, 100),
    })
    .map((a) => new FileIoCommand(a));
}

/** lseek + read(2) into a user buffer. */
export const fileReadArb = fileIoArbOf("read");
/** lseek + write(2) from a user buffer. */
export const fileWriteArb = fileIoArbOf("write");

function ftruncateArbOf(slops: readonly number[]): fc.Arbitrary<VmCommand> {
  return fc
    .tuple(procArb, fc.nat({ max: 2 }), fc.nat({ max: 4 }), fc.constantFrom(...slops))
    .map(([p, f, pages, slop]) => new FtruncateCommand(p, f, pages, slop));
}

/** ftruncate(2) to a whole number of pages. */
export const ftruncateArb = ftruncateArbOf([0]);
/** ftruncate(2) to a size inside a page (the new last page is partial: zero-filled past EOF). */
export const ftruncatePartialArb = ftruncateArbOf([100, -100, 2000]);

export const shmgetArb: fc.Arbitrary<VmCommand> = fc
  .tuple(
    procArb,
    fc.nat({ max: 2 }),
    fc.integer({ min: 1, max: 4 }),
    fc.constantFrom(0, 0, 100),
    fc.constantFrom(IPC_CREAT, IPC_CREAT, IPC_CREAT | IPC_EXCL, 0),
  )
  .map(([p, key, pages, slop, flags]) => new ShmgetCommand(p, key, pages, slop, flags));

function shmatArbOf(placements: readonly ShmPlacement[]): fc.Arbitrary<VmCommand> {
  return fc
    .tuple(
      procArb,
      viaArb,
      fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 2 }) }, { weight: 1, arbitrary: fc.nat({ max: 20 }) }),
      fc.constantFrom(false, false, false, true),
      fc.constantFrom(...placements),
      fc.nat({ max: WINDOW_PAGES - 1 }),
    )
    .map(([p, via, seg, ro, place, slot]) => new ShmatCommand(p, via, seg, ro, place, slot));
}

/** shmat at a kernel-chosen address. */
export const shmatArb = shmatArbOf(["any"]);
/** shmat at a given address: an occupied one (ENOMEM: no replacing), or a window slot with SHM_RND. */
export const shmatFixedArb = shmatArbOf(["occupied", "window"]);

export const shmdtArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, fc.constantFrom(0, 0, 1, 2, 9))
  .map(([p, which]) => new ShmdtCommand(p, which));

export const shmctlArb: fc.Arbitrary<VmCommand> = fc
  .tuple(
    procArb,
    fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 2 }) }, { weight: 1, arbitrary: fc.nat({ max: 20 }) }),
    fc.constantFrom(...SHMCTL_CMDS, IPC_STAT, IPC_RMID),
  )
  .map(([p, seg, cmd]) => new ShmctlCommand(p, seg, cmd));

/**
 * shmctl SHM_LOCK / SHM_UNLOCK only, aimed at live segments: the segment lock as a wiring source of
 * its own, so a property can mix it with mlock/munlock and I/O often enough to reach their edges.
 */
export const shmLockArb: fc.Arbitrary<VmCommand> = fc
  .tuple(procArb, fc.nat({ max: 1 }), fc.constantFrom(SHM_LOCK, SHM_LOCK, SHM_UNLOCK))
  .map(([p, seg, cmd]) => new ShmctlCommand(p, seg, cmd));

export const unwireAllArb: fc.Arbitrary<VmCommand> = fc.constant(null).map(() => new UnwireAllCommand());

export const pressureArb: fc.Arbitrary<VmCommand> = fc
  .constantFrom<number | null>(0, 16, 64, null, null)
  .map((leave) => new PressureCommand(leave));

export const smpArb: fc.Arbitrary<VmCommand> = fc
  .tuple(
    procArb,
    regionArb,
    fc.constantFrom(0, 0, 1, 2),
    fc.integer({ min: 1, max: 3 }),
    fc.constantFrom<SmpOp>("munmap", "mprotect", "mprotect", "mmap-fixed"),
    fc.constantFrom(0, 1, 3, 5),
    fc.nat({ max: 0xffff_ff00 }),
  )
  .map(([p, reg, page, pages, op, prot, v]) => new SmpCommand(p, reg, page, pages, op, prot, v));
