/**
 * The file system: a directory tree in memory (the MFS/tmpfs part) whose file data lives on a
 * simulated disk (the ffs part): VOP_BMAP/balloc map file pages to disk blocks from a free-block
 * bitmap, VOP_STRATEGY turns a page transfer into a disk request, truncation frees blocks. All file
 * data reaches user processes through the VM layer's object for the file (the merged cache,
 * docs/decisions/0007): readFile/writeFile below go through vnodeRdwr like read(2)/write(2) do.
 */
import {
  type ErrnoName,
  type IoDone,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  MS_SYNC,
  type PAddr,
  PAGE_SIZE,
  SyscallError,
} from "@vmlab/core";
import type { Disk } from "../dev/disk.js";
import type { Kernel } from "../kernel.js";
import type { Proc } from "../proc.js";
import { Inode, NO_BLOCK } from "./inode.js";

/** What `sys.fs` offers (API.md: writeFile/readFile/mkdir, plus what a test needs to look). */
export interface FileSystemApi {
  /** Create or replace a file with these bytes (missing parent directories are created). */
  writeFile(path: string, bytes: Uint8Array): void;
  /** The file's bytes as processes see them now (through the cache). */
  readFile(path: string): Uint8Array;
  mkdir(path: string): void;
  exists(path: string): boolean;
  stat(path: string): { ino: number; type: "file" | "dir"; size: number; blocks: number };
  readdir(path: string): string[];
  /** Disk blocks in use and in total. */
  readonly usage: { used: number; total: number };
}

const MAX_NAME = 255;

function fail(call: string, code: ErrnoName, detail?: string): never {
  throw new SyscallError(call, code, detail);
}

export class FileSystem implements FileSystemApi {
  readonly root: Inode;
  private nextIno = 2;
  /** Free-block bitmap (1 = in use). */
  private readonly used: Uint8Array;
  private usedCount = 0;
  private rotor = 0;

  constructor(
    private readonly k: Kernel,
    readonly disk: Disk,
  ) {
    this.root = new Inode(this.nextIno++, "dir");
    this.used = new Uint8Array(disk.nblocks);
  }

  get usage(): { used: number; total: number } {
    return { used: this.usedCount, total: this.disk.nblocks };
  }

  // ---------------------------------------------------------------- names

  /** namei: split an absolute path into components (EINVAL for relative or empty paths). */
  private components(call: string, path: string): string[] {
    if (typeof path !== "string" || !path.startsWith("/"))
      fail(call, "EINVAL", `path ${JSON.stringify(path)} is not absolute`);
    const parts = path.split("/").filter((c) => c !== "" && c !== ".");
    for (const c of parts) {
      if (c === "..") fail(call, "EINVAL", "'..' is not supported");
      if (c.length > MAX_NAME) fail(call, "ENAMETOOLONG", c.slice(0, 16));
    }
    return parts;
  }

  /** namei(LOOKUP): the inode at path, or undefined when the last component is missing. */
  lookup(call: string, path: string): Inode | undefined {
    const parts = this.components(call, path);
    let ip = this.root;
    for (let i = 0; i < parts.length; i++) {
      if (!ip.entries) fail(call, "ENOTDIR", parts.slice(0, i).join("/"));
      const next = ip.entries.get(parts[i] as string);
      if (!next) {
        if (i < parts.length - 1) fail(call, "ENOENT", `/${parts.slice(0, i + 1).join("/")}`);
        return undefined;
      }
      ip = next;
    }
    return ip;
  }

  /** namei(CREATE): the directory that would hold path's last component, and that name. */
  private parentOf(call: string, path: string, makeParents: boolean): { dir: Inode; name: string } {
    const parts = this.components(call, path);
    const name = parts.pop();
    if (name === undefined) fail(call, "EISDIR", "/");
    let dir = this.root;
    for (const c of parts) {
      if (!dir.entries) fail(call, "ENOTDIR", c);
      let next = dir.entries.get(c);
      if (!next) {
        if (!makeParents) fail(call, "ENOENT", c);
        next = new Inode(this.nextIno++, "dir");
        dir.entries.set(c, next);
      }
      dir = next;
    }
    if (!dir.entries) fail(call, "ENOTDIR", parts.join("/"));
    return { dir, name };
  }

