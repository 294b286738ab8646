import { ConfigError, InvariantViolation } from "@vmlab/core";
import type { System } from "@vmlab/kernel";
import { describe, expect, it } from "vitest";
import { type BenchProgress, runBench, systemRequest, WORKLOADS, type Workload } from "../src/index.js";

/** A stand-in system: counters that workloads bump, and an audit that may fail. */
function fakeSystem(opts: { auditFails?: boolean } = {}) {
  const stats: Record<string, number> = { "cpu.cycles": 100, "tlb.miss": 0, "pmap.pv.alloc": 0, "pmap.pv.free": 0 };
  const sys = {
    stats: () => ({ ...stats }),
    audit: () => {
      if (opts.auditFails) throw new InvariantViolation("pmap", "pv-entries", "page 0x1000 has no pv entry");
    },
  } as unknown as System;
  return { sys, stats };
}

const counting = (name: string): Workload => ({
  name,
  description: "bumps counters",
  run(_sys, { sample, onProgress }) {
    sample?.();
    onProgress?.(1, 2);
    return { ops: 10, metrics: { "sweep.tlb.miss": 3 } };
  },
  system: () => ({ cpus: 4 }),
});

describe("runBench", () => {
  it("runs every workload on every combination in order, one fresh system per cell", async () => {
    const combos = [
      { machine: "i386", pmap: "mach", vm: "mach" },
      { machine: "amd64", pmap: "mach", vm: "mach" },
    ];
    const booted: unknown[] = [];
    const progress: BenchProgress[] = [];
    const rep = await runBench({
      combinations: combos,
      createSystem: (req) => {
        booted.push(req);
        const f = fakeSystem();
        const orig = f.sys.stats;
        let calls = 0;
        (f.sys as unknown as { stats: () => Record<string, number> }).stats = () => {
          calls++;
          const s = orig();
          // Each later snapshot has advanced: 1000 cycles and 5 pv entries alive.
          return calls > 1 ? { ...s, "cpu.cycles": 1100, "tlb.miss": 7, "pmap.pv.alloc": 5 } : s;
        };
        return f.sys;
      },
      workloads: [counting("a"), counting("b")],
      scale: 3,
      seed: 9,
      onProgress: (p) => progress.push(p),
      hostMemory: () => 64 * 1024 * 1024,
    });
    expect(rep.results.map((r) => `${r.machine} ${r.workload}`)).toEqual(["i386 a", "i386 b", "amd64 a", "amd64 b"]);
    expect(booted[0]).toEqual({ machine: "i386", pmap: "mach", vm: "mach", seed: 9, memoryMiB: 64, cpus: 4 });
    const m = rep.results[0]?.metrics ?? {};
    expect(m["sim.cycles"]).toBe(1000);
    expect(m["tlb.miss"]).toBe(7);
    expect(m["pv.live.peak"]).toBe(5);
    expect(m["sweep.tlb.miss"]).toBe(3);
    expect(m["sim.ops"]).toBe(10);
    expect(m["host.peak_rss_mib"]).toBe(64);
    expect("window.switch" in m).toBe(false);
    expect(rep.meta).toMatchObject({ tool: "vmlab bench", seed: 9, scale: 3, workloads: ["a", "b"] });
    // Progress: each cell starts at 0, reports its workload's progress, ends with its result.
    expect(progress.filter((p) => p.result).map((p) => p.cell)).toEqual([0, 1, 2, 3]);
    expect(progress.every((p) => p.cells === 4)).toBe(true);
  });

  it("records a cell's error and goes on; an audit violation is recorded beside valid figures", async () => {
    const rep = await runBench({
      combinations: [
        { machine: "i386", pmap: "nope", vm: "mach" },
        { machine: "i386", pmap: "mach", vm: "mach" },
      ],
      createSystem: (req) => {
        if (req.pmap === "nope") throw new ConfigError("pmap", "nope", "one of 'mach'");
        return fakeSystem({ auditFails: true }).sys;
      },
      workloads: [counting("a")],
    });
    expect(rep.results[0]?.error).toMatch(/^ConfigError: /);
    expect(rep.results[0]?.metrics).toEqual({});
    expect(rep.results[1]?.error).toBeUndefined();
    expect(rep.results[1]?.audit).toBe("during the run: pmap: pv-entries: page 0x1000 has no pv entry");
    expect(rep.results[1]?.metrics["sim.ops"]).toBe(10);
  });

  it("a workload's own failed check is the cell's error", async () => {
    const bad: Workload = {
      name: "bad",
      description: "reads the wrong value",
      run() {
        throw new Error("workload check failed: page 3");
      },
    };
    const rep = await runBench({
      combinations: [{ machine: "i386", pmap: "mach", vm: "mach" }],
      createSystem: () => fakeSystem().sys,
      workloads: [bad],
    });
    expect(rep.results[0]?.error).toBe("Error: workload check failed: page 3");
  });

  it("rejects a bad scale or seed and an unknown workload name", async () => {
    const o = { combinations: [], createSystem: () => fakeSystem().sys };
    await expect(runBench({ ...o, scale: 0 })).rejects.toThrow(/scale/);
    await expect(runBench({ ...o, seed: 1.5 })).rejects.toThrow(/seed/);
    await expect(runBench({ ...o, workloads: ["nope"] })).rejects.toThrow(/unknown workload 'nope'/);
  });

  it("workloads ask for the machine they need; the defaults fill the rest", () => {
    const byName = Object.fromEntries(WORKLOADS.map((w) => [w.name, w]));
    const c = { machine: "amd64", pmap: "mach", vm: "mach" };
    expect(systemRequest(c, byName["smp-shootdown"] as Workload, { scale: 1, seed: 1 })).toMatchObject({
      cpus: 4,
      memoryMiB: 64,
    });
    expect(systemRequest(c, byName.pressure as Workload, { scale: 1, seed: 1 })).toMatchObject({
      memoryMiB: 8,
      swapMiB: 16,
      cpus: 1,
    });
    expect(
      systemRequest(c, byName["seq-touch"] as Workload, { scale: 1, seed: 1, memoryMiB: 32, cpus: 2 }),
    ).toMatchObject({ memoryMiB: 32, cpus: 2 });
  });
});
