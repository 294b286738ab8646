/** A database-style buffer pool: mlock'ed buffers, pages read and written with read(2)/write(2). */
import { MAP_ANON, MAP_PRIVATE, O_RDWR, PAGE_SIZE, PROT_READ, PROT_WRITE, Prng, SEEK_SET } from "@vmlab/core";
import type { Process } from "@vmlab/kernel";
import { check, pattern, type Workload, writeFileP } from "../workload.js";

const RW = PROT_READ | PROT_WRITE;
const PATH = "/data/table.db";

/** The pool's state: which file page each buffer holds, its version, whether it is dirty. */
interface Pool {
  readonly p: Process;
  readonly fd: number;
  readonly base: number;
  readonly holds: Int32Array;
  readonly dirty: Uint8Array;
  readonly slotOf: Map<number, number>;
  /** Clock hand and reference bits (the second-chance replacement of a real buffer manager). */
  hand: number;
  readonly ref: Uint8Array;
  ops: number;
}

/**
 * A 1,024 × scale page table file and a 128 × scale page pool of buffers, mlock'ed as a
 * database's shared buffers are. 4,096 × scale transactions pick pages with an 80/20 skew; a
 * miss evicts a buffer by the clock, writing it back with write(2) if dirty, and reads the page
 * with read(2) into the wired buffer (a transient wiring nested in the mlock). Every read
 * checks the page's version word; a third of the transactions update it. At the end the pool
 * is flushed, munlocked, and the file checked.
 */
export const bufferPool: Workload = {
  name: "buffer-pool",
  description: "mlock'ed buffer pool over a file: skewed page reads/writes with read(2)/write(2), clock eviction",
  run(sys, { scale, seed, onProgress, sample }) {
    const filePages = 1024 * scale;
    const slots = 128 * scale;
    const n = 4096 * scale;
    const rng = new Prng(seed);
    const version = new Uint32Array(filePages);
    const init = new Uint8Array(filePages * PAGE_SIZE);
    const iv = new DataView(init.buffer);
    for (let i = 0; i < filePages; i++) iv.setUint32(i * PAGE_SIZE, pattern(i, 0), true);
    writeFileP(sys, PATH, init);
    const p = sys.spawn();
    const base = p.mmap(0, slots * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    p.mlock(base, slots * PAGE_SIZE);
    const pool: Pool = {
      p,
      fd: p.open(PATH, O_RDWR),
      base,
      holds: new Int32Array(slots).fill(-1),
      dirty: new Uint8Array(slots),
      slotOf: new Map(),
      hand: 0,
      ref: new Uint8Array(slots),
      ops: 4,
    };
    const hot = Math.max(1, Math.floor(filePages / 5));
    for (let t = 0; t < n; t++) {
      const page = rng.chance(4, 5) ? rng.int(0, hot - 1) : rng.int(hot, filePages - 1);
      const slot = fetch(pool, page);
      const va = base + slot * PAGE_SIZE;
      check(p.load32(va) === pattern(page, version[page] as number), `transaction ${t}: page ${page}`);
      pool.ops++;
      if (rng.chance(1, 3)) {
        version[page] = (version[page] as number) + 1;
        p.store32(va, pattern(page, version[page] as number));
        pool.dirty[slot] = 1;
        pool.ops++;
      }
      if (t === n >> 1) sample?.();
      if ((t & 127) === 0) onProgress?.(t, n);
    }
    for (let s = 0; s < slots; s++) if (pool.dirty[s]) writeBack(pool, s);
    p.munlock(base, slots * PAGE_SIZE);
    p.close(pool.fd);
    p.exit(0);
    const bytes = sys.fs.readFile(PATH);
    const out = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < filePages; i++) {
      check(out.getUint32(i * PAGE_SIZE, true) === pattern(i, version[i] as number), `file page ${i}`);
    }
    return { ops: pool.ops + 3 };
  },
};

/** The slot holding `page`, reading it in (and evicting by the clock) on a miss. */
function fetch(pool: Pool, page: number): number {
  const hit = pool.slotOf.get(page);
  if (hit !== undefined) {
    pool.ref[hit] = 1;
    return hit;
  }
  const slots = pool.holds.length;
  let s = pool.hand;
  while (pool.holds[s] !== -1 && pool.ref[s]) {
    pool.ref[s] = 0;
    s = (s + 1) % slots;
  }
  pool.hand = (s + 1) % slots;
  const old = pool.holds[s] as number;
  if (old !== -1) {
    if (pool.dirty[s]) writeBack(pool, s);
    pool.slotOf.delete(old);
  }
  pool.p.lseek(pool.fd, page * PAGE_SIZE, SEEK_SET);
  check(pool.p.read(pool.fd, pool.base + s * PAGE_SIZE, PAGE_SIZE) === PAGE_SIZE, `read(2) of page ${page}`);
  pool.holds[s] = page;
  pool.slotOf.set(page, s);
  pool.ref[s] = 1;
  pool.ops += 2;
  return s;
}

/** write(2) a dirty buffer back to its file page. */
function writeBack(pool: Pool, s: number): void {
  const page = pool.holds[s] as number;
  pool.p.lseek(pool.fd, page * PAGE_SIZE, SEEK_SET);
  check(pool.p.write(pool.fd, pool.base + s * PAGE_SIZE, PAGE_SIZE) === PAGE_SIZE, `write(2) of page ${page}`);
  pool.dirty[s] = 0;
  pool.ops += 2;
}
