/**
 * Erratum freebsd-1996-aptd-interrupt (seed 000, FreeBSD 2.x, fixed 1996 in vfs_busy_pages):
 * the merged VM/buffer cache ran VM pages down at I/O completion, so pmap_page_protect ran at
 * bio interrupt time; a pmap that was in the middle of using its one alternate page-table window
 * (APTD/APTmap) for another process — typically fork entering the child's u-area — had the
 * window switched underneath it and wrote into the wrong address space. docs/errata.md.
 *
 * Two halves: the VM's interrupt-time rundown (vm-freebsd vnode_pager.ts, in place) and the Mach
 * pmap's 1995 pmap_enter order, which looks the PTE up through APTmap outside splvm (pmap-mach:
 * pending — until it lands the pmap's splvm keeps the interrupt out and the run is clean).
 */
import {
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_ASYNC,
  O_CREAT,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from "@vmlab/core";
import type { Combination } from "../registry.js";
import { type Scenario, type ScenarioOutcome, step } from "../scenario.js";
import { registerErratum } from "./catalogue.js";

export const ID = "freebsd-1996-aptd-interrupt";
/** What the child whose u-area went into the wrong page table does at its first context switch. */
export const APTD_PANIC = "panic: double fault";

/** Pages of the shared file mapping the writer dirties and msyncs. */
const FILE_PAGES = 8;
/** Children of the fork storm. */
const FORKS = 16;

/** The combinations the mechanism can bite on, and why the others are immune. */
export function applies(c: Combination): { applies: boolean; why: string } {
  if (c.vm !== "freebsd") {
    return {
      applies: false,
      why:
        c.vm === "mach"
          ? "the Mach VM has no merged buffer cache: its vnode pager's completion does no page rundown, so no pmap call runs at bio interrupt time"
          : "UVM's aiodone does no pmap_page_protect at interrupt time (pages are unmapped by the pagedaemon before pageout; uvm_aio_aiodone only unbusies)",
    };
  }
  switch (c.pmap) {
    case "mach":
      return {
        applies: true,
        why: `the Mach pmap reaches a non-current pmap's page tables through its one alternate slot (APTD${c.machine === "amd64" ? "; PML4 slot 510 on amd64" : c.machine === "i386-pae" ? "; four PD slots on PAE" : ""}) and its 1995 pmap_enter looks the PTE up there outside splvm: biodone's pmap_page_protect switches the window under a fork's u-area pmap_enter`,
      };
    case "freebsd":
      return {
        applies: false,
        why: "pmap_page_protect walks pv lists with pmap_pte_quick (PMAP1) under the pv-list lock with the thread pinned, and every window user runs at splvm or holds that lock: a bio interrupt never lands inside a window use (FreeBSD's later design)",
      };
    case "cranor":
      return {
        applies: false,
        why: "pmap_map_ptes locks the alternate window (and the pmaps) and runs at splvm: a bio interrupt cannot land inside a window use, and an interrupt-time pmap_page_protect that found the window held would stop on the lock instead of switching it",
      };
  }
}

const scenario: Scenario = {
  name: ID,
  description:
    "A writer dirties the pages of a MAP_SHARED file mapping and starts asynchronous writes (msync MS_ASYNC); while they complete by interrupt, a parent forks child after child — each child's u-area is entered into its pmap through the alternate window — and every child is run once.",
  // Completions spaced seek + transfer cycles apart (plus up to `jitter`) sweep across each fork;
  // with this seed one lands inside the u-area's pmap_enter on every machine (docs/errata.md).
  options: { memoryMiB: 32, cpus: 1, seed: 4, disk: { seek: 2_000, transfer: 100, jitter: 1_000 } },
  steps: [
    step("spawn the writer and the forking parent (one page of anonymous memory)", (ctx) => {
      ctx.procs.set("writer", ctx.sys.spawn());
      const p = ctx.sys.spawn();
      ctx.procs.set("parent", p);
      const a = p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
      p.writeBytes(a, new Uint8Array([0x5a]));
      ctx.vars.set("anon", a);
    }),
    step(`writer: create /data (${FILE_PAGES} pages) and map it MAP_SHARED read/write`, (ctx) => {
      const w = ctx.proc("writer");
      const fd = w.open("/data", O_CREAT | O_RDWR);
      w.ftruncate(fd, FILE_PAGES * PAGE_SIZE);
      ctx.vars.set("fd", fd);
      ctx.vars.set("map", w.mmap(0, FILE_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    }),
    step("writer: dirty every page of the mapping", (ctx) => {
      const w = ctx.proc("writer");
      const a = ctx.num("map");
      for (let i = 0; i < FILE_PAGES; i++) w.writeBytes(a + i * PAGE_SIZE, new Uint8Array([0xa0 + i]));
    }),
    step("writer: msync(MS_ASYNC) — the page writes start and will complete by interrupt", (ctx) => {
      ctx.proc("writer").msync(ctx.num("map"), FILE_PAGES * PAGE_SIZE, MS_ASYNC);
    }),
    ...Array.from({ length: FORKS }, (_, i) => [
      step(`round ${i + 1}: writer dirties every page again and starts their writes (msync MS_ASYNC)`, (ctx) => {
        const w = ctx.proc("writer");
        const a = ctx.num("map");
        for (let p = 0; p < FILE_PAGES; p++) w.writeBytes(a + p * PAGE_SIZE, new Uint8Array([0xa0 + p]));
        w.msync(a, FILE_PAGES * PAGE_SIZE, MS_ASYNC);
      }),
      step(
        `round ${i + 1}: parent forks child ${i + 1} (u-area entered through the alternate window); it runs`,
        (ctx) => {
          const child = ctx.proc("parent").fork();
          ctx.procs.set(`child${i + 1}`, child);
          child.readBytes(ctx.num("anon"), 1);
        },
      ),
    ]).flat(),
    step("let the disk finish; every child runs again", (ctx) => {
      ctx.sys.advance(200_000);
      for (let i = 1; i <= FORKS; i++) ctx.proc(`child${i}`).readBytes(ctx.num("anon"), 1);
    }),
    step("the writer's data reached the file", (ctx) => {
      const w = ctx.proc("writer");
      const buf = w.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
      for (let i = 0; i < FILE_PAGES; i++) {
        w.lseek(ctx.num("fd"), i * PAGE_SIZE, 0);
        w.read(ctx.num("fd"), buf, 1);
        const got = w.readBytes(buf, 1)[0];
        if (got !== 0xa0 + i) ctx.evidence.push(`file page ${i} reads ${got}, not ${0xa0 + i}`);
      }
    }),
    step("audit every layer", (ctx) => ctx.sys.audit()),
  ],
};

registerErratum({
  id: ID,
  seed: "000",
  title: "pmap_page_protect at bio interrupt time switches the alternate page-table window (1996)",
  caughtBy: ["stress: fork storm under asynchronous writes of mapped file pages"],
  applies,
  reproducer: scenario,
  reproduced(o: ScenarioOutcome): boolean {
    return (
      o.panic === "panic: double fault" || o.evidence.length > 0 || o.error?.includes("InvariantViolation") === true
    );
  },
});
