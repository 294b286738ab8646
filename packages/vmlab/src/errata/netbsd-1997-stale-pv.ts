/**
 * netbsd-1997-stale-pv — "vm_fault in pmap_changebit()" (port-i386, November 1997; seed 002).
 *
 * The old Mach/Hibler/Jolitz/Hannum i386 pmap kept user page-table pages in the process's own
 * map (UPT_MIN_ADDRESS..UPT_MAX_ADDRESS), as pageable anonymous memory that trap.c pre-faulted
 * and wired. With the erratum that wiring is dropped as soon as the fault is done, so under
 * memory pressure the pagedaemon launders a page-table page that still maps pages; the pmap
 * removes it as 4.4BSD did (only the PDE), and the pv entries of the pages it mapped stay.
 * The daemon's next vm_page_deactivate → pmap_clear_reference → pmap_changebit walks such a pv
 * entry: "Bad PV entry discovered … NO page-table!", then the supervisor-mode access to the PTE
 * through the recursive window faults — trap(): "fatal page fault in supervisor mode",
 * "panic: trap".
 */
import { MAP_ANON, MAP_SHARED, PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import type { Combination } from "../registry.js";
import type { Scenario, ScenarioContext } from "../scenario.js";
import { registerErratum } from "./catalogue.js";

export const STALE_PV = "netbsd-1997-stale-pv";
/** What NetBSD's trap() panicked with for a kernel-mode page fault, as our window fault says it. */
export const STALE_PV_PANIC = "panic: trap: fatal page fault in supervisor mode";

/** Pages the memory hog takes: more than the free memory of the reproducer's 8 MiB machine. */
const HOG_PAGES = 4096;

const step = (title: string, run: (ctx: ScenarioContext) => void) => ({ title, run });

const reproducer: Scenario = {
  name: STALE_PV,
  description:
    "A shared anonymous page is mapped by a victim whose page-table page trap.c did not keep wired, and wired " +
    "by a second process; memory pressure makes the daemon page out the victim's page-table page (the shared " +
    "page stays), then the page is unwired and the next pressure has the daemon deactivate it: " +
    "pmap_changebit finds the victim's pv entry without a page table and faults.",
  options: { memoryMiB: 8, cpus: 1 },
  steps: [
    step("spawn the victim process", (ctx) => {
      ctx.procs.set("victim", ctx.sys.spawn());
    }),
    step("victim: mmap one shared anonymous page", (ctx) => {
      const p = ctx.proc("victim");
      ctx.vars.set("page", p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0));
    }),
    step("victim: write it (trap.c faults its page-table page in first)", (ctx) => {
      ctx.proc("victim").writeBytes(ctx.num("page"), new Uint8Array([0x5a]));
    }),
    step("fork a sharer (inherits the shared mapping, not the PTEs)", (ctx) => {
      ctx.procs.set("sharer", ctx.proc("victim").fork());
    }),
    step("sharer: mlock the shared page (wired, it stays resident and mapped)", (ctx) => {
      ctx.proc("sharer").mlock(ctx.num("page"), PAGE_SIZE);
    }),
    step("memory pressure: the daemon pages out the victim's unwired page-table page", (ctx) => {
      ctx.sys.memoryPressure(HOG_PAGES);
    }),
    step("release the pressure", (ctx) => {
      ctx.sys.memoryPressure(0);
    }),
    step("sharer: munlock the shared page (back on a paging queue)", (ctx) => {
      ctx.proc("sharer").munlock(ctx.num("page"), PAGE_SIZE);
    }),
    step("memory pressure: the daemon deactivates the shared page (pmap_clear_reference walks its pv list)", (ctx) => {
      ctx.sys.memoryPressure(HOG_PAGES);
    }),
    step("release the pressure again", (ctx) => {
      ctx.sys.memoryPressure(0);
    }),
    step("victim: the shared page still reads back", (ctx) => {
      const b = ctx.proc("victim").readBytes(ctx.num("page"), 1);
      if (b[0] !== 0x5a) ctx.evidence.push(`victim read ${b[0]} instead of 0x5a`);
    }),
    step("audit", (ctx) => {
      ctx.sys.audit();
    }),
  ],
};

/**
 * Where the mechanism exists: only the Mach pmap keeps user page tables as pages of the user
 * map (on every machine it supports), and every VM layer reserves that region and honours the
 * kernel's faultPageTable / trap.c pre-fault, so its pagedaemon can take an unwired one.
 */
function applies(c: Combination): { applies: boolean; why: string } {
  if (c.pmap !== "mach") {
    return {
      applies: false,
      why:
        `the ${c.pmap} pmap allocates and frees its own page-table pages (wired kernel memory, never in the ` +
        "user map): the VM never sees them, trap.c has nothing to pre-fault or unwire, and a page table goes " +
        "away only after the pmap has removed every mapping in it",
    };
  }
  return {
    applies: true,
    why:
      `the mach pmap keeps ${c.machine}'s user page tables in the user map (UPT_MIN_ADDRESS..UPT_MAX_ADDRESS) as ` +
      `anonymous memory of the ${c.vm} VM, faulted in by trap.c: unwired, its pagedaemon can page one out ` +
      "while pv entries still name mappings in it",
  };
}

registerErratum({
  id: STALE_PV,
  seed: "002_9ddbc2cbe123d88f.txt",
  title: "NetBSD/i386 1997: page-table page paged out under live pv entries — pmap_changebit faults, panic: trap",
  caughtBy: ["model: every call and access", "model: paging"],
  applies,
  reproducer,
  reproduced: (o) => o.panic?.startsWith(STALE_PV_PANIC) === true || o.evidence.length > 0,
});
