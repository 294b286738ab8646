/**
 * shmat(2) under mlockall(MCL_FUTURE). NetBSD's sys_shmat maps the segment with plain uvm_map
 * (sys/kern/sysv_shm.c), and only uvm_mmap and uvm_map_protect look at VM_MAP_WIREFUTURE; the
 * system-call layer is NetBSD's on every VM (decision 0005), so an attach made under MCL_FUTURE is
 * not locked, while an mmap made then is. The model says so; munlock(2) of the attach — ENOMEM,
 * "not locked" (t_mlock 1.8) — is where a VM that wired it anyway disagrees.
 */
import { IPC_CREAT, MCL_CURRENT, MCL_FUTURE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { MlockallCommand, MmapCommand, RangeCommand, setup, VerifyCommand } from "../src/commands.js";
import { ShmatCommand, ShmgetCommand } from "../src/commands-io.js";
import { bootSystem, runCommands } from "./support/parts.js";

const munlock = (region: number, pages: number) =>
  new RangeCommand("munlock", 0, 0, { region, page: 0, pages, shape: 0, slop: 0 }, 0);

describe.each(["i386 mach/mach", "i386-pae cranor/uvm", "amd64 freebsd/freebsd", "amd64 mach/freebsd"])(
  "shmat under MCL_FUTURE on %s",
  (name) => {
    it("the attach is not locked, a later mmap is", () => {
      const sys = bootSystem(name);
      const { model: w, real: r } = setup(sys);
      const wired = () => sys.vm.wiredPages;
      runCommands(w, r, new MlockallCommand(0, 0, MCL_CURRENT | MCL_FUTURE));
      runCommands(w, r, new ShmgetCommand(0, 0, 4, 0, IPC_CREAT));
      const before = wired();
      runCommands(w, r, new ShmatCommand(0, 0, 0, false, "any", 0));
      // Page-table pages for the new range may be wired; the segment's four pages are not.
      expect(wired() - before).toBeLessThan(4);
      expect(r.transcript.at(-1)).toMatch(/shmat\(.*→ ok/);
      // Not locked: munlock of its first page is ENOMEM on both sides.
      runCommands(w, r, munlock(0, 1));
      expect(r.transcript.at(-1)).toMatch(/munlock\(.*→ ENOMEM/);
      const a = { p: 0, via: 0, pages: 2, prot: PROT_READ | PROT_WRITE, shared: false, wired: false } as const;
      runCommands(w, r, new MmapCommand({ ...a, placement: "any", region: 0, page: 0 }), munlock(0, 2));
      expect(r.transcript.at(-1)).toMatch(/munlock\(.*→ ok/);
      runCommands(w, r, new VerifyCommand(0, 0));
    });
  },
);
