/**
 * The conformance hookup: whole systems — a machine, the Cranor pmap and the Mach VM composed by
 * the kernel — with an audit after every operation, on i386, i386 PAE and amd64. Then the
 * conformance suite's model-based properties against the same systems.
 */

import { runProperties } from "@vmlab/conformance";
import {
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MCL_CURRENT,
  PAGE_SIZE,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SignalError,
} from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { createSystem, type System } from "@vmlab/kernel";
import type { MachineSpec } from "@vmlab/machine";
import { machVm } from "@vmlab/vm-mach";
import { describe, expect, it } from "vitest";
import { type CranorModule, cranorPmap } from "../src/index.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;

type MachineFactory = (o: { memoryMiB?: number; cpus?: number }) => MachineSpec;
const MACHINES: readonly [string, MachineFactory][] = [
  ["i386", i386],
  ["i386-pae", i386Pae],
  ["amd64", amd64],
];

function boot(machine: MachineFactory, cpus = 1, memoryMiB = 32): System {
  return createSystem({
    machine: machine({ memoryMiB, cpus }),
    pmap: cranorPmap(),
    vm: machVm(),
    auditEveryOp: true,
    seed: 1,
  });
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

// A per-package smoke size; long campaigns run through `vmlab matrix --full` (docs/matrix.md).
const RUNS = Number(process.env.VMLAB_RUNS ?? 25);
const COMMANDS = Number(process.env.VMLAB_COMMANDS ?? 40);
const SEED = Number(process.env.VMLAB_SEED ?? 0x5eed);

describe.each(MACHINES)("whole system on %s: Cranor pmap × Mach VM", (name, machine) => {
  it("boots with the Cranor layout: no page tables in the user map", () => {
    const sys = boot(machine);
    expect(sys.config).toMatchObject({ machine: name, pmap: "cranor", vm: "mach" });
    const l = sys.layout;
    expect(l.uptMin).toBe(l.uptMax);
    expect(l.userMax).toBeLessThanOrEqual(l.uareaVa);
    sys.audit();
  });

  it("spawn, mmap, store/load, munmap", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 16 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 16; i++) p.store32(a + i * PAGE_SIZE + 4, 0x1000 + i);
    for (let i = 0; i < 16; i++) expect(p.load32(a + i * PAGE_SIZE + 4)).toBe(0x1000 + i);
    const before = sys.stats()["pmap.ptp.alloc"] ?? 0;
    expect(before).toBeGreaterThan(0);
    p.munmap(a, 16 * PAGE_SIZE);
    expect(signal(() => p.load32(a))).toMatchObject({ signal: "SIGSEGV", code: "SEGV_MAPERR" });
    expect(sys.stats()["pmap.ptp.free"]).toBeGreaterThan(0);
    sys.audit();
  });

  it("fork with copy-on-write, then exit and wait", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 8 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 8; i++) p.store32(a + i * PAGE_SIZE, 100 + i);
    const c = p.fork();
    for (let i = 0; i < 8; i++) expect(c.load32(a + i * PAGE_SIZE)).toBe(100 + i);
    c.store32(a, 1);
    p.store32(a + PAGE_SIZE, 2);
    expect(p.load32(a)).toBe(100);
    expect(c.load32(a)).toBe(1);
    expect(c.load32(a + PAGE_SIZE)).toBe(101);
    expect(p.load32(a + PAGE_SIZE)).toBe(2);
    const g = c.fork();
    g.store32(a + 2 * PAGE_SIZE, 3);
    expect(c.load32(a + 2 * PAGE_SIZE)).toBe(102);
    g.exit(0);
    c.exit(7);
    expect(p.wait()).toEqual({ pid: c.pid, status: 7 });
    sys.audit();
  });

  it("MAP_SHARED is shared with the child", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const s = p.mmap(0, PAGE_SIZE, RW, MAP_ANON | MAP_SHARED, -1, 0);
    const c = p.fork();
    c.store32(s, 11);
    expect(p.load32(s)).toBe(11);
    sys.audit();
  });

  it("mprotect lowers and raises; PROT_EXEC follows NX", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 1);
    p.store8(a + PAGE_SIZE, 0xc3);
    p.mprotect(a, PAGE_SIZE, PROT_READ);
    expect(p.load32(a)).toBe(1);
    expect(signal(() => p.store32(a, 2))).toMatchObject({ code: "SEGV_ACCERR" });
    p.mprotect(a, PAGE_SIZE, PROT_NONE);
    expect(signal(() => p.load32(a))).toMatchObject({ code: "SEGV_ACCERR" });
    p.mprotect(a, PAGE_SIZE, RW);
    p.store32(a, 3);
    expect(p.load32(a)).toBe(3);
    if (name === "i386") expect(p.exec(a + PAGE_SIZE)).toBe(0xc3);
    else expect(signal(() => p.exec(a + PAGE_SIZE))).toMatchObject({ code: "SEGV_ACCERR" });
    p.mprotect(a + PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_EXEC);
    expect(p.exec(a + PAGE_SIZE)).toBe(0xc3);
    sys.audit();
  });

  it("mlock wires pages in the pmap; munlock and mlockall", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    p.mlock(a, 2 * PAGE_SIZE);
    p.store32(a, 5);
    expect(p.load32(a)).toBe(5);
    p.munlock(a, 2 * PAGE_SIZE);
    p.mlockall(MCL_CURRENT);
    p.munlockall();
    sys.audit();
  });

  it("SMP: munmap on CPU 0 shoots down CPU 1's TLB", () => {
    const sys = boot(machine, 2);
    const p = sys.spawn();
    const t = p.newThread({ cpu: 1 });
    const a = p.mmap(0, PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 5);
    expect(t.load32(a)).toBe(5);
    p.munmap(a, PAGE_SIZE);
    expect(signal(() => t.load32(a))).toMatchObject({ code: "SEGV_MAPERR" });
    expect(sys.stats()["pmap.shootdown"]).toBeGreaterThan(0);
    sys.audit();
  });

  it("many processes and exits leave no page-table page or pv entry behind", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) p.store32(a + i * PAGE_SIZE, i);
    const kids = [];
    for (let i = 0; i < 12; i++) {
      const c = p.fork();
      c.load32(a + (i % 4) * PAGE_SIZE);
      kids.push(c);
    }
    for (const c of kids) c.exit(0);
    for (let i = 0; i < 12; i++) p.wait();
    sys.audit();
    const m = (sys as unknown as { pmap: CranorModule }).pmap;
    expect(m.pmaps.size).toBe(1);
    const stats = sys.stats();
    expect(stats["pmap.ptp.alloc"]).toBeGreaterThan(0);
  });

  it(`conformance properties: ${RUNS} runs × up to ${COMMANDS} commands`, { timeout: 1_800_000 }, () => {
    const factory = () =>
      createSystem({ machine: machine({ memoryMiB: 32, cpus: 2 }), pmap: cranorPmap(), vm: machVm(), seed: 1 });
    const t0 = performance.now();
    const report = runProperties(factory, { runs: RUNS, commands: COMMANDS, seed: SEED });
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `conformance cranor × mach on ${name}: ${report.passed} passed, ${report.failed} failed, ` +
        `${report.runs} runs, ${report.commands} commands in ${secs.toFixed(1)} s (seed ${SEED})`,
    );
    for (const f of report.failures) console.log(`${f.message}\n(replay: seed ${f.seed}, path "${f.replay}")`);
    expect(report.failed).toBe(0);
  });
});
