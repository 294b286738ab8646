/**
 * @vmlab/pmap-cranor — Chuck Cranor's NetBSD i386 pmap rewrite (pmap.new.c, 1997–98; NetBSD
 * 1.4–1.5's pmap.c) on i386, i386 PAE and amd64: pv_head + pv_entry from pv pages with water
 * marks and an interrupt reserve, pmap_map_ptes with the main lock, per-pmap and per-pv_head
 * locks, page-table pages in the pmap's own object found through pm_ptphint, and the remove
 * record that batches TLB shootdowns.
 */
import type { KernelServices, PmapModule } from "@vmlab/core";
import type { Machine, PmapFactory } from "@vmlab/machine";
import { cranorLayout } from "./layout.js";
import { CranorModule, type CranorPmapOptions } from "./module.js";

export { auditCranorPmap } from "./audit.js";
export { AMD64_LAYOUT, type CranorLayout, cranorLayout, I386_LAYOUT, I386_PAE_LAYOUT } from "./layout.js";
export { type MappablePmap, PteAccess } from "./map_ptes.js";
export { CranorModule, type CranorPmapOptions } from "./module.js";
export { CranorPmap } from "./pmap.js";
export { PG_NX, PG_PVLIST, PG_W } from "./pte.js";
export { PvEntry, PvHead, PvPage, PvPool } from "./pv.js";

/** The Cranor pmap as a part: `createSystem({ pmap: cranorPmap() })`. */
export function cranorPmap(opts: CranorPmapOptions = {}): PmapFactory {
  return {
    name: "cranor",
    create(machine: Machine, kernel: KernelServices): PmapModule {
      return new CranorModule(machine, kernel, cranorLayout(machine.name), opts);
    },
  };
}