  /** ufs_create: a new empty regular file (EEXIST if the name is taken). */
  create(call: string, path: string, makeParents = false): Inode {
    const { dir, name } = this.parentOf(call, path, makeParents);
    if (dir.entries?.has(name)) fail(call, "EEXIST", path);
    const ip = new Inode(this.nextIno++, "file");
    dir.entries?.set(name, ip);
    return ip;
  }

  mkdir(path: string): void {
    this.k.guard();
    const { dir, name } = this.parentOf("mkdir", path, false);
    if (dir.entries?.has(name)) fail("mkdir", "EEXIST", path);
    dir.entries?.set(name, new Inode(this.nextIno++, "dir"));
  }

  exists(path: string): boolean {
    try {
      return this.lookup("stat", path) !== undefined;
    } catch (e) {
      if (e instanceof SyscallError) return false;
      throw e;
    }
  }

  stat(path: string): { ino: number; type: "file" | "dir"; size: number; blocks: number } {
    const ip = this.lookup("stat", path);
    if (!ip) fail("stat", "ENOENT", path);
    return { ino: ip.id, type: ip.type, size: ip.size, blocks: ip.blocks.filter((b) => b !== NO_BLOCK).length };
  }

  readdir(path: string): string[] {
    const ip = this.lookup("readdir", path);
    if (!ip) fail("readdir", "ENOENT", path);
    if (!ip.entries) fail("readdir", "ENOTDIR", path);
    return [...ip.entries.keys()].sort();
  }

  // ---------------------------------------------------------------- blocks

  /** ffs_alloc: a free block, first fit from a rotor; -1 when the disk is full. */
  private allocBlock(): number {
    const n = this.used.length;
    for (let i = 0; i < n; i++) {
      const b = (this.rotor + i) % n;
      if (this.used[b] === 0) {
        this.used[b] = 1;
        this.usedCount++;
        this.rotor = b + 1;
        return b;
      }
    }
    return -1;
  }

  private freeBlock(b: number): void {
    if (this.used[b] !== 1) this.k.services.panic(`ffs_blkfree: freeing free block ${b}`);
    this.used[b] = 0;
    this.usedCount--;
    this.disk.discard(b);
  }

  /** VOP_BMAP (and balloc when `alloc`): the disk block of file page `pindex`, NO_BLOCK for a hole. */
  bmap(ip: Inode, pindex: number, alloc: boolean): number {
    const b = ip.blocks[pindex] ?? NO_BLOCK;
    if (b !== NO_BLOCK || !alloc) return b;
    const nb = this.allocBlock();
    if (nb < 0) return NO_BLOCK;
    while (ip.blocks.length < pindex) ip.blocks.push(NO_BLOCK);
    ip.blocks[pindex] = nb;
    return nb;
  }

  /**
   * VOP_STRATEGY for a page of a file. A read of a hole completes with zeroes without touching the
   * disk (as ufs's bmap -1 does), but still by interrupt-time completion so every pager sees one
   * protocol; a write allocates the block, failing with ENOSPC (28) when the disk is full.
   */
  strategy(ip: Inode, pindex: number, pa: PAddr, write: boolean, done: IoDone): void {
    const what = `ino ${ip.id} page ${pindex}`;
    const blkno = this.bmap(ip, pindex, write);
    const bp = { write, blkno, pa, iodone: done, what };
    if (blkno !== NO_BLOCK) this.disk.strategy(bp);
    else this.disk.completeWithoutTransfer(bp, write ? ENOSPC : 0);
  }

