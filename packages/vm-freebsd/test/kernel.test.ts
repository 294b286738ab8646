/**
 * Whole systems: files, swap and SysV shared memory through the real kernel's syscalls, disk and
 * swap devices (completion interrupts at IPL_BIO on a CPU the PRNG picks), on every machine and
 * pmap, every layer audited after every operation.
 */
import {
  IPC_CREAT,
  IPC_PRIVATE,
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_INVALIDATE,
  MS_SYNC,
  O_CREAT,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  SHM_LOCK,
  SignalError,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { boot, MACHINES, PMAPS } from "./systems.js";

const RW = PROT_READ | PROT_WRITE;
const P = PAGE_SIZE;

describe.each(PMAPS)("kernel files, swap and shm: pmap %s × FreeBSD VM", (_pmapName, pmap) => {
  it.each(MACHINES)("on %s", (_name, machine) => {
    const sys = boot(machine, pmap(), { cpus: 2, memoryMiB: 16 });
    const bytes = new Uint8Array(3 * P);
    for (let i = 0; i < 3; i++) bytes[i * P] = 0x30 + i;
    sys.fs.writeFile("/f", bytes);
    const p = sys.spawn();
    const fd = p.open("/f", O_RDWR);
    const sh = p.mmap(0, 3 * P, RW, MAP_SHARED, fd, 0);
    const pr = p.mmap(0, 3 * P, RW, MAP_PRIVATE, fd, 0);
    expect([p.load8(sh), p.load8(sh + P), p.load8(pr + 2 * P)]).toEqual([0x30, 0x31, 0x32]);
    // write(2) is seen at once by both mappings (the private one has not written that page).
    const buf = p.mmap(0, P, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    p.store8(buf, 0x77);
    expect(p.write(fd, buf, 1)).toBe(1);
    expect([p.load8(sh), p.load8(pr)]).toEqual([0x77, 0x77]);
    p.store8(pr, 0x11);
    p.store8(sh + P, 0x22);
    expect(p.load8(pr)).toBe(0x11);
    expect(p.load8(sh)).toBe(0x77);
    p.msync(sh, 3 * P, MS_SYNC | MS_INVALIDATE);
    expect(sys.fs.readFile("/f")[P]).toBe(0x22);
    // Past EOF: SIGBUS.
    const big = p.mmap(0, 8 * P, RW, MAP_SHARED, fd, 0);
    let sig: unknown;
    try {
      p.load8(big + 5 * P);
    } catch (e) {
      sig = e;
    }
    expect(sig).toBeInstanceOf(SignalError);
    expect((sig as SignalError).signal).toBe("SIGBUS");
    // A child shares the shared mapping.
    const c = p.fork();
    c.store8(sh + 2 * P, 0x55);
    expect(p.load8(sh + 2 * P)).toBe(0x55);
    c.exit(0);
    p.wait();
    // SysV shm, locked.
    const id = p.shmget(IPC_PRIVATE, 2 * P, IPC_CREAT | 0o600);
    const at = p.shmat(id, 0, 0);
    p.store8(at + P, 9);
    p.shmctl(id, SHM_LOCK);
    expect(p.load8(at + P)).toBe(9);
    // Memory pressure: anonymous memory goes to swap and comes back.
    const anon = p.mmap(0, 256 * P, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < 256; i++) p.store8(anon + i * P, i & 0xff);
    // Ask for more than is free: the kernel wakes the daemon at v_free_min and sleeps on it.
    sys.memoryPressure(sys.vm.freePages + 64);
    sys.runPagedaemon();
    sys.memoryPressure(0);
    expect(sys.stats()["vm.swapout"]).toBeGreaterThan(0);
    for (let i = 0; i < 256; i++) expect(p.load8(anon + i * P)).toBe(i & 0xff);
    const open = p.open("/g", O_RDWR | O_CREAT);
    expect(open).toBeGreaterThanOrEqual(0);
    p.exit(0);
    sys.audit();
    expect(sys.panicked).toBeUndefined();
  });
});
