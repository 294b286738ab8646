/** The testkit's pmap harness bound to the Cranor pmap (a ToyHost and real kernel services). */

import type { MachineName } from "@vmlab/machine";
import { bootPmapSystem, type PmapBootOptions, type PmapTestSystem } from "@vmlab/testkit";
import { type CranorModule, type CranorPmap, type CranorPmapOptions, cranorPmap } from "../../src/index.js";

export { kernPa, MACHINES, panicText, RO, RW, RWX, RX, ToyHost, ToyPage, userPa } from "@vmlab/testkit";

export type TestSystem = PmapTestSystem<CranorModule, CranorPmap>;

export interface BootOptions extends PmapBootOptions {
  pmap?: CranorPmapOptions;
}

export function bootSystem(name: MachineName, opts: BootOptions = {}): TestSystem {
  return bootPmapSystem<CranorModule, CranorPmap>(cranorPmap(opts.pmap ?? {}), name, opts);
}
