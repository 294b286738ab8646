/**
 * The UVM and FreeBSD VM adapters (src/inspect/vm-uvm.ts, vm-freebsd.ts) on real systems: what
 * the address-space view shows after fork and copy-on-write, for shared memory, a mapped file with
 * mlock, and superpage reservations; who owns each physical frame; and the generic view a VM
 * without an adapter falls back to. Every assertion reads the VM's own structures through the
 * explorer and checks them against the hardware (the frame the page tables map at an address).
 */
import { describe, expect, it } from "vitest";
import {
  createSystem,
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  type Process,
  SIZE_2M,
  type System,
} from "vmlab";
import { frameMap, ROLES } from "../src/inspect/frames.js";
import { PageTableReader } from "../src/inspect/pagetable.js";
import {
  type AddressSpaceView,
  addressSpace,
  type BackingNode,
  type EntryView,
  hasVmInspector,
  pageOwner,
  physTables,
  processes,
} from "../src/inspect/parts.js";
import "../src/model/scenarios.js";
import { record, replay } from "../src/model/session.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;

function view(sys: System, p: Process): AddressSpaceView {
  const as = addressSpace(sys, p.pid);
  if (typeof as === "string") throw new Error(as);
  return as;
}

function entryAt(as: AddressSpaceView, va: number): EntryView {
  const e = as.entries.find((x) => x.start <= va && va < x.end);
  if (!e) throw new Error(`no entry at ${va.toString(16)}`);
  return e;
}

function node(as: AddressSpaceView, id: string | undefined): BackingNode {
  const n = as.nodes.find((x) => x.id === id);
  if (!n) throw new Error(`no node ${id}`);
  return n;
}

const field = (n: BackingNode, name: string) => n.fields?.find(([k]) => k === name)?.[1];
const slot = (n: BackingNode, index: number) => n.pages?.find((s) => s.index === index);

/** The frame the process's page tables map at va (read from memory, as the MMU would). */
function frameAt(sys: System, p: Process, va: number): number | undefined {
  const cr3 = processes(sys).find((x) => x.pid === p.pid)?.cr3;
  if (cr3 === undefined) return undefined;
  return new PageTableReader(sys.machine, sys.layout).lookup(cr3, va)?.pa;
}

function roleOf(sys: System, pa: number): string | undefined {
  const fm = frameMap(sys);
  return ROLES[fm.role[fm.pa.indexOf(pa)] as number];
}

