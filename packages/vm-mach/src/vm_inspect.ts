/**
 * Inspecting a task's address map for audits and debuggers: the entries the process sees, in
 * address order, with the sharing maps flattened (4.4BSD-Lite sys/vm/vm_map.c vm_map_print,
 * which descends into is_a_map entries; procstat -v's view of a map).
 *
 * A main-map entry that points at a sharing map is reported as the pieces of the sharing map's
 * entries it covers, moved to the process's addresses, each with the main entry's protection,
 * inheritance and wiring (those are properties of main-map entries) and the sharing-map entry's
 * backing. Holes in the sharing map are not reported (the process has nothing there).
 */
import { INHERIT_SHARE, type MapEntryBacking, type MapEntryView } from "@vmlab/core";
import type { VmMap, VmMapEntry } from "./vm_map.js";
import type { VmObject } from "./vm_object.js";

/** What the pages of an entry holding `obj` come from: the bottom of its shadow chain. */
function backingOf(e: VmMapEntry, obj: VmObject | null): MapEntryBacking {
  if (e.system || e.kmem) return "kernel";
  let o = obj;
  while (o?.shadow) o = o.shadow;
  if (o === null) return "anon";
  if (o.vnode !== null) return "vnode";
  if (o.label === "shm") return "shm";
  if (o.label === "upt") return "kernel";
  return "anon";
}

/** One view with the main entry's attributes over [start, end). */
function view(top: VmMapEntry, start: number, end: number, backing: MapEntryBacking): MapEntryView {
  return {
    start,
    end,
    prot: top.protection,
    maxProt: top.maxProtection,
    inheritance: top.inheritance,
    wired: top.wiredCount > 0 || top.userWired || top.transientCount > 0,
    shared: top.shareMap !== null || top.inheritance === INHERIT_SHARE,
    backing,
  };
}

/** The entries of the main map `map` as its process sees them (sharing maps flattened). */
export function mapEntries(map: VmMap): MapEntryView[] {
  const out: MapEntryView[] = [];
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const sm = e.shareMap;
    if (sm === null) {
      out.push(view(e, e.start, e.end, backingOf(e, e.object)));
      continue;
    }
    // The sharing map's range [offset, offset + size) appears at [start, end).
    const lo = e.offset;
    const hi = e.offset + (e.end - e.start);
    for (let s = sm.header.next; s !== sm.header; s = s.next) {
      if (s.end <= lo || s.start >= hi) continue;
      const a = Math.max(s.start, lo) - lo + e.start;
      const b = Math.min(s.end, hi) - lo + e.start;
      out.push(view(e, a, b, backingOf(s, s.object)));
    }
  }
  return out;
}