  /** Shrink or grow a file to `size`; frees whole blocks past the end and tells the VM. */
  truncate(ip: Inode, size: number): void {
    const old = ip.size;
    ip.size = size;
    const keep = Math.ceil(size / PAGE_SIZE);
    for (let i = keep; i < ip.blocks.length; i++) {
      const b = ip.blocks[i] as number;
      if (b !== NO_BLOCK) this.freeBlock(b);
    }
    if (ip.blocks.length > keep) ip.blocks.length = keep;
    // The partial last block's tail must read as zero when the file grows again.
    if (size < old && size % PAGE_SIZE !== 0) this.zeroTail(ip, size);
    this.k.vm.vnodeSetSize(ip, old);
  }

  /** Zero the on-disk bytes of the last block past `size` (ffs_truncate's partial-block clear). */
  private zeroTail(ip: Inode, size: number): void {
    const b = ip.blocks[Math.floor(size / PAGE_SIZE)] ?? NO_BLOCK;
    if (b === NO_BLOCK) return;
    const data = this.disk.readBlock(b);
    data.fill(0, size % PAGE_SIZE);
    this.disk.writeBlockNow(b, data);
  }

  // ---------------------------------------------------------------- whole-file helpers

  writeFile(path: string, bytes: Uint8Array): void {
    this.k.guard();
    if (!(bytes instanceof Uint8Array)) fail("writeFile", "EINVAL", "data must be a Uint8Array");
    this.k.onCpu(0, () => {
      const ip =
        (this.exists(path) ? this.lookup("writeFile", path) : undefined) ?? this.create("writeFile", path, true);
      if (ip.type !== "file") fail("writeFile", "EISDIR", path);
      this.truncate(ip, 0);
      this.rdwr("writeFile", ip, 0, bytes.length, true, (pa, off, done, n) =>
        this.k.machine.memory.writeBytes(pa + off, bytes.subarray(done, done + n)),
      );
      const rv = this.k.vm.vnodeSync(ip, 0, ip.size, MS_SYNC);
      if (rv !== KERN_SUCCESS) fail("writeFile", "EIO", `vnodeSync returned ${rv}`);
    });
    this.k.afterOp();
  }

  readFile(path: string): Uint8Array {
    this.k.guard();
    return this.k.onCpu(0, () => {
      const ip = this.lookup("readFile", path);
      if (!ip) fail("readFile", "ENOENT", path);
      if (ip.type !== "file") fail("readFile", "EISDIR", path);
      const out = new Uint8Array(ip.size);
      this.rdwr("readFile", ip, 0, ip.size, false, (pa, off, done, n) =>
        out.set(this.k.machine.memory.readBytes(pa + off, n), done),
      );
      return out;
    });
  }

  /**
   * The cache transfer read(2), write(2) and the helpers share: grow the file first for a write
   * past EOF, then vnodeRdwr; out of memory kills the largest process and retries (as a page fault
   * does) — when that is the calling process `proc`, the call ends with its SIGKILL; an I/O error
   * is EIO.
   */
  rdwr(
    call: string,
    ip: Inode,
    offset: number,
    len: number,
    write: boolean,
    copy: (pa: PAddr, off: number, done: number, n: number) => void,
    proc?: Proc,
  ): void {
    if (len === 0) return;
    if (write && offset + len > ip.size) {
      const old = ip.size;
      ip.size = offset + len;
      this.k.vm.vnodeSetSize(ip, old);
    }
    for (let attempt = 0; ; attempt++) {
      const rv = this.k.vm.vnodeRdwr(ip, offset, len, write, copy);
      if (rv === KERN_SUCCESS) return;
      if (rv === KERN_RESOURCE_SHORTAGE && attempt < 8 && this.k.sched.oomKill(proc)) continue;
      fail(call, rv === KERN_RESOURCE_SHORTAGE ? "ENOMEM" : "EIO", `vnodeRdwr returned ${rv}`);
    }
  }
}

const ENOSPC = 28;
