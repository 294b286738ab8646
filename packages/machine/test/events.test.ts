/**
 * The device event queue: a min-heap on (time, scheduling order). Delivery of events to CPUs at
 * memory accesses is tested in machine.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DeviceEvent, EventQueue } from "../src/index.js";

const noop = () => {};

function drain(q: EventQueue, now = Number.POSITIVE_INFINITY): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  for (let ev = q.popDue(now); ev; ev = q.popDue(now)) out.push(ev);
  return out;
}

describe("EventQueue", () => {
  it("is empty at first: size 0, next time Infinity, nothing due", () => {
    const q = new EventQueue();
    expect(q.size).toBe(0);
    expect(q.nextTime()).toBe(Number.POSITIVE_INFINITY);
    expect(q.popDue(1e18)).toBeUndefined();
    expect(q.pending()).toEqual([]);
  });

  it("pops by time, ties in scheduling order, and only what is due", () => {
    const q = new EventQueue();
    q.schedule(30, "c", noop);
    q.schedule(10, "a1", noop);
    q.schedule(20, "b", noop);
    q.schedule(10, "a2", noop);
    q.schedule(10, "a3", noop);
    expect(q.size).toBe(5);
    expect(q.nextTime()).toBe(10);
    expect(q.popDue(9)).toBeUndefined();
    expect(drain(q, 10).map((e) => e.name)).toEqual(["a1", "a2", "a3"]);
    expect(q.nextTime()).toBe(20);
    expect(drain(q, 29).map((e) => e.name)).toEqual(["b"]);
    expect(drain(q).map((e) => e.name)).toEqual(["c"]);
    expect(q.size).toBe(0);
  });

  it("returns the scheduled event with its time, sequence number and function", () => {
    const q = new EventQueue();
    const run = () => {};
    const a = q.schedule(5, "disk", run);
    const b = q.schedule(5, "clock", run);
    expect(a).toMatchObject({ time: 5, name: "disk", run });
    expect(b.seq).toBe(a.seq + 1);
    expect(q.pending()).toEqual([a, b]);
    expect(q.size).toBe(2); // pending() does not consume
  });

  it("rejects non-finite times", () => {
    const q = new EventQueue();
    expect(() => q.schedule(Number.NaN, "x", noop)).toThrow(RangeError);
    expect(() => q.schedule(Number.POSITIVE_INFINITY, "x", noop)).toThrow(/finite/);
    expect(q.size).toBe(0);
  });

  it("calls onChange on every schedule", () => {
    const q = new EventQueue();
    let n = 0;
    q.onChange = () => n++;
    q.schedule(3, "a", noop);
    q.schedule(1, "b", noop);
    expect(n).toBe(2);
  });

  it("pops in (time, seq) order for any interleaving of schedules and pops (property)", () => {
    const cmd = fc.oneof(
      fc.record({ k: fc.constant("s" as const), t: fc.integer({ min: -5, max: 40 }) }),
      fc.record({ k: fc.constant("p" as const), now: fc.integer({ min: -5, max: 45 }) }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 80 }), (cmds) => {
        const q = new EventQueue();
        let model: { t: number; seq: number }[] = [];
        let seq = 0;
        for (const c of cmds) {
          if (c.k === "s") {
            const ev = q.schedule(c.t, `e${seq}`, noop);
            expect(ev.seq).toBe(seq);
            model.push({ t: c.t, seq: seq++ });
          } else {
            model.sort((a, b) => a.t - b.t || a.seq - b.seq);
            const due = model.filter((m) => m.t <= c.now);
            model = model.filter((m) => m.t > c.now);
            expect(drain(q, c.now).map((e) => [e.time, e.seq])).toEqual(due.map((m) => [m.t, m.seq]));
          }
          expect(q.size).toBe(model.length);
          expect(q.nextTime()).toBe(model.length ? Math.min(...model.map((m) => m.t)) : Number.POSITIVE_INFINITY);
        }
        model.sort((a, b) => a.t - b.t || a.seq - b.seq);
        expect(q.pending().map((e) => e.seq)).toEqual(model.map((m) => m.seq));
        expect(drain(q).map((e) => e.seq)).toEqual(model.map((m) => m.seq));
      }),
      { numRuns: 300 },
    );
  });
});
