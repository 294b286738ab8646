/** The reference model alone: files, private file pages, read/write, ftruncate, SysV shm. */
import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  SEEK_END,
  SEEK_SET,
  SHM_RDONLY,
  SHM_RND,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import { BsdModel, ModelFile } from "../src/model.js";

const P = 4096;
const RW = PROT_READ | PROT_WRITE;
const BASE = 0x1000_0000;

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

function world(nx = true): { m: BsdModel; fd: number; data: Uint8Array } {
  const m = new BsdModel({ userMin: P, userMax: 0xbfc0_0000, nx });
  m.spawn(1);
  const data = bytes(2 * P + 100, 5);
  m.createFile("/f", data);
  const r = m.open(1, "/f", O_RDWR);
  if (!r.ok) throw new Error("open");
  return { m, fd: r.value, data };
}

function ok<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`expected success, got ${r.errno}`);
  return r.value;
}

describe("ModelFile", () => {
  it("shrinking drops whole pages and zero-fills the partial page; growing adds zero pages", () => {
    const f = new ModelFile("/x", bytes(3 * P, 1));
    f.truncate(P + 10);
    expect(f.npages).toBe(2);
    expect(f.byte(P + 9)).toBe(bytes(3 * P, 1)[P + 9]);
    expect(f.byte(P + 10)).toBe(0);
    f.truncate(3 * P);
    expect(f.byte(2 * P + 5)).toBe(0);
    expect(f.size).toBe(3 * P);
  });

  it("a store past EOF in the partial page is not file data: unknown until written inside the file", () => {
    const f = new ModelFile("/x", bytes(100, 2));
    f.store(200, 7);
    expect(f.byte(200)).toBe(null);
    f.truncate(300);
    expect(f.byte(200)).toBe(null);
    f.write(
      150,
      [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
        31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
      ],
    );
    expect(f.byte(200)).toBe(51);
    expect(f.byte(120)).toBe(0);
  });
});

