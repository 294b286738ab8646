/**
 * Inspecting a process's map for audits and debuggers: the entries in address order as the
 * process sees them (FreeBSD sys/vm/vm_map.c vm_map_print; kern_proc.c's kinfo_vmentry behind
 * procstat -v). Wiring is MAP_ENTRY_USER_WIRED or a wired_count (vslock and the kernel count
 * there too); shared is an entry without MAP_ENTRY_COW; the backing is the bottom of the
 * object's backing chain (OBJT_VNODE a file, the shm segment's object, OBJT_PHYS the kernel).
 */
import type { MapEntryBacking, MapEntryView } from "@vmlab/core";
import type { VmMap, VmMapEntry } from "./vm_map.js";

/** What an entry's pages come from. */
function backingOf(e: VmMapEntry): MapEntryBacking {
  if (e.system || e.kmem) return "kernel";
  let o = e.object;
  while (o?.backing) o = o.backing;
  if (o === null) return "anon";
  if (o.type === "vnode") return "vnode";
  if (o.type === "phys") return "kernel";
  if (o.label === "shm") return "shm";
  return "anon";
}

/** The entries of `map` in address order (vm_map_entry list, first to last). */
export function mapEntries(map: VmMap): MapEntryView[] {
  const out: MapEntryView[] = [];
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const backing = backingOf(e);
    out.push({
      start: e.start,
      end: e.end,
      prot: e.protection,
      maxProt: e.maxProtection,
      inheritance: e.inheritance,
      wired: e.userWired || e.wiredCount > 0,
      shared: backing !== "kernel" && !e.cow,
      backing,
    });
  }
  return out;
}
