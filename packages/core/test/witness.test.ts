import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KernelPanic, type LockClassName, TraceRing, type WitnessLock } from "../src/index.js";
import { kernel } from "./host.js";

/** A bare witness lock: the witness only reads these four fields. */
function lk(name: string, o: { type?: string; lockClass?: LockClassName; dupok?: boolean } = {}): WitnessLock {
  return { name, type: o.type ?? name, lockClass: o.lockClass ?? "sleep mutex", dupok: o.dupok ?? false };
}

describe("witness: lock order reversal (subr_witness.c witness_checkorder)", () => {
  it("A -> B established, later B then A: reported once, naming both locks and the first order", () => {
    const { host, witness } = kernel();
    const a = lk("vm_object");
    const b = lk("pmap");
    witness.acquired(a, "vm_fault.c:100");
    witness.acquired(b, "pmap.c:200");
    witness.released(b, "pmap.c:210");
    witness.released(a, "vm_fault.c:110");
    expect(witness.reports).toEqual([]);

    witness.acquired(b, "pmap.c:300");
    witness.acquired(a, "vm_object.c:400");

    expect(witness.reports).toHaveLength(1);
    const r = witness.reports[0];
    expect(r?.kind).toBe("reversal");
    expect(r?.first).toEqual({ name: "pmap", type: "pmap", where: "pmap.c:300" });
    expect(r?.second).toEqual({ name: "vm_object", type: "vm_object", where: "vm_object.c:400" });
    expect(r?.established).toBe("vm_fault.c:100 then pmap.c:200");
    expect(r?.message.startsWith("lock order reversal:")).toBe(true);
    expect(r?.message).toBe(
      "lock order reversal:\n" +
        " 1st pmap (pmap) @ pmap.c:300\n" +
        " 2nd vm_object (vm_object) @ vm_object.c:400\n" +
        " lock order vm_object -> pmap established at vm_fault.c:100 then pmap.c:200",
    );
    // Record mode (debug.witness.kdb=0): a report, not a panic; the lock is still taken.
    expect(host.panics).toEqual([]);
    expect(witness.heldBy().map((h) => h.name)).toEqual(["pmap", "vm_object"]);
  });

  it("the same order again is not a reversal", () => {
    const { witness } = kernel();
    const a = lk("A");
    const b = lk("B");
    for (let i = 0; i < 3; i++) {
      witness.acquired(a, `a:${i}`);
      witness.acquired(b, `b:${i}`);
      witness.released(b, `b:${i}`);
      witness.released(a, `a:${i}`);
    }
    expect(witness.reports).toEqual([]);
  });

  it("reversal through a chain: A -> B, B -> C, then C then A", () => {
    const { witness } = kernel();
    const a = lk("A");
    const b = lk("B");
    const c = lk("C");
    witness.acquired(a, "a.c:1");
    witness.acquired(b, "b.c:2");
    witness.released(b, "b.c:3");
    witness.released(a, "a.c:4");
    witness.acquired(b, "b.c:5");
    witness.acquired(c, "c.c:6");
    witness.released(c, "c.c:7");
    witness.released(b, "b.c:8");
    expect(witness.reports).toEqual([]);

    witness.acquired(c, "c.c:9");
    witness.acquired(a, "a.c:10");
    expect(witness.reports).toHaveLength(1);
    const r = witness.reports[0];
    expect(r?.kind).toBe("reversal");
    expect(r?.first).toEqual({ name: "C", type: "C", where: "c.c:9" });
    expect(r?.second).toEqual({ name: "A", type: "A", where: "a.c:10" });
    // The chain A -> ... -> C is named by its first recorded edge.
    expect(r?.established).toBe("a.c:1 then b.c:2");
    expect(r?.message).toBe(
      "lock order reversal:\n 1st C (C) @ c.c:9\n 2nd A (A) @ a.c:10\n lock order A -> C established at a.c:1 then b.c:2",
    );
  });

  it("a chain taken in its own direction (A then C after A -> B -> C) is not a reversal", () => {
    const { witness } = kernel();
    const [a, b, c] = [lk("A"), lk("B"), lk("C")];
    witness.acquired(a, "1");
    witness.acquired(b, "2");
    witness.acquired(c, "3");
    witness.released(c, "3");
    witness.released(b, "2");
    witness.released(a, "1");
    witness.acquired(a, "4");
    witness.acquired(c, "5");
    expect(witness.reports).toEqual([]);
  });

  it("orders are per lock type: two instances of a type share one order", () => {
    const { witness } = kernel();
    const obj1 = lk("obj1", { type: "vm_object" });
    const obj2 = lk("obj2", { type: "vm_object" });
    const q = lk("vm_page_queue");
    witness.acquired(obj1, "x:1");
    witness.acquired(q, "x:2");
    witness.released(q, "x:3");
    witness.released(obj1, "x:4");
    witness.acquired(q, "y:1");
    witness.acquired(obj2, "y:2");
    expect(witness.reports).toHaveLength(1);
    expect(witness.reports[0]?.message).toBe(
      "lock order reversal:\n" +
        " 1st vm_page_queue (vm_page_queue) @ y:1\n" +
        " 2nd obj2 (vm_object) @ y:2\n" +
        " lock order vm_object -> vm_page_queue established at x:1 then x:2",
    );
  });

  it("locks held by different threads do not establish an order", () => {
    const { host, witness } = kernel();
    const a = lk("A");
    const b = lk("B");
    witness.acquired(a, "td0:a");
    host.current = host.td1;
    witness.acquired(b, "td1:b");
    witness.released(b, "td1:b");
    // td1 now takes B then A: no A -> B order was ever recorded, so nothing to reverse.
    witness.acquired(b, "td1:b2");
    host.current = host.td0;
    witness.released(a, "td0:a");
    host.current = host.td1;
    witness.acquired(a, "td1:a");
    expect(witness.reports).toEqual([]);
    expect(witness.heldBy(host.td1).map((h) => h.name)).toEqual(["B", "A"]);
    expect(witness.heldBy(host.td0)).toEqual([]);
  });

  it("each pair is reported once, even through other instances of the same types", () => {
    const { host, witness } = kernel();
    host.trace = new TraceRing(16);
    const a1 = lk("a1", { type: "A" });
    const a2 = lk("a2", { type: "A" });
    const b1 = lk("b1", { type: "B" });
    witness.acquired(a1, "1");
    witness.acquired(b1, "2");
    witness.released(b1, "2");
    witness.released(a1, "1");
    for (const a of [a1, a2, a1]) {
      witness.acquired(b1, "3");
      witness.acquired(a, "4");
      witness.released(a, "4");
      witness.released(b1, "3");
    }
    expect(witness.reports).toHaveLength(1);
    expect(witness.reports[0]?.second.name).toBe("a1");
    const events = host.trace.recent({ layer: "witness" });
    expect(events.map((e) => [e.name, e.fields])).toEqual([["reversal", { first: "b1", second: "a1" }]]);
  });

  it('mode "panic" calls the host\'s panic with the report message', () => {
    const { host, witness } = kernel();
    witness.mode = "panic";
    const a = lk("A");
    const b = lk("B");
    witness.acquired(a, "a:1");
    witness.acquired(b, "b:1");
    witness.released(b, "b:1");
    witness.released(a, "a:1");
    witness.acquired(b, "b:2");
    const msg =
      "lock order reversal:\n 1st B (B) @ b:2\n 2nd A (A) @ a:2\n lock order A -> B established at a:1 then b:1";
    expect(() => witness.acquired(a, "a:2")).toThrow(KernelPanic);
    expect(host.panics).toEqual([msg]);
    expect(witness.reports.map((r) => r.message)).toEqual([msg]);
  });

  it('mode "panic" also panics on a duplicate', () => {
    const { host, witness } = kernel();
    witness.mode = "panic";
    witness.acquired(lk("p1", { type: "pmap" }), "p:1");
    expect(() => witness.acquired(lk("p2", { type: "pmap" }), "p:2")).toThrow(
      'panic: acquiring duplicate lock of same type: "pmap"\n 1st p1 @ p:1\n 2nd p2 @ p:2',
    );
    expect(host.panics).toHaveLength(1);
  });
});

