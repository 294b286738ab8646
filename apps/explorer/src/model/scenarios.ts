/**
 * The scenarios the explorer ships: small scripts that show one mechanism each, the benchmark
 * workloads, and the reproducers: every erratum of the catalogue (its scenario, replayed step by
 * step), and a stand-in that makes the Mach-style u-area switch fail the way a lost u-area mapping
 * did. Another reproducer is one `registerScenario({ ..., errata: ['<id>'], run })` call here.
 */
import { WORKLOADS } from "@vmlab/bench";
import { Proc } from "@vmlab/kernel";
import {
  errata,
  INHERIT_SHARE,
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  newContext,
  O_CREAT,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  type System,
} from "vmlab";
import { registerScenario, type Scenario } from "./scenario.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;

/** The kernel's process object behind a public Process (for a stand-in's deliberate breakage). */
function procOf(sys: System, p: Process): Proc {
  // Instrumented processes are proxies: look the real one up by pid in the kernel's table.
  const procs = (sys as unknown as { procs?: Map<number, unknown> }).procs;
  const real = procs?.get(p.pid);
  if (!(real instanceof Proc)) throw new Error(`pid ${p.pid}: no kernel process object (not the vmlab kernel?)`);
  return real;
}

/**
 * Stand-in reproducer (until the errata land): the u-area — the kernel stack, mapped at a fixed
 * address in every process's pmap — disappears from a child's page tables before the kernel
 * switches to it. cpu_switch touches the kernel stack through the MMU, and the missing mapping
 * is a double fault (kernel.ts switchTo: `panic: double fault`), as a lost u-area mapping was on
 * the real machine. With the "erratum" off the mapping is left alone and the run completes.
 */
export const uareaDoubleFault: Scenario = registerScenario({
  id: "uarea-double-fault",
  title: "u-area lost before cpu_switch (stand-in reproducer)",
  kind: "reproducer",
  description:
    "parent maps and writes a page, forks; the child's u-area mapping is removed behind the kernel's back; the next switch to the child double-faults",
  errata: [],
  standIn: true,
  expect: { panic: "panic: double fault" },
  run(sys, ctx) {
    const parent = sys.spawn();
    const a = parent.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    parent.store32(a, 0x1234_5678);
    const child = parent.fork();
    parent.store32(a + PAGE_SIZE, 0x9abc_def0);
    if (ctx.erratumOn) {
      ctx.step(`pid ${child.pid}: u-area mapping lost (pmap_remove of the u-area)`, () => {
        const ua = sys.layout.uareaVa;
        procOf(sys, child).space.pmap.remove(ua, ua + sys.layout.uareaPages * PAGE_SIZE);
      });
    }
    child.load32(a);
    child.store32(a, 0x1111_1111);
    child.exit(0);
    parent.wait();
  },
});

/** Copy-on-write across fork: shadow objects appear, then collapse when the child exits. */
registerScenario({
  id: "fork-cow-small",
  title: "fork and copy-on-write (4 pages)",
  kind: "workload",
  description: "map 4 pages, write them, fork, write in child and parent, exit the child",
  errata: [],
  run(sys) {
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) p.store32(a + i * PAGE_SIZE, i + 1);
    const c = p.fork();
    c.store32(a, 0xc0ffee);
    p.store32(a + PAGE_SIZE, 0xbeef);
    c.load32(a + 2 * PAGE_SIZE);
    const g = c.fork();
    g.store32(a + 3 * PAGE_SIZE, 0x6);
    g.exit(0);
    c.wait();
    c.exit(0);
    p.wait();
    p.store32(a + 2 * PAGE_SIZE, 0x77);
  },
});

