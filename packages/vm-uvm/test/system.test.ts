/**
 * Whole systems: a machine, a pmap (Mach, Cranor) and UVM composed by the kernel, with an audit
 * after every operation, on i386, i386 PAE and amd64; then the conformance suite's model-based
 * properties against the same systems.
 */
import { runProperties } from "@vmlab/conformance";
import {
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_WIRED,
  MCL_CURRENT,
  MCL_FUTURE,
  MS_INVALIDATE,
  MS_SYNC,
  O_RDWR,
  PAGE_SIZE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SignalError,
  SyscallError,
} from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { createSystem, type System } from "@vmlab/kernel";
import type { MachineSpec, PmapFactory } from "@vmlab/machine";
import { cranorPmap } from "@vmlab/pmap-cranor";
import { machPmap } from "@vmlab/pmap-mach";
import { describe, expect, it } from "vitest";
import { uvm } from "../src/index.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;
const P = PAGE_SIZE;

type MachineFactory = (o: { memoryMiB?: number; cpus?: number }) => MachineSpec;
const MACHINES: readonly [string, MachineFactory][] = [
  ["i386", i386],
  ["i386-pae", i386Pae],
  ["amd64", amd64],
];
const PMAPS: readonly [string, () => PmapFactory][] = [
  ["mach", machPmap],
  ["cranor", cranorPmap],
];
const COMBOS = MACHINES.flatMap(([m, mf]) => PMAPS.map(([p, pf]) => [m, p, mf, pf] as const));

function boot(machine: MachineFactory, pmap: () => PmapFactory, cpus = 1, memoryMiB = 32): System {
  return createSystem({ machine: machine({ memoryMiB, cpus }), pmap: pmap(), vm: uvm(), auditEveryOp: true, seed: 1 });
}

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
  throw new Error("expected a system call error");
}

const RUNS = Number(process.env.VMLAB_RUNS ?? 40);
const COMMANDS = Number(process.env.VMLAB_COMMANDS ?? 40);
const SEED = Number(process.env.VMLAB_SEED ?? 0x5eed);