describe("witness: duplicate locks of one type", () => {
  it("two locks of one type are reported as a duplicate", () => {
    const { host, witness } = kernel();
    const p1 = lk("pmap1", { type: "pmap" });
    const p2 = lk("pmap2", { type: "pmap" });
    witness.acquired(p1, "pmap.c:10");
    witness.acquired(p2, "pmap.c:11");
    expect(witness.reports).toEqual([
      {
        kind: "duplicate",
        first: { name: "pmap1", type: "pmap", where: "pmap.c:10" },
        second: { name: "pmap2", type: "pmap", where: "pmap.c:11" },
        message: 'acquiring duplicate lock of same type: "pmap"\n 1st pmap1 @ pmap.c:10\n 2nd pmap2 @ pmap.c:11',
      },
    ]);
    expect(host.panics).toEqual([]);
  });

  it("not reported when both are DUPOK", () => {
    const { witness } = kernel();
    witness.acquired(lk("pmap1", { type: "pmap", dupok: true }), "1");
    witness.acquired(lk("pmap2", { type: "pmap", dupok: true }), "2");
    expect(witness.reports).toEqual([]);
  });

  it("reported when only one of the two is DUPOK", () => {
    for (const [d1, d2] of [
      [true, false],
      [false, true],
    ] as const) {
      const { witness } = kernel();
      witness.acquired(lk("pmap1", { type: "pmap", dupok: d1 }), "1");
      witness.acquired(lk("pmap2", { type: "pmap", dupok: d2 }), "2");
      expect(witness.reports.map((r) => r.kind)).toEqual(["duplicate"]);
    }
  });

  it("a duplicate pair is reported once", () => {
    const { witness } = kernel();
    const p1 = lk("pmap1", { type: "pmap" });
    const p2 = lk("pmap2", { type: "pmap" });
    for (let i = 0; i < 3; i++) {
      witness.acquired(p1, "1");
      witness.acquired(p2, "2");
      witness.released(p2, "2");
      witness.released(p1, "1");
    }
    expect(witness.reports).toHaveLength(1);
  });
});