/** Shared memory across fork (sharing maps / shared amaps), wiring, and a file mapping. */
registerScenario({
  id: "share-wire-file",
  title: "shared mapping, mlock and a mapped file",
  kind: "workload",
  description:
    "inherit-share a region across fork, mlock part of it, write a file and map it, read it through the mapping",
  errata: [],
  run(sys) {
    const p = sys.spawn();
    const s = p.mmap(0, 4 * PAGE_SIZE, RW, MAP_ANON | MAP_SHARED, -1, 0);
    const priv = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.minherit(priv, 2 * PAGE_SIZE, INHERIT_SHARE);
    p.store32(s, 1);
    p.store32(priv, 2);
    const c = p.fork();
    c.store32(s + PAGE_SIZE, 3);
    c.store32(priv + PAGE_SIZE, 4);
    p.load32(priv + PAGE_SIZE); // the parent sees the child's store: the region is shared
    p.mlock(s, 2 * PAGE_SIZE);
    sys.fs.mkdir("/data");
    sys.fs.writeFile("/data/hello", new TextEncoder().encode("hello, vmlab explorer\n".repeat(400)));
    const fd = p.open("/data/hello", O_RDWR | O_CREAT);
    const f = p.mmap(0, 3 * PAGE_SIZE, RW, MAP_SHARED, fd, 0);
    p.load32(f);
    p.load32(f + 2 * PAGE_SIZE);
    p.store32(f + PAGE_SIZE, 0x21212121);
    p.close(fd);
    c.load32(priv + PAGE_SIZE);
    p.munlock(s, 2 * PAGE_SIZE);
    c.exit(0);
    p.wait();
  },
});

/**
 * A superpage-eligible region: 2 MiB of anonymous memory, 2 MiB-aligned, touched page by page. On
 * the FreeBSD VM the first touch reserves a whole 2 MiB frame for the object (vm_reserv); each
 * later touch populates it, and the last one lets the FreeBSD pmap promote the region to one 2 MiB
 * mapping. A fork and a child write then put a shadow object in front of the reservation's object.
 */
registerScenario({
  id: "superpage-2m",
  title: "a 2 MiB region touched page by page (superpage reservation)",
  kind: "workload",
  description:
    "map 2 MiB, touch all 512 pages (FreeBSD VM: the reservation fills; FreeBSD pmap on PAE/amd64: promotion), fork, write one page in the child",
  errata: [],
  run(sys) {
    const p = sys.spawn();
    const a = p.mmap(0, 2 * 1024 * 1024, RW, ANON, -1, 0);
    for (let off = 0; off < 2 * 1024 * 1024; off += PAGE_SIZE) p.store32(a + off, off);
    const c = p.fork();
    c.store32(a, 1);
    c.exit(0);
    p.wait();
  },
});

/** The benchmark workloads, at their quick size. */
for (const w of WORKLOADS) {
  registerScenario({
    id: `workload:${w.name}`,
    title: `${w.name} (benchmark workload)`,
    kind: "workload",
    description: w.description,
    errata: [],
    ...(w.system ? { needs: w.system(1) } : {}),
    run(sys, ctx) {
      w.run(sys, { scale: 1, seed: ctx.seed });
    },
  });
}

/**
 * The errata catalogue's reproducers, replayed step by step: each catalogue step is one explorer
 * step, run against the scenario context the catalogue's own runner uses.
 */
for (const id of errata.known()) {
  const e = errata.erratum(id);
  const o = e.reproducer.options ?? {};
  registerScenario({
    id: e.id,
    title: `${e.id}: ${e.title}`,
    kind: "reproducer",
    description: e.reproducer.description,
    errata: [e.id],
    needs: {
      ...(o.memoryMiB !== undefined ? { memoryMiB: o.memoryMiB } : {}),
      ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
      ...(o.swapMiB !== undefined ? { swapMiB: o.swapMiB } : {}),
      ...(o.diskMiB !== undefined ? { diskMiB: o.diskMiB } : {}),
      ...(o.disk !== undefined ? { disk: o.disk } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    },
    applies: (c) => e.applies(c).applies,
    run(sys, ctx) {
      const vctx = newContext(sys);
      for (const st of e.reproducer.steps) ctx.step(st.title, () => st.run(vctx));
    },
  });
}
