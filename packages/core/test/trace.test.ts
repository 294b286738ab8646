import { describe, expect, it } from "vitest";
import { type TraceClock, TraceRing } from "../src/index.js";

/** A clock whose values the test sets. */
function clock(): TraceClock & { now: { cycles: number; cpu: number; depth: number } } {
  const now = { cycles: 0, cpu: 0, depth: 0 };
  return { now, cycles: () => now.cycles, cpu: () => now.cpu, depth: () => now.depth };
}

describe("TraceRing", () => {
  it("keeps events oldest first, with sequence numbers from 0 and the given fields", () => {
    const t = new TraceRing(8);
    t.emit("pmap", "enter", { va: 0x1000, wired: false });
    t.emit("vm", "fault", { kind: "zerofill" });
    t.emit("tlb", "miss");
    expect(t.recent()).toEqual([
      { seq: 0, cycles: 0, cpu: 0, depth: 0, layer: "pmap", name: "enter", fields: { va: 0x1000, wired: false } },
      { seq: 1, cycles: 0, cpu: 0, depth: 0, layer: "vm", name: "fault", fields: { kind: "zerofill" } },
      { seq: 2, cycles: 0, cpu: 0, depth: 0, layer: "tlb", name: "miss", fields: {} },
    ]);
    expect(t.emitted).toBe(3);
  });

  it("is bounded by its capacity and keeps the newest, oldest first", () => {
    const t = new TraceRing(4);
    for (let i = 0; i < 10; i++) t.emit("l", "e", { i });
    expect(t.recent().map((e) => e.seq)).toEqual([6, 7, 8, 9]);
    expect(t.recent().map((e) => e.fields.i)).toEqual([6, 7, 8, 9]);
    expect(t.emitted).toBe(10);
  });

  it("exactly at capacity and one past it", () => {
    const t = new TraceRing(3);
    for (let i = 0; i < 3; i++) t.emit("l", "e");
    expect(t.recent().map((e) => e.seq)).toEqual([0, 1, 2]);
    t.emit("l", "e");
    expect(t.recent().map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("a capacity of 1 keeps only the last event; below 1 is refused", () => {
    const t = new TraceRing(1);
    t.emit("a", "x");
    t.emit("b", "y");
    expect(t.recent().map((e) => e.layer)).toEqual(["b"]);
    expect(() => new TraceRing(0)).toThrow(new RangeError("trace capacity must be at least 1"));
    expect(new TraceRing().capacity).toBe(4096);
  });

  it("records cycles, cpu and interrupt depth from its clock at emit time", () => {
    const t = new TraceRing(8);
    const c = clock();
    t.clock = c;
    c.now.cycles = 1234;
    c.now.cpu = 1;
    c.now.depth = 0;
    t.emit("kernel", "syscall");
    c.now.cycles = 5678;
    c.now.cpu = 3;
    c.now.depth = 2;
    t.emit("intr", "disk");
    expect(t.recent().map((e) => [e.cycles, e.cpu, e.depth])).toEqual([
      [1234, 1, 0],
      [5678, 3, 2],
    ]);
  });

  describe("filters", () => {
    function sample(): TraceRing {
      const t = new TraceRing(64);
      const c = clock();
      t.clock = c;
      const rows: [number, string, string][] = [
        [0, "pmap", "enter"],
        [1, "pmap", "remove"],
        [0, "vm", "fault"],
        [1, "pmap", "enter"],
        [0, "tlb", "shootdown"],
        [1, "vm", "fault"],
      ];
      for (const [cpu, layer, name] of rows) {
        c.now.cpu = cpu;
        t.emit(layer, name);
      }
      return t;
    }
    const seqs = (t: TraceRing, f: Parameters<TraceRing["recent"]>[0]): number[] => t.recent(f).map((e) => e.seq);

    it("by layer", () => expect(seqs(sample(), { layer: "pmap" })).toEqual([0, 1, 3]));
    it("by name", () => expect(seqs(sample(), { name: "fault" })).toEqual([2, 5]));
    it("by cpu", () => expect(seqs(sample(), { cpu: 1 })).toEqual([1, 3, 5]));
    it("by sinceSeq (inclusive)", () => expect(seqs(sample(), { sinceSeq: 3 })).toEqual([3, 4, 5]));
    it("limit keeps the newest matches", () => expect(seqs(sample(), { limit: 2 })).toEqual([4, 5]));
    it("limit larger than the matches keeps them all", () =>
      expect(seqs(sample(), { layer: "vm", limit: 10 })).toEqual([2, 5]));
    it("limit 0 returns nothing", () => expect(seqs(sample(), { limit: 0 })).toEqual([]));
    it("combined", () => {
      expect(seqs(sample(), { layer: "pmap", name: "enter", cpu: 1 })).toEqual([3]);
      expect(seqs(sample(), { layer: "pmap", sinceSeq: 1, limit: 1 })).toEqual([3]);
      expect(seqs(sample(), { layer: "nope" })).toEqual([]);
    });
  });

  it("disabled emits nothing and does not advance the sequence", () => {
    const t = new TraceRing(8);
    t.emit("a", "1");
    t.enabled = false;
    t.emit("a", "2");
    t.emit("a", "3");
    expect(t.recent().map((e) => e.name)).toEqual(["1"]);
    expect(t.emitted).toBe(1);
    t.enabled = true;
    t.emit("a", "4");
    expect(t.recent().map((e) => [e.seq, e.name])).toEqual([
      [0, "1"],
      [1, "4"],
    ]);
  });

  it("clear drops the retained events; sequence numbers keep counting", () => {
    const t = new TraceRing(4);
    for (let i = 0; i < 6; i++) t.emit("l", "e");
    t.clear();
    expect(t.recent()).toEqual([]);
    expect(t.emitted).toBe(6);
    t.emit("l", "e");
    expect(t.recent().map((e) => e.seq)).toEqual([6]);
  });
});
