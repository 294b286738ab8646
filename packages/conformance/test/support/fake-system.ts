/**
 * A test double of a System whose semantics come from the reference model itself, with optional
 * injected bugs. A faithful fake must pass every property and scenario (which checks the harness and
 * that the scenario tables agree with the model); each bug must be caught.
 */
import {
  type ErrnoName,
  INHERIT_COPY,
  INHERIT_SHARE,
  InvariantViolation,
  KernelPanic,
  MAP_FIXED,
  MAP_WIRED,
  MCL_CURRENT,
  MS_INVALIDATE,
  PAGE_SIZE,
  type SignalCode,
  SignalError,
  SyscallError,
} from "@vmlab/core";
import type { Process, System } from "@vmlab/kernel";
import { BsdModel, type SysResult } from "../../src/model.js";

export type FakeBug =
  /** fork shares private pages instead of copying them. */
  | "fork-shares-private"
  /** munlock of mapped but unlocked memory succeeds (FreeBSD behaviour). */
  | "munlock-unlocked-ok"
  /** msync(MS_INVALIDATE) panics. */
  | "panic-on-invalidate"
  /** The audit fails once mlockall(MCL_CURRENT) has run. */
  | "audit-after-mlockall"
  /** Non-fixed mmap returns an address overlapping the newest mapping. */
  | "mmap-overlaps";

/**
 * While memory pressure is held, every call that would wire pages not wired before fails, as a
 * kernel that finds no memory to wire does (decision 0011): with these errnos (by default the
 * ones the decision records), unwinding what it wired unless `noRollback`.
 */
export interface WireShortage {
  readonly mlock?: ErrnoName;
  readonly mlockall?: ErrnoName;
  readonly mprotect?: ErrnoName;
  readonly mmap?: ErrnoName;
  /** The failed call leaves the pages it wired wired (a kernel that does not unwind: a bug). */
  readonly noRollback?: boolean;
  /**
   * fork fails with this errno while pressure is held (the child's memory cannot be had);
   * undefined: fork works as usual.
   */
  readonly fork?: ErrnoName;
  /**
   * read(2)/write(2) that would move bytes fail with this errno while pressure is held (the
   * buffer cannot be wired); undefined: they work as usual.
   */
  readonly rdwr?: ErrnoName;
  /** A failed read(2) moves its bytes all the same (a kernel that fails after the transfer: a bug). */
  readonly rdwrTransfers?: boolean;
}

export interface FakeOptions {
  readonly machine?: "i386" | "i386-pae" | "amd64";
  readonly cpus?: number;
  readonly bugs?: readonly FakeBug[];
  readonly wireShortage?: WireShortage;
}

const P = PAGE_SIZE;

function unwrap<T>(call: string, r: SysResult<T>): T {
  if (!r.ok) throw new SyscallError(call, r.errno, r.why);
  return r.value;
}

