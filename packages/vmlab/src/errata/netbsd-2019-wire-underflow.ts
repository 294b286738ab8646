/**
 * netbsd-2019-wire-underflow — "Another UVM wire page count underflow panic" (current-users,
 * March 2019; seed 004; netbsd_uvm.md §2.5, §3).
 *
 * UVM's wiring is an edge machine: map entries carry wired counts, pages carry wire counts, PTEs a
 * wired bit, and transient wirings (uvm_vslock for I/O) and SHM_LOCK (uvm_obj_wirepages) wire
 * pages without a map entry. NetBSD's shm_memlock also ran uvm_map_pageable on the attaching
 * entry, so an entry's wired_count could stand for a segment lock as well as for mlock. With the
 * erratum, the POSIX forced falling edge (one munlock clears every mlock) of such an entry
 * releases the segment lock's page wiring too — which SHM_LOCK still holds. One process's munlock
 * then eats a wiring that is not its own; the next holder to let go (here another process's
 * munlock of the same shared segment) unwires a page whose wire_count is already 0:
 * `kernel diagnostic assertion "pg->wire_count != 0" failed` in uvm_pageunwire.
 */
import { IPC_CREAT, IPC_PRIVATE, O_RDWR, PAGE_SIZE, SEEK_SET, SHM_LOCK, SHM_UNLOCK } from "@vmlab/core";
import type { Combination } from "../registry.js";
import type { Scenario, ScenarioContext } from "../scenario.js";
import { registerErratum } from "./catalogue.js";

export const WIRE_UNDERFLOW = "netbsd-2019-wire-underflow";
/** uvm_pageunwire's KASSERT as NetBSD prints it (the file/line suffix of the original is not verified). */
export const WIRE_UNDERFLOW_PANIC = 'panic: kernel diagnostic assertion "pg->wire_count != 0" failed';

/** The segment: two pages, so the munlocks can overlap it partly and wholly. */
const SEG = 2 * PAGE_SIZE;

const step = (title: string, run: (ctx: ScenarioContext) => void) => ({ title, run });

const reproducer: Scenario = {
  name: WIRE_UNDERFLOW,
  description:
    "Two processes attach one SysV segment; the owner SHM_LOCKs it, both mlock it (the owner twice, over " +
    "overlapping ranges), the owner read()s a file into the locked buffer (vslock'ed I/O), then the owner " +
    "munlocks: its falling edge also releases the segment lock's wiring, and the other process's munlock " +
    "unwires a page whose wire_count is already 0. Every call is legal userland; each returns success on NetBSD.",
  options: { memoryMiB: 16, cpus: 1 },
  steps: [
    step("spawn the owner and a second process", (ctx) => {
      ctx.procs.set("owner", ctx.sys.spawn());
      ctx.procs.set("peer", ctx.sys.spawn());
    }),
    step("owner: shmget a two-page segment", (ctx) => {
      ctx.vars.set("shmid", ctx.proc("owner").shmget(IPC_PRIVATE, SEG, IPC_CREAT | 0o600));
    }),
    step("owner: shmat it", (ctx) => {
      ctx.vars.set("a", ctx.proc("owner").shmat(ctx.num("shmid"), 0, 0));
    }),
    step("peer: shmat the same segment (the shared region)", (ctx) => {
      ctx.vars.set("b", ctx.proc("peer").shmat(ctx.num("shmid"), 0, 0));
    }),
    step("owner: write both pages", (ctx) => {
      const p = ctx.proc("owner");
      p.writeBytes(ctx.num("a"), new Uint8Array([0x11]));
      p.writeBytes(ctx.num("a") + PAGE_SIZE, new Uint8Array([0x22]));
    }),
    step("owner: shmctl(SHM_LOCK) — uvm_obj_wirepages: wire_count 1", (ctx) => {
      ctx.proc("owner").shmctl(ctx.num("shmid"), SHM_LOCK);
    }),
    step("owner: mlock the first page — rising edge: wire_count 2", (ctx) => {
      ctx.proc("owner").mlock(ctx.num("a"), PAGE_SIZE);
    }),
    step("owner: mlock the whole segment (overlaps; nests in the first page's entry)", (ctx) => {
      ctx.proc("owner").mlock(ctx.num("a"), SEG);
    }),
    step("peer: mlock its mapping of the segment — rising edge in another map: wire_count 3", (ctx) => {
      ctx.proc("peer").mlock(ctx.num("b"), SEG);
    }),
    step("owner: open a file holding two pages of 0x5a", (ctx) => {
      ctx.sys.fs.writeFile("/wire-underflow", new Uint8Array(SEG).fill(0x5a));
      ctx.vars.set("fd", ctx.proc("owner").open("/wire-underflow", O_RDWR));
    }),
    step("owner: read() the file into the locked segment (uvm_vslock / uvm_vsunlock around the copy)", (ctx) => {
      const p = ctx.proc("owner");
      p.lseek(ctx.num("fd"), 0, SEEK_SET);
      p.read(ctx.num("fd"), ctx.num("a"), SEG);
    }),
    step("owner: munlock the whole segment — the falling edge", (ctx) => {
      ctx.proc("owner").munlock(ctx.num("a"), SEG);
    }),
    step("peer: munlock its mapping — its own wiring must still be there", (ctx) => {
      ctx.proc("peer").munlock(ctx.num("b"), SEG);
    }),
    step("owner: shmctl(SHM_UNLOCK)", (ctx) => {
      ctx.proc("owner").shmctl(ctx.num("shmid"), SHM_UNLOCK);
    }),
    step("both: the data reads back", (ctx) => {
      for (const [who, at] of [
        ["owner", "a"],
        ["peer", "b"],
      ] as const) {
        const b = ctx.proc(who).readBytes(ctx.num(at) + PAGE_SIZE, 1);
        if (b[0] !== 0x5a) ctx.evidence.push(`${who} read ${b[0]} instead of 0x5a from the segment's second page`);
      }
    }),
    step("audit", (ctx) => {
      ctx.sys.audit();
    }),
  ],
};

