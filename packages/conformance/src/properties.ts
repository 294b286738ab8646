/**
 * The model-based properties: random sequences of system calls and user accesses, run on a fresh
 * system and on the reference model, compared after every command, with sys.audit() after each.
 */
import { IPC_CREAT } from "@vmlab/core";
import fc from "fast-check";
import {
  execArb,
  exitArb,
  forkArb,
  loadArb,
  madviseArb,
  minheritArb,
  mlockArb,
  mlockallArb,
  mlockInsideArb,
  mmapArb,
  mprotectArb,
  msyncArb,
  munlockArb,
  munlockInsideArb,
  munmapArb,
  pageoutArb,
  type Real,
  setup,
  storeArb,
  type VmCommand,
  verifyArb,
  type World,
} from "./commands.js";
import {
  fileMmapArb,
  fileReadArb,
  fileWriteArb,
  ftruncateArb,
  ftruncatePartialArb,
  pressureArb,
  ShmatCommand,
  ShmgetCommand,
  shmatArb,
  shmatFixedArb,
  shmctlArb,
  shmdtArb,
  shmgetArb,
  shmLockArb,
  smpArb,
  unwireAllArb,
} from "./commands-io.js";
import { hostMs } from "./host-clock.js";
import { runContext, type SystemFactory, surviveProperty } from "./survive.js";

/** The command kinds a property draws from (names usable in `PropertyOptions.skip`). */
export const COMMAND_KINDS = {
  mmap: mmapArb,
  munmap: munmapArb,
  mprotect: mprotectArb,
  mlock: mlockArb,
  munlock: munlockArb,
  mlockInside: mlockInsideArb,
  munlockInside: munlockInsideArb,
  mlockall: mlockallArb,
  minherit: minheritArb,
  msync: msyncArb,
  madvise: madviseArb,
  fork: forkArb,
  exit: exitArb,
  load: loadArb,
  store: storeArb,
  exec: execArb,
  verify: verifyArb,
  pageout: pageoutArb,
  fileMmap: fileMmapArb,
  fileRead: fileReadArb,
  fileWrite: fileWriteArb,
  ftruncate: ftruncateArb,
  ftruncatePartial: ftruncatePartialArb,
  shmget: shmgetArb,
  shmat: shmatArb,
  shmatFixed: shmatFixedArb,
  shmdt: shmdtArb,
  shmctl: shmctlArb,
  shmLock: shmLockArb,
  pressure: pressureArb,
  smp: smpArb,
  unwireAll: unwireAllArb,
} as const;

export type CommandKind = keyof typeof COMMAND_KINDS;

/** A named property: a mix of command kinds with weights (how often each is drawn). */
export interface PropertyDef {
  readonly name: string;
  readonly description: string;
  readonly mix: Readonly<Partial<Record<CommandKind, number>>>;
  /** The run starts with the setup files made and open (`SETUP_FILES`). */
  readonly files?: boolean;
  /**
   * Each run boots its system with its own seed and disk jitter (`RunContext`), so disk completion
   * interrupts land at different accesses from run to run.
   */
  readonly seeded?: boolean;
  /**
   * Commands every run starts with, before the drawn ones (never shrunk away): a state the mix
   * would seldom reach by chance, such as a segment attached for the wiring property to lock.
   */
  readonly prelude?: () => readonly VmCommand[];
  /** Share of `runs` this property takes (slow properties run fewer times; default 1). */
  readonly share?: number;
  /** Not a command sequence: its own fast-check property over the factory. */
  readonly custom?: (factory: SystemFactory) => fc.IPropertyWithHooks<[never]>;
}

