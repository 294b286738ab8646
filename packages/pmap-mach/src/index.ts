/**
 * @vmlab/pmap-mach — the Mach / 4.4BSD-style pmap on i386, i386 PAE and amd64: pv_table indexed
 * by page with embedded heads, page tables reached through the PTmap and APTmap recursive
 * windows, and user page tables living in the process's own map (faulted in by the trap handler).
 */
import type { KernelServices, PmapModule } from "@vmlab/core";
import type { Machine, PmapFactory } from "@vmlab/machine";
import { machLayout } from "./layout.js";
import { MachPmapModule } from "./module.js";

export { AMD64_LAYOUT, I386_LAYOUT, I386_PAE_LAYOUT, type MachLayout, machLayout } from "./layout.js";
export { MachPmapModule } from "./module.js";
export { MachPmap, SHOOTDOWN_BATCH } from "./pmap.js";
export { PG_NX, PG_PVLIST, PG_W } from "./pte.js";

/** Options of the Mach pmap (none yet: the layouts are fixed per machine). */
export type MachPmapOptions = Record<string, never>;

/** The Mach pmap as a part: `createSystem({ pmap: machPmap() })`. */
export function machPmap(_opts: MachPmapOptions = {}): PmapFactory {
  return {
    name: "mach",
    create(machine: Machine, kernel: KernelServices): PmapModule {
      return new MachPmapModule(machine, kernel, machLayout(machine.name));
    },
  };
}