describe("witness: sleep locks under a spin lock, unlocks", () => {
  it("a sleep lock taken with a spin mutex held panics", () => {
    const { host, witness } = kernel();
    witness.acquired(lk("sched lock", { lockClass: "spin mutex" }), "sched.c:1");
    expect(() => witness.acquired(lk("vm_object"), "vm_object.c:2")).toThrow(KernelPanic);
    expect(host.panics).toEqual([
      "acquiring blockable sleep lock with spinlock or critical section held (sleep mutex) vm_object @ vm_object.c:2",
    ]);
  });

  it("the panic names the lock class of the blockable lock (rw, sx)", () => {
    for (const cls of ["rw", "sx"] as const) {
      const { host, witness } = kernel();
      witness.acquired(lk("spin", { lockClass: "spin mutex" }), "s:1");
      expect(() => witness.acquired(lk("map", { lockClass: cls }), "m:1")).toThrow(
        `panic: acquiring blockable sleep lock with spinlock or critical section held (${cls}) map @ m:1`,
      );
      expect(host.panics).toHaveLength(1);
    }
  });

  it("a spin mutex under a spin mutex is allowed", () => {
    const { host, witness } = kernel();
    witness.acquired(lk("s1", { lockClass: "spin mutex" }), "1");
    witness.acquired(lk("s2", { lockClass: "spin mutex" }), "2");
    expect(host.panics).toEqual([]);
    expect(witness.heldBy().map((h) => h.name)).toEqual(["s1", "s2"]);
  });

  it("a spin mutex held by another thread does not forbid sleep locks here", () => {
    const { host, witness } = kernel();
    witness.acquired(lk("spin", { lockClass: "spin mutex" }), "1");
    host.current = host.td1;
    witness.acquired(lk("sleep"), "2");
    expect(host.panics).toEqual([]);
  });

  it("unlock of a lock not held panics", () => {
    const { host, witness } = kernel();
    expect(() => witness.released(lk("A"), "a.c:9")).toThrow(
      "panic: witness_unlock: lock (sleep mutex) A not locked @ a.c:9",
    );
    expect(host.panics).toEqual(["witness_unlock: lock (sleep mutex) A not locked @ a.c:9"]);
  });

  it("unlock by a thread other than the holder panics", () => {
    const { host, witness } = kernel();
    const a = lk("A", { lockClass: "rw" });
    witness.acquired(a, "1");
    host.current = host.td1;
    expect(() => witness.released(a, "2")).toThrow("panic: witness_unlock: lock (rw) A not locked @ 2");
  });

  it("unlock of one lock while holding others keeps the rest in order; forget drops a thread", () => {
    const { host, witness } = kernel();
    const [a, b, c] = [lk("A"), lk("B"), lk("C")];
    witness.acquired(a, "a");
    witness.acquired(b, "b");
    witness.acquired(c, "c");
    witness.released(b, "b'");
    expect(witness.heldBy()).toEqual([
      { name: "A", where: "a" },
      { name: "C", where: "c" },
    ]);
    witness.forget(host.td0);
    expect(witness.heldBy()).toEqual([]);
    expect(() => witness.released(a, "a'")).toThrow("not locked");
  });
});

