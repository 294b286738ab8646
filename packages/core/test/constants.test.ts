import { describe, expect, it } from "vitest";
import * as C from "../src/index.js";

describe("BSD constants (NetBSD sys/mman.h, fcntl.h, ipc.h, shm.h, resource.h)", () => {
  it("mmap protections equal vm_prot_t", () => {
    expect([C.PROT_NONE, C.PROT_READ, C.PROT_WRITE, C.PROT_EXEC]).toEqual([
      C.Prot.None,
      C.Prot.Read,
      C.Prot.Write,
      C.Prot.Exec,
    ]);
  });

  it("mmap flags, including NetBSD-only MAP_WIRED and MAP_TRYFIXED", () => {
    expect(C.MAP_SHARED).toBe(0x1);
    expect(C.MAP_PRIVATE).toBe(0x2);
    expect(C.MAP_FIXED).toBe(0x10);
    expect(C.MAP_TRYFIXED).toBe(0x400);
    expect(C.MAP_WIRED).toBe(0x800);
    expect(C.MAP_ANON).toBe(0x1000);
    expect(C.MAP_ANONYMOUS).toBe(C.MAP_ANON);
    expect(C.MAP_STACK).toBe(0x2000);
    expect(C.MAP_FAILED).toBe(-1);
  });

  it("msync and minherit use NetBSD's numbering", () => {
    expect([C.MS_ASYNC, C.MS_INVALIDATE, C.MS_SYNC]).toEqual([1, 2, 4]);
    expect([C.INHERIT_SHARE, C.INHERIT_COPY, C.INHERIT_NONE, C.INHERIT_DONATE_COPY, C.INHERIT_ZERO]).toEqual([
      0, 1, 2, 3, 4,
    ]);
    expect(C.MAP_INHERIT_ZERO).toBe(C.INHERIT_ZERO);
  });

  it("madvise, mlockall, open, System V IPC and rlimit values", () => {
    expect([C.MADV_NORMAL, C.MADV_RANDOM, C.MADV_SEQUENTIAL, C.MADV_WILLNEED, C.MADV_DONTNEED, C.MADV_FREE]).toEqual([
      0, 1, 2, 3, 4, 6,
    ]);
    expect([C.MCL_CURRENT, C.MCL_FUTURE]).toEqual([1, 2]);
    expect([C.O_RDWR, C.O_CREAT, C.O_TRUNC, C.O_EXCL]).toEqual([0x2, 0x200, 0x400, 0x800]);
    expect([C.IPC_CREAT, C.IPC_EXCL, C.IPC_NOWAIT]).toEqual([0o1000, 0o2000, 0o4000]);
    expect([C.SHM_RDONLY, C.SHM_RND]).toEqual([0o10000, 0o20000]);
    expect(C.RLIMIT_MEMLOCK).toBe(6);
  });
});
