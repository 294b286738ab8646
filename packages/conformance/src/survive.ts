/**
 * "Data survives" (issue #4's must-show, #9's property): random data into anonymous private,
 * anonymous shared, SysV shared and file mappings (shared and private), memory pressure until most
 * of those pages have been to swap (or their file) and back, a fork, writes on both sides, and every
 * byte read back exactly as the reference model says — with every layer audited after each step
 * and disk completions landing at accesses chosen by the run's seed.
 */
import { IPC_CREAT, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import type { ProcessApi, System, SystemOptions } from "@vmlab/kernel";
import fc from "fast-check";
import {
  ExitCommand,
  ForkCommand,
  Mismatch,
  MmapCommand,
  type Real,
  setup,
  VerifyCommand,
  type World,
} from "./commands.js";
import { FileMmapCommand, ShmatCommand, ShmgetCommand } from "./commands-io.js";

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

/**
 * What a run gives the factory: its own seed and disk timing (where completion interrupts land).
 * The properties vary the jitter; the fork-storm scenario also sweeps seek and transfer times.
 */
export interface RunContext {
  readonly seed: number;
  readonly disk: { readonly jitter: number; readonly seek?: number; readonly transfer?: number };
}

/**
 * Makes a fresh system for each run. A factory that builds with `run.seed` and `run.disk` lets each
 * run place its interrupts differently (the seeded injector); one that ignores them still works.
 */
export type SystemFactory = (run?: RunContext) => System;

/** The injector's extra delays a run picks from (cycles, i.e. accesses, before the interrupt). */
const JITTERS = [0, 2_000, 20_000, 200_000] as const;

export function runContext(seed: number): RunContext {
  return { seed: seed + 1, disk: { jitter: JITTERS[seed % JITTERS.length]! } };
}

/** Options a factory passes on to createSystem for a run (seed and disk timing). */
export function runOptions(run: RunContext | undefined): Pick<SystemOptions, "seed" | "disk"> {
  if (run === undefined) return {};
  const { jitter, seek, transfer } = run.disk;
  return {
    seed: run.seed,
    disk: { jitter, ...(seek !== undefined ? { seek } : {}), ...(transfer !== undefined ? { transfer } : {}) },
  };
}

export interface SurviveCase {
  readonly seed: number;
  readonly anon: number;
  readonly shared: number;
  readonly shm: number;
  readonly file: number;
  readonly priv: number;
  /** Pages each side writes after the fork. */
  readonly after: number;
}

export const surviveArb: fc.Arbitrary<SurviveCase> = fc.record({
  seed: fc.nat({ max: 0xffff }),
  anon: fc.integer({ min: 8, max: 64 }),
  shared: fc.integer({ min: 1, max: 16 }),
  shm: fc.integer({ min: 1, max: 8 }),
  file: fc.integer({ min: 1, max: 16 }),
  priv: fc.integer({ min: 0, max: 8 }),
  after: fc.integer({ min: 0, max: 8 }),
});

/** xorshift32: the data written, from the case's seed (not the system's PRNG). */
function bytesFrom(state: { x: number }, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = state.x;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  state.x = x >>> 0 || 1;
  return out;
}

/** Run one case; throws Mismatch (with the transcript) when anything disagrees. */
export function survive(factory: SystemFactory, c: SurviveCase): void {
  const sys = factory(runContext(c.seed));
  const size = Math.max(c.file, c.priv) * P;
  const { model: w, real: r } = setup(sys, { files: [{ path: "/survive", size }] });
  const root = w.root;

  const step = (cmd: { run(w: World, r: Real): void }) => cmd.run(w, r);
  const mmap = (pages: number, shared: boolean) =>
    step(
      new MmapCommand({
        p: 0,
        via: 0,
        pages,
        prot: RW,
        shared,
        wired: false,
        placement: "any",
        region: 0,
        page: 0,
      }),
    );
  mmap(c.anon, false);
  mmap(c.shared, true);
  step(new ShmgetCommand(0, 0, c.shm, 0, IPC_CREAT));
  step(new ShmatCommand(0, 0, 0, false, "any", 0));
  step(
    new FileMmapCommand({
      p: 0,
      via: 0,
      file: 0,
      offset: 0,
      pages: c.file,
      prot: RW,
      shared: true,
      fixed: false,
      region: 0,
    }),
  );
  if (c.priv > 0)
    step(
      new FileMmapCommand({
        p: 0,
        via: 0,
        file: 0,
        offset: 0,
        pages: c.priv,
        prot: RW,
        shared: false,
        fixed: false,
        region: 0,
      }),
    );

  const rng = { x: (c.seed * 2654435761) >>> 0 || 1 };
  const fill = (pid: number, u: ProcessApi, every: number) => {
    for (const reg of w.regions.get(pid) ?? []) {
      for (let i = 0; i < reg.pages; i += every) {
        const va = reg.start + i * P;
        const bytes = bytesFrom(rng, P);
        try {
          u.writeBytes(va, bytes);
        } catch (e) {
          throw new Mismatch(
            `pid ${pid} writing ${va.toString(16)}: ${String(e)}\n${r.transcript.slice(-20).join("\n")}`,
          );
        }
        w.model.write(pid, va, bytes);
      }
    }
    r.transcript.push(`[${pid}] filled every ${every} pages of ${(w.regions.get(pid) ?? []).length} regions`);
    sys.audit();
  };
  fill(root, r.procs.get(root)!, 1);

  const anonPages = c.anon + c.shared + c.shm + c.priv;
  const before = sys.stats();
  // Take more than there is: the pageout daemon must push out everything it can.
  sys.memoryPressure(sys.vm.freePages + anonPages + 256);
  sys.audit();
  const during = sys.stats();
  const swapped = (during["vm.swapout"] ?? 0) - (before["vm.swapout"] ?? 0);
  const cleaned = (during["vm.pageout"] ?? 0) - (before["vm.pageout"] ?? 0);
  r.transcript.push(`pressure: swapout +${swapped} of ${anonPages} anonymous pages, pageout +${cleaned}`);
  sys.memoryPressure(0);
  if (swapped * 2 < anonPages) {
    throw new Mismatch(
      `memory pressure pushed only ${swapped} of ${anonPages} anonymous pages to swap\n${r.transcript.join("\n")}`,
    );
  }
  // The shared file pages were all written: they go back to their file before they can be freed.
  if (cleaned === 0) {
    throw new Mismatch(`memory pressure wrote no dirty file page back to its file\n${r.transcript.join("\n")}`);
  }

  step(new ForkCommand(0));
  const child = w.model.live().find((p) => p.pid !== root)!.pid;
  if (c.after > 0) {
    fill(child, r.procs.get(child)!, Math.max(1, Math.floor(c.anon / c.after)));
    fill(root, r.procs.get(root)!, Math.max(1, Math.floor(c.anon / c.after)) + 1);
  }
  step(new VerifyCommand(1, 0));
  step(new VerifyCommand(0, 1));
  const after = sys.stats();
  if ((after["vm.swapin"] ?? 0) <= (during["vm.swapin"] ?? 0) && swapped > 0) {
    throw new Mismatch(`every page was read back but nothing came in from swap\n${r.transcript.join("\n")}`);
  }
  // Again, with two processes sharing and copying, then the child goes.
  sys.memoryPressure(sys.vm.freePages + anonPages + 256);
  sys.memoryPressure(0);
  step(new VerifyCommand(1, 0));
  step(new ExitCommand(0, 0));
  step(new VerifyCommand(0, 0));
}

/** The property: every case survives. */
export function surviveProperty(factory: SystemFactory): fc.IPropertyWithHooks<[SurviveCase]> {
  return fc.property(surviveArb, (c) => survive(factory, c));
}
