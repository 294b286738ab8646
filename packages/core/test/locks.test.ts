import { describe, expect, it } from "vitest";
import { type CriticalSection, KernelPanic, Mutex, RwLock, SpinMutex } from "../src/index.js";
import { kernel } from "./host.js";

/** A critical section that logs spinlock_enter / spinlock_exit. */
function critical(): CriticalSection & { log: string[] } {
  const log: string[] = [];
  return { log, enter: () => log.push("enter"), exit: () => log.push("exit") };
}

describe("Mutex (kern_mutex.c)", () => {
  it("records its owner and tells the witness", () => {
    const { host, witness } = kernel();
    const m = new Mutex(witness, "vm_page_queue");
    expect(m.owner).toBeNull();
    expect(m.owned()).toBe(false);
    m.lock("vm_page.c:10");
    expect(m.owner).toBe(host.td0);
    expect(m.owned()).toBe(true);
    expect(witness.heldBy()).toEqual([{ name: "vm_page_queue", where: "vm_page.c:10" }]);
    m.unlock("vm_page.c:20");
    expect(m.owner).toBeNull();
    expect(witness.heldBy()).toEqual([]);
  });

  it("defaults: type = name, not recursive, not DUPOK; options override", () => {
    const { witness } = kernel();
    const m = new Mutex(witness, "pmap 0x1000");
    expect([m.type, m.recursive, m.dupok, m.lockClass]).toEqual(["pmap 0x1000", false, false, "sleep mutex"]);
    const n = new Mutex(witness, "pmap 0x2000", { type: "pmap", recursive: true, dupok: true });
    expect([n.type, n.recursive, n.dupok]).toEqual(["pmap", true, true]);
  });

  it("recursion on a non-recursive mutex panics with FreeBSD's text", () => {
    const { host, witness } = kernel();
    const m = new Mutex(witness, "vm_object");
    m.lock("vm_fault.c:1");
    expect(() => m.lock("vm_fault.c:2")).toThrow(KernelPanic);
    expect(host.panics).toEqual(["_mtx_lock_sleep: recursed on non-recursive mutex vm_object @ vm_fault.c:2"]);
  });

  it("the panic is a KernelPanic whose message starts with 'panic: '", () => {
    const { witness } = kernel();
    const m = new Mutex(witness, "m");
    m.lock("a");
    let caught: unknown;
    try {
      m.lock("b");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(KernelPanic);
    expect((caught as KernelPanic).message).toBe("panic: _mtx_lock_sleep: recursed on non-recursive mutex m @ b");
    expect((caught as KernelPanic).panicMessage).toBe("_mtx_lock_sleep: recursed on non-recursive mutex m @ b");
  });

  it("a recursive mutex counts recursion and is released by the last unlock", () => {
    const { witness } = kernel();
    const m = new Mutex(witness, "Giant", { recursive: true });
    m.lock("1");
    m.lock("2");
    m.lock("3");
    expect(m.recursion).toBe(2);
    expect(witness.heldBy()).toHaveLength(1); // the witness sees the first acquisition only
    m.unlock("3");
    expect(m.recursion).toBe(1);
    m.unlock("2");
    expect(m.recursion).toBe(0);
    expect(m.owned()).toBe(true);
    m.unlock("1");
    expect(m.owner).toBeNull();
    expect(witness.heldBy()).toEqual([]);
  });

  it("unlock when not the owner panics", () => {
    const { host, witness } = kernel();
    const m = new Mutex(witness, "m");
    expect(() => m.unlock("x.c:5")).toThrow("panic: mutex m not owned at x.c:5");
    m.lock("x.c:6");
    host.current = host.td1;
    expect(() => m.unlock("x.c:7")).toThrow("panic: mutex m not owned at x.c:7");
    expect(host.panics).toEqual(["mutex m not owned at x.c:5", "mutex m not owned at x.c:7"]);
  });

  it("assertLocked / assertUnlocked (mtx_assert MA_OWNED / MA_NOTOWNED)", () => {
    const { host, witness } = kernel();
    const m = new Mutex(witness, "pv_list");
    m.assertUnlocked("p:1");
    expect(() => m.assertLocked("p:2")).toThrow("panic: mutex pv_list not owned at p:2");
    m.lock("p:3");
    m.assertLocked("p:4");
    expect(() => m.assertUnlocked("p:5")).toThrow("panic: mutex pv_list owned at p:5");
    // Owned by td0 is "not owned" for td1.
    host.current = host.td1;
    m.assertUnlocked("p:6");
    expect(() => m.assertLocked("p:7")).toThrow("panic: mutex pv_list not owned at p:7");
    expect(host.panics).toEqual([
      "mutex pv_list not owned at p:2",
      "mutex pv_list owned at p:5",
      "mutex pv_list not owned at p:7",
    ]);
  });

  it("taking a mutex another thread owns panics (we interrupted the owner)", () => {
    const { host, witness } = kernel();
    const m = new Mutex(witness, "vm_page_queue");
    m.lock("pageout.c:1");
    host.current = host.td1;
    expect(() => m.lock("intr.c:2")).toThrow(
      "panic: _mtx_lock_sleep: vm_page_queue is held by a thread this path interrupted @ intr.c:2",
    );
    expect(m.owner).toBe(host.td0);
  });

  it("tryLock: true when free or recursively owned, false when another thread owns it", () => {
    const { host, witness } = kernel();
    const m = new Mutex(witness, "m");
    const r = new Mutex(witness, "r", { recursive: true });
    expect(m.tryLock("1")).toBe(true);
    expect(m.owned()).toBe(true);
    // FreeBSD mtx_trylock on a non-recursive mutex the caller owns fails instead of recursing.
    expect(m.tryLock("1b")).toBe(false);
    expect(m.recursion).toBe(0);
    expect(r.tryLock("2")).toBe(true);
    expect(r.tryLock("3")).toBe(true);
    expect(r.recursion).toBe(1);
    host.current = host.td1;
    expect(m.tryLock("4")).toBe(false);
    expect(r.tryLock("5")).toBe(false);
    expect(host.panics).toEqual([]);
    expect(m.owner).toBe(host.td0);
  });

  it("lock order reversal between real mutexes reaches the witness", () => {
    const { witness } = kernel();
    const obj = new Mutex(witness, "vm_object");
    const pq = new Mutex(witness, "vm_page_queue");
    obj.lock("a:1");
    pq.lock("a:2");
    pq.unlock("a:3");
    obj.unlock("a:4");
    pq.lock("b:1");
    obj.lock("b:2");
    expect(witness.reports.map((r) => r.message)).toEqual([
      "lock order reversal:\n" +
        " 1st vm_page_queue (vm_page_queue) @ b:1\n" +
        " 2nd vm_object (vm_object) @ b:2\n" +
        " lock order vm_object -> vm_page_queue established at a:1 then a:2",
    ]);
  });
});

describe("SpinMutex", () => {
  it("enters the critical section on lock and exits it on unlock", () => {
    const { witness } = kernel();
    const cs = critical();
    const s = new SpinMutex(witness, "sched lock", cs);
    expect(s.lockClass).toBe("spin mutex");
    s.lock("1");
    expect(cs.log).toEqual(["enter"]);
    expect(s.owned()).toBe(true);
    s.unlock("2");
    expect(cs.log).toEqual(["enter", "exit"]);
    expect(s.owner).toBeNull();
  });

  it("recursion on a non-recursive spin mutex panics before entering the critical section", () => {
    const { host, witness } = kernel();
    const cs = critical();
    const s = new SpinMutex(witness, "icu", cs);
    s.lock("1");
    expect(() => s.lock("2")).toThrow("panic: _mtx_lock_spin: recursed on non-recursive mutex icu @ 2");
    expect(host.panics).toEqual(["_mtx_lock_spin: recursed on non-recursive mutex icu @ 2"]);
    expect(cs.log).toEqual(["enter"]);
  });

  it("a recursive spin mutex enters and exits once per lock/unlock", () => {
    const { witness } = kernel();
    const cs = critical();
    const s = new SpinMutex(witness, "tlb", cs, { recursive: true });
    s.lock("1");
    s.lock("2");
    expect(s.recursion).toBe(1);
    s.unlock("2");
    expect(s.owned()).toBe(true);
    s.unlock("1");
    expect(cs.log).toEqual(["enter", "enter", "exit", "exit"]);
    expect(s.owner).toBeNull();
  });

  it("a sleep mutex taken while it is held panics through the witness", () => {
    const { host, witness } = kernel();
    const s = new SpinMutex(witness, "sched lock", critical());
    const m = new Mutex(witness, "vm_object");
    s.lock("sched.c:1");
    expect(() => m.lock("vm_object.c:2")).toThrow(KernelPanic);
    expect(host.panics).toEqual([
      "acquiring blockable sleep lock with spinlock or critical section held (sleep mutex) vm_object @ vm_object.c:2",
    ]);
  });

  it("another thread's spin mutex panics on lock", () => {
    const { host, witness } = kernel();
    const s = new SpinMutex(witness, "icu", critical());
    s.lock("1");
    host.current = host.td1;
    expect(() => s.lock("2")).toThrow("panic: _mtx_lock_sleep: icu is held by a thread this path interrupted @ 2");
  });
});

describe("RwLock (kern_rwlock.c)", () => {
  it("write lock records the writer and tells the witness", () => {
    const { host, witness } = kernel();
    const rw = new RwLock(witness, "vm_map");
    expect(rw.lockClass).toBe("rw");
    rw.wlock("map.c:1");
    expect(rw.writer).toBe(host.td0);
    expect(rw.wowned()).toBe(true);
    expect(rw.rowned()).toBe(false);
    expect(witness.heldBy()).toEqual([{ name: "vm_map", where: "map.c:1" }]);
    rw.wunlock("map.c:2");
    expect(rw.writer).toBeNull();
    expect(witness.heldBy()).toEqual([]);
  });

  it("write recursion on a non-recursive rwlock panics with FreeBSD's text", () => {
    const { host, witness } = kernel();
    const rw = new RwLock(witness, "pvh_global");
    rw.wlock("pmap.c:1");
    expect(() => rw.wlock("pmap.c:2")).toThrow(KernelPanic);
    expect(host.panics).toEqual(["_rw_wlock_hard: recursing but non-recursive rw pvh_global @ pmap.c:2"]);
  });

  it("a recursive rwlock counts write recursion", () => {
    const { witness } = kernel();
    const rw = new RwLock(witness, "map", { recursive: true });
    rw.wlock("1");
    rw.wlock("2");
    expect(rw.writerRecursion).toBe(1);
    rw.wunlock("2");
    expect(rw.wowned()).toBe(true);
    rw.wunlock("1");
    expect(rw.writer).toBeNull();
    expect(witness.heldBy()).toEqual([]);
  });

  it("read recursion is allowed; the witness sees the first read lock only", () => {
    const { host, witness } = kernel();
    const rw = new RwLock(witness, "vm_map");
    rw.rlock("1");
    rw.rlock("2");
    expect(rw.rowned()).toBe(true);
    expect(witness.heldBy()).toEqual([{ name: "vm_map", where: "1" }]);
    rw.runlock("3");
    expect(rw.rowned()).toBe(true);
    rw.runlock("4");
    expect(rw.rowned()).toBe(false);
    expect(witness.heldBy()).toEqual([]);
    expect(() => rw.runlock("5")).toThrow("panic: Lock vm_map not read locked @ 5");
    expect(host.panics).toEqual(["Lock vm_map not read locked @ 5"]);
  });

  it("many threads may read at once", () => {
    const { host, witness } = kernel();
    const rw = new RwLock(witness, "vm_map");
    rw.rlock("td0");
    host.current = host.td1;
    rw.rlock("td1");
    expect(rw.rowned()).toBe(true);
    rw.runlock("td1");
    host.current = host.td0;
    expect(rw.rowned()).toBe(true);
    expect(host.panics).toEqual([]);
  });

  it("read lock while holding the write lock panics", () => {
    const { witness } = kernel();
    const rw = new RwLock(witness, "m");
    rw.wlock("1");
    expect(() => rw.rlock("2")).toThrow("panic: rw_rlock: wlock already held for m @ 2");
  });

  it("write lock while holding a read lock panics", () => {
    const { witness } = kernel();
    const rw = new RwLock(witness, "m");
    rw.rlock("1");
    expect(() => rw.wlock("2")).toThrow("panic: rw_wlock: m read-held by the current thread @ 2");
  });

  it("a lock another thread holds panics: read vs. writer, writer vs. reader or writer", () => {
    const { host, witness } = kernel();
    const w = new RwLock(witness, "w");
    const r = new RwLock(witness, "r");
    w.wlock("a");
    r.rlock("b");
    host.current = host.td1;
    expect(() => w.rlock("c")).toThrow("panic: rw_rlock: w is write-held by a thread this path interrupted @ c");
    expect(() => w.wlock("d")).toThrow("panic: _rw_wlock_hard: w is held by a thread this path interrupted @ d");
    expect(() => r.wlock("e")).toThrow("panic: _rw_wlock_hard: r is held by a thread this path interrupted @ e");
    expect(() => w.wunlock("f")).toThrow("panic: Lock w not exclusively locked @ f");
    expect(host.panics).toHaveLength(4);
  });

  it("assertWlocked / assertLocked / assertUnlocked (rw_assert)", () => {
    const { host, witness } = kernel();
    const rw = new RwLock(witness, "vm_map");
    rw.assertUnlocked("1");
    expect(() => rw.assertLocked("2")).toThrow("panic: Lock vm_map not locked @ 2");
    expect(() => rw.assertWlocked("3")).toThrow("panic: Lock vm_map not exclusively locked @ 3");
    rw.rlock("4");
    rw.assertLocked("5");
    expect(() => rw.assertWlocked("6")).toThrow("panic: Lock vm_map not exclusively locked @ 6");
    expect(() => rw.assertUnlocked("7")).toThrow("panic: Lock vm_map locked @ 7");
    rw.runlock("8");
    rw.wlock("9");
    rw.assertWlocked("10");
    rw.assertLocked("11");
    expect(() => rw.assertUnlocked("12")).toThrow("panic: Lock vm_map locked @ 12");
    host.current = host.td1;
    rw.assertUnlocked("13");
    expect(host.panics).toEqual([
      "Lock vm_map not locked @ 2",
      "Lock vm_map not exclusively locked @ 3",
      "Lock vm_map not exclusively locked @ 6",
      "Lock vm_map locked @ 7",
      "Lock vm_map locked @ 12",
    ]);
  });

  it("read locks take part in lock order checking", () => {
    const { witness } = kernel();
    const map = new RwLock(witness, "vm_map");
    const obj = new Mutex(witness, "vm_object");
    map.rlock("a:1");
    obj.lock("a:2");
    obj.unlock("a:3");
    map.runlock("a:4");
    obj.lock("b:1");
    map.rlock("b:2");
    expect(witness.reports.map((r) => [r.kind, r.first.name, r.second.name, r.established])).toEqual([
      ["reversal", "vm_object", "vm_map", "a:1 then a:2"],
    ]);
  });
});