describe.each([
  { machine: "i386", pmap: "mach" },
  { machine: "amd64", pmap: "cranor" },
] as const)("UVM on $machine/$pmap", (c) => {
  const boot = (seed: number) => createSystem({ ...c, vm: "uvm", memoryMiB: 16, seed });

  it("fork shares the amap needs-copy; a child write gives the child its own amap and anon (an_ref 1)", () => {
    const sys = boot(11);
    expect(hasVmInspector(sys)).toBe(true);
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 1);
    p.store32(a + PAGE_SIZE, 2);
    const ch = p.fork();

    // After fork: both entries point at one amap with two references, both needs-copy.
    let pe = entryAt(view(sys, p), a);
    let ce = entryAt(view(sys, ch), a);
    expect(pe.backing).toMatch(/^amap:/);
    expect(ce.backing).toBe(pe.backing);
    expect(pe.needsCopy && ce.needsCopy && pe.copyOnWrite && ce.copyOnWrite).toBe(true);
    const shared = node(view(sys, p), pe.backing);
    expect(shared.kind).toBe("amap");
    expect(field(shared, "am_ref")).toBe(2);
    expect(field(shared, "am_nused")).toBe(2);
    expect(shared.mappedBy).toEqual([p.pid, ch.pid]);
    expect(slot(shared, 0)?.anon?.ref).toBe(1);

    ch.store32(a, 3);
    const pv = view(sys, p);
    const cv = view(sys, ch);
    pe = entryAt(pv, a);
    ce = entryAt(cv, a);
    const pAmap = node(pv, pe.backing);
    const cAmap = node(cv, ce.backing);
    // amap_copy: the child's entry has an amap of its own, no longer needs-copy.
    expect(cAmap.id).not.toBe(pAmap.id);
    expect(ce.needsCopy).toBe(false);
    expect(field(cAmap, "am_ref")).toBe(1);
    expect(field(pAmap, "am_ref")).toBe(1);
    expect(cAmap.mappedBy).toEqual([ch.pid]);
    // Slot 0 was written by the child: its own anon, an_ref 1, on the frame the child maps.
    const c0 = slot(cAmap, 0);
    const p0 = slot(pAmap, 0);
    expect(c0?.anon?.ref).toBe(1);
    expect(p0?.anon?.ref).toBe(1);
    expect(c0?.anon?.id).not.toBe(p0?.anon?.id);
    expect(c0?.pa).toBe(frameAt(sys, ch, a));
    expect(p0?.pa).toBe(frameAt(sys, p, a));
    expect(c0?.pa).not.toBe(p0?.pa);
    // Slot 1 is untouched: one anon, referenced by both amaps (an_ref 2).
    const c1 = slot(cAmap, 1);
    expect(c1?.anon?.id).toBe(slot(pAmap, 1)?.anon?.id);
    expect(c1?.anon?.ref).toBe(2);
    expect([...(c1?.anon?.amaps ?? [])].sort()).toEqual([Number(pAmap.id.slice(5)), Number(cAmap.id.slice(5))].sort());
    // Who owns the child's new frame: its anon, in the child's amap at the child's address.
    const owner = pageOwner(sys, c0?.pa as number);
    expect(owner).toContain(`anon ${c0?.anon?.id} (an_ref 1)`);
    expect(owner).toContain(`pid ${ch.pid} at 0x${a.toString(16)}`);
    expect(roleOf(sys, c0?.pa as number)).toBe("user");
  });

  it("MAP_SHARED anonymous memory: one AMAP_SHARED amap in both processes, one anon", () => {
    const sys = boot(12);
    const p = sys.spawn();
    const s = p.mmap(0, PAGE_SIZE, RW, MAP_ANON | MAP_SHARED, -1, 0);
    p.store32(s, 1);
    const ch = p.fork();
    ch.store32(s, 2);
    expect(p.load32(s)).toBe(2);
    const pe = entryAt(view(sys, p), s);
    const ce = entryAt(view(sys, ch), s);
    expect(ce.backing).toBe(pe.backing);
    expect(pe.shared && ce.shared).toBe(true);
    expect(pe.needsCopy || ce.needsCopy).toBe(false);
    const amap = node(view(sys, ch), ce.backing);
    expect(field(amap, "am_flags")).toBe("AMAP_SHARED");
    expect(field(amap, "am_ref")).toBe(2);
    expect(amap.mappedBy).toEqual([p.pid, ch.pid]);
    const s0 = slot(amap, 0);
    expect(s0?.anon?.ref).toBe(1);
    expect(s0?.pa).toBe(frameAt(sys, p, s));
    expect(s0?.pa).toBe(frameAt(sys, ch, s));
  });

  it("a private file mapping: the amap over the vnode's uvm_object; mlock wires the entry and every page", () => {
    const sys = boot(13);
    const p = sys.spawn();
    sys.fs.mkdir("/d");
    sys.fs.writeFile("/d/f", new Uint8Array(3 * PAGE_SIZE).fill(7));
    const fd = p.open("/d/f", O_RDWR);
    const f = p.mmap(0, 3 * PAGE_SIZE, RW, MAP_PRIVATE, fd, 0);
    expect(p.load32(f)).toBe(0x07070707);
    let e = entryAt(view(sys, p), f);
    // No amap until the first write: the entry points at the vnode's object alone.
    let uobj = node(view(sys, p), e.backing);
    expect(uobj.kind).toBe("object");
    expect(uobj.label).toMatch(/^uvn \d+ \(vnode, inode \d+\)$/);
    expect(field(uobj, "resident pages")).toBe(3);
    expect(slot(uobj, 0)?.pa).toBe(frameAt(sys, p, f));

    p.store32(f + PAGE_SIZE, 0x1234);
    const v = view(sys, p);
    e = entryAt(v, f);
    const amap = node(v, e.backing);
    expect(amap.kind).toBe("amap");
    expect(e.object).toBe(uobj.id);
    expect(e.amapSlot).toBe(0);
    uobj = node(v, e.object);
    // Fault case 2B: the written page is an anon's copy; the file's page stays in the object.
    expect(amap.pages?.map((s) => s.index)).toEqual([1]);
    expect(slot(amap, 1)?.pa).toBe(frameAt(sys, p, f + PAGE_SIZE));
    expect(slot(amap, 1)?.pa).not.toBe(slot(uobj, 1)?.pa);
    expect(pageOwner(sys, slot(uobj, 1)?.pa as number)).toMatch(/^uvn \d+ .* at offset 0x1000/);

    // mlock: wired_count 1 on the entry; wiring with max_protection resolves copy-on-write, so
    // every page is now an anon's, each with wire_count 1.
    p.mlock(f, 3 * PAGE_SIZE);
    const w = view(sys, p);
    const we = entryAt(w, f);
    expect(we.wired).toBe(1);
    expect(we.userWired).toBe(true);
    const wamap = node(w, we.backing);
    expect(wamap.pages?.map((s) => [s.index, s.wireCount])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
    expect(roleOf(sys, slot(wamap, 2)?.pa as number)).toBe("wired");
    p.close(fd);
  });

  it("physical memory: every frame has an owner (no 'unknown'), and the page queues are shown", () => {
    const sys = boot(14);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) p.store32(a + i * PAGE_SIZE, i);
    p.fork().store32(a, 9);
    const fm = frameMap(sys);
    expect(fm.counts.unknown).toBe(0);
    expect(fm.counts.free).toBeGreaterThan(0);
    expect(fm.counts.reservation).toBe(0);
    expect(fm.notes).toEqual([]);
    const q = physTables(sys).find((t) => t.id === "physmem-uvm-queues");
    expect(q?.rows[0]?.[0]).toBe(sys.vm.freePages);
  });
});