/**
 * The mechanism lives in UVM's map-entry falling edge, on every pmap and machine (the pmap only
 * sees pmap_unwire of PTEs; the page counts are the VM's). Mach and FreeBSD keep SHM_LOCK and
 * transient wirings out of the map entry's user count.
 */
function applies(c: Combination): { applies: boolean; why: string } {
  if (c.vm === "uvm") {
    return {
      applies: true,
      why:
        `UVM wires an entry's pages only at the edges of its wired_count; with the erratum the munlock falling edge ` +
        `also releases the SHM_LOCK wiring of the segment's pages (shm_memlock counted it in the entry), on any pmap ` +
        `(${c.pmap}) and machine (${c.machine}): the pmap holds only the PTE's wired bit, the count is uvm_pageunwire's`,
    };
  }
  if (c.vm === "mach") {
    return {
      applies: false,
      why:
        "Mach's vm_map_pageable keeps mlock as one flag (user_wired) inside an entry's wired_count, beside the " +
        "transient (vslock) wirings it counts there; munlock takes back only its own one count, and the pages are " +
        "unwired only when the whole count reaches 0. SHM_LOCK wires the segment object's pages outside any map " +
        "entry (vm_shm.ts), so no entry falling edge can release it",
    };
  }
  return {
    applies: false,
    why:
      "FreeBSD keeps user wiring (MAP_ENTRY_USER_WIRED, a flag: munlock clears it and takes one count) apart from " +
      "system wiring (counted in wired_count: vslock, the kernel); vm_fault_unwire runs only when wired_count " +
      "reaches 0, and SHM_LOCK wires the segment object's pages outside the map entry, so munlock never releases " +
      "another holder's wiring",
  };
}

registerErratum({
  id: WIRE_UNDERFLOW,
  seed: "004_76fb0519d657ad42.txt",
  title: "NetBSD 2019: munlock's falling edge also releases SHM_LOCK's wiring — uvm_pageunwire wire_count underflow",
  caughtBy: ["model: wiring with SysV shm and I/O"],
  applies,
  reproducer,
  reproduced: (o) => o.panic?.startsWith(WIRE_UNDERFLOW_PANIC) === true || o.evidence.length > 0,
});
