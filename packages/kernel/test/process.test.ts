import {
  INHERIT_NONE,
  INHERIT_SHARE,
  KernelPanic,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  RLIMIT_MEMLOCK,
  SignalError,
  SyscallError,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { boot, MACHINES } from "./systems.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;

function signal(fn: () => unknown): SignalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SignalError) return e;
    throw e;
  }
  throw new Error("expected a signal");
}

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
  return "success";
}

describe.each(MACHINES)("kernel on %s (mach pmap, mach vm)", (name, machine) => {
  it("boots with an audit-clean kernel and a layout in user/kernel order", () => {
    const sys = boot(machine);
    const l = sys.layout;
    expect(l.userMin).toBeGreaterThan(0);
    expect(l.userMin).toBeLessThan(l.userMax);
    expect(l.userMax).toBeLessThanOrEqual(l.uareaVa);
    expect(l.kernelMin).toBeLessThan(l.kernelMax);
    expect(sys.config).toMatchObject({ machine: name, pmap: "mach", vm: "mach", cpus: 1, memoryMiB: 32 });
    sys.audit();
  });

  it("zero-fills, stores and loads, and faults after munmap", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    expect(a % PAGE_SIZE).toBe(0);
    expect(p.load32(a + 8)).toBe(0);
    p.store32(a + 8, 0xdeadbeef);
    p.store8(a + PAGE_SIZE + 1, 0x7f);
    p.store16(a + 2 * PAGE_SIZE - 1, 0xbeef); // crosses a page boundary
    expect(p.load32(a + 8)).toBe(0xdeadbeef);
    expect(p.load8(a + PAGE_SIZE + 1)).toBe(0x7f);
    expect(p.load16(a + 2 * PAGE_SIZE - 1)).toBe(0xbeef);
    p.munmap(a, 4 * PAGE_SIZE);
    const s = signal(() => p.load32(a + 8));
    expect(s).toMatchObject({ signal: "SIGSEGV", code: "SEGV_MAPERR", addr: a + 8 });
    sys.audit();
  });

  it("mprotect(READ) makes stores SEGV_ACCERR; PROT_NONE denies loads", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 1);
    p.mprotect(a, PAGE_SIZE, PROT_READ);
    expect(p.load32(a)).toBe(1);
    expect(signal(() => p.store32(a, 2))).toMatchObject({ signal: "SIGSEGV", code: "SEGV_ACCERR" });
    p.mprotect(a + PAGE_SIZE, PAGE_SIZE, PROT_NONE);
    expect(signal(() => p.load32(a + PAGE_SIZE))).toMatchObject({ code: "SEGV_ACCERR" });
    p.mprotect(a, PAGE_SIZE, RW);
    p.store32(a, 3);
    expect(p.load32(a)).toBe(3);
  });

  it(`PROT_EXEC is ${name === "i386" ? "implied by read (no NX)" : "enforced by NX"}`, () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    p.store8(a, 0xc3);
    if (name === "i386") expect(p.exec(a)).toBe(0xc3);
    else expect(signal(() => p.exec(a))).toMatchObject({ signal: "SIGSEGV", code: "SEGV_ACCERR" });
    p.mprotect(a, PAGE_SIZE, PROT_READ | PROT_EXEC);
    expect(p.exec(a)).toBe(0xc3);
  });

  it("fork copies on write: parent and child never see each other's writes", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 8 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 8; i++) p.store32(a + i * PAGE_SIZE, 100 + i);
    const c = p.fork();
    for (let i = 0; i < 8; i++) expect(c.load32(a + i * PAGE_SIZE)).toBe(100 + i);
    c.store32(a, 1);
    p.store32(a + PAGE_SIZE, 2);
    expect(p.load32(a)).toBe(100);
    expect(c.load32(a + PAGE_SIZE)).toBe(101);
    expect(c.load32(a)).toBe(1);
    expect(p.load32(a + PAGE_SIZE)).toBe(2);
    c.exit(7);
    expect(p.wait()).toEqual({ pid: c.pid, status: 7 });
    expect(errno(() => p.wait())).toBe("ECHILD");
    sys.audit();
  });

  it("MAP_SHARED and INHERIT_SHARE are shared with the child; INHERIT_NONE is gone", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const s = p.mmap(0, PAGE_SIZE, RW, MAP_ANON | MAP_SHARED, -1, 0);
    const q = p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    const n = p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    p.minherit(q, PAGE_SIZE, INHERIT_SHARE);
    p.minherit(n, PAGE_SIZE, INHERIT_NONE);
    const c = p.fork();
    c.store32(s, 11);
    c.store32(q, 22);
    expect(p.load32(s)).toBe(11);
    expect(p.load32(q)).toBe(22);
    expect(signal(() => c.load32(n))).toMatchObject({ code: "SEGV_MAPERR" });
  });

  it("user mode cannot touch the u-area or the kernel", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    for (const va of [sys.layout.uareaVa, sys.layout.kernelBase, sys.layout.kernelMin]) {
      expect(signal(() => p.load32(va))).toMatchObject({ signal: "SIGSEGV" });
    }
  });

  it("mlock honours RLIMIT_MEMLOCK with EAGAIN and munlock of unlocked memory is ENOMEM", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    expect(errno(() => p.munlock(a, PAGE_SIZE))).toBe("ENOMEM");
    p.setrlimit(RLIMIT_MEMLOCK, 4 * PAGE_SIZE);
    expect(errno(() => p.mlock(a, 5 * PAGE_SIZE))).toBe("EAGAIN");
    p.mlock(a, 2 * PAGE_SIZE);
    // NetBSD sys_mlock counts the request on top of what is already wired: 2 + 2 <= 4 pages...
    p.mlock(a, 2 * PAGE_SIZE);
    // ...but 3 + 2 > 4, even though these pages are the same ones.
    expect(errno(() => p.mlock(a, 3 * PAGE_SIZE))).toBe("EAGAIN");
    p.munlock(a, 2 * PAGE_SIZE);
    expect(errno(() => p.munlock(a, PAGE_SIZE))).toBe("ENOMEM");
    sys.audit();
  });

  it("MAP_FIXED replaces a mapping; argument errors carry NetBSD errnos", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 9);
    expect(p.mmap(a, PAGE_SIZE, RW, ANON | MAP_FIXED, -1, 0)).toBe(a);
    expect(p.load32(a)).toBe(0);
    expect(errno(() => p.mmap(a + 1, PAGE_SIZE, RW, ANON | MAP_FIXED, -1, 0))).toBe("EINVAL");
    expect(errno(() => p.mmap(0, 0, RW, ANON, -1, 0))).toBe("EINVAL");
    expect(errno(() => p.mmap(0, PAGE_SIZE, RW, MAP_ANON, -1, 0))).toBe("EINVAL");
    expect(errno(() => p.mmap(0, PAGE_SIZE, RW, ANON, 3, 0))).toBe("EINVAL");
    expect(errno(() => p.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE, -1, 0))).toBe("EBADF");
    expect(errno(() => p.munmap(a + 1, PAGE_SIZE))).toBe("EINVAL");
    expect(errno(() => p.mprotect(a, PAGE_SIZE * 1000, PROT_READ))).toBe("ENOMEM");
    expect(errno(() => p.mlockall(0))).toBe("EINVAL");
    expect(errno(() => p.msync(a, PAGE_SIZE, 0))).toBe("EINVAL");
    expect(errno(() => p.minherit(a, PAGE_SIZE, 666))).toBe("EINVAL");
    expect(errno(() => p.madvise(a, PAGE_SIZE, 99))).toBe("EINVAL");
    sys.audit();
  });
});