export const PROPERTIES: readonly PropertyDef[] = [
  {
    name: "model: every call and access",
    description:
      "all of mmap, munmap, mprotect, mlock, munlock, mlockall, minherit, msync, madvise, fork, exit, loads, stores, fetches",
    mix: {
      mmap: 3,
      munmap: 1,
      mprotect: 2,
      mlock: 1,
      munlock: 1,
      mlockall: 1,
      minherit: 1,
      msync: 1,
      madvise: 1,
      fork: 1,
      exit: 1,
      load: 3,
      store: 3,
      exec: 1,
      verify: 1,
      pageout: 1,
    },
  },
  {
    name: "model: fork, copy-on-write and inheritance",
    description: "deep fork trees over private and shared memory with every inheritance, writes and reads on all sides",
    mix: { mmap: 2, minherit: 2, fork: 2, exit: 1, store: 4, load: 4, verify: 2, munmap: 1, mprotect: 1 },
  },
  {
    name: "model: wiring",
    description: "mlock, munlock, mlockall, MAP_WIRED and MCL_FUTURE against protection changes, unmaps and forks",
    mix: {
      mmap: 2,
      mlock: 3,
      munlock: 3,
      mlockall: 2,
      mprotect: 2,
      munmap: 1,
      fork: 1,
      exit: 1,
      msync: 1,
      madvise: 1,
      store: 2,
      load: 1,
      verify: 1,
    },
  },
  {
    name: "model: paging",
    description: "memory pressure and the pagedaemon between writes, forks, locks and unmaps: paging must be invisible",
    mix: {
      mmap: 2,
      store: 3,
      load: 2,
      fork: 1,
      exit: 1,
      pageout: 2,
      verify: 2,
      mlock: 1,
      munlock: 1,
      mprotect: 1,
      munmap: 1,
      madvise: 1,
    },
  },
  {
    name: "model: files and mappings",
    description:
      "MAP_SHARED and MAP_PRIVATE file mappings at offsets, read/write/lseek, ftruncate shrinking and growing (SIGBUS past EOF), msync, fork",
    files: true,
    seeded: true,
    share: 0.5,
    mix: {
      fileMmap: 3,
      fileRead: 2,
      fileWrite: 2,
      ftruncate: 1,
      ftruncatePartial: 1,
      load: 3,
      store: 3,
      verify: 1,
      fork: 1,
      exit: 1,
      mmap: 1,
      munmap: 1,
      mprotect: 1,
      msync: 1,
      madvise: 1,
      minherit: 1,
    },
  },
  {
    name: "model: SysV shared memory",
    description:
      "shmget, shmat (kernel-chosen, occupied and rounded addresses), shmdt, IPC_STAT/RMID/SHM_LOCK across fork",
    seeded: true,
    share: 0.5,
    mix: {
      shmget: 2,
      shmat: 3,
      shmatFixed: 1,
      shmdt: 1,
      shmctl: 2,
      fork: 1,
      exit: 1,
      store: 3,
      load: 2,
      verify: 1,
      mmap: 1,
      munmap: 1,
      mprotect: 1,
      minherit: 1,
    },
  },
  {
    name: "model: pressure and interrupts",
    description:
      "memory pressure held while anonymous, shared, SysV and file pages are written, read, forked and locked; disk completions at seeded accesses",
    files: true,
    seeded: true,
    share: 0.25,
    mix: {
      pressure: 2,
      mmap: 2,
      fileMmap: 2,
      shmget: 1,
      shmat: 1,
      store: 4,
      load: 2,
      fileRead: 1,
      fileWrite: 1,
      fork: 1,
      exit: 1,
      verify: 2,
      mlock: 1,
      munlock: 1,
    },
  },
  {
    name: "model: threads on several CPUs",
    description:
      "a thread on CPU 1 touches pages while the main thread unmaps, protects or replaces them (TLB shootdowns), over anonymous and file memory",
    files: true,
    seeded: true,
    share: 0.5,
    mix: { smp: 4, mmap: 2, fileMmap: 1, store: 2, load: 2, mprotect: 1, munmap: 1, fork: 1, exit: 1, verify: 1 },
  },
  {
    name: "data survives paging, fork and interrupts",
    description:
      "random data in anonymous, shared, SysV and file mappings; memory pressure until most pages have been to swap and back; fork; every byte read back",
    seeded: true,
    share: 0.1,
    mix: {},
    custom: (factory) => surviveProperty(factory) as unknown as fc.IPropertyWithHooks<[never]>,
  },
  {
    name: "model: wiring with SysV shm and I/O",
    description:
      "the three wiring sources together: mlock/munlock over overlapping ranges of SysV segments that are SHM_LOCK'ed and unlocked, read(2) into the locked buffers (transient wiring), stores, fork",
    files: true,
    seeded: true,
    // No `share`: about one run in four reaches a locked segment's falling edge, so the quick
    // matrix's 20 runs find it. The root process starts with a two-page segment (key 1)
    // attached: the edges need one.
    prelude: () => [new ShmgetCommand(0, 1, 2, 0, IPC_CREAT), new ShmatCommand(0, 0, 0, false, "any", 0)],
    mix: {
      shmget: 2,
      shmat: 3,
      shmLock: 3,
      shmctl: 1,
      mlock: 1,
      munlock: 1,
      mlockInside: 4,
      munlockInside: 4,
      fileRead: 1,
      store: 1,
      load: 1,
      fork: 1,
      verify: 1,
      unwireAll: 1,
    },
  },
];