describe("file mappings in the model", () => {
  it("MAP_SHARED pages are the file's: stores reach read(2), write(2) reaches loads", () => {
    const { m, fd } = world();
    const a = ok(m.mmap(1, 0, 2 * P, RW, MAP_SHARED, fd, 0, BASE));
    m.write(1, a + 8, [0xaa]);
    expect(m.files.get("/f")!.byte(8)).toBe(0xaa);
    const buf = ok(m.mmap(1, 0, P, RW, MAP_ANON | MAP_PRIVATE, -1, 0, BASE + 0x10_0000));
    m.write(1, buf, [1, 2, 3, 4]);
    expect(ok(m.lseek(1, fd, P, SEEK_SET))).toBe(P);
    expect(ok(m.writeFd(1, fd, buf, 4))).toBe(4);
    expect(m.peek(1, a + P, 4)).toEqual([1, 2, 3, 4]);
  });

  it("MAP_PRIVATE pages show the file until their first write; a forked child follows the same rule", () => {
    const { m, fd, data } = world();
    const a = ok(m.mmap(1, 0, 2 * P, RW, MAP_PRIVATE, fd, 0, BASE));
    const s = ok(m.mmap(1, 0, 2 * P, RW, MAP_SHARED, fd, 0, BASE + 0x10_0000));
    m.write(1, a, [0x11]);
    m.write(1, s + 1, [0x22]);
    m.write(1, s + P, [0x33]);
    expect(m.peek(1, a, 2)).toEqual([0x11, data[1]]);
    expect(m.peek(1, a + P, 1)).toEqual([0x33]);
    m.fork(1, 2);
    m.write(2, a + P, [0x44]);
    m.write(1, s + P + 1, [0x55]);
    expect(m.peek(2, a + P, 2)).toEqual([0x44, data[P + 1]]);
    expect(m.peek(1, a + P, 2)).toEqual([0x33, 0x55]);
    expect(m.peek(2, a, 1)).toEqual([0x11]);
  });

  it("pages wholly past EOF are SIGBUS after the protection check; copied private pages survive truncation", () => {
    const { m, fd } = world();
    const a = ok(m.mmap(1, 0, 4 * P, RW, MAP_PRIVATE, fd, 0, BASE));
    expect(m.access(1, a + 2 * P + 100, 1, "read")).toMatchObject({ canSucceed: true, bytes: [0] });
    expect(m.access(1, a + 3 * P, 1, "read").faults).toEqual([
      expect.objectContaining({ signal: "SIGBUS", code: "BUS_ADRERR", addr: a + 3 * P }),
    ]);
    expect(m.access(1, a + 3 * P - 2, 4, "write")).toMatchObject({
      canSucceed: false,
      faults: [expect.objectContaining({ signal: "SIGBUS", addr: a + 3 * P })],
    });
    m.write(1, a, [9]);
    ok(m.ftruncate(1, fd, 0));
    expect(m.access(1, a, 1, "read")).toMatchObject({ canSucceed: true, bytes: [9] });
    expect(m.access(1, a + P, 1, "read").faults[0]?.signal).toBe("SIGBUS");
    ok(m.mprotect(1, a + P, P, PROT_READ));
    expect(m.access(1, a + P, 1, "write").faults[0]).toMatchObject({ signal: "SIGSEGV", code: "SEGV_ACCERR" });
  });

  it("descriptor checks: EBADF, EACCES for shared writable on a read-only fd, its maximum protection", () => {
    const { m } = world();
    const ro = ok(m.open(1, "/f", O_RDONLY));
    const wo = ok(m.open(1, "/f", O_WRONLY));
    expect(m.mmap(1, 0, P, PROT_READ, MAP_SHARED, 42, 0)).toMatchObject({ ok: false, errno: "EBADF" });
    expect(m.mmap(1, 0, P, RW, MAP_SHARED, ro, 0)).toMatchObject({ ok: false, errno: "EACCES" });
    expect(m.mmap(1, 0, P, PROT_READ, MAP_SHARED, wo, 0)).toMatchObject({ ok: false, errno: "EACCES" });
    const a = ok(m.mmap(1, 0, P, PROT_READ, MAP_SHARED, ro, 0, BASE));
    expect(m.mprotect(1, a, P, RW)).toMatchObject({ ok: false, errno: "EACCES" });
    expect(m.ftruncate(1, ro, 0)).toMatchObject({ ok: false, errno: "EINVAL" });
    expect(m.writeFd(1, ro, a, 1)).toMatchObject({ ok: false, errno: "EBADF" });
    expect(m.readFd(1, wo, a, 1)).toMatchObject({ ok: false, errno: "EBADF" });
    expect(m.lseek(1, ro, -1, SEEK_SET)).toMatchObject({ ok: false, errno: "EINVAL" });
    expect(ok(m.lseek(1, ro, 0, SEEK_END))).toBe(2 * P + 100);
  });

  it("read(2) clips at EOF, faults on a buffer it cannot write, and copies private file pages it lands on", () => {
    const { m, fd, data } = world();
    m.createFile("/g", bytes(P, 9));
    const g = ok(m.open(1, "/g", O_RDWR));
    const priv = ok(m.mmap(1, 0, 2 * P, RW, MAP_PRIVATE, g, 0, BASE));
    ok(m.lseek(1, fd, 2 * P + 90, SEEK_SET));
    expect(ok(m.readFd(1, fd, priv + 8, 64))).toBe(10);
    expect(m.peek(1, priv + 8, 10)).toEqual([...data.slice(2 * P + 90)]);
    expect(ok(m.readFd(1, fd, priv, 64))).toBe(0);
    ok(m.lseek(1, fd, 0, SEEK_SET));
    expect(m.readFd(1, fd, priv + P, 8)).toMatchObject({ ok: false, errno: "EFAULT" });
    const ro = ok(m.mmap(1, 0, P, PROT_READ, MAP_ANON | MAP_PRIVATE, -1, 0, BASE + 0x10_0000));
    expect(m.readFd(1, fd, ro, 8)).toMatchObject({ ok: false, errno: "EFAULT" });
    expect(m.writeFd(1, fd, ro, 8)).toMatchObject({ ok: true, value: 8 });
    // The page read(2) landed in is a private copy now: the file's later changes do not show.
    m.files.get("/g")!.write(8, [0xee]);
    expect(m.peek(1, priv + 8, 1)).toEqual([data[2 * P + 90]]);
  });
});