describe("witness: properties", () => {
  const NAMES = ["vm_map", "vm_object", "pmap", "pv_list", "vm_page_queue", "swap"] as const;

  /** Critical sections: each takes a subset of the locks in the global order, releases in some order. */
  const sections = fc.array(
    fc.record({
      take: fc.subarray([0, 1, 2, 3, 4, 5]),
      rotate: fc.nat(),
      thread: fc.boolean(),
    }),
    { maxLength: 30 },
  );
  const globalOrder = fc.shuffledSubarray([...NAMES], { minLength: NAMES.length, maxLength: NAMES.length });

  it("never reports when locks are always taken in one global order", () => {
    fc.assert(
      fc.property(globalOrder, sections, (order, secs) => {
        const { host, witness } = kernel();
        const locks = order.map((n) => lk(n));
        for (const s of secs) {
          host.current = s.thread ? host.td1 : host.td0;
          for (const i of s.take) witness.acquired(locks[i] as WitnessLock, `take ${i}`);
          const n = s.take.length;
          for (let k = 0; k < n; k++) {
            const i = s.take[(k + s.rotate) % n] as number;
            witness.released(locks[i] as WitnessLock, `drop ${i}`);
          }
        }
        expect(witness.reports).toEqual([]);
        expect(host.panics).toEqual([]);
      }),
    );
  });

  it("after any orderly history, taking an established pair backwards is one reversal", () => {
    fc.assert(
      fc.property(globalOrder, sections, fc.subarray([0, 1, 2, 3, 4, 5], { minLength: 2 }), (order, secs, pair) => {
        const { witness } = kernel();
        const locks = order.map((n) => lk(n));
        const lo = locks[pair[0] as number] as WitnessLock;
        const hi = locks[pair[pair.length - 1] as number] as WitnessLock;
        // Establish lo -> hi, then run an orderly history, then take hi then lo.
        witness.acquired(lo, "lo");
        witness.acquired(hi, "hi");
        witness.released(hi, "hi");
        witness.released(lo, "lo");
        for (const s of secs) {
          for (const i of s.take) witness.acquired(locks[i] as WitnessLock, "t");
          for (const i of [...s.take].reverse()) witness.released(locks[i] as WitnessLock, "r");
        }
        expect(witness.reports).toEqual([]);
        witness.acquired(hi, "hi2");
        witness.acquired(lo, "lo2");
        expect(witness.reports.map((r) => [r.kind, r.first.name, r.second.name])).toEqual([
          ["reversal", hi.name, lo.name],
        ]);
      }),
    );
  });
});