describe.each(COMBOS)("whole system on %s with the %s pmap × UVM", (_m, _p, machine, pmap) => {
  it("mmap, store/load, fork with copy-on-write, exit and wait", () => {
    const sys = boot(machine, pmap);
    const p = sys.spawn();
    const a = p.mmap(0, 8 * P, RW, ANON, -1, 0);
    for (let i = 0; i < 8; i++) p.store32(a + i * P, 100 + i);
    const c = p.fork();
    c.store32(a, 1);
    p.store32(a + P, 2);
    expect(p.load32(a)).toBe(100);
    expect(c.load32(a)).toBe(1);
    expect(c.load32(a + P)).toBe(101);
    const g = c.fork();
    g.store32(a + 2 * P, 3);
    expect(c.load32(a + 2 * P)).toBe(102);
    g.exit(0);
    c.exit(7);
    expect(p.wait()).toEqual({ pid: c.pid, status: 7 });
    p.munmap(a, 8 * P);
    expect(signal(() => p.load32(a))).toMatchObject({ signal: "SIGSEGV", code: "SEGV_MAPERR" });
    sys.audit();
  });

  it("MAP_SHARED is shared with the child", () => {
    const sys = boot(machine, pmap);
    const p = sys.spawn();
    const s = p.mmap(0, P, RW, MAP_ANON | MAP_SHARED, -1, 0);
    const c = p.fork();
    c.store32(s, 11);
    expect(p.load32(s)).toBe(11);
    sys.audit();
  });

  it("NetBSD t_mlock: nested mlock of overlapping ranges, munlock of never-locked memory, mlock then munmap", () => {
    const sys = boot(machine, pmap);
    const p = sys.spawn();
    const a = p.mmap(0, 6 * P, RW, ANON, -1, 0);
    p.mlock(a, 4 * P);
    p.mlock(a + 2 * P, 4 * P);
    for (let i = 0; i < 6; i++) p.store32(a + i * P, i);
    p.munlock(a, 6 * P);
    expect(errno(() => p.munlock(a, P))).toBe("ENOMEM");
    for (let i = 0; i < 100; i++) p.mlock(a, P);
    p.munlock(a, P);
    p.mlock(a, 2 * P);
    p.munmap(a, 6 * P);
    expect(errno(() => p.munlock(a, P))).toBe("ENOMEM");
    sys.audit();
  });

  it("NetBSD t_mlock mlock_mmap: mlock of a MAP_WIRED mapping; PROT_NONE MAP_WIRED cannot be locked", () => {
    const sys = boot(machine, pmap);
    const p = sys.spawn();
    const a = p.mmap(0, P, RW, ANON | MAP_WIRED, -1, 0);
    p.mlock(a, P);
    p.munlock(a, P);
    p.munmap(a, P);
    expect(errno(() => p.munlock(a, P))).toBe("ENOMEM");
    const b = p.mmap(0, P, PROT_NONE, ANON | MAP_WIRED, -1, 0);
    expect(errno(() => p.mlock(b, P))).toBe("ENOMEM");
    sys.audit();
  });

  it("mlockall(MCL_CURRENT|MCL_FUTURE) and munlockall", () => {
    const sys = boot(machine, pmap);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * P, RW, ANON, -1, 0);
    p.mlockall(MCL_CURRENT | MCL_FUTURE);
    const b = p.mmap(0, 2 * P, RW, ANON, -1, 0);
    p.store32(b, 5);
    p.store32(a, 6);
    p.munlockall();
    expect(p.load32(b) + p.load32(a)).toBe(11);
    sys.audit();
  });

  it("mlock + read() into the locked buffer + munlock (vslock nests with the user wiring)", () => {
    const sys = boot(machine, pmap);
    const bytes = new Uint8Array(3 * P).map((_, i) => (i * 7) & 0xff);
    sys.fs.writeFile("/data", bytes);
    const p = sys.spawn();
    const a = p.mmap(0, 3 * P, RW, ANON, -1, 0);
    p.mlock(a, 3 * P);
    const fd = p.open("/data", O_RDWR);
    expect(p.read(fd, a + 100, 2 * P)).toBe(2 * P);
    expect(p.readBytes(a + 100, 2 * P)).toEqual(bytes.subarray(0, 2 * P));
    sys.audit();
    p.munlock(a, 3 * P);
    expect(p.load8(a + 100 + P)).toBe(bytes[P]);
    // write() from user memory (a transient Read wiring) back into the file.
    p.store8(a, 0xee);
    p.lseek(fd, 0, 0);
    expect(p.write(fd, a, 1)).toBe(1);
    expect(sys.fs.readFile("/data")[0]).toBe(0xee);
    sys.audit();
  });

  it("file mappings: MAP_SHARED is coherent with write(), MAP_PRIVATE copies on write, SIGBUS past EOF", () => {
    const sys = boot(machine, pmap);
    sys.fs.writeFile("/f", new Uint8Array(P + 10).fill(3));
    const p = sys.spawn();
    const fd = p.open("/f", O_RDWR);
    const s = p.mmap(0, 3 * P, RW, MAP_SHARED, fd, 0);
    const q = p.mmap(0, P, RW, MAP_PRIVATE, fd, 0);
    expect(p.load8(s)).toBe(3);
    expect(p.load8(q)).toBe(3);
    p.store8(s, 4);
    expect(p.load8(q)).toBe(4);
    p.store8(q, 5);
    expect(p.load8(s)).toBe(4);
    expect(p.load8(s + P + 100)).toBe(0);
    expect(signal(() => p.load8(s + 2 * P))).toMatchObject({ signal: "SIGBUS" });
    p.msync(s, P, MS_SYNC | MS_INVALIDATE);
    expect(sys.fs.readFile("/f")[0]).toBe(4);
    expect(p.load8(s)).toBe(4);
    sys.audit();
  });

  it("SMP: munmap on CPU 0 shoots down CPU 1's TLB", () => {
    const sys = boot(machine, pmap, 2);
    const p = sys.spawn();
    const t = p.newThread({ cpu: 1 });
    const a = p.mmap(0, P, RW, ANON, -1, 0);
    p.store32(a, 5);
    expect(t.load32(a)).toBe(5);
    p.munmap(a, P);
    expect(signal(() => t.load32(a))).toMatchObject({ code: "SEGV_MAPERR" });
    sys.audit();
  });

  it(`conformance properties: ${RUNS} runs × up to ${COMMANDS} commands`, { timeout: 600_000 }, () => {
    const factory = () =>
      createSystem({ machine: machine({ memoryMiB: 32, cpus: 2 }), pmap: pmap(), vm: uvm(), seed: 1 });
    const t0 = performance.now();
    const report = runProperties(factory, { runs: RUNS, commands: COMMANDS, seed: SEED });
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `conformance ${_p} × uvm on ${_m}: ${report.passed} passed, ${report.failed} failed, ` +
        `${report.runs} runs, ${report.commands} commands in ${secs.toFixed(1)} s (seed ${SEED})`,
    );
    for (const f of report.failures) console.log(`${f.message}\n(replay: seed ${f.seed}, path "${f.replay}")`);
    expect(report.failed).toBe(0);
  });
});