describe.each([
  { machine: "i386", pmap: "mach" },
  { machine: "i386-pae", pmap: "cranor" },
  { machine: "amd64", pmap: "freebsd" },
] as const)("FreeBSD VM on $machine/$pmap", (c) => {
  const boot = (seed: number) => createSystem({ ...c, vm: "freebsd", memoryMiB: 16, seed });

  it("fork shares the object needs-copy; a child write puts a shadow in front whose backing_object is the original", () => {
    const sys = boot(21);
    expect(hasVmInspector(sys)).toBe(true);
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 1);
    p.store32(a + PAGE_SIZE, 2);
    const ch = p.fork();
    const pe0 = entryAt(view(sys, p), a);
    const ce0 = entryAt(view(sys, ch), a);
    expect(ce0.backing).toBe(pe0.backing);
    expect(pe0.needsCopy && ce0.needsCopy).toBe(true);
    const original = node(view(sys, p), pe0.backing);
    expect(field(original, "ref_count")).toBe(2);
    expect(original.mappedBy).toEqual([p.pid, ch.pid]);

    ch.store32(a, 3);
    const cv = view(sys, ch);
    const ce = entryAt(cv, a);
    expect(ce.backing).not.toBe(original.id);
    expect(ce.needsCopy).toBe(false);
    const shadow = node(cv, ce.backing);
    expect(shadow.label).toMatch(/\(shadow\)$/);
    expect(field(shadow, "type")).toBe("OBJT_DEFAULT");
    expect(field(shadow, "ref_count")).toBe(1);
    expect(field(shadow, "backing_object")).toBe(original.label.replace(/ \(.*$/, ""));
    expect(cv.edges).toContainEqual({ from: shadow.id, to: original.id, label: "backing +0x0" });
    const orig = node(cv, original.id);
    expect(field(orig, "shadow_count")).toBe(1);
    expect(field(orig, "ref_count")).toBe(2); // the parent's entry and the shadow's backing link
    // Which page where: the child's copy in the shadow, the original's pages under it.
    expect(shadow.pages?.map((s) => s.index)).toEqual([0]);
    expect(slot(shadow, 0)?.pa).toBe(frameAt(sys, ch, a));
    expect(slot(orig, 0)?.pa).toBe(frameAt(sys, p, a));
    expect(slot(orig, 1)?.pa).toBe(frameAt(sys, p, a + PAGE_SIZE));
    // A read in the child finds page 1 down the chain, in the original: nothing is copied.
    expect(ch.load32(a + PAGE_SIZE)).toBe(2);
    expect(frameAt(sys, ch, a + PAGE_SIZE)).toBe(slot(orig, 1)?.pa);
    expect(node(view(sys, ch), shadow.id).pages?.length).toBe(1);
    expect(pageOwner(sys, slot(shadow, 0)?.pa as number)).toMatch(/^object \d+ \(shadow, OBJT_DEFAULT\) pindex 0/);
    // The parent still reads through the original, needs-copy.
    expect(entryAt(view(sys, p), a).backing).toBe(original.id);
  });

  it("MAP_SHARED anonymous memory: one object referenced by both entries, not copy-on-write", () => {
    const sys = boot(22);
    const p = sys.spawn();
    const s = p.mmap(0, PAGE_SIZE, RW, MAP_ANON | MAP_SHARED, -1, 0);
    p.store32(s, 1);
    const ch = p.fork();
    ch.store32(s, 2);
    const pe = entryAt(view(sys, p), s);
    const ce = entryAt(view(sys, ch), s);
    expect(ce.backing).toBe(pe.backing);
    expect(pe.shared && ce.shared).toBe(true);
    expect(pe.copyOnWrite || ce.copyOnWrite).toBe(false);
    const o = node(view(sys, p), pe.backing);
    expect(field(o, "ref_count")).toBe(2);
    expect(slot(o, 0)?.pa).toBe(frameAt(sys, ch, s));
    expect(slot(o, 0)?.pa).toBe(frameAt(sys, p, s));
  });

  it("physical memory: every frame has an owner (no 'unknown'); the vm_phys free lists add up", () => {
    const sys = boot(23);
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PAGE_SIZE, RW, ANON, -1, 0);
    for (let i = 0; i < 4; i++) p.store32(a + i * PAGE_SIZE, i);
    const fm = frameMap(sys);
    expect(fm.counts.unknown).toBe(0);
    expect(fm.notes).toEqual([]);
    // Free frames on the buddy lists plus those reserved but not yet allocated are the VM's free pages.
    expect(fm.counts.free + fm.counts.reservation).toBe(sys.vm.freePages);
    const fl = physTables(sys).find((t) => t.id === "physmem-freelists");
    const blocks = fl?.rows.filter((r) => r[0] !== "") ?? [];
    expect(blocks.length).toBeGreaterThan(0);
    const buddy = blocks.reduce((s, r) => s + (r[3] as number) * 2 ** (r[1] as number), 0);
    expect(buddy).toBe(fm.counts.free);
  });
});