describe("SysV shared memory in the model", () => {
  it("shared across shmat and fork; IPC_RMID hides the key and the id; freed at the last detach", () => {
    const m = new BsdModel({ userMin: P, userMax: 0xbfc0_0000, nx: true });
    m.spawn(1);
    m.spawn(2);
    const id = ok(m.shmget(1, 77, 2 * P, IPC_CREAT, 5));
    expect(ok(m.shmget(2, 77, P, 0))).toBe(5);
    expect(m.shmget(2, 77, P, IPC_CREAT | IPC_EXCL)).toMatchObject({ ok: false, errno: "EEXIST" });
    expect(m.shmget(2, 77, 3 * P, 0)).toMatchObject({ ok: false, errno: "EINVAL" });
    expect(m.shmget(2, 78, P, 0)).toMatchObject({ ok: false, errno: "ENOENT" });
    const a = ok(m.shmat(1, id, 0, 0, BASE));
    const b = ok(m.shmat(2, id, BASE + 0x123, SHM_RND));
    expect(b).toBe(BASE);
    m.write(1, a + P, [3]);
    expect(m.peek(2, b + P, 1)).toEqual([3]);
    expect(m.shmat(1, id, a, 0)).toMatchObject({ ok: false, errno: "ENOMEM" });
    m.fork(1, 3);
    expect(ok(m.shmctl(1, id, IPC_STAT))?.nattch).toBe(3);
    m.exit(3, 0);
    expect(ok(m.shmctl(1, id, IPC_STAT))?.nattch).toBe(2);
    ok(m.shmctl(1, id, IPC_RMID));
    expect(m.shmget(1, 77, P, 0)).toMatchObject({ ok: false, errno: "ENOENT" });
    expect(m.shmat(1, id, 0, 0)).toMatchObject({ ok: false, errno: "EINVAL" });
    expect(m.shmctl(1, id, IPC_STAT)).toMatchObject({ ok: false, errno: "EINVAL" });
    expect(m.peek(2, b + P, 1)).toEqual([3]);
    ok(m.shmdt(1, a));
    expect(m.page(1, a)).toBeUndefined();
    expect(m.segments.has(id)).toBe(true);
    expect(m.shmdt(2, b + P)).toMatchObject({ ok: false, errno: "EINVAL" });
    ok(m.shmdt(2, b));
    expect(m.segments.has(id)).toBe(false);
    const ro = ok(m.shmget(1, IPC_PRIVATE, P, IPC_CREAT, 6));
    const r = ok(m.shmat(1, ro, 0, SHM_RDONLY, BASE + 0x20_0000));
    expect(m.access(1, r, 1, "write").faults[0]).toMatchObject({ code: "SEGV_ACCERR" });
    expect(m.mprotect(1, r, P, RW)).toMatchObject({ ok: false, errno: "EACCES" });
  });

  it("the maximum-protection check compares x86 protections: PROT_EXEC fits an RW maximum only without NX", () => {
    for (const nx of [true, false]) {
      const m = new BsdModel({ userMin: P, userMax: 0xbfc0_0000, nx });
      m.spawn(1);
      const id = ok(m.shmget(1, IPC_PRIVATE, P, IPC_CREAT, 1));
      const a = ok(m.shmat(1, id, 0, 0, BASE));
      expect(m.mprotect(1, a, P, PROT_EXEC).ok).toBe(!nx);
    }
  });
});
