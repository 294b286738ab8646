/**
 * @vmlab/hw-amd64 — the amd64 machine: 4-level paging with 2 MiB and 1 GiB pages, NX, canonical
 * 48-bit addresses, and the direct-map window a pmap may build (FreeBSD's DMAP).
 */
import { type MachineOptions, MachineSpec } from "@vmlab/machine";
import { AMD64_FORMAT } from "./formats.js";

export {
  buildDirectMap,
  type DirectMapOptions,
  DMAP_MAX_ADDRESS,
  DMAP_MIN_ADDRESS,
  DMPML4I,
  dmapToPhys,
  NDMPML4E,
  physToDmap,
} from "./dmap.js";
export { AMD64_FORMAT } from "./formats.js";

/** An amd64: RAM above 3 GiB is placed at 4 GiB and up. */
export function amd64(opts: MachineOptions = {}): MachineSpec {
  return new MachineSpec(
    {
      format: AMD64_FORMAT,
      maxMemoryMiB: 4096,
      memoryLimitReason: "the simulator backs RAM with one typed array of at most 4 GiB",
    },
    opts,
  );
}
