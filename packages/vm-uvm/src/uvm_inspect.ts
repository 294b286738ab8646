/**
 * Inspecting a process's map for audits and debuggers: the entries in address order as the
 * process sees them (NetBSD sys/uvm/uvm_map.c uvm_map_printit; procstat/pmap(1)'s view).
 *
 * Wiring has two homes in UVM: an entry's wired_count (mlock, mlockall, system wirings) and the
 * per-page transient wirings of uvm_vslock, which leave the entry alone (uvm_glue.c); an entry is
 * reported wired when either holds any of its pages. Shared means not copy-on-write (MAP_SHARED:
 * no UVM_ET_COPYONWRITE) or an amap marked AMAP_SHARED (VM_INHERIT_SHARE across fork).
 */
import { type MapEntryBacking, type MapEntryView, PAGE_SIZE } from "@vmlab/core";
import { AMAP_SHARED } from "./uvm_amap.js";
import { UVM_MAP_KMEM, type VmMap, type VmMapEntry } from "./uvm_map.js";

/** What an entry's pages come from, by its object (uvn, the shm aobj) or the kernel's flags. */
function backingOf(e: VmMapEntry): MapEntryBacking {
  if (e.system || (e.flags & UVM_MAP_KMEM) !== 0) return "kernel";
  const label = e.object?.label;
  if (label === undefined) return "anon";
  if (label === "uvn") return "vnode";
  if (label === "shm") return "shm";
  return "kernel";
}

/** Whether a uvm_vslock wiring holds any page of the entry. */
function transientlyWired(map: VmMap, e: VmMapEntry): boolean {
  if (map.transient.size === 0) return false;
  if (map.transient.size < e.pages) {
    for (const va of map.transient.keys()) if (va >= e.start && va < e.end) return true;
    return false;
  }
  for (let va = e.start; va < e.end; va += PAGE_SIZE) if (map.transient.has(va)) return true;
  return false;
}

/** The entries of `map` in address order. */
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
      wired: e.wiredCount > 0 || transientlyWired(map, e),
      shared: backing !== "kernel" && (!e.copyOnWrite || (e.amap !== null && (e.amap.flags & AMAP_SHARED) !== 0)),
      backing,
    });
  }
  return out;
}
