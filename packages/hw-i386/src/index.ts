/**
 * @vmlab/hw-i386 — i386 machines: `i386()` (32-bit paging, 4 MiB PSE pages) and `i386Pae()`
 * (PAE: PDPT registers, 2 MiB pages, NX). Both return a MachineSpec to boot standalone or pass to
 * createSystem.
 */
import { type MachineOptions, MachineSpec } from "@vmlab/machine";
import { I386_FORMAT, I386_PAE_FORMAT } from "./formats.js";

export { I386_FORMAT, I386_PAE_FORMAT } from "./formats.js";

/** A non-PAE i386: RAM below the 3 GiB PCI hole only (4 GiB of physical address space). */
export function i386(opts: MachineOptions = {}): MachineSpec {
  return new MachineSpec(
    {
      format: I386_FORMAT,
      maxMemoryMiB: 3072,
      memoryLimitReason: "32-bit paging addresses 4 GiB and the PCI hole takes 3-4 GiB; use i386-pae for more",
    },
    opts,
  );
}

/** An i386 with PAE: RAM above 3 GiB is placed at 4 GiB and up (36-bit physical addresses). */
export function i386Pae(opts: MachineOptions = {}): MachineSpec {
  return new MachineSpec(
    {
      format: I386_PAE_FORMAT,
      maxMemoryMiB: 4096,
      memoryLimitReason: "the simulator backs RAM with one typed array of at most 4 GiB",
    },
    opts,
  );
}
