import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  MAP_ANON,
  MAP_PRIVATE,
  MCL_CURRENT,
  MCL_FUTURE,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  SHM_LOCK,
  SHM_RDONLY,
  SHM_RND,
  SHM_UNLOCK,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { Proc } from "../src/proc.js";
import { errno, signal } from "./helpers.js";
import { boot, MACHINES } from "./systems.js";

describe.each(MACHINES)("SysV shared memory on %s", (_name, machine) => {
  it("a segment is shared between processes and across fork", () => {
    const sys = boot(machine);
    const a = sys.spawn();
    const b = sys.spawn();
    const id = a.shmget(1234, 3 * PAGE_SIZE, IPC_CREAT | 0o600);
    expect(b.shmget(1234, 0, 0)).toBe(id);
    const sa = a.shmat(id, 0, 0);
    const sb = b.shmat(id, 0, 0);
    expect(b.load32(sb + PAGE_SIZE)).toBe(0);
    a.store32(sa + PAGE_SIZE, 0xcafe);
    expect(b.load32(sb + PAGE_SIZE)).toBe(0xcafe);
    const c = a.fork();
    c.store32(sa + 2 * PAGE_SIZE, 7);
    expect(b.load32(sb + 2 * PAGE_SIZE)).toBe(7);
    expect(a.shmctl(id, IPC_STAT)).toMatchObject({ shm_segsz: 3 * PAGE_SIZE, shm_nattch: 3, shm_cpid: a.pid });
    c.exit(0);
    expect(a.shmctl(id, IPC_STAT)?.shm_nattch).toBe(2);
    sys.audit();
  });

  it("IPC_RMID hides the key at once and frees the segment at the last detach", () => {
    const sys = boot(machine);
    const a = sys.spawn();
    const id = a.shmget(99, PAGE_SIZE, IPC_CREAT | 0o600);
    const s = a.shmat(id, 0, 0);
    a.store8(s, 5);
    a.shmctl(id, IPC_RMID);
    expect(errno(() => a.shmget(99, PAGE_SIZE, 0))).toBe("ENOENT");
    expect(a.load8(s)).toBe(5);
    const free = sys.vm.freePages;
    a.shmdt(s);
    expect(signal(() => a.load8(s)).signal).toBe("SIGSEGV");
    expect(errno(() => a.shmat(id, 0, 0))).toBe("EINVAL");
    expect(sys.vm.freePages).toBeGreaterThan(free);
    sys.audit();
  });

  it("argument checks follow NetBSD sysv_shm.c", () => {
    const sys = boot(machine);
    const a = sys.spawn();
    expect(errno(() => a.shmget(5, PAGE_SIZE, 0))).toBe("ENOENT");
    expect(errno(() => a.shmget(IPC_PRIVATE, 0, IPC_CREAT))).toBe("EINVAL");
    const id = a.shmget(5, PAGE_SIZE, IPC_CREAT | 0o600);
    expect(errno(() => a.shmget(5, PAGE_SIZE, IPC_CREAT | IPC_EXCL))).toBe("EEXIST");
    expect(errno(() => a.shmget(5, 2 * PAGE_SIZE, 0))).toBe("EINVAL");
    expect(errno(() => a.shmat(id + 1, 0, 0))).toBe("EINVAL");
    expect(errno(() => a.shmat(id, 0x10_0001, 0))).toBe("EINVAL");
    const r = a.shmat(id, 0x20_0123, SHM_RND);
    expect(r).toBe(0x20_0000);
    // An address in use is never replaced (uvm_map without UVM_FLAG_UNMAP).
    expect(errno(() => a.shmat(id, r, 0))).toBe("ENOMEM");
    expect(errno(() => a.shmdt(r + 4))).toBe("EINVAL");
    expect(errno(() => a.shmctl(id, 99))).toBe("EINVAL");
    const ro = a.shmat(id, 0, SHM_RDONLY);
    expect(a.load8(ro)).toBe(0);
    expect(signal(() => a.store8(ro, 1)).signal).toBe("SIGSEGV");
    sys.audit();
  });

  it("SHM_LOCK wires every page of the segment; SHM_UNLOCK releases them", () => {
    const sys = boot(machine);
    const a = sys.spawn();
    const id = a.shmget(IPC_PRIVATE, 4 * PAGE_SIZE, IPC_CREAT | 0o600);
    const before = sys.vm.wiredPages;
    a.shmctl(id, SHM_LOCK);
    expect(sys.vm.wiredPages).toBe(before + 4);
    expect(a.shmctl(id, IPC_STAT)?.locked).toBe(true);
    const s = a.shmat(id, 0, 0);
    a.store8(s + 3 * PAGE_SIZE, 1);
    sys.audit();
    // Touching the mapping may have wired page-table pages; the segment's own wiring goes away.
    const locked = sys.vm.wiredPages;
    a.shmctl(id, SHM_UNLOCK);
    expect(sys.vm.wiredPages).toBe(locked - 4);
    sys.audit();
  });

  it("mlockall(MCL_FUTURE) wires a later mmap but not a later shmat (NetBSD shmat maps with uvm_map)", () => {
    const sys = boot(machine);
    const a = sys.spawn();
    const id = a.shmget(IPC_PRIVATE, 4 * PAGE_SIZE, IPC_CREAT | 0o600);
    a.mlockall(MCL_CURRENT | MCL_FUTURE);
    const space = (a as unknown as Proc).space;
    const user = () => sys.vm.userWiredPages(space);
    const m = a.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    expect(user()).toBe(2);
    const s = a.shmat(id, 0, 0);
    expect(user()).toBe(2);
    expect(sys.vm.entries(space).find((e) => e.start === s)?.wired).toBe(false);
    // munlock of the attach: not locked (ENOMEM, NetBSD t_mlock 1.8); of the mapping: fine.
    expect(errno(() => a.munlock(s, PAGE_SIZE))).toBe("ENOMEM");
    a.munlock(m, 2 * PAGE_SIZE);
    a.store8(s, 1);
    expect(a.load8(s)).toBe(1);
    sys.audit();
  });
});