export function fakeSystem(opts: FakeOptions = {}): System {
  const machine = opts.machine ?? "i386-pae";
  const bugs = new Set(opts.bugs ?? []);
  const userMin = P;
  const userMax = machine === "amd64" ? 0x7fff_ffff_f000 : 0xbfc0_0000;
  const model = new BsdModel({ userMin, userMax, nx: machine !== "i386" });
  let nextPid = 100;
  /** Like a kernel's count of wired pages: each page once, mlocked or in a SHM_LOCK'ed segment. */
  const wiredPages = () => {
    const held = new Set<unknown>();
    for (const p of model.live()) for (const pg of p.pages.values()) if (pg.wired) held.add(pg.cell);
    for (const seg of model.segments.values()) if (seg.locked) for (const c of seg.cells) held.add(c);
    return held.size;
  };
  let nextShm = 1;
  let held = false;
  const shortage = opts.wireShortage;
  /**
   * Run a model call that may wire pages; under held pressure with `shortage`, one that wired
   * pages not wired before fails with `errno` instead (undone unless noRollback).
   */
  function wiring<T>(pid: number, call: string, errno: ErrnoName, f: () => SysResult<T>): T {
    const before = model.wiredVpns(pid);
    const r = f();
    if (r.ok && held && shortage !== undefined && [...model.wiredVpns(pid)].some((v) => !before.has(v))) {
      if (!shortage.noRollback) model.undoWiring(pid, before);
      throw new SyscallError(call, errno, "no memory left to wire (fake)");
    }
    return unwrap(call, r);
  }
  /**
   * read(2)/write(2); under held pressure with `shortage.rdwr`, one that would move bytes fails
   * instead, with nothing moved (or, with rdwrTransfers, after moving them: a bug).
   */
  function rdwr(pid: number, call: "read" | "write", fd: number, buf: number, n: number): number {
    const write = call === "write";
    const errno = shortage?.rdwr;
    if (held && errno !== undefined) {
      const would = model.rdwrCheck(pid, fd, buf, n, write);
      if (would.ok && would.value > 0) {
        if (shortage?.rdwrTransfers) {
          if (write) model.writeFd(pid, fd, buf, n);
          else model.readFd(pid, fd, buf, n);
        } else {
          model.rdwrShortage(pid, fd, write);
        }
        throw new SyscallError(call, errno, "the buffer could not be wired (fake)");
      }
    }
    return unwrap(call, write ? model.writeFd(pid, fd, buf, n) : model.readFd(pid, fd, buf, n));
  }
  let pressures = 0;
  let reliefs = 0;
  let lastMap = 0;
  let auditBroken = false;
  const cursorBase = userMin + 0x10_0000;

  function place(pid: number, size: number, hint: number): number {
    if (bugs.has("mmap-overlaps") && lastMap !== 0) return lastMap;
    const free = (a: number) => {
      for (let v = a; v < a + size; v += P) if (model.page(pid, v) !== undefined) return false;
      return a + size <= userMax;
    };
    if (hint > 0 && hint % P === 0 && hint >= userMin && free(hint)) return hint;
    for (let a = cursorBase; ; a += P) if (free(a)) return a;
  }

  const make = (pid: number): Process => {
    const proc = {
      pid,
      get state() {
        return model.proc(pid).state;
      },
      get exitStatus() {
        return model.proc(pid).status;
      },
      load8: (va: number) => load(va, 1, "read"),
      load16: (va: number) => load(va, 2, "read"),
      load32: (va: number) => load(va, 4, "read"),
      exec: (va: number) => load(va, 1, "exec"),
      store8: (va: number, v: number) => store(va, [v & 0xff]),
      store16: (va: number, v: number) => store(va, [v & 0xff, (v >>> 8) & 0xff]),
      store32: (va: number, v: number) => store(va, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]),
      readBytes(va: number, len: number) {
        check(va, len, "read");
        return Uint8Array.from(model.peek(pid, va, len).map((b) => b ?? 0));
      },
      writeBytes(va: number, bytes: Uint8Array) {
        // A loop of byte stores: the bytes before a faulting page are written.
        for (let i = 0; i < bytes.length; i++) store(va + i, [bytes[i]!]);
      },
      mmap(addr: number, len: number, prot: number, flags: number, fd: number, off: number) {
        const wires = (flags & MAP_WIRED) !== 0 || model.proc(pid).wireFuture;
        if (held && shortage !== undefined && wires && (prot & 7) !== 0) {
          // Checked as usual (only a MAP_FIXED request is placed), then unmapped as uvm_mmap does.
          const at = unwrap("mmap", model.mmap(pid, addr, len, prot, flags, fd, off));
          if (flags & MAP_FIXED) model.munmap(pid, at, len);
          throw new SyscallError("mmap", shortage.mmap ?? "ENOMEM", "the new mapping could not be wired (fake)");
        }
        let got: number;
        if (flags & MAP_FIXED) {
          got = unwrap("mmap", model.mmap(pid, addr, len, prot, flags, fd, off));
        } else {
          unwrap("mmap", model.mmap(pid, addr, len, prot, flags, fd, off));
          const at = place(pid, Math.ceil(len / P) * P, addr);
          got = unwrap("mmap", model.mmap(pid, addr, len, prot, flags, fd, off, at));
        }
        lastMap = got;
        return got;
      },
      munmap: (a: number, l: number) => unwrap("munmap", model.munmap(pid, a, l)),
      mprotect: (a: number, l: number, x: number) =>
        wiring(pid, "mprotect", shortage?.mprotect ?? "ENOMEM", () => model.mprotect(pid, a, l, x)),
      madvise: (a: number, l: number, x: number) => unwrap("madvise", model.madvise(pid, a, l, x)),
      mlock: (a: number, l: number) => wiring(pid, "mlock", shortage?.mlock ?? "ENOMEM", () => model.mlock(pid, a, l)),
      munlock(a: number, l: number) {
        const r = model.munlock(pid, a, l);
        if (!r.ok && bugs.has("munlock-unlocked-ok") && r.why.endsWith("is not locked")) return;
        unwrap("munlock", r);
      },
      mlockall(f: number) {
        wiring(pid, "mlockall", shortage?.mlockall ?? "EAGAIN", () => model.mlockall(pid, f));
        if (f & MCL_CURRENT && bugs.has("audit-after-mlockall")) auditBroken = true;
      },
      munlockall: () => unwrap("munlockall", model.munlockall(pid)),
      minherit: (a: number, l: number, x: number) => unwrap("minherit", model.minherit(pid, a, l, x)),
      msync(a: number, l: number, f: number) {
        if (f & MS_INVALIDATE && bugs.has("panic-on-invalidate")) throw new KernelPanic("vm_object_page_remove: busy");
        unwrap("msync", model.msync(pid, a, l, f));
      },
      fork(): Process {
        if (held && shortage?.fork !== undefined) throw new SyscallError("fork", shortage.fork, "no memory (fake)");
        const child = nextPid++;
        if (bugs.has("fork-shares-private")) {
          const copied = [...model.proc(pid).pages.values()].filter((pg) => pg.inherit === INHERIT_COPY);
          for (const pg of copied) pg.inherit = INHERIT_SHARE;
          model.fork(pid, child);
          for (const pg of copied) pg.inherit = INHERIT_COPY;
          for (const pg of model.proc(child).pages.values())
            if (pg.inherit === INHERIT_SHARE) pg.inherit = INHERIT_COPY;
        } else {
          model.fork(pid, child);
        }
        return make(child);
      },
      exit: (status: number) => model.exit(pid, status),
      wait() {
        const c = unwrap("wait", model.waitCandidates(pid));
        const status = model.reap(pid, c[0]!);
        return { pid: c[0]!, status };
      },
      open: (path: string, flags: number) => unwrap("open", model.open(pid, path, flags)),
      close: (fd: number) => unwrap("close", model.close(pid, fd)),
      read: (fd: number, buf: number, n: number) => rdwr(pid, "read", fd, buf, n),
      write: (fd: number, buf: number, n: number) => rdwr(pid, "write", fd, buf, n),
      lseek: (fd: number, off: number, whence: number) => unwrap("lseek", model.lseek(pid, fd, off, whence)),
      ftruncate: (fd: number, len: number) => unwrap("ftruncate", model.ftruncate(pid, fd, len)),
      shmget(key: number, size: number, flags: number) {
        const r = unwrap("shmget", model.shmget(pid, key, size, flags));
        return Number.isNaN(r) ? unwrap("shmget", model.shmget(pid, key, size, flags, nextShm++)) : r;
      },
      shmat(id: number, addr: number, flags: number) {
        const r = unwrap("shmat", model.shmat(pid, id, addr, flags));
        if (!Number.isNaN(r)) return r;
        const seg = model.segments.get(id)!;
        return unwrap("shmat", model.shmat(pid, id, addr, flags, place(pid, seg.cells.length * P, 0)));
      },
      shmdt: (addr: number) => unwrap("shmdt", model.shmdt(pid, addr)),
      shmctl(id: number, cmd: number) {
        const s = unwrap("shmctl", model.shmctl(pid, id, cmd));
        if (s === undefined) return undefined;
        return {
          shm_perm: { key: s.key, mode: 0o600 },
          shm_segsz: s.size,
          shm_nattch: s.nattch,
          shm_cpid: s.cpid,
          shm_lpid: 0,
          locked: s.locked,
        };
      },
      newThread: (o: { cpu?: number } = {}) => ({ ...proc, tid: 1, cpu: o.cpu ?? 0, process: proc }),
      setrlimit: (_r: number, cur: number) => model.setMemlockLimit(pid, cur),
    };

    function check(va: number, len: number, kind: "read" | "write" | "exec"): void {
      const e = model.access(pid, va, len, kind);
      if (!e.canSucceed) {
        const f = e.faults[e.faults.length - 1]!;
        throw new SignalError(f.signal, f.code as SignalCode, f.addr);
      }
    }
    function load(va: number, size: number, kind: "read" | "exec"): number {
      check(va, size, kind);
      let v = 0;
      const b = model.peek(pid, va, size);
      for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[i] ?? 0);
      return v;
    }
    function store(va: number, bytes: number[]): void {
      check(va, bytes.length, "write");
      model.write(pid, va, bytes);
    }
    return proc as unknown as Process;
  };

  const sys = {
    config: { machine, pmap: "fake", vm: "fake", cpus: opts.cpus ?? 2, memoryMiB: 16, seed: 0, errata: [] },
    layout: {
      userMin,
      userMax,
      uareaVa: userMax,
      uareaPages: 2,
      uptMin: userMax,
      uptMax: userMax,
      mapMax: userMax,
      kernelBase: 0xc000_0000,
      kernelMin: 0xc000_0000,
      kernelMax: 0xffff_f000,
    },
    spawn(): Process {
      const pid = nextPid++;
      model.spawn(pid);
      return make(pid);
    },
    /** The fake advances no clock: its "disk" completes at once. */
    advance(_cycles: number): void {},
    audit(): void {
      if (auditBroken) throw new InvariantViolation("vm", "wired count", "entry wired twice");
    },
    stats: () => ({
      "vm.object.shadow_depth.max": 3,
      "vm.page.free": 100,
      "vm.page.wired": wiredPages(),
      // The fake pages everything out under pressure and back in when it ends.
      "vm.swapout": pressures * 100_000,
      "vm.pageout": pressures * 100_000,
      "vm.swapin": reliefs * 100_000,
    }),
    vm: { freePages: 100 },
    fs: {
      writeFile: (path: string, bytes: Uint8Array) => void model.createFile(path, bytes),
      readFile(path: string): Uint8Array {
        const f = model.files.get(path);
        if (f === undefined) throw new SyscallError("readFile", "ENOENT", path);
        return Uint8Array.from(f.read(0, f.size).map((b) => b ?? 0));
      },
    },
    memoryPressure(pages: number): void {
      held = pages > 0;
      if (pages > 0) pressures++;
      else reliefs++;
    },
    runPagedaemon(): void {},
    panicked: undefined,
  };
  return sys as unknown as System;
}