/**
 * The properties of issue #4 (files, SysV shm, pressure, threads, data survives) and #10 (wiring
 * with SysV shm and I/O), by name. New properties go last, so the seeds (seed + index) and replay
 * tokens of the earlier ones keep their meaning.
 */
export const STORAGE_PROPERTIES: readonly string[] = PROPERTIES.slice(4).map((p) => p.name);

/** The arbitraries of a property's mix (each repeated by its weight), without the skipped kinds. */
export function commandArbs(def: PropertyDef, skip: readonly string[] = []): fc.Arbitrary<VmCommand>[] {
  const out: fc.Arbitrary<VmCommand>[] = [];
  for (const [kind, weight] of Object.entries(def.mix) as [CommandKind, number][]) {
    if (skip.includes(kind)) continue;
    for (let i = 0; i < weight; i++) out.push(COMMAND_KINDS[kind]);
  }
  return out;
}

export interface PropertyOptions {
  /** Runs per property. */
  readonly runs: number;
  /** Most commands in one run. */
  readonly commands: number;
  /** Seed of the first property (the next ones use seed + 1, ...); DEFAULT_SEED when absent. */
  readonly seed?: number;
  /** Replay: the token of a failure (with its seed and its property name). */
  readonly replay?: string;
  /** Only these properties (by name). */
  readonly properties?: readonly string[];
  /** Leave these command kinds out (e.g. ["exec"] while a known fetch bug is open). */
  readonly skip?: readonly CommandKind[];
  /** Stop a property (including its shrinking) after this long; what ran still counts. */
  readonly timeLimitMs?: number;
  /**
   * Shrink a failure to a minimal case (default). False stops at the first failing run — for
   * callers that only ask whether a property fails (the matrix's errata detection); the failure's
   * replay token then reruns that unshrunk run.
   */
  readonly shrink?: boolean;
}

export interface PropertyFailure {
  readonly name: string;
  readonly seed: number;
  /**
   * The replay token: fast-check's path, then "#" and the commands' replayPath. Pass it back as
   * `replay` with the same seed and property to rerun exactly the shrunk case.
   */
  readonly replay: string;
  /** fast-check's report: seed, path, the shrunk command list and the disagreement. */
  readonly message: string;
}

export interface PropertyReport {
  readonly passed: number;
  readonly failed: number;
  readonly seconds: number;
  /** Runs executed over all properties, up to and including a failing one (shrinking not counted). */
  readonly runs: number;
  /** Commands executed, shrinking included. */
  readonly commands: number;
  /** Properties cut short by `timeLimitMs`. */
  readonly interrupted: readonly string[];
  readonly failures: readonly PropertyFailure[];
}

const now = hostMs;

/** The seed used when none is given: runs are deterministic; pass another seed to explore further. */
export const DEFAULT_SEED = 0x5eed;

/**
 * One property as a fast-check property over a system factory. A seeded property draws the run's
 * seed first (the factory gets it as a `RunContext`); the others call the factory with nothing, as
 * before, so their replay tokens keep their meaning.
 */
