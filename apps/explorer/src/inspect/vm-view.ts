/**
 * What the explorer shows of a VM layer, whichever it is: the map entries of a process, the
 * structures behind them as nodes of a graph (Mach objects and sharing maps, UVM amaps and
 * uvm_objects, FreeBSD objects with their backing chains and reservations), the pages each node
 * holds, and who owns a physical frame. Each VM layer has an adapter (vm-mach.ts, vm-uvm.ts,
 * vm-freebsd.ts) that fills these from the layer's own structures, checked by shape at run time;
 * a layer without one gets the generic view of the KPI's VmLayer.entries (parts.ts).
 */
import { Kernel } from "@vmlab/kernel";
import type { System, VmPage } from "vmlab";

export const PAGE = 4096;

/** A node of the address-space graph: what a map entry points at, or what that points at. */
export type BackingKind = "object" | "sharemap" | "amap";

/** Where the data of one page of a node is: an amap slot (its anon) or an object's page index. */
export interface PageSlot {
  /** The amap slot, or the object's page index (pindex; Mach and UVM: byte offset / 4096). */
  readonly index: number;
  /** UVM: the anon in this amap slot. */
  readonly anon?: AnonView;
  /** UVM: am_ppref — entry references to this slot, once the amap is referenced in part. */
  readonly ppref?: number;
  /** The resident frame, if any. */
  readonly pa: number | undefined;
  /** The swap slot holding a copy, if any. */
  readonly swap: number | undefined;
  /** The resident page's wire_count (0 when not resident). */
  readonly wireCount: number;
  /** UVM: the resident page's loan_count. */
  readonly loanCount?: number;
}

/** struct vm_anon as the explorer shows it. */
export interface AnonView {
  readonly id: number;
  /** an_ref: amap slots (and loans) referencing the anon. */
  readonly ref: number;
  /** Every amap, in any live address space, whose slots hold this anon (sharing after fork). */
  readonly amaps: readonly number[];
}

/** struct vm_reserv (FreeBSD) as the explorer shows it. */
export interface ReservationView {
  /** Physical address of the superpage's first frame. */
  readonly base: number;
  /** First object pindex the reservation covers. */
  readonly pindex: number;
  readonly popcnt: number;
  /** Pages in a reservation (VM_LEVEL_0_NPAGES: 512 for 2 MiB, 1024 for 4 MiB). */
  readonly npages: number;
  /** On the partially-populated queue (vm_rvq_partpop). */
  readonly partpop: boolean;
  /** Where the superpage is mapped by one large page-table entry (promoted), read from the page tables. */
  readonly promoted: readonly { readonly pmapId: number; readonly pid: number | undefined; readonly va: number }[];
}

export interface BackingNode {
  readonly id: string;
  readonly kind: BackingKind;
  readonly label: string;
  readonly detail: string;
  /** The structure's own fields as the VM keeps them (ref_count, shadow_count, am_ref, flags …). */
  readonly fields?: readonly (readonly [string, string | number])[];
  /** Pids whose map entries point at this node directly. */
  readonly mappedBy?: readonly number[];
  /** Its pages (amap slots in use, resident or paged-out object pages), by index. */
  readonly pages?: readonly PageSlot[];
  /** FreeBSD: the object's superpage reservations (rvq). */
  readonly reservations?: readonly ReservationView[];
}

export interface BackingEdge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
}

export interface EntryView {
  readonly start: number;
  readonly end: number;
  readonly prot: number;
  readonly maxProt: number;
  readonly inheritance: number;
  /** wired_count (UVM: user wirings nest in it; FreeBSD: system wirings, user wiring is a flag). */
  readonly wired: number;
  readonly userWired: boolean;
  /** UVM: pages of the entry held by a transient uvm_vslock wiring (the entry's count is untouched). */
  readonly transient?: number;
  readonly needsCopy: boolean;
  readonly copyOnWrite: boolean;
  /** Reserved by the kernel (the 4.4BSD UPT region). */
  readonly system: boolean;
  /** The node the entry points at first (Mach object or sharing map, UVM amap, FreeBSD object). */
  readonly backing: string | undefined;
  /** UVM: the entry's uvm_object when it has an amap too (the lower layer). */
  readonly object?: string;
  /** Byte offset into the object. */
  readonly offset: number;
  /** UVM: aref.ar_pageoff, the amap slot of the entry's first page. */
  readonly amapSlot?: number;
  /** From the generic view (VmLayer.entries) only: what backs the entry, and MAP_SHARED. */
  readonly backingKind?: string;
  readonly shared?: boolean;
}

export interface AddressSpaceView {
  readonly entries: readonly EntryView[];
  readonly nodes: readonly BackingNode[];
  readonly edges: readonly BackingEdge[];
  /** Set for the generic view: what it cannot show. */
  readonly note?: string;
}

export type Owner = "free" | "kernel" | "user" | "reservation";

/** A VM-specific table for the physical-memory view (vm_phys free lists, reservations). */
export interface PhysTable {
  readonly id: string;
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

/** What an adapter gives for one system's VM layer. */
export interface VmInspector {
  /** The map entries of process `pid` and what backs them; a string says why there is none. */
  addressSpace(pid: number): AddressSpaceView | string;
  /** Who owns a managed frame, as the VM knows it (undefined: cannot tell). */
  owner(pg: VmPage): Owner | undefined;
  /** What holds a managed frame, in words (the object and index, the anon and its amaps). */
  describe(pg: VmPage): string;
  /** Tables for the physical-memory view. */
  physTables(): PhysTable[];
}

export function kernelOf(sys: System): Kernel | undefined {
  return sys instanceof Kernel ? sys : undefined;
}

/** The VM space of every process whose address space is alive, by pid. */
export function liveSpaces(sys: System): Map<number, unknown> {
  const out = new Map<number, unknown>();
  const k = kernelOf(sys);
  if (k) for (const p of k.procs.values()) if (p.state === "running") out.set(p.pid, p.space);
  return out;
}

export const hexs = (n: number): string => `0x${n.toString(16)}`;
