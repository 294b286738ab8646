/**
 * The physical memory map: every RAM frame with the role it plays, from what can be known for
 * certain. Page-table frames are found by walking every live pmap's tables from its CR3 in
 * physical memory; pv frames from the pmap's pv pages; user frames by being mapped at a user
 * address with the U bit in a process's tables; free, kernel and object- or anon-owned frames from
 * the VM layer's page array (its adapter; a free frame inside an active FreeBSD superpage
 * reservation is the reservation's); frames the VM does not manage were stolen at bootstrap (the
 * kernel image and bootstrap tables). A frame none of these settle is "unknown".
 */
import type { System } from "vmlab";
import { PageTableReader } from "./pagetable.js";
import { pmaps, pvFrames, vmOwnerOf } from "./parts.js";

export const ROLES = ["free", "user", "wired", "pagetable", "pv", "kernel", "reservation", "unknown"] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_INFO: Readonly<Record<Role, { color: string; text: string }>> = {
  free: { color: "#e8e8e8", text: "free (on the VM's free list)" },
  user: { color: "#4e9a06", text: "user (mapped at a user address, or a page of a user object or anon)" },
  wired: { color: "#c4a000", text: "wired user page (wire count > 0)" },
  pagetable: { color: "#3465a4", text: "page table (reached from a pmap's CR3)" },
  pv: { color: "#75507b", text: "pv page / chunk (the pmap's pv entries)" },
  kernel: { color: "#cc0000", text: "kernel (unmanaged boot memory, kmem, pmap-owned pages)" },
  reservation: { color: "#f57900", text: "reserved, not yet allocated (a FreeBSD VM superpage reservation)" },
  unknown: { color: "#ffffff", text: "unknown (no inspector can tell)" },
};

export interface FrameMap {
  /** Physical address of each frame, in address order. */
  readonly pa: Float64Array;
  /** Index into ROLES per frame. */
  readonly role: Uint8Array;
  readonly counts: Readonly<Record<Role, number>>;
  /** What could not be inspected (shown beside the map). */
  readonly notes: readonly string[];
}

const PAGE = 4096;

export function frameMap(sys: System): FrameMap {
  const mem = sys.machine.memory;
  const reader = new PageTableReader(sys.machine, sys.layout);
  const notes: string[] = [];
  const tables = new Set<number>();
  const userFrames = new Set<number>();
  const roots = pmaps(sys);
  const cr3s = new Map<number, boolean>(); // cr3 → is a user pmap
  for (const p of roots) cr3s.set(p.cr3, !p.kernel);
  for (const c of sys.machine.cpus) if (!cr3s.has(c.cr3)) cr3s.set(c.cr3, false);
  for (const [cr3, user] of cr3s) {
    const root = reader.root(cr3);
    tables.add(root - (root % PAGE));
    reader.walk(cr3, {
      table: (t) => tables.add(t.pa - (t.pa % PAGE)),
      leaf: (va, frame, size, u) => {
        if (!user || !u || va >= sys.layout.userMax) return;
        for (let off = 0; off < size && off < 0x4000_0000; off += PAGE) userFrames.add(frame + off);
      },
    });
  }
  const pv = pvFrames(sys);
  if (!pv) notes.push(`pv pages: no inspector for the '${sys.config.pmap}' pmap`);
  const owner = vmOwnerOf(sys);
  if (!owner) notes.push(`free/kernel pages: no inspector for the '${sys.vm.name}' VM layer`);

  const n = mem.ranges.reduce((s, r) => s + Math.floor(r.size / PAGE), 0);
  const pa = new Float64Array(n);
  const role = new Uint8Array(n);
  const counts = Object.fromEntries(ROLES.map((r) => [r, 0])) as Record<Role, number>;
  let i = 0;
  for (const r of mem.ranges) {
    for (let a = r.base; a + PAGE <= r.base + r.size; a += PAGE, i++) {
      const got = classify(sys, a, tables, pv, userFrames, owner);
      pa[i] = a;
      role[i] = ROLES.indexOf(got);
      counts[got]++;
    }
  }
  return { pa, role, counts, notes };
}

function classify(
  sys: System,
  pa: number,
  tables: ReadonlySet<number>,
  pv: ReadonlySet<number> | undefined,
  userFrames: ReadonlySet<number>,
  owner: ReturnType<typeof vmOwnerOf>,
): Role {
  if (tables.has(pa)) return "pagetable";
  if (pv?.has(pa)) return "pv";
  const pg = sys.vm.pageOf(pa);
  if (!pg) return "kernel"; // not managed: stolen at bootstrap (kernel image, bootstrap tables)
  const o = owner?.(pg);
  if (o === "free" || o === "kernel" || o === "reservation") return o;
  if (o === "user" || userFrames.has(pa)) return pg.wireCount > 0 ? "wired" : "user";
  return "unknown";
}