describe("FreeBSD VM on amd64/freebsd: a superpage-eligible 2 MiB region", () => {
  it("fills its reservation page by page; full, the pmap promotes it and the view says so", () => {
    const sys = createSystem({ machine: "amd64", pmap: "freebsd", vm: "freebsd", memoryMiB: 16, seed: 31 });
    const p = sys.spawn();
    const a = p.mmap(0, SIZE_2M, RW, ANON, -1, 0);
    expect(a % SIZE_2M).toBe(0);
    for (let i = 0; i < 10; i++) p.store32(a + i * PAGE_SIZE, i);
    let obj = node(view(sys, p), entryAt(view(sys, p), a).backing);
    expect(obj.reservations?.length).toBe(1);
    let rv = obj.reservations?.[0];
    const base = frameAt(sys, p, a) as number;
    expect(rv).toEqual({ base, pindex: 0, popcnt: 10, npages: 512, partpop: true, promoted: [] });
    // The 502 frames not yet allocated belong to the reservation, not to the free lists.
    expect(roleOf(sys, base + 10 * PAGE_SIZE)).toBe("reservation");
    expect(roleOf(sys, base + 9 * PAGE_SIZE)).toBe("user");
    expect(frameMap(sys).counts.reservation).toBeGreaterThanOrEqual(502);
    expect(pageOwner(sys, base + 100 * PAGE_SIZE)).toMatch(
      /^free, reserved in reservation 0x[0-9a-f]+ of object \d+ \(popcnt 10\/512\)$/,
    );

    for (let i = 10; i < 512; i++) p.store32(a + i * PAGE_SIZE, i);
    obj = node(view(sys, p), entryAt(view(sys, p), a).backing);
    rv = obj.reservations?.[0];
    const pmapId = processes(sys).find((x) => x.pid === p.pid)?.pmapId;
    expect(rv).toEqual({
      base,
      pindex: 0,
      popcnt: 512,
      npages: 512,
      partpop: false,
      promoted: [{ pmapId, pid: p.pid, va: a }],
    });
    // Every page of the object is where the reservation says: base + pindex * 4 KiB.
    expect(obj.pages?.length).toBe(512);
    expect(obj.pages?.every((s) => s.pa === base + s.index * PAGE_SIZE)).toBe(true);
    const row = physTables(sys)
      .find((t) => t.id === "physmem-reservations")
      ?.rows.find((r) => r[0] === `0x${base.toString(16)}`);
    expect(row?.slice(3)).toEqual(["512/512", "no", `pid ${p.pid} at 0x${a.toString(16)}`]);
    sys.audit();
  });
});

