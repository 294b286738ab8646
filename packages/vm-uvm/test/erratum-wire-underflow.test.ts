/**
 * Erratum netbsd-2019-wire-underflow (seed 004) in UVM's falling edge: the mechanism, and the
 * conformance harness catching it without the dedicated reproducer.
 */
import { type PropertyDef, runOptions, vmProperty } from "@vmlab/conformance";
import { InvariantViolation, IPC_CREAT, IPC_PRIVATE, KernelPanic, PAGE_SIZE, SHM_LOCK, SHM_UNLOCK } from "@vmlab/core";
import { i386Pae } from "@vmlab/hw-i386";
import { createSystem, type System } from "@vmlab/kernel";
import { cranorPmap } from "@vmlab/pmap-cranor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { uvm } from "../src/index.js";
import { WIRE_UNDERFLOW } from "../src/uvm_map.js";

const P = PAGE_SIZE;
const PANIC = 'panic: kernel diagnostic assertion "pg->wire_count != 0" failed';

function boot(on: boolean, extra: ReturnType<typeof runOptions> = {}): System {
  return createSystem({
    machine: i386Pae({ memoryMiB: 16, cpus: 1 }),
    pmap: cranorPmap(),
    vm: uvm(),
    seed: 1,
    ...extra,
    errata: on ? [WIRE_UNDERFLOW] : [],
  });
}

/** shmget + shmat + SHM_LOCK + mlock + munlock in one process: the page's wire count afterwards. */
function lockThenMunlock(sys: System) {
  const p = sys.spawn();
  const id = p.shmget(IPC_PRIVATE, P, IPC_CREAT | 0o600);
  const a = p.shmat(id, 0, 0);
  p.writeBytes(a, new Uint8Array([7]));
  p.shmctl(id, SHM_LOCK);
  p.mlock(a, P);
  p.mlock(a, P);
  p.munlock(a, P);
  return { p, id, a };
}

describe("netbsd-2019-wire-underflow: the falling edge", () => {
  it("off: munlock leaves SHM_LOCK's wiring; SHM_UNLOCK releases it; audits clean", () => {
    const sys = boot(false);
    const { p, id } = lockThenMunlock(sys);
    sys.audit();
    p.shmctl(id, SHM_UNLOCK);
    sys.audit();
  });

  it("on: munlock also releases SHM_LOCK's wiring — the audit sees a page below its wirings", () => {
    const sys = boot(true);
    lockThenMunlock(sys);
    expect(() => sys.audit()).toThrow(InvariantViolation);
  });

  it("on: SHM_UNLOCK then unwires a page at wire_count 0 — uvm_pageunwire's KASSERT", () => {
    const sys = boot(true);
    const { p, id } = lockThenMunlock(sys);
    let err: unknown;
    try {
      p.shmctl(id, SHM_UNLOCK);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelPanic);
    expect((err as KernelPanic).message.startsWith(PANIC)).toBe(true);
  });

  it("on: no SHM_LOCK, no effect — plain nested mlock/munlock and I/O into locked memory stay balanced", () => {
    const sys = boot(true);
    const p = sys.spawn();
    const id = p.shmget(IPC_PRIVATE, 2 * P, IPC_CREAT | 0o600);
    const a = p.shmat(id, 0, 0);
    sys.fs.writeFile("/f", new Uint8Array(2 * P).fill(3));
    const fd = p.open("/f", 2);
    p.mlock(a, 2 * P);
    p.mlock(a + P, P);
    p.read(fd, a, 2 * P);
    p.munlock(a, 2 * P);
    sys.audit();
  });
});

/**
 * A conformance property mixing the three wiring sources of the seed — mlock/munlock over
 * overlapping ranges, read(2) into locked buffers (vslock), SysV shm with SHM_LOCK — with the
 * harness's audit after every command. No existing PROPERTIES entry mixes shmctl with mlock.
 */
const WIRING_SHM: PropertyDef = {
  name: "model: wiring with SysV shm and I/O",
  description: "mlock/munlock over SysV segments that are SHM_LOCK'ed, read(2) into them, fork and exit",
  files: true,
  seeded: true,
  mix: { shmget: 1, shmat: 3, shmctl: 4, mlock: 4, munlock: 4, fileRead: 1, store: 1, fork: 1 },
};

function check(on: boolean) {
  const factory = (run?: Parameters<typeof runOptions>[0]) => boot(on, runOptions(run));
  return fc.check(vmProperty(factory, WIRING_SHM, 60), { numRuns: 150, seed: 4 });
}

describe("netbsd-2019-wire-underflow: the conformance harness catches it", () => {
  it("on (i386-PAE/cranor/uvm): the wiring × SysV shm property fails (audit or uvm_pageunwire panic)", {
    timeout: 120_000,
  }, () => {
    const r = check(true);
    expect(r.failed).toBe(true);
    expect(String(r.errorInstance ?? "")).toMatch(/wire|uvm_pageunwire|pg->wire_count/);
  });

  it("off: the same property, same seed, passes", { timeout: 120_000 }, () => {
    const r = check(false);
    expect(r.failed, r.failed ? String(r.errorInstance) : "").toBe(false);
  });
});
