/**
 * fork(2)-heavy workloads: copy-on-write across generations of a large parent, and a
 * fork-exec-exit storm (the shell's life).
 */
import { MAP_ANON, MAP_PRIVATE, O_RDONLY, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, Prng } from "@vmlab/core";
import type { Process } from "@vmlab/kernel";
import { check, pattern, type Workload, writeFileP } from "../workload.js";

const RW = PROT_READ | PROT_WRITE;

/** Generations of fork-cow: children forked from the one parent over its life. */
const GENERATIONS = 8;

/**
 * A parent with 512 × scale written pages forks a child per generation, as a server forks
 * workers; between forks each child writes one eighth of the pages and the parent another
 * eighth, and every child lives until the end. Each fork puts a new level of copy-on-write
 * state over what the parent had: in the Mach VM a shadow object whose backing object the
 * parent's partial writes never fully cover, so the chain grows a level per generation
 * (the growth UVM's amaps avoid). Every process's view is checked after each generation, and
 * the footprint is sampled before the children exit.
 */
export const forkCow: Workload = {
  name: "fork-cow",
  description: `a parent with written pages forks ${GENERATIONS} generations of children; copy-on-write in both`,
  run(sys, { scale, onProgress, sample }) {
    const pages = 512 * scale;
    const stripe = (g: number) => (i: number) => i % GENERATIONS === g % GENERATIONS;
    let ops = 0;
    const root = sys.spawn();
    const a = root.mmap(0, pages * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    const mine = Array.from({ length: pages }, (_, i) => pattern(i, 0));
    for (let i = 0; i < pages; i++) root.store32(a + i * PAGE_SIZE, mine[i] as number);
    ops += pages + 1;
    const children: { p: Process; want: number[] }[] = [];
    for (let gen = 1; gen <= GENERATIONS; gen++) {
      const p = root.fork();
      const want = [...mine];
      const childWrites = stripe(gen);
      const parentWrites = stripe(gen + GENERATIONS / 2);
      for (let i = 0; i < pages; i++) {
        if (childWrites(i)) {
          want[i] = pattern(i, gen);
          p.store32(a + i * PAGE_SIZE, want[i] as number);
          ops++;
        } else if (parentWrites(i)) {
          mine[i] = pattern(i, 100 + gen);
          root.store32(a + i * PAGE_SIZE, mine[i] as number);
          ops++;
        }
      }
      for (let i = 0; i < pages; i++) {
        check(p.load32(a + i * PAGE_SIZE) === want[i], `gen ${gen} child page ${i}`);
        check(root.load32(a + i * PAGE_SIZE) === mine[i], `gen ${gen} parent page ${i}`);
      }
      ops += 1 + 2 * pages;
      children.push({ p, want });
      onProgress?.(gen, GENERATIONS + 1);
    }
    sample?.();
    // Every child still sees its own generation after the others wrote theirs.
    children.forEach(({ p, want }, g) => {
      for (let i = g % 7; i < pages; i += 7)
        check(p.load32(a + i * PAGE_SIZE) === want[i], `final gen ${g + 1} page ${i}`);
      ops += Math.ceil(pages / 7);
    });
    for (const { p } of children) {
      p.exit(0);
      const w = root.wait();
      check(w.pid === p.pid && w.status === 0, `wait for pid ${p.pid}`);
      ops += 2;
    }
    root.exit(0);
    onProgress?.(GENERATIONS + 1, GENERATIONS + 1);
    return { ops: ops + 1 };
  },
};

/** Pages of the simulated program image: text, initialised data, bss + stack. */
const TEXT_PAGES = 8;
const DATA_PAGES = 4;
const BSS_PAGES = 8;
const IMAGE = "/bin/sh";

/**
 * fork-exec-exit storm: a shell with a written heap forks 64 × scale children; each child execs
 * (its inherited address space is unmapped; the program's text is mapped read/exec from a file,
 * its data private-writable from the same file, its bss and stack anonymous), runs a little
 * (instruction fetches checked against the file, data and bss writes), and exits; the shell
 * waits for it. The heap the shell keeps is what every fork copies the map of.
 */
export const forkExec: Workload = {
  name: "fork-exec",
  description: "a shell with a heap forks children that exec a file-backed image, run briefly and exit",
  run(sys, { scale, seed, onProgress, sample }) {
    const children = 64 * scale;
    const heapPages = 64;
    const rng = new Prng(seed);
    const image = new Uint8Array((TEXT_PAGES + DATA_PAGES) * PAGE_SIZE);
    for (let i = 0; i < image.length; i += 4) new DataView(image.buffer).setUint32(i, pattern(i >> 2, 7), true);
    writeFileP(sys, IMAGE, image);
    const sh = sys.spawn();
    const heap = sh.mmap(0, heapPages * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < heapPages; i++) sh.store32(heap + i * PAGE_SIZE, pattern(i, 1));
    let ops = heapPages + 2;
    for (let n = 0; n < children; n++) {
      const c = sh.fork();
      ops += 1 + execve(c, heap, heapPages, image, rng);
      if (n === 0) sample?.();
      c.exit(n & 0x7f);
      const w = sh.wait();
      check(w.pid === c.pid && w.status === (n & 0x7f), `wait for child ${n}`);
      // The shell's heap is untouched by its children.
      const i = rng.int(0, heapPages - 1);
      check(sh.load32(heap + i * PAGE_SIZE) === pattern(i, 1), `shell heap page ${i} after child ${n}`);
      ops += 3;
      if ((n & 7) === 0) onProgress?.(n, children);
    }
    sh.exit(0);
    return { ops: ops + 1 };
  },
};

/**
 * execve(2) of IMAGE in `c`, done the way the kernel's vmspace_exec + the ELF loader do it in
 * effect: the old mappings go, text and data come from the file, bss/stack are anonymous. Then
 * the program runs: fetches from its text, reads and writes its data, zero-fills its bss.
 * Returns the operations performed.
 */
function execve(c: Process, heap: number, heapPages: number, image: Uint8Array, rng: Prng): number {
  c.munmap(heap, heapPages * PAGE_SIZE);
  const fd = c.open(IMAGE, O_RDONLY);
  const text = c.mmap(0, TEXT_PAGES * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  const data = c.mmap(0, DATA_PAGES * PAGE_SIZE, RW, MAP_PRIVATE, fd, TEXT_PAGES * PAGE_SIZE);
  const bss = c.mmap(0, BSS_PAGES * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
  c.close(fd);
  const view = new DataView(image.buffer);
  let ops = 6;
  for (let i = 0; i < TEXT_PAGES; i++) {
    const off = i * PAGE_SIZE + rng.int(0, PAGE_SIZE - 1);
    check(c.exec(text + off) === image[off], `exec fetch at text+${off}`);
    ops++;
  }
  for (let i = 0; i < DATA_PAGES; i++) {
    const off = (TEXT_PAGES + i) * PAGE_SIZE;
    check(c.load32(data + i * PAGE_SIZE) === view.getUint32(off, true), `data page ${i}`);
    c.store32(data + i * PAGE_SIZE, pattern(i, 9));
    ops += 2;
  }
  for (let i = 0; i < BSS_PAGES; i++) {
    check(c.load32(bss + i * PAGE_SIZE + 8) === 0, `bss page ${i} is zero`);
    c.store32(bss + i * PAGE_SIZE, i + 1);
    ops += 2;
  }
  return ops;
}