describe("the superpage-2m scenario, recorded and replayed on amd64/freebsd/freebsd", () => {
  it("shows the reservation filling, promoted at the last touch, and the child's shadow over it after fork", () => {
    const rec = record({
      machine: "amd64",
      pmap: "freebsd",
      vm: "freebsd",
      memoryMiB: 16,
      cpus: 1,
      seed: 1,
      scenario: "superpage-2m",
      erratumOn: false,
      audit: false,
    });
    expect(rec.end.kind).toBe("ok");
    const fork = rec.steps.find((s) => s.label.endsWith("fork()"));
    if (!fork) throw new Error("no fork step");
    const reserv = (pos: number) => {
      const { sys } = replay(rec, pos);
      const as = addressSpace(sys, 1);
      if (typeof as === "string") throw new Error(as);
      const e = as.entries.find((x) => x.end - x.start === SIZE_2M);
      return { sys, as, e, rv: node(as, e?.backing).reservations?.[0] };
    };
    expect(reserv(3).rv).toMatchObject({ popcnt: 1, partpop: true, promoted: [] });
    const full = reserv(fork.position - 1);
    expect(full.rv).toMatchObject({ popcnt: 512, partpop: false, promoted: [{ va: full.e?.start }] });
    // After the child's write: its entry's object is a shadow backed by the reservation's object.
    const { sys } = replay(rec, fork.position + 1);
    const child = addressSpace(sys, 2);
    if (typeof child === "string") throw new Error(child);
    const ce = child.entries.find((x) => x.end - x.start === SIZE_2M);
    const shadow = node(child, ce?.backing);
    expect(shadow.label).toMatch(/\(shadow\)$/);
    const under = child.edges.find((x) => x.from === shadow.id);
    expect(node(child, under?.to).reservations?.[0]).toMatchObject({ popcnt: 512 });
  });
});

describe("a VM layer without an adapter", () => {
  it("gets the generic view (VmLayer.entries) and 'unknown' pages, never a guess", () => {
    const real = createSystem({ machine: "i386", pmap: "mach", vm: "uvm", memoryMiB: 16, seed: 41 });
    // The same system, its VM seen only through the KPI: no spaces, no page array to read.
    const vm = real.vm;
    const kpiOnly = {
      name: "uvm",
      entries: vm.entries.bind(vm),
      pageOf: vm.pageOf.bind(vm),
      get freePages() {
        return vm.freePages;
      },
    };
    const sys = new Proxy(real, { get: (t, k) => (k === "vm" ? kpiOnly : Reflect.get(t, k)) });
    const p = real.spawn();
    const a = p.mmap(0, 2 * PAGE_SIZE, RW, ANON, -1, 0);
    p.store32(a, 1);
    expect(hasVmInspector(sys)).toBe(false);
    const as = addressSpace(sys, p.pid);
    if (typeof as === "string") throw new Error(as);
    expect(as.note).toContain("'uvm'");
    expect(as.nodes).toEqual([]);
    expect(as.entries).toContainEqual(
      expect.objectContaining({ start: a, end: a + 2 * PAGE_SIZE, backingKind: "anon", shared: false }),
    );
    const fm = frameMap(sys);
    expect(fm.counts.free).toBe(0);
    expect(fm.counts.unknown).toBeGreaterThan(0);
    expect(fm.notes.some((n) => n.includes("'uvm'"))).toBe(true);
    expect(pageOwner(sys, frameAt(real, p, a) as number)).toBeUndefined();
  });
});
