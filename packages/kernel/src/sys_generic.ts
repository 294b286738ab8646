/**
 * The file system calls (4.4BSD/NetBSD sys/kern/vfs_syscalls.c sys_open/sys_ftruncate/sys_lseek,
 * sys_generic.c sys_read/sys_write, vfs_vnops.c vn_rdwr): descriptors, open-file entries with
 * their offset (shared across fork, as in BSD), and read/write between a file and user memory
 * through the VM layer's cache. The user buffer is wired transiently for the transfer (vslock /
 * vsunlock, as physio and UBC's uiomove paths do) and unwired after the completion.
 */
import {
  type ErrnoName,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  O_ACCMODE,
  O_APPEND,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  PAGE_SIZE,
  Prot,
  roundPage,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
  SyscallError,
  truncPage,
} from "@vmlab/core";
import type { Inode } from "./fs/inode.js";
import type { Kernel } from "./kernel.js";
import type { Proc, Thread } from "./proc.js";

/** Descriptors per process (RLIMIT_NOFILE's default on the BSDs of the era). */
export const NOFILE = 64;
/** Largest file offset the model accepts (the disk is far smaller; EFBIG beyond). */
const MAX_FILE_SIZE = 2 ** 32;

/** struct file: an open file entry, shared by descriptors duplicated across fork. */
export class OpenFile {
  refs = 1;
  offset = 0;
  constructor(
    readonly ip: Inode,
    /** O_ACCMODE | O_APPEND bits the file was opened with. */
    readonly flags: number,
  ) {}

  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }

  get writable(): boolean {
    return (this.flags & O_ACCMODE) !== O_RDONLY;
  }
}

function fail(call: string, code: ErrnoName, detail?: string): never {
  throw new SyscallError(call, code, detail);
}

function intArg(call: string, v: number): number {
  if (!Number.isInteger(v)) fail(call, "EINVAL", `argument ${v} is not an integer`);
  return v;
}

/** fd_getfile: the open file behind a descriptor, EBADF if none. */
export function getfile(p: Proc, call: string, fd: number): OpenFile {
  const fp = Number.isInteger(fd) && fd >= 0 ? p.files[fd] : undefined;
  if (!fp) fail(call, "EBADF", `fd ${fd} is not open`);
  return fp;
}

export function open(k: Kernel, p: Proc, path: string, flags: number): number {
  intArg("open", flags);
  const acc = flags & O_ACCMODE;
  if (acc === O_ACCMODE) fail("open", "EINVAL", "O_ACCMODE is not a valid access mode");
  let ip = k.fs.lookup("open", path);
  if (ip && flags & O_CREAT && flags & O_EXCL) fail("open", "EEXIST", path);
  if (!ip) {
    if ((flags & O_CREAT) === 0) fail("open", "ENOENT", path);
    ip = k.fs.create("open", path);
  }
  if (ip.type === "dir" && acc !== O_RDONLY) fail("open", "EISDIR", path);
  const fd = p.files.indexOf(undefined);
  const slot = fd >= 0 ? fd : p.files.length;
  if (slot >= NOFILE) fail("open", "EMFILE", `${NOFILE} descriptors open`);
  if (flags & O_TRUNC && acc !== O_RDONLY && ip.type === "file" && ip.size > 0) k.fs.truncate(ip, 0);
  const fp = new OpenFile(ip, flags & (O_ACCMODE | O_APPEND));
  ip.opens++;
  p.files[slot] = fp;
  return slot;
}

export function close(p: Proc, fd: number): void {
  const fp = getfile(p, "close", fd);
  p.files[fd] = undefined;
  while (p.files.length > 0 && p.files[p.files.length - 1] === undefined) p.files.pop();
  release(fp);
}

/** closef: drop one reference to an open file. */
export function release(fp: OpenFile): void {
  if (--fp.refs === 0) fp.ip.opens--;
}

/** The user range a transfer touches, checked against the user address space (EFAULT). */
function userRange(k: Kernel, call: string, buf: number, n: number): { va: number; len: number } {
  intArg(call, buf);
  const va = truncPage(buf);
  const len = roundPage(buf + n) - va;
  if (buf < 0 || buf + n > k.layout.userMax || buf + n < buf) fail(call, "EFAULT", "buffer outside user space");
  return { va, len };
}

/**
 * vslock: wire the user buffer for the transfer; `access` Write for read(2) so copy-on-write is
 * resolved before data lands. EFAULT when part of it is not mapped with the right protection.
 * ENOMEM when a page cannot be had even by waiting (uvm_fault gives ENOMEM once nothing is
 * reclaimable, uvm_fault_wire and uvm_vslock pass it on, and physio returns it: nothing of the
 * transfer is done; decision 0011). The wiring the VM did is unwound.
 */
