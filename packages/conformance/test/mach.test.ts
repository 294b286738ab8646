/**
 * Integration: the Mach pmap × Mach VM on each machine (i386, i386 PAE, amd64), against the
 * reference model (properties), the scenarios (fork-heavy, ATF, errno tables).
 *
 * The concrete parts are imported dynamically, here only (the package itself never imports them);
 * until they exist the suite is skipped. Seeds are fixed for reproducible CI; set VMLAB_SEED to
 * explore others, VMLAB_RUNS / VMLAB_COMMANDS to change the size.
 */
import {
  IPC_CREAT,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from "@vmlab/core";
import type { System, SystemOptions } from "@vmlab/kernel";
import { describe, expect, it } from "vitest";
import {
  type CommandKind,
  PROPERTIES,
  type RunContext,
  runOptions,
  runProperties,
  runScenarios,
  SCENARIOS,
} from "../src/index.js";

type MachineFactory = (o: { memoryMiB?: number; cpus?: number }) => SystemOptions["machine"];

interface Parts {
  createSystem(o: SystemOptions): System;
  machPmap(): SystemOptions["pmap"];
  machVm(): SystemOptions["vm"];
  machines: Record<"i386" | "i386-pae" | "amd64", MachineFactory>;
}

async function loadParts(): Promise<Parts | undefined> {
  try {
    const kernel = await import("@vmlab/kernel");
    const hw = await import("@vmlab/hw-i386" as string);
    const amd = await import("@vmlab/hw-amd64" as string);
    const pmap = await import("@vmlab/pmap-mach" as string);
    const vm = await import("@vmlab/vm-mach" as string);
    const fns = [kernel.createSystem, pmap.machPmap, vm.machVm, hw.i386, hw.i386Pae, amd.amd64];
    if (!fns.every((f) => typeof f === "function")) return undefined;
    return {
      createSystem: kernel.createSystem,
      machPmap: pmap.machPmap,
      machVm: vm.machVm,
      machines: { i386: hw.i386, "i386-pae": hw.i386Pae, amd64: amd.amd64 },
    };
  } catch {
    return undefined;
  }
}

const parts = await loadParts();
const available = parts !== undefined;

// Sized so one machine's properties (nine of them, the slow ones at a share of the runs) stay
// under about a minute on a shared CI core; VMLAB_RUNS=200 is the pre-issue-#4 depth.
const RUNS = Number(process.env.VMLAB_RUNS ?? 100);
const COMMANDS = Number(process.env.VMLAB_COMMANDS ?? 50);
const SEED = Number(process.env.VMLAB_SEED ?? 0x5eed);

/**
 * Disagreements already analysed and reported (see README "Implementation disagreements"):
 * scenario name → the check lines (or table cases) known to fail. A new failure fails the suite; a
 * known one that starts passing is only reported, so the fix can be noted here.
 */
const KNOWN: Record<string, readonly string[]> = {};

/**
 * Command kinds left out of the properties while a reported bug is open (README "Implementation
 * disagreements"). None now: `pressure` (#8) and `fileWrite` (#10) are back since their fixes.
 */
const SKIP: Record<string, readonly CommandKind[]> = {};

const MACHINES = ["i386", "i386-pae", "amd64"] as const;

describe.skipIf(!available)("conformance: Mach pmap × Mach VM", () => {
  for (const machine of MACHINES) {
    const factory =
      (memoryMiB = 32) =>
      (run?: RunContext) =>
        parts!.createSystem({
          machine: parts!.machines[machine]({ memoryMiB, cpus: 2 }),
          pmap: parts!.machPmap(),
          vm: parts!.machVm(),
          seed: 1,
          ...runOptions(run),
        });

    describe(machine, () => {
      it(`model-based properties: ${RUNS} runs × up to ${COMMANDS} commands each`, () => {
        const report = runProperties(factory(), {
          runs: RUNS,
          commands: COMMANDS,
          seed: SEED,
          skip: SKIP[machine] ?? [],
        });
        console.log(
          `[${machine}] properties: ${report.passed} passed, ${report.failed} failed, ${report.runs} runs, ` +
            `${report.commands} commands, ${report.seconds.toFixed(1)} s (seed ${SEED})`,
        );
        expect(report.failures.map((f) => f.message)).toEqual([]);
        expect(report.passed).toBe(PROPERTIES.length);
      }, 600_000);

      it("fork-heavy: 1,000 pages, 3 generations, every byte checked", () => {
        const r = runScenarios(factory(64), { names: ["fork-heavy"] });
        const res = r.results[0]!;
        console.log(`[${machine}] fork-heavy ${res.seconds.toFixed(1)} s: ${res.detail.split("\n").join("; ")}`);
        expect(res.passed, res.detail).toBe(true);
      }, 120_000);

      it("errno tables and ATF scenarios (no panic, audits clean)", () => {
        const names = SCENARIOS.map((s) => s.name).filter((n) => n !== "fork-heavy");
        const r = runScenarios(factory(), { names });
        const unexpected: string[] = [];
        const fixed: string[] = [];
        for (const res of r.results) {
          const known = KNOWN[res.name] ?? [];
          for (const l of res.failures) if (!known.some((k) => l.includes(k))) unexpected.push(`${res.name}: ${l}`);
          for (const k of known) if (!res.failures.some((l) => l.includes(k))) fixed.push(`${res.name}: ${k}`);
        }
        if (fixed.length > 0) console.warn(`[${machine}] known disagreements no longer seen:\n  ${fixed.join("\n  ")}`);
        console.log(`[${machine}] scenarios: ${r.passed}/${r.results.length} clean in ${r.seconds.toFixed(1)} s`);
        expect(unexpected).toEqual([]);
      }, 120_000);
    });
  }

  describe("resolved disagreements", () => {
    const RW = PROT_READ | PROT_WRITE;
    const boot = () =>
      parts!.createSystem({
        machine: parts!.machines.amd64({ memoryMiB: 32, cpus: 2 }),
        pmap: parts!.machPmap(),
        vm: parts!.machVm(),
      });

    it("#8 under memory pressure a store crossing two pages completes (no 'trap: fault loop' panic)", () => {
      // vm-mach's daemon scanned again at once after a pass that only deactivated, laundering the
      // page a fault had just entered before the retried access could reference it.
      for (const left of [0, 16]) {
        const sys = boot();
        const p = sys.spawn();
        const a = p.mmap(0, 2 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
        sys.memoryPressure(sys.vm.freePages - left);
        p.store32(a + PAGE_SIZE - 2, 0x01020304);
        expect(p.load32(a + PAGE_SIZE - 2)).toBe(0x01020304);
        sys.memoryPressure(0);
      }
    });

    it("#10 write(2) from a read-only MAP_PRIVATE file page leaves it showing the file", () => {
      // vslock with Read access wires a read-only private page where it lies (the BSDs wire with
      // the entry's protection); only a writable private entry is copied.
      const sys = boot();
      sys.fs.writeFile("/a", new Uint8Array(PAGE_SIZE).fill(7));
      sys.fs.writeFile("/b", new Uint8Array(PAGE_SIZE));
      const p = sys.spawn();
      const fa = p.open("/a", O_RDWR);
      const fb = p.open("/b", O_RDWR);
      const priv = p.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, fa, 0);
      const shared = p.mmap(0, PAGE_SIZE, RW, MAP_SHARED, fa, 0);
      p.write(fb, priv, 4);
      p.store32(shared, 0x11223344);
      expect(p.load32(priv)).toBe(0x11223344);
      expect(sys.fs.readFile("/b").subarray(0, 4)).toEqual(new Uint8Array(4).fill(7));
    });

    it("#7 shmat at an occupied address is ENOMEM, not a replacement (uvm_map / vm_map_find)", () => {
      const sys = boot();
      const p = sys.spawn();
      const a = p.mmap(0, PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
      const id = p.shmget(IPC_PRIVATE, PAGE_SIZE, IPC_CREAT | 0o600);
      expect(() => p.shmat(id, a, 0)).toThrow(expect.objectContaining({ code: "ENOMEM" }));
    });

    it("#6 a removed SysV segment's id is EINVAL for shmat and shmctl (NetBSD/FreeBSD shm_find_segment_by_shmid)", () => {
      const sys = boot();
      const p = sys.spawn();
      const id = p.shmget(IPC_PRIVATE, PAGE_SIZE, IPC_CREAT | 0o600);
      p.shmat(id, 0, 0);
      p.shmctl(id, IPC_RMID);
      expect(() => p.shmctl(id, IPC_STAT)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(() => p.shmat(id, 0, 0)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    });

    it("#5 ftruncate zero-fills the partial last page past the new EOF (POSIX mmap/ftruncate)", () => {
      const sys = boot();
      sys.fs.writeFile("/t", new Uint8Array(3 * PAGE_SIZE).fill(1));
      const p = sys.spawn();
      const fd = p.open("/t", O_RDWR);
      const m = p.mmap(0, PAGE_SIZE, RW, MAP_SHARED, fd, 0);
      p.store8(m + 200, 0x44);
      p.ftruncate(fd, 100);
      expect(p.load8(m + 200)).toBe(0);
    });

    it("#9 sys.fs.writeFile creates missing parent directories (its documentation)", () => {
      const sys = boot();
      sys.fs.writeFile("/a/b", new Uint8Array(4));
      expect(sys.fs.exists("/a/b")).toBe(true);
    });

    it("mmap(MAP_FIXED) ending past VM_MAXUSER_ADDRESS is EINVAL (NetBSD mmap(2), decision 0005)", () => {
      const sys = parts!.createSystem({
        machine: parts!.machines.i386({ memoryMiB: 16 }),
        pmap: parts!.machPmap(),
        vm: parts!.machVm(),
      });
      const p = sys.spawn();
      const { userMax } = sys.layout;
      expect(() =>
        p.mmap(userMax - 4096, 8192, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0),
      ).toThrow(expect.objectContaining({ code: "EINVAL" }));
    });
  });
});