describe.each(MACHINES)("SMP and panics on %s", (_name, machine) => {
  it("a thread on CPU 1 sees the process's memory and loses it after munmap on CPU 0 (shootdown)", () => {
    const sys = boot(machine, { cpus: 2 });
    const p = sys.spawn();
    const t = p.newThread({ cpu: 1 });
    const a = p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 5);
    expect(t.load32(a)).toBe(5);
    p.munmap(a, PAGE_SIZE);
    expect(signal(() => t.load32(a))).toMatchObject({ code: "SEGV_MAPERR" });
    expect(sys.stats()["ipi.sent"]).toBeGreaterThan(0);
  });

  it("after a panic every call throws the same panic", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const q = sys.spawn();
    const ua = sys.layout.uareaVa;
    // Tear the u-area out of q's page tables behind the kernel's back: the next switch to q double-faults.
    (q as unknown as { space: { pmap: { remove(s: number, e: number): void } } }).space.pmap.remove(
      ua,
      ua + sys.layout.uareaPages * PAGE_SIZE,
    );
    p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    expect(() => q.mmap(0, PAGE_SIZE, RW, ANON, -1, 0)).toThrow(KernelPanic);
    expect(sys.panicked).toBe("panic: double fault");
    expect(() => p.load32(0x1000)).toThrow("panic: double fault");
    expect(() => sys.spawn()).toThrow(KernelPanic);
  });
});
