/**
 * The workload catalogue (the list, in the order the report shows them). Each workload
 * lives in a file named after what it exercises; `workload(name)` looks one up.
 */

import type { Workload } from "./workload.js";
import { bufferPool } from "./workloads/bufpool.js";
import { sharedFile } from "./workloads/file.js";
import { forkCow, forkExec } from "./workloads/fork.js";
import { kmemChurn } from "./workloads/kmem.js";
import { pressure } from "./workloads/pressure.js";
import { smpShootdown } from "./workloads/smp.js";
import { randomTouch, seqTouch } from "./workloads/touch.js";

export { bufferPool, forkCow, forkExec, kmemChurn, pressure, randomTouch, seqTouch, sharedFile, smpShootdown };

export const WORKLOADS: readonly Workload[] = [
  seqTouch,
  randomTouch,
  forkExec,
  forkCow,
  sharedFile,
  pressure,
  bufferPool,
  kmemChurn,
  smpShootdown,
];

export function workload(name: string): Workload {
  const w = WORKLOADS.find((x) => x.name === name);
  if (!w)
    throw new RangeError(`unknown workload '${name}'; expected one of ${WORKLOADS.map((x) => x.name).join(", ")}`);
  return w;
}
