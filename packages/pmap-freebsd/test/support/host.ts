/** The testkit's pmap harness bound to the FreeBSD pmap (a ToyHost and real kernel services). */

import type { MachineName } from "@vmlab/machine";
import { bootPmapSystem, type PmapBootOptions, type PmapTestSystem } from "@vmlab/testkit";
import { type FreebsdPmapOptions, freebsdPmap } from "../../src/index.js";
import type { FreebsdModule } from "../../src/module.js";
import type { FreebsdPmap } from "../../src/pmap.js";

export { kernPa, MACHINES, panicText, RO, RW, RWX, RX, ToyHost, ToyPage, userPa } from "@vmlab/testkit";

export type TestSystem = PmapTestSystem<FreebsdModule, FreebsdPmap>;

export interface BootOptions extends PmapBootOptions {
  pmap?: FreebsdPmapOptions;
}

export function bootSystem(name: MachineName, opts: BootOptions = {}): TestSystem {
  return bootPmapSystem<FreebsdModule, FreebsdPmap>(freebsdPmap(opts.pmap ?? {}), name, opts);
}