function vslock(k: Kernel, p: Proc, call: string, va: number, len: number, access: Prot): void {
  const rv = k.vm.wire(p.space, va, len, "transient", access);
  if (rv === KERN_SUCCESS) {
    k.services.trace.emit("kern", "vslock", { pid: p.pid, va, len });
    return;
  }
  fail(
    call,
    rv === KERN_RESOURCE_SHORTAGE ? "ENOMEM" : "EFAULT",
    `uvm_vslock returned ${rv}${rv === KERN_PROTECTION_FAILURE ? " (protection)" : ""}`,
  );
}

function vsunlock(k: Kernel, p: Proc, va: number, len: number): void {
  // Killed during the transfer (out of swap): its address space, and the wiring, are gone.
  if (p.state !== "running") return;
  k.vm.unwire(p.space, va, len, "transient");
  k.services.trace.emit("kern", "vsunlock", { pid: p.pid, va, len });
}

export function read(k: Kernel, td: Thread, fd: number, buf: number, nbytes: number): number {
  const p = td.proc;
  const fp = getfile(p, "read", fd);
  intArg("read", nbytes);
  if (!fp.readable) fail("read", "EBADF", `fd ${fd} is not open for reading`);
  if (fp.ip.type === "dir") fail("read", "EISDIR");
  if (nbytes < 0) fail("read", "EINVAL", "negative byte count");
  const n = Math.max(0, Math.min(nbytes, fp.ip.size - fp.offset));
  if (n === 0) return 0;
  const { va, len } = userRange(k, "read", buf, n);
  vslock(k, p, "read", va, len, Prot.Write);
  try {
    const mem = k.machine.memory;
    k.fs.rdwr(
      "read",
      fp.ip,
      fp.offset,
      n,
      false,
      (pa, off, done, cnt) => td.copyout(mem.readBytes(pa + off, cnt), buf + done),
      p,
    );
  } finally {
    vsunlock(k, p, va, len);
  }
  fp.offset += n;
  return n;
}

export function write(k: Kernel, td: Thread, fd: number, buf: number, nbytes: number): number {
  const p = td.proc;
  const fp = getfile(p, "write", fd);
  intArg("write", nbytes);
  if (!fp.writable) fail("write", "EBADF", `fd ${fd} is not open for writing`);
  if (nbytes < 0) fail("write", "EINVAL", "negative byte count");
  if (nbytes === 0) return 0;
  const ip = fp.ip;
  if (fp.flags & O_APPEND) fp.offset = ip.size;
  if (fp.offset + nbytes > MAX_FILE_SIZE) fail("write", "EFBIG");
  const { va, len } = userRange(k, "write", buf, nbytes);
  // The buffer is wired first, so a vslock that fails (EFAULT, or ENOMEM under a memory shortage)
  // leaves the file untouched: no block allocated, nothing written, the offset where it was.
  vslock(k, p, "write", va, len, Prot.Read);
  try {
    // ffs_write allocates the blocks before copying: a full disk is ENOSPC now, not at writeback.
    const first = Math.floor(fp.offset / PAGE_SIZE);
    const last = Math.floor((fp.offset + nbytes - 1) / PAGE_SIZE);
    let holes = 0;
    for (let i = first; i <= last; i++) if ((ip.blocks[i] ?? -1) < 0) holes++;
    if (holes > k.fs.usage.total - k.fs.usage.used) fail("write", "ENOSPC");
    for (let i = first; i <= last; i++) k.fs.bmap(ip, i, true);
    const mem = k.machine.memory;
    k.fs.rdwr(
      "write",
      ip,
      fp.offset,
      nbytes,
      true,
      (pa, off, done, cnt) => mem.writeBytes(pa + off, td.copyin(buf + done, cnt)),
      p,
    );
  } finally {
    vsunlock(k, p, va, len);
  }
  fp.offset += nbytes;
  return nbytes;
}

export function lseek(p: Proc, fd: number, offset: number, whence: number): number {
  const fp = getfile(p, "lseek", fd);
  intArg("lseek", offset);
  intArg("lseek", whence);
  const base = whence === SEEK_SET ? 0 : whence === SEEK_CUR ? fp.offset : whence === SEEK_END ? fp.ip.size : -1;
  if (base < 0) fail("lseek", "EINVAL", `whence ${whence}`);
  const to = base + offset;
  if (to < 0) fail("lseek", "EINVAL", "resulting offset is negative");
  fp.offset = to;
  return to;
}

export function ftruncate(k: Kernel, p: Proc, fd: number, length: number): void {
  const fp = getfile(p, "ftruncate", fd);
  intArg("ftruncate", length);
  // NetBSD sys_ftruncate: a descriptor not open for writing is EINVAL.
  if (!fp.writable) fail("ftruncate", "EINVAL", `fd ${fd} is not open for writing`);
  if (fp.ip.type !== "file") fail("ftruncate", "EINVAL", "not a regular file");
  if (length < 0) fail("ftruncate", "EINVAL", "negative length");
  if (length > MAX_FILE_SIZE) fail("ftruncate", "EFBIG");
  k.fs.truncate(fp.ip, length);
}
