import {
  INHERIT_COPY,
  INHERIT_DONATE_COPY,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  MADV_DONTNEED,
  MADV_FREE,
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
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import {
  type AccessExpectation,
  BsdModel,
  littleEndian,
  ModelViolation,
  ORPHANED,
  valueMatches,
} from "../src/model.js";

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;
const BASE = 0x1000_0000;

function model(nx = true, extra: { memlockLimit?: number; maxWiredPages?: number } = {}): BsdModel {
  return new BsdModel({ userMin: P, userMax: 0xbfc0_0000, nx, ...extra });
}

/** A process with `pages` private RW pages mapped at BASE. */
function withMapping(m: BsdModel, pid = 10, pages = 4, flags = ANON, prot = RW): number {
  m.spawn(pid);
  const r = m.mmap(pid, BASE, pages * P, prot, flags | MAP_FIXED, -1, 0);
  expect(r).toEqual({ ok: true, value: BASE });
  return BASE;
}

function load32(m: BsdModel, pid: number, va: number): number | null {
  const e = m.access(pid, va, 4, "read");
  expect(e.canSucceed).toBe(true);
  return littleEndian(e.bytes);
}

function store32(m: BsdModel, pid: number, va: number, v: number): void {
  const e = m.access(pid, va, 4, "write");
  expect(e).toMatchObject({ canSucceed: true, faults: [] });
  m.write(pid, va, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
}

function errnoOf(r: { ok: boolean; errno?: string }): string {
  return r.ok ? "ok" : (r.errno ?? "?");
}

const definiteFault = (e: AccessExpectation) => (e.canSucceed ? "maybe" : e.faults[0]?.code);

describe("model: contents", () => {
  it("fresh anonymous memory reads zero and keeps what is stored", () => {
    const m = model();
    const a = withMapping(m);
    expect(load32(m, 10, a + 8)).toBe(0);
    store32(m, 10, a + 8, 0xdeadbeef);
    expect(load32(m, 10, a + 8)).toBe(0xdeadbeef);
    expect(m.peek(10, a + 8, 4)).toEqual([0xef, 0xbe, 0xad, 0xde]);
  });

  it("little-endian helpers", () => {
    expect(littleEndian([0xef, 0xbe, 0xad, 0xde])).toBe(0xdeadbeef);
    expect(littleEndian([1, null])).toBeNull();
    expect(valueMatches([0xef, null, 0xad, 0xde], 0xde_ad_00_ef)).toBe(true);
    expect(valueMatches([0xef, 0xbe, 0xad, 0xde], 0xdeadbeee)).toBe(false);
    expect(valueMatches([1], 0x101)).toBe(false);
  });

  it("MAP_FIXED replaces existing pages with fresh zeros and drops their locks", () => {
    const m = model();
    const a = withMapping(m);
    store32(m, 10, a, 7);
    expect(m.mlock(10, a, 4 * P).ok).toBe(true);
    expect(m.mmap(10, a, P, RW, ANON | MAP_FIXED, -1, 0).ok).toBe(true);
    expect(load32(m, 10, a)).toBe(0);
    expect(m.page(10, a)?.wired).toBe(false);
    expect(m.page(10, a + P)?.wired).toBe(true);
  });
});

describe("model: fork", () => {
  it("private memory is copy-on-write: each side keeps its own writes", () => {
    const m = model();
    const a = withMapping(m);
    store32(m, 10, a, 1);
    m.fork(10, 11);
    expect(load32(m, 11, a)).toBe(1);
    store32(m, 11, a, 2);
    store32(m, 10, a + 4, 3);
    expect(load32(m, 10, a)).toBe(1);
    expect(load32(m, 11, a)).toBe(2);
    expect(load32(m, 11, a + 4)).toBe(0);
  });

  it("MAP_SHARED memory stays shared both ways (default INHERIT_SHARE)", () => {
    const m = model();
    const a = withMapping(m, 10, 2, MAP_ANON | MAP_SHARED);
    m.fork(10, 11);
    store32(m, 11, a, 5);
    expect(load32(m, 10, a)).toBe(5);
    store32(m, 10, a + P, 6);
    expect(load32(m, 11, a + P)).toBe(6);
  });

  it("INHERIT_SHARE on private memory shares it with the child (and grandchild)", () => {
    const m = model();
    const a = withMapping(m);
    store32(m, 10, a, 1);
    expect(m.minherit(10, a, P, INHERIT_SHARE).ok).toBe(true);
    m.fork(10, 11);
    m.fork(11, 12);
    store32(m, 12, a, 9);
    expect(load32(m, 10, a)).toBe(9);
    expect(load32(m, 11, a)).toBe(9);
    // The rest of the region was COPY: private in each.
    store32(m, 12, a + P, 4);
    expect(load32(m, 10, a + P)).toBe(0);
  });

  it("NetBSD t_minherit minherit_copy: COPY overrides MAP_SHARED; the child's write is invisible", () => {
    const m = model();
    const a = withMapping(m, 10, 1, MAP_ANON | MAP_SHARED);
    m.write(10, a, new Uint8Array(P).fill(1));
    expect(m.minherit(10, a, P, INHERIT_COPY).ok).toBe(true);
    m.fork(10, 11);
    // Before the child writes, its bytes are unknown: the BSDs differ on whether the parent's
    // later writes to the shared object show through.
    expect(m.access(11, a, 4, "read").bytes).toEqual([null, null, null, null]);
    m.write(11, a, new Uint8Array(P));
    expect(load32(m, 11, a)).toBe(0);
    expect(load32(m, 10, a)).toBe(0x01010101);
  });

  it("NetBSD t_minherit minherit_none: the range is absent in the child", () => {
    const m = model();
    const a = withMapping(m, 10, 1, MAP_ANON | MAP_SHARED);
    m.minherit(10, a, P, INHERIT_NONE);
    m.fork(10, 11);
    const e = m.access(11, a, 1, "write");
    expect(e.canSucceed).toBe(false);
    expect(e.faults[0]).toMatchObject({ signal: "SIGSEGV", code: "SEGV_MAPERR", addr: a });
    expect(m.page(10, a)).toBeDefined();
  });

  it("NetBSD t_minherit minherit_zero: the child sees zeros, keeps the protection, the parent is untouched", () => {
    const m = model();
    const a = withMapping(m, 10, 1, MAP_ANON | MAP_SHARED, PROT_READ | PROT_WRITE | PROT_EXEC);
    m.write(10, a, new Uint8Array(P).fill(1));
    m.minherit(10, a, P, INHERIT_ZERO);
    m.fork(10, 11);
    expect(load32(m, 11, a)).toBe(0);
    expect(m.page(11, a)?.prot).toBe(PROT_READ | PROT_WRITE | PROT_EXEC);
    m.write(11, a, [2]);
    expect(load32(m, 10, a)).toBe(0x01010101);
    // The inheritance itself is inherited: a grandchild gets zeros too.
    m.fork(11, 12);
    expect(load32(m, 12, a)).toBe(0);
  });

  it("INHERIT_DONATE_COPY forks like COPY", () => {
    const m = model();
    const a = withMapping(m);
    store32(m, 10, a, 3);
    m.minherit(10, a, P, INHERIT_DONATE_COPY);
    m.fork(10, 11);
    expect(load32(m, 11, a)).toBe(3);
    store32(m, 11, a, 4);
    expect(load32(m, 10, a)).toBe(3);
  });

  it("locks and MCL_FUTURE are not inherited; RLIMIT_MEMLOCK is", () => {
    const m = model();
    const a = withMapping(m);
    m.setMemlockLimit(10, 8 * P);
    expect(m.mlockall(10, MCL_CURRENT | MCL_FUTURE).ok).toBe(true);
    m.fork(10, 11);
    expect(m.page(11, a)?.wired).toBe(false);
    expect(m.proc(11).wireFuture).toBe(false);
    expect(m.proc(11).memlockLimit).toBe(8 * P);
    expect(m.munlock(11, a, P)).toMatchObject({ ok: false, errno: "ENOMEM" });
    expect(m.munlock(10, a, P).ok).toBe(true);
  });

  it("exit makes a zombie its parent reaps; orphans go to init", () => {
    const m = model();
    m.spawn(10);
    m.fork(10, 11);
    m.fork(11, 12);
    expect(m.waitCandidates(10)).toMatchObject({ ok: false, errno: "EAGAIN" });
    m.exit(11, 3);
    expect(m.waitCandidates(10)).toEqual({ ok: true, value: [11] });
    expect(m.reap(10, 11)).toBe(3);
    expect(m.waitCandidates(10)).toMatchObject({ ok: false, errno: "ECHILD" });
    expect(m.proc(12).ppid).toBe(ORPHANED);
    m.exit(12, 0);
    expect(m.proc(12).state).toBe("reaped");
    expect(() => m.reap(10, 12)).toThrow(ModelViolation);
  });
});

describe("model: protection and signals", () => {
  it("unmapped → SEGV_MAPERR; PROT_NONE → SEGV_ACCERR; write to read-only → SEGV_ACCERR", () => {
    const m = model();
    const a = withMapping(m, 10, 3);
    m.munmap(10, a + 2 * P, P);
    m.mprotect(10, a, P, PROT_NONE);
    m.mprotect(10, a + P, P, PROT_READ);
    expect(m.access(10, a + 2 * P + 4, 4, "read").faults[0]).toMatchObject({
      code: "SEGV_MAPERR",
      addr: a + 2 * P + 4,
    });
    for (const k of ["read", "write", "exec"] as const)
      expect(definiteFault(m.access(10, a, 1, k))).toBe("SEGV_ACCERR");
    expect(definiteFault(m.access(10, a + P, 4, "write"))).toBe("SEGV_ACCERR");
    expect(m.access(10, a + P, 4, "read").canSucceed).toBe(true);
  });

  it("addresses outside the user range are SEGV_MAPERR", () => {
    const m = model();
    m.spawn(10);
    expect(definiteFault(m.access(10, 0, 1, "read"))).toBe("SEGV_MAPERR");
    expect(definiteFault(m.access(10, 0xc000_0000, 4, "read"))).toBe("SEGV_MAPERR");
  });

  it("PROT_EXEC is enforced with NX; without NX a readable page is executable", () => {
    const nx = model(true);
    const a = withMapping(nx, 10, 1, ANON, PROT_READ);
    expect(definiteFault(nx.access(10, a, 1, "exec"))).toBe("SEGV_ACCERR");
    nx.mprotect(10, a, P, PROT_READ | PROT_EXEC);
    expect(nx.access(10, a, 1, "exec")).toMatchObject({ canSucceed: true, faults: [] });

    const old = model(false);
    withMapping(old, 10, 1, ANON, PROT_READ);
    expect(old.access(10, a, 1, "exec")).toMatchObject({ canSucceed: true, faults: [] });
  });

  it("reads of write-only or execute-only pages are implementation-defined on x86", () => {
    const m = model(true);
    const a = withMapping(m, 10, 2, ANON, PROT_WRITE);
    m.mprotect(10, a + P, P, PROT_EXEC);
    for (const va of [a, a + P]) {
      const e = m.access(10, va, 4, "read");
      expect(e.canSucceed).toBe(true);
      expect(e.faults[0]?.code).toBe("SEGV_ACCERR");
    }
    expect(m.access(10, a + P, 1, "exec")).toMatchObject({ canSucceed: true, faults: [] });
    expect(m.access(10, a, 4, "write")).toMatchObject({ canSucceed: true, faults: [] });
  });

  it("an access crossing into an unmapped page faults at that page", () => {
    const m = model();
    const a = withMapping(m, 10, 1);
    const e = m.access(10, a + P - 2, 4, "read");
    expect(e.canSucceed).toBe(false);
    expect(e.faults[0]).toMatchObject({ code: "SEGV_MAPERR", addr: a + P });
  });
});

describe("model: mmap", () => {
  it("NetBSD t_mmap mmap_err and the POSIX argument rules", () => {
    const m = model();
    m.spawn(10);
    const mm = (addr: number, len: number, flags: number, fd = -1, off = 0) =>
      errnoOf(m.mmap(10, addr, len, RW, flags, fd, off, BASE));
    expect(mm(0, 0, ANON)).toBe("EINVAL");
    expect(mm(0, P, MAP_ANON)).toBe("EINVAL");
    expect(mm(0, P, MAP_ANON | MAP_SHARED | MAP_PRIVATE)).toBe("EINVAL");
    expect(mm(0, 3, MAP_PRIVATE)).toBe("EBADF");
    expect(mm(BASE + 1, P, MAP_PRIVATE | MAP_FIXED)).toBe("EINVAL"); // before the fd check
    expect(mm(0, P, ANON, 0x7fff_ffff)).toBe("EINVAL");
    expect(mm(0, P, ANON, -1, 100)).toBe("EINVAL");
    expect(mm(0, P, ANON | MAP_FIXED)).toBe("EINVAL"); // below VM_MIN_ADDRESS
    expect(mm(0xbfc0_0000 - P, 2 * P, ANON | MAP_FIXED)).toBe("EINVAL");
    expect(mm(0, P, ANON)).toBe("ok");
  });

  it("a non-fixed address is checked: aligned, inside the user range, clear of live mappings", () => {
    const m = model();
    const a = withMapping(m, 10, 2);
    expect(() => m.mmap(10, 0, P, RW, ANON, -1, 0, a + P)).toThrow(/overlapping/);
    expect(() => m.mmap(10, 0, P, RW, ANON, -1, 0, a + 2 * P + 8)).toThrow(/page aligned/);
    expect(() => m.mmap(10, 0, P, RW, ANON, -1, 0, 0)).toThrow(/outside/);
    // A hint, even an occupied or a wild one, never makes mmap fail.
    expect(m.mmap(10, a, P, RW, ANON, -1, 0, a + 2 * P)).toEqual({ ok: true, value: a + 2 * P });
    expect(m.mmap(10, 0xffff_f001, P, RW, ANON, -1, 0, a + 3 * P).ok).toBe(true);
    // Without the implementation's answer a success is predicted and nothing changes.
    expect(m.mmap(10, 0, P, RW, ANON, -1, 0)).toEqual({ ok: true, value: Number.NaN });
  });

  it("the maximum protection of anonymous memory is RWX; unknown prot bits are masked", () => {
    const m = model();
    const a = withMapping(m, 10, 1, ANON, PROT_NONE);
    expect(m.mprotect(10, a, P, PROT_READ | PROT_WRITE | PROT_EXEC).ok).toBe(true);
    expect(m.mprotect(10, a, P, 0x10 | PROT_READ).ok).toBe(true);
    expect(m.page(10, a)?.prot).toBe(PROT_READ);
  });
});

describe("model: errno rules", () => {
  it("munmap: unaligned, zero length, outside → EINVAL; nothing mapped → success", () => {
    const m = model();
    const a = withMapping(m);
    expect(errnoOf(m.munmap(10, a + 1, P))).toBe("EINVAL");
    expect(errnoOf(m.munmap(10, a, 0))).toBe("EINVAL");
    expect(errnoOf(m.munmap(10, 0xbfc0_0000, P))).toBe("EINVAL");
    expect(errnoOf(m.munmap(10, 0, P))).toBe("EINVAL");
    expect(errnoOf(m.munmap(10, a + 8 * P, P))).toBe("ok");
    expect(errnoOf(m.munmap(10, a + P, 1))).toBe("ok");
    expect(m.page(10, a + P)).toBeUndefined();
    expect(m.page(10, a + 2 * P)).toBeDefined();
  });

  it("mprotect: NetBSD t_mprotect mprotect_err (-1 → EINVAL), holes → ENOMEM", () => {
    const m = model();
    const a = withMapping(m);
    expect(errnoOf(m.mprotect(10, -1, 1, PROT_READ))).toBe("EINVAL");
    expect(errnoOf(m.mprotect(10, a + 1, P, PROT_READ))).toBe("EINVAL");
    m.munmap(10, a + P, P);
    expect(errnoOf(m.mprotect(10, a, 3 * P, PROT_READ))).toBe("ENOMEM");
    expect(m.page(10, a)?.prot).toBe(RW); // nothing changed
    expect(errnoOf(m.mprotect(10, a, 0, PROT_READ))).toBe("ok");
  });

  it("mlock: NetBSD t_mlock mlock_err (≥1.6): every bad address is ENOMEM", () => {
    const m = model();
    const a = withMapping(m);
    expect(errnoOf(m.mlock(10, 0, P))).toBe("ENOMEM");
    expect(errnoOf(m.mlock(10, -1, P))).toBe("ENOMEM");
    expect(errnoOf(m.mlock(10, a, -P))).toBe("ENOMEM");
    expect(errnoOf(m.mlock(10, a + 4 * P, P))).toBe("ENOMEM");
    expect(errnoOf(m.munlock(10, 0, P))).toBe("ENOMEM");
    expect(errnoOf(m.munlock(10, -1, P))).toBe("ENOMEM");
  });

  it("NetBSD t_mlock 1.8: munlock of never-locked memory is ENOMEM; unaligned ranges are rounded", () => {
    const m = model();
    const a = withMapping(m);
    expect(errnoOf(m.munlock(10, a, P))).toBe("ENOMEM");
    expect(errnoOf(m.mlock(10, a + Math.floor(P / 3), Math.floor(P / 5)))).toBe("ok");
    expect(m.page(10, a)?.wired).toBe(true);
    expect(m.page(10, a + P)?.wired).toBe(false);
    expect(errnoOf(m.munlock(10, a + Math.floor(P / 3), Math.floor(P / 5)))).toBe("ok");
    expect(m.page(10, a)?.wired).toBe(false);
    // A range ending past the page boundary covers the next page too.
    expect(errnoOf(m.mlock(10, a + P - 1, 2))).toBe("ok");
    expect(m.page(10, a + P)?.wired).toBe(true);
  });

  it("NetBSD t_mlock mlock_nested: locks do not nest", () => {
    const m = model();
    const a = withMapping(m);
    for (let i = 0; i < 100; i++) expect(m.mlock(10, a, P).ok).toBe(true);
    expect(m.munlock(10, a, P).ok).toBe(true);
    expect(errnoOf(m.munlock(10, a, P))).toBe("ENOMEM");
  });

  it("NetBSD t_mlock mlock_limits: over RLIMIT_MEMLOCK is EAGAIN", () => {
    const m = model();
    const a = withMapping(m);
    for (let i = P; i >= 2; i -= 100) {
      m.setMemlockLimit(10, i - 1);
      expect(errnoOf(m.mlock(10, a, i))).toBe("EAGAIN");
    }
    m.setMemlockLimit(10, 2 * P);
    expect(errnoOf(m.mlock(10, a, P))).toBe("ok");
    // size + what is already wired: P + P ≤ 2P still fits, a third page does not.
    expect(errnoOf(m.mlock(10, a + P, P))).toBe("ok");
    expect(errnoOf(m.mlock(10, a + 2 * P, P))).toBe("EAGAIN");
  });

  it("the system-wide wired limit is EAGAIN for mlock", () => {
    const m = model(true, { maxWiredPages: 2 });
    const a = withMapping(m);
    expect(errnoOf(m.mlock(10, a, 3 * P))).toBe("EAGAIN");
    expect(errnoOf(m.mlock(10, a, 2 * P))).toBe("ok");
  });

  it("NetBSD t_mlock mlock_mmap: MAP_WIRED counts as locked; PROT_NONE can be mapped wired but not locked", () => {
    const m = model();
    m.spawn(10);
    const a = m.mmap(10, BASE, P, RW, ANON | MAP_WIRED | MAP_FIXED, -1, 0);
    expect(a.ok).toBe(true);
    expect(m.page(10, BASE)?.wired).toBe(true);
    expect(errnoOf(m.mlock(10, BASE, P))).toBe("ok");
    expect(errnoOf(m.munlock(10, BASE, P))).toBe("ok");
    expect(errnoOf(m.munmap(10, BASE, P))).toBe("ok");
    expect(errnoOf(m.munlock(10, BASE, P))).toBe("ENOMEM");
    expect(m.mmap(10, BASE, P, PROT_NONE, ANON | MAP_WIRED | MAP_FIXED, -1, 0).ok).toBe(true);
    expect(m.page(10, BASE)?.wired).toBe(false);
    expect(errnoOf(m.mlock(10, BASE, P))).toBe("ENOMEM");
  });

  it("mlockall: bad flags → EINVAL; MCL_CURRENT skips PROT_NONE; MCL_FUTURE wires new mappings", () => {
    const m = model();
    const a = withMapping(m, 10, 2);
    m.mprotect(10, a + P, P, PROT_NONE);
    expect(errnoOf(m.mlockall(10, 0))).toBe("EINVAL");
    expect(errnoOf(m.mlockall(10, 4))).toBe("EINVAL");
    expect(errnoOf(m.mlockall(10, MCL_CURRENT))).toBe("ok");
    expect(m.page(10, a)?.wired).toBe(true);
    expect(m.page(10, a + P)?.wired).toBe(false);
    expect(errnoOf(m.mlockall(10, MCL_FUTURE))).toBe("ok");
    m.mmap(10, a + 4 * P, P, RW, ANON | MAP_FIXED, -1, 0);
    m.mmap(10, a + 5 * P, P, PROT_NONE, ANON | MAP_FIXED, -1, 0);
    expect(m.page(10, a + 4 * P)?.wired).toBe(true);
    expect(m.page(10, a + 5 * P)?.wired).toBe(false);
    // mprotect from PROT_NONE under MCL_FUTURE wires (uvm_map_protect).
    m.mprotect(10, a + 5 * P, P, PROT_READ);
    expect(m.page(10, a + 5 * P)?.wired).toBe(true);
    // A later mlockall(MCL_CURRENT) does not cancel MCL_FUTURE.
    m.mlockall(10, MCL_CURRENT);
    expect(m.proc(10).wireFuture).toBe(true);
    m.munlockall(10);
    expect(m.proc(10).wireFuture).toBe(false);
    expect(m.wiredPages(10)).toBe(0);
  });

  it("mlockall over RLIMIT_MEMLOCK is ENOMEM; mmap under MCL_FUTURE over it is EAGAIN", () => {
    const m = model();
    withMapping(m, 10, 4);
    m.setMemlockLimit(10, 2 * P);
    expect(errnoOf(m.mlockall(10, MCL_CURRENT | MCL_FUTURE))).toBe("ENOMEM");
    expect(m.wiredPages(10)).toBe(0);
    expect(m.proc(10).wireFuture).toBe(true);
    expect(errnoOf(m.mmap(10, 0, 3 * P, RW, ANON, -1, 0, 0x2000_0000))).toBe("EAGAIN");
    expect(errnoOf(m.mmap(10, 0, 3 * P, PROT_NONE, ANON, -1, 0, 0x2000_0000))).toBe("ok");
  });

  it("minherit: bad value / unaligned / outside → EINVAL; holes are skipped", () => {
    const m = model();
    const a = withMapping(m, 10, 2);
    expect(errnoOf(m.minherit(10, a, P, 666))).toBe("EINVAL");
    expect(errnoOf(m.minherit(10, a + 1, P, INHERIT_NONE))).toBe("EINVAL");
    expect(errnoOf(m.minherit(10, 0xbfc0_0000, P, INHERIT_NONE))).toBe("EINVAL");
    expect(errnoOf(m.minherit(10, a, 8 * P, INHERIT_NONE))).toBe("ok");
    expect(m.page(10, a + P)?.inherit).toBe(INHERIT_NONE);
  });

  it("msync: flags rules, unaligned → EINVAL, unmapped → ENOMEM, MS_INVALIDATE on locked → EBUSY", () => {
    const m = model();
    const a = withMapping(m, 10, 2);
    expect(errnoOf(m.msync(10, a, P, -1))).toBe("EINVAL");
    expect(errnoOf(m.msync(10, a, P, 0x7fff_ffff))).toBe("EINVAL");
    expect(errnoOf(m.msync(10, a, P, 0))).toBe("EINVAL");
    expect(errnoOf(m.msync(10, a, P, MS_ASYNC | MS_SYNC))).toBe("EINVAL");
    expect(errnoOf(m.msync(10, a + 1, P, MS_SYNC))).toBe("EINVAL");
    expect(errnoOf(m.msync(10, a + 2 * P, P, MS_SYNC))).toBe("ENOMEM");
    expect(errnoOf(m.msync(10, a, P, MS_ASYNC))).toBe("ok");
    expect(errnoOf(m.msync(10, a, P, MS_INVALIDATE))).toBe("ok");
    m.mlock(10, a + P, P);
    expect(errnoOf(m.msync(10, a, 2 * P, MS_SYNC | MS_INVALIDATE))).toBe("EBUSY");
  });

  it("msync(MS_INVALIDATE) and MADV_FREE leave the bytes unknown until written; MADV_DONTNEED keeps them", () => {
    const m = model();
    const a = withMapping(m, 10, 3);
    for (const off of [0, P, 2 * P]) store32(m, 10, a + off, 0x11223344);
    m.msync(10, a, P, MS_INVALIDATE | MS_SYNC);
    m.madvise(10, a + P, P, MADV_FREE);
    m.madvise(10, a + 2 * P, P, MADV_DONTNEED);
    expect(load32(m, 10, a)).toBeNull();
    expect(load32(m, 10, a + P)).toBeNull();
    expect(load32(m, 10, a + 2 * P)).toBe(0x11223344);
    store32(m, 10, a, 5);
    expect(load32(m, 10, a)).toBe(5);
    expect(m.peek(10, a + 4, 1)).toEqual([null]);
  });

  it("madvise: bad advice (MADV_SPACEAVAIL too) or unaligned → EINVAL; unmapped → ENOMEM", () => {
    const m = model();
    const a = withMapping(m, 10, 1);
    expect(errnoOf(m.madvise(10, a, P, 1212))).toBe("EINVAL");
    expect(errnoOf(m.madvise(10, a, P, MADV_SPACEAVAIL))).toBe("EINVAL");
    expect(errnoOf(m.madvise(10, a + 100, P, MADV_DONTNEED))).toBe("EINVAL");
    expect(errnoOf(m.madvise(10, a, 2 * P, MADV_DONTNEED))).toBe("ENOMEM");
    expect(errnoOf(m.madvise(10, a, P, MADV_DONTNEED))).toBe("ok");
  });
});