export function vmProperty(
  factory: SystemFactory,
  def: PropertyDef,
  commands: number,
  opts: { replayPath?: string; counter?: { commands: number }; skip?: readonly string[] } = {},
): fc.IPropertyWithHooks<[unknown]> {
  if (def.custom !== undefined) return def.custom(factory) as fc.IPropertyWithHooks<[unknown]>;
  const arb = fc.commands(commandArbs(def, opts.skip), {
    maxCommands: commands,
    size: "max",
    ...(opts.replayPath !== undefined ? { replayPath: opts.replayPath } : {}),
  });
  const run = (sys: ReturnType<SystemFactory>, cmds: Iterable<VmCommand>) => {
    const s = setup(sys, { files: def.files === true });
    try {
      for (const c of def.prelude?.() ?? []) if (c.check(s.model)) c.run(s.model, s.real);
      fc.modelRun<World, Real, World>(() => s, cmds);
    } finally {
      if (opts.counter !== undefined) opts.counter.commands += s.real.executed;
    }
  };
  if (def.seeded) {
    return fc.property(fc.tuple(fc.nat({ max: 0xffff }), arb), ([seed, cmds]) =>
      run(factory(runContext(seed)), cmds),
    ) as unknown as fc.IPropertyWithHooks<[unknown]>;
  }
  return fc.property(arb, (cmds) => run(factory(), cmds)) as unknown as fc.IPropertyWithHooks<[unknown]>;
}

/**
 * A replay token: fast-check's counterexample path, and after "#" the commands' replay path
 * (fc.commands needs both to rebuild the shrunk sequence).
 */
function replayToken(details: fc.RunDetails<[unknown]>): string {
  const path = details.counterexamplePath ?? "";
  const shown = details.counterexample === null ? "" : fc.stringify(details.counterexample[0]);
  const m = /replayPath="([^"]*)"/.exec(shown);
  return m === null ? path : `${path}#${m[1]}`;
}

/**
 * Run the model-based properties against systems made by `factory` (one fresh system per run).
 * Never throws: every problem is a failure in the report.
 */
export function runProperties(factory: SystemFactory, opts: PropertyOptions): PropertyReport {
  const t0 = now();
  const chosen = PROPERTIES.filter((p) => opts.properties === undefined || opts.properties.includes(p.name));
  const base = opts.seed ?? DEFAULT_SEED;
  let passed = 0;
  let runs = 0;
  const counter = { commands: 0 };
  const failures: PropertyFailure[] = [];
  const interrupted: string[] = [];
  chosen.forEach((def, i) => {
    const seed = (base + i) | 0;
    try {
      const [path, replayPath] = opts.replay === undefined ? [] : opts.replay.split("#");
      const params: fc.Parameters<[unknown]> = {
        numRuns: Math.max(1, Math.round(opts.runs * (def.share ?? 1))),
        seed,
        includeErrorInReport: true,
        ...(path !== undefined || opts.shrink === false ? { endOnFailure: true } : {}),
        ...(path !== undefined ? { path } : {}),
        ...(opts.timeLimitMs !== undefined ? { interruptAfterTimeLimit: opts.timeLimitMs } : {}),
      };
      const prop = vmProperty(factory, def, opts.commands, {
        counter,
        ...(opts.skip !== undefined ? { skip: opts.skip } : {}),
        ...(replayPath !== undefined ? { replayPath } : {}),
      });
      const details = fc.check(prop, params);
      runs += details.numRuns; // the failing run included
      if (details.interrupted) interrupted.push(def.name);
      if (details.failed) {
        failures.push({
          name: def.name,
          seed: details.seed,
          replay: replayToken(details),
          message: `${def.name}\n${fc.defaultReportMessage(details) ?? "failed"}`,
        });
      } else {
        passed++;
      }
    } catch (e) {
      failures.push({
        name: def.name,
        seed,
        replay: "",
        message: `${def.name}: the property could not run: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      });
    }
  });
  return {
    passed,
    failed: failures.length,
    seconds: (now() - t0) / 1000,
    runs,
    commands: counter.commands,
    interrupted,
    failures,
  };
}

/**
 * For test runners (vitest, jest, node:test): run the properties and throw one Error carrying
 * every failure's report when any fails; returns the report otherwise.
 */
export function assertProperties(factory: SystemFactory, opts: PropertyOptions): PropertyReport {
  const report = runProperties(factory, opts);
  if (report.failed > 0) {
    throw new Error(
      `${report.failed} of ${report.passed + report.failed} properties failed\n\n${report.failures
        .map((f) => `${f.message}\n(replay: seed ${f.seed}, path "${f.replay}")`)
        .join("\n\n")}`,
    );
  }
  return report;
}
