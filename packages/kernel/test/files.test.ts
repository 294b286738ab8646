import {
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_INVALIDATE,
  MS_SYNC,
  O_APPEND,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { Kernel } from "../src/kernel.js";
import { errno, pattern, signal } from "./helpers.js";
import { boot, MACHINES } from "./systems.js";

const RW = PROT_READ | PROT_WRITE;

describe.each(MACHINES)("files on %s", (_name, machine) => {
  it("writeFile/readFile round-trip through the cache and the disk", () => {
    const sys = boot(machine);
    const data = pattern(3 * PAGE_SIZE + 123, 1);
    sys.fs.writeFile("/data/a", data);
    expect(sys.fs.readFile("/data/a")).toEqual(data);
    expect(sys.fs.stat("/data/a")).toMatchObject({ type: "file", size: data.length, blocks: 4 });
    expect(sys.fs.readdir("/")).toEqual(["data"]);
    // The bytes are on the disk: writeFile synced them (the disk saw 4 block writes).
    expect(sys.stats()["disk.wd0.write"]).toBe(4);
    sys.audit();
  });

  it("file system errors name the call and the errno", () => {
    const sys = boot(machine);
    expect(errno(() => sys.fs.readFile("/nope"))).toBe("ENOENT");
    expect(errno(() => sys.fs.readFile("relative"))).toBe("EINVAL");
    sys.fs.mkdir("/d");
    expect(errno(() => sys.fs.mkdir("/d"))).toBe("EEXIST");
    expect(errno(() => sys.fs.readFile("/d"))).toBe("EISDIR");
    expect(errno(() => sys.fs.mkdir("/x/y"))).toBe("ENOENT");
  });

  it("open/read/write/lseek/ftruncate/close with BSD errnos", () => {
    const sys = boot(machine);
    const p = sys.spawn();
    const buf = p.mmap(0, 2 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    expect(errno(() => p.open("/f", O_RDONLY))).toBe("ENOENT");
    const fd = p.open("/f", O_RDWR | O_CREAT);
    expect(errno(() => p.open("/f", O_RDWR | O_CREAT | O_EXCL))).toBe("EEXIST");
    expect(errno(() => p.open("/f", 3))).toBe("EINVAL");
    p.writeBytes(buf, new TextEncoder().encode("hello, world"));
    expect(p.write(fd, buf, 12)).toBe(12);
    expect(p.lseek(fd, 0, SEEK_CUR)).toBe(12);
    expect(p.lseek(fd, -5, SEEK_END)).toBe(7);
    expect(p.read(fd, buf + 100, 100)).toBe(5);
    expect(new TextDecoder().decode(p.readBytes(buf + 100, 5))).toBe("world");
    expect(p.read(fd, buf, 10)).toBe(0); // at EOF
    expect(errno(() => p.lseek(fd, -1, SEEK_SET))).toBe("EINVAL");
    expect(errno(() => p.lseek(fd, 0, 7))).toBe("EINVAL");
    expect(errno(() => p.read(fd, buf, -1))).toBe("EINVAL");
    p.ftruncate(fd, 5);
    expect(new TextDecoder().decode(sys.fs.readFile("/f"))).toBe("hello");
    p.close(fd);
    expect(errno(() => p.close(fd))).toBe("EBADF");
    expect(errno(() => p.read(fd, buf, 1))).toBe("EBADF");
    const ro = p.open("/f", O_RDONLY);
    expect(errno(() => p.write(ro, buf, 1))).toBe("EBADF");
    expect(errno(() => p.ftruncate(ro, 0))).toBe("EINVAL");
    const wo = p.open("/f", O_WRONLY | O_APPEND);
    expect(errno(() => p.read(wo, buf, 1))).toBe("EBADF");
    p.writeBytes(buf, new TextEncoder().encode("!!"));
    p.write(wo, buf, 2);
    expect(new TextDecoder().decode(sys.fs.readFile("/f"))).toBe("hello!!");
    p.open("/f", O_WRONLY | O_TRUNC);
    expect(sys.fs.stat("/f").size).toBe(0);
    sys.audit();
  });

  it("read() into memory that is not mapped writable is EFAULT", () => {
    const sys = boot(machine);
    sys.fs.writeFile("/f", pattern(PAGE_SIZE, 2));
    const p = sys.spawn();
    const fd = p.open("/f", O_RDONLY);
    const ro = p.mmap(0, PAGE_SIZE, PROT_READ, MAP_ANON | MAP_PRIVATE, -1, 0);
    expect(errno(() => p.read(fd, ro, 10))).toBe("EFAULT");
    expect(errno(() => p.read(fd, sys.layout.userMax - 4, 10))).toBe("EFAULT");
    sys.audit();
  });

  it("read() wires the user buffer transiently until after the disk completion", () => {
    const sys = boot(machine);
    const data = pattern(2 * PAGE_SIZE, 3);
    sys.fs.writeFile("/f", data);
    const p = sys.spawn();
    const buf = p.mmap(0, 2 * PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    // Drop the file's cached pages so read() has to go to the disk.
    const m = p.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_SHARED, p.open("/f", O_RDONLY), 0);
    p.msync(m, 2 * PAGE_SIZE, MS_SYNC | MS_INVALIDATE);
    p.munmap(m, 2 * PAGE_SIZE);
    // Touch the buffer first: its page tables (wired by the pmap or the VM) are not the read's.
    p.store8(buf, 0);
    p.store8(buf + PAGE_SIZE, 0);
    const wiredBefore = sys.stats()["vm.page.wired"];
    const since = sys.trace().at(-1)?.seq ?? 0;
    const fd = p.open("/f", O_RDONLY);
    expect(p.read(fd, buf, 2 * PAGE_SIZE)).toBe(2 * PAGE_SIZE);
    expect(p.readBytes(buf, 2 * PAGE_SIZE)).toEqual(data);
    expect(sys.stats()["vm.page.wired"]).toBe(wiredBefore);
    const ev = sys
      .trace({ sinceSeq: since + 1 })
      .filter((e) => e.name === "vslock" || e.name === "vsunlock" || e.name === "biodone");
    const names = ev.map((e) => e.name);
    expect(names[0]).toBe("vslock");
    expect(names.at(-1)).toBe("vsunlock");
    expect(names.filter((n) => n === "biodone").length).toBeGreaterThanOrEqual(2);
    expect(ev.filter((e) => e.name === "biodone").every((e) => e.depth >= 1)).toBe(true);
    sys.audit();
  });

  it("MAP_SHARED is coherent between two processes, read() and write()", () => {
    const sys = boot(machine);
    sys.fs.writeFile("/s", new Uint8Array(2 * PAGE_SIZE));
    const a = sys.spawn();
    const b = sys.spawn();
    const fa = a.open("/s", O_RDWR);
    const fb = b.open("/s", O_RDWR);
    const ma = a.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, fa, 0);
    const mb = b.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, fb, 0);
    a.store32(ma + PAGE_SIZE + 8, 0xfeedface);
    expect(b.load32(mb + PAGE_SIZE + 8)).toBe(0xfeedface);
    // read() sees the mapped store.
    const buf = b.mmap(0, PAGE_SIZE, RW, MAP_ANON | MAP_PRIVATE, -1, 0);
    b.lseek(fb, PAGE_SIZE + 8, SEEK_SET);
    expect(b.read(fb, buf, 4)).toBe(4);
    expect(b.load32(buf)).toBe(0xfeedface);
    // write() is seen by both mappings.
    b.store32(buf, 0x12345678);
    b.lseek(fb, 16, SEEK_SET);
    b.write(fb, buf, 4);
    expect(a.load32(ma + 16)).toBe(0x12345678);
    expect(b.load32(mb + 16)).toBe(0x12345678);
    // msync writes the mapped page back: the file's bytes on disk include it.
    a.msync(ma, 2 * PAGE_SIZE, MS_SYNC);
    const k = sys as unknown as Kernel;
    const blk = k.fs.bmap(k.fs.lookup("t", "/s") as never, 1, false);
    expect(new DataView(k.disk.readBlock(blk).buffer).getUint32(8, true)).toBe(0xfeedface);
    sys.audit();
  });

  it("MAP_PRIVATE file mappings copy on write and leave the file alone", () => {
    const sys = boot(machine);
    const data = pattern(2 * PAGE_SIZE, 4);
    const [b0 = 0, b1 = 0] = data;
    sys.fs.writeFile("/p", data);
    const p = sys.spawn();
    const fd = p.open("/p", O_RDWR);
    const priv = p.mmap(0, 2 * PAGE_SIZE, RW, MAP_PRIVATE, fd, 0);
    const shared = p.mmap(0, 2 * PAGE_SIZE, RW, MAP_SHARED, fd, 0);
    expect(p.readBytes(priv, 2 * PAGE_SIZE)).toEqual(data);
    p.store8(priv, b0 ^ 0xff);
    expect(p.load8(priv)).toBe(b0 ^ 0xff);
    expect(p.load8(shared)).toBe(b0);
    expect(sys.fs.readFile("/p")).toEqual(data);
    // The page not yet written still shows the file: a store through the shared mapping is seen.
    p.store8(shared + PAGE_SIZE, 0x5a);
    expect(p.load8(priv + PAGE_SIZE)).toBe(0x5a);
    // ... and the copied page does not.
    p.store8(shared + 1, 0x77);
    expect(p.load8(priv + 1)).toBe(b1);
    // A forked child gets its own copy of the private page.
    const c = p.fork();
    c.store8(priv, 1);
    expect(p.load8(priv)).toBe(b0 ^ 0xff);
    sys.audit();
  });

  it("access past the end of the file is SIGBUS; the partial last page reads zero past EOF", () => {
    const sys = boot(machine);
    sys.fs.writeFile("/e", pattern(PAGE_SIZE + 100, 5));
    const p = sys.spawn();
    const fd = p.open("/e", O_RDWR);
    const m = p.mmap(0, 4 * PAGE_SIZE, RW, MAP_SHARED, fd, 0);
    expect(p.load8(m + PAGE_SIZE + 99)).toBe(pattern(PAGE_SIZE + 100, 5)[PAGE_SIZE + 99]);
    expect(p.load8(m + PAGE_SIZE + 100)).toBe(0);
    const e = signal(() => p.load8(m + 2 * PAGE_SIZE));
    expect(e.signal).toBe("SIGBUS");
    expect(e.addr).toBe(m + 2 * PAGE_SIZE);
    // Growing the file makes the page exist (zero-filled).
    p.ftruncate(fd, 3 * PAGE_SIZE);
    expect(p.load8(m + 2 * PAGE_SIZE)).toBe(0);
    // Shrinking it takes mapped pages away again.
    p.store8(m + 2 * PAGE_SIZE, 9);
    p.ftruncate(fd, PAGE_SIZE);
    expect(signal(() => p.load8(m + PAGE_SIZE)).signal).toBe("SIGBUS");
    expect(signal(() => p.load8(m + 2 * PAGE_SIZE)).signal).toBe("SIGBUS");
    p.ftruncate(fd, 3 * PAGE_SIZE);
    expect(p.load8(m + 2 * PAGE_SIZE)).toBe(0);
    sys.audit();
  });

  it("msync MS_INVALIDATE makes the next access read the file again", () => {
    const sys = boot(machine);
    sys.fs.writeFile("/i", pattern(PAGE_SIZE, 6));
    const p = sys.spawn();
    const fd = p.open("/i", O_RDWR);
    const m = p.mmap(0, PAGE_SIZE, RW, MAP_SHARED, fd, 0);
    p.store32(m, 0xabcdef01);
    p.msync(m, PAGE_SIZE, MS_SYNC | MS_INVALIDATE);
    const reads = sys.stats()["disk.wd0.read"] ?? 0;
    expect(p.load32(m)).toBe(0xabcdef01);
    expect(sys.stats()["disk.wd0.read"]).toBe(reads + 1);
    sys.audit();
  });

  it("mmap of files checks the descriptor as NetBSD does", () => {
    const sys = boot(machine);
    sys.fs.writeFile("/r", pattern(PAGE_SIZE, 7));
    sys.fs.mkdir("/dir");
    const p = sys.spawn();
    const ro = p.open("/r", O_RDONLY);
    const wo = p.open("/r", O_WRONLY);
    const dir = p.open("/dir", O_RDONLY);
    expect(errno(() => p.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, 42, 0))).toBe("EBADF");
    expect(errno(() => p.mmap(0, PAGE_SIZE, RW, MAP_SHARED, ro, 0))).toBe("EACCES");
    expect(errno(() => p.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, wo, 0))).toBe("EACCES");
    expect(errno(() => p.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, dir, 0))).toBe("ENODEV");
    expect(errno(() => p.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, ro, 100))).toBe("EINVAL");
    // A read-only shared mapping cannot be made writable later; a private one can.
    const m = p.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, ro, 0);
    expect(errno(() => p.mprotect(m, PAGE_SIZE, RW))).toBe("EACCES");
    const q = p.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, ro, 0);
    p.mprotect(q, PAGE_SIZE, RW);
    p.store8(q, 1);
    expect(sys.fs.readFile("/r")[0]).toBe(pattern(PAGE_SIZE, 7)[0]);
    sys.audit();
  });
});
