/**
 * "Fork storm under asynchronous writes": a stress scenario for interrupts that land inside fork.
 *
 * A writer keeps the pages of a MAP_SHARED file mapping dirty and starts their writes with
 * msync(MS_ASYNC), so disk completions keep arriving by interrupt; meanwhile a parent forks child
 * after child, and each child runs at once and checks the memory it inherited. On a merged
 * VM/buffer cache the completion path runs pages down (pmap_page_protect) at interrupt time; a
 * pmap that is in the middle of entering a child's u-area through a shared window when that
 * happens writes into the wrong address space (FreeBSD 1996, seed 000: the APTD window). The
 * window is a few memory accesses per fork, so the scenario does what a stress test does: it
 * sweeps a small grid of disk timings (seek, transfer, jitter) and seeds, each trial on a fresh
 * system, until one misbehaves or the grid is done.
 *
 * Every trial checks: no panic; every call succeeds; each child sees the bytes its parent had at
 * the fork and keeps its own store private (fork copy-on-write); the parent keeps its bytes; after
 * msync(MS_SYNC) the file holds the writer's last stamps (msync, docs/decisions/0007); every
 * layer's audit is clean after each round.
 */
import {
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_ASYNC,
  MS_SYNC,
  O_CREAT,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from "@vmlab/core";
import type { Process, System } from "@vmlab/kernel";
import type { RunContext, SystemFactory } from "./survive.js";

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

/** One trial's disk timing and seed. */
export interface StormTrial {
  readonly seek: number;
  readonly transfer: number;
  readonly jitter: number;
  readonly seed: number;
}

export interface ForkStormOptions {
  /** Pages of the shared file mapping dirtied and msync'ed before each fork. */
  readonly filePages?: number;
  /** Children forked per trial. */
  readonly forks?: number;
  /** The grid (default `STORM_GRID`). */
  readonly trials?: readonly StormTrial[];
}

/**
 * The default grid: seek times from a fast cache hit to a slow disk, page transfer times, injector
 * jitters, and two seeds each — 24 trials. The completions of one msync are spaced `transfer`
 * cycles apart after a `seek`, plus up to `jitter`; the grid spreads them across the few hundred
 * cycles of a fork.
 */
export const STORM_GRID: readonly StormTrial[] = (() => {
  const out: StormTrial[] = [];
  for (const seek of [500, 2_000, 8_000])
    for (const transfer of [100, 1_000])
      for (const jitter of [1_000, 5_000]) for (const seed of [3, 4]) out.push({ seek, transfer, jitter, seed });
  return out;
})();

class StormFailure extends Error {
  override readonly name = "StormFailure";
}

const showTrial = (t: StormTrial) => `seek ${t.seek}, transfer ${t.transfer}, jitter ${t.jitter}, seed ${t.seed}`;

/** The stamp the writer puts in file page `pg` in round `round`. */
const stamp = (round: number, pg: number) => (0x5700_0000 + round * 0x100 + pg) >>> 0;

function expect32(label: string, want: number, got: number): void {
  if (got >>> 0 !== want >>> 0) {
    throw new StormFailure(`${label}: read 0x${(got >>> 0).toString(16)}, expected 0x${(want >>> 0).toString(16)}`);
  }
}

function audit(sys: System, label: string): void {
  try {
    sys.audit();
  } catch (e) {
    throw new StormFailure(`audit after ${label}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

/** One trial on a fresh system; throws (StormFailure, a panic, any error) when it goes wrong. */
function trial(sys: System, filePages: number, forks: number): void {
  sys.fs.writeFile("/storm", new Uint8Array(filePages * P));
  const writer = sys.spawn();
  const parent = sys.spawn();
  const fd = writer.open("/storm", O_CREAT | O_RDWR);
  const map = writer.mmap(0, filePages * P, RW, MAP_SHARED, fd, 0);
  const anon = parent.mmap(0, 2 * P, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
  const children: { child: Process; own: number }[] = [];
  for (let round = 0; round < forks; round++) {
    const mine = (0x9a00_0000 + round) >>> 0;
    parent.store32(anon, mine);
    parent.store32(anon + P + 4 * round, round);
    for (let pg = 0; pg < filePages; pg++) writer.store32(map + pg * P + 8 * round, stamp(round, pg));
    writer.msync(map, filePages * P, MS_ASYNC);
    const child = parent.fork();
    expect32(`round ${round}: the child sees its parent's page at the fork`, mine, child.load32(anon));
    expect32(`round ${round}: and the second page`, round, child.load32(anon + P + 4 * round));
    const own = (0xc400_0000 + round) >>> 0;
    child.store32(anon, own);
    expect32(`round ${round}: the child's store is its own`, own, child.load32(anon));
    expect32(`round ${round}: the parent keeps its page`, mine, parent.load32(anon));
    children.push({ child, own });
    audit(sys, `round ${round}`);
  }
  sys.advance(400_000);
  children.forEach(({ child, own }, i) => {
    expect32(`child ${i + 1} runs again and still has its page`, own, child.load32(anon));
  });
  writer.msync(map, filePages * P, MS_SYNC);
  const file = sys.fs.readFile("/storm");
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let round = 0; round < forks; round++) {
    for (let pg = 0; pg < filePages; pg++) {
      expect32(
        `file page ${pg} holds round ${round}'s stamp`,
        stamp(round, pg),
        view.getUint32(pg * P + 8 * round, true),
      );
    }
  }
  for (const { child } of children) child.exit(0);
  for (let i = 0; i < children.length; i++) parent.wait();
  audit(sys, "the children exit");
}

/**
 * Run the storm over the grid; stops at the first trial that goes wrong and names its timing (to
 * replay it: a factory given `{ seed, disk: { seek, transfer, jitter } }` builds that system).
 * A factory that ignores its RunContext runs every trial on the same timing.
 */
export function forkStorm(
  factory: SystemFactory,
  opts: ForkStormOptions = {},
): { passed: boolean; detail: string; failures: string[] } {
  const filePages = opts.filePages ?? 8;
  const forks = opts.forks ?? 8;
  const trials = opts.trials ?? STORM_GRID;
  const summary = `${trials.length} trials × ${forks} forks under msync(MS_ASYNC) of ${filePages} shared file pages`;
  for (const t of trials) {
    const run: RunContext = { seed: t.seed, disk: { seek: t.seek, transfer: t.transfer, jitter: t.jitter } };
    try {
      trial(factory(run), filePages, forks);
    } catch (e) {
      const kind =
        e instanceof StormFailure ? "" : e instanceof Error && e.name === "KernelPanic" ? "kernel panic: " : "";
      const what = `trial (${showTrial(t)}): ${kind}${e instanceof Error ? (e instanceof StormFailure ? e.message : `${e.name}: ${e.message}`) : String(e)}`;
      return { passed: false, detail: `${summary}\n${what}`, failures: [what] };
    }
  }
  return { passed: true, detail: `${summary}: all clean`, failures: [] };
}
