/** Shared file mappings: several writers on one file, msync(2), coherence between them and read(2). */
import { MAP_ANON, MAP_PRIVATE, MAP_SHARED, MS_SYNC, O_RDWR, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import type { Process } from "@vmlab/kernel";
import { check, pattern, type Workload, writeFileP } from "../workload.js";

const RW = PROT_READ | PROT_WRITE;
const WRITERS = 4;
const ROUNDS = 4;
const PATH = "/data/shared.db";

/**
 * A 256 × scale page file mapped MAP_SHARED by four processes. In each round every page is
 * written by one process (a different one each round), each writer msyncs its mapping with
 * MS_SYNC, and the next process checks every page through its own mapping — the same pages
 * must be visible to all. A read(2) of the file into anonymous memory checks the merged cache,
 * and the file's bytes are checked at the end.
 */
export const sharedFile: Workload = {
  name: "shared-file",
  description: `${WRITERS} processes write one MAP_SHARED file in turns, msync(MS_SYNC), read each other's writes`,
  run(sys, { scale, onProgress, sample }) {
    const pages = 256 * scale;
    const len = pages * PAGE_SIZE;
    const init = new Uint8Array(len);
    const view = new DataView(init.buffer);
    for (let i = 0; i < pages; i++) view.setUint32(i * PAGE_SIZE, pattern(i, 0), true);
    writeFileP(sys, PATH, init);
    let ops = 1;
    const procs: Process[] = [];
    const maps: number[] = [];
    for (let w = 0; w < WRITERS; w++) {
      const p = sys.spawn();
      const fd = p.open(PATH, O_RDWR);
      maps.push(p.mmap(0, len, RW, MAP_SHARED, fd, 0));
      p.close(fd);
      procs.push(p);
      ops += 4;
    }
    const total = ROUNDS * (2 * pages + WRITERS);
    for (let r = 1; r <= ROUNDS; r++) {
      for (let i = 0; i < pages; i++) {
        const w = (i + r) % WRITERS;
        (procs[w] as Process).store32((maps[w] as number) + i * PAGE_SIZE, pattern(i, r));
      }
      for (let w = 0; w < WRITERS; w++) (procs[w] as Process).msync(maps[w] as number, len, MS_SYNC);
      if (r === 1) sample?.();
      const reader = r % WRITERS;
      const p = procs[reader] as Process;
      for (let i = 0; i < pages; i++) {
        check(p.load32((maps[reader] as number) + i * PAGE_SIZE) === pattern(i, r), `round ${r} page ${i}`);
      }
      ops += 2 * pages + WRITERS;
      onProgress?.(r * (2 * pages + WRITERS), total);
    }
    ops += readBack(procs[0] as Process, pages);
    for (const p of procs) p.exit(0);
    const bytes = sys.fs.readFile(PATH);
    const out = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    check(bytes.length === len, `file length ${bytes.length}`);
    for (let i = 0; i < pages; i++) check(out.getUint32(i * PAGE_SIZE, true) === pattern(i, ROUNDS), `file page ${i}`);
    return { ops: ops + WRITERS + 1 };
  },
};

/** read(2) the whole file into anonymous memory and check it; returns the operations. */
function readBack(p: Process, pages: number): number {
  const len = pages * PAGE_SIZE;
  const buf = p.mmap(0, len, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
  const fd = p.open(PATH, O_RDWR);
  check(p.read(fd, buf, len) === len, "read(2) of the whole file");
  p.close(fd);
  for (let i = 0; i < pages; i++) check(p.load32(buf + i * PAGE_SIZE) === pattern(i, ROUNDS), `read(2) page ${i}`);
  p.munmap(buf, len);
  return pages + 5;
}
