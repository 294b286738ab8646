/**
 * @vmlab/pmap-freebsd — FreeBSD's pmap on i386, i386 PAE and amd64: the recursive PTmap and the
 * alternate APTmap window with pmap_pte_quick's PMAP1 on i386, the direct map on amd64, pv entries
 * in per-pmap pv chunks with pmap_pv_reclaim, and superpage promotion and demotion.
 */
import type { KernelServices, PmapModule } from "@vmlab/core";
import type { Machine, PmapFactory } from "@vmlab/machine";
import { freebsdLayout } from "./layout.js";
import { FreebsdModule, type FreebsdPmapOptions } from "./module.js";

export type { FreebsdPmapOptions } from "./module.js";

/** The FreeBSD pmap as a part: `createSystem({ pmap: freebsdPmap() })`. */
export function freebsdPmap(opts: FreebsdPmapOptions = {}): PmapFactory {
  return {
    name: "freebsd",
    create(machine: Machine, kernel: KernelServices): PmapModule {
      return new FreebsdModule(machine, kernel, freebsdLayout(machine.name), opts);
    },
  };
}
