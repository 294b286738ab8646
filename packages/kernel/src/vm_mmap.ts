/**
 * The machine-independent memory system calls with the BSDs' argument checks (NetBSD
 * sys/uvm/uvm_mmap.c: sys_mmap, sys_munmap, sys_mprotect, sys_minherit, sys_madvise, sys_mlock,
 * sys_munlock, sys_mlockall, sys_munlockall, sys___msync13; 4.4BSD sys/vm/vm_mmap.c). Where
 * NetBSD's code and its manual pages or POSIX disagree, docs/decisions/0005-syscall-errno.md
 * records the choice.
 */
import {
  type ErrnoName,
  INHERIT_COPY,
  INHERIT_SHARE,
  INHERIT_ZERO,
  type Inheritance,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_MEMORY_ERROR,
  KERN_NO_SPACE,
  KERN_PROTECTION_FAILURE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  type KernReturn,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_WIRED,
  type MapBacking,
  MCL_CURRENT,
  MCL_FUTURE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PAGE_SIZE,
  Prot,
  roundPage,
  SyscallError,
} from "@vmlab/core";
import type { Kernel } from "./kernel.js";
import type { Proc } from "./proc.js";
import { getfile } from "./sys_generic.js";

/** Syscall arguments are C integers: reject what no C caller could pass. */
function intArg(name: string, v: number): number {
  if (!Number.isInteger(v)) throw new SyscallError(name, "EINVAL", `argument ${v} is not an integer`);
  return v;
}

function fail(call: string, code: ErrnoName, detail?: string): never {
  throw new SyscallError(call, code, detail);
}

/**
 * What the x86 page tables can express: a present page is always readable, and without NX it is
 * also executable. So PROT_WRITE and PROT_EXEC imply PROT_READ, and on non-PAE i386 PROT_READ
 * implies PROT_EXEC (docs/decisions/0006-x86-protections.md). Recording the wider protection
 * keeps an access from depending on whether another access mapped the page first.
 */
export function effectiveProt(k: Kernel, prot: number): number {
  let p = prot & Prot.All;
  if (p !== Prot.None) p |= Prot.Read;
  if ((p & Prot.Read) !== 0 && !k.machine.format.hasNx) p |= Prot.Exec;
  return p;
}

/** Page-align [addr, addr+len) the way the BSD calls do (pageoff folded into the size). */
function alignRange(addr: number, len: number): { addr: number; size: number } {
  const pageoff = addr % PAGE_SIZE;
  return { addr: addr - pageoff, size: roundPage(len + pageoff) };
}

/** range_test (NetBSD uvm_mmap.c) for the non-mmap calls: inside [VM_MIN_ADDRESS, VM_MAXUSER_ADDRESS). */
function inUserRange(k: Kernel, addr: number, size: number): boolean {
  return addr >= k.layout.userMin && addr + size <= k.layout.userMax && addr + size >= addr;
}

function kernError(call: string, rv: KernReturn, map: Partial<Record<number, ErrnoName>>): void {
  if (rv === KERN_SUCCESS) return;
  fail(call, map[rv] ?? "EINVAL", `vm layer returned ${rv}`);
}

/**
 * The checks munmap, mprotect, minherit, madvise and msync share: a page-aligned address, a
 * non-negative length, and a page-rounded range inside [VM_MIN_ADDRESS, VM_MAXUSER_ADDRESS)
 * (`outside` is the errno for a range beyond it). Returns the rounded size.
 */
function checkRange(k: Kernel, call: string, addr: number, len: number, outside: ErrnoName): number {
  intArg(call, addr);
  intArg(call, len);
  if (addr < 0 || addr % PAGE_SIZE !== 0) fail(call, "EINVAL", "address not page aligned");
  if (len < 0) fail(call, "EINVAL", "negative length");
  const size = roundPage(len);
  if (!inUserRange(k, addr, size)) fail(call, outside, "range outside the user address space");
  return size;
}

/** mmap(2) of anonymous memory or of a file (MAP_SHARED writes reach the file; MAP_PRIVATE copies on write). */
export function mmap(
  k: Kernel,
  p: Proc,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  pos: number,
): number {
  intArg("mmap", addr);
  intArg("mmap", len);
  intArg("mmap", prot);
  intArg("mmap", flags);
  intArg("mmap", fd);
  intArg("mmap", pos);
  prot &= Prot.All;
  const kind = flags & (MAP_SHARED | MAP_PRIVATE);
  if (kind === (MAP_SHARED | MAP_PRIVATE)) fail("mmap", "EINVAL", "both MAP_SHARED and MAP_PRIVATE");
  if (kind === 0) fail("mmap", "EINVAL", "neither MAP_SHARED nor MAP_PRIVATE");
  if (len === 0) fail("mmap", "EINVAL", "zero length");
  if (len < 0 || pos < 0) fail("mmap", "EINVAL", "negative length or offset");
  if (pos % PAGE_SIZE !== 0) fail("mmap", "EINVAL", "offset not page aligned");
  const size = roundPage(len);
  const fixed = (flags & MAP_FIXED) !== 0;
  let va = addr;
  if (fixed) {
    if (va < 0 || va % PAGE_SIZE !== 0) fail("mmap", "EINVAL", "MAP_FIXED address not page aligned");
    // range_test(addr, size, true)
    if (va < k.layout.userMin) fail("mmap", "EINVAL", "MAP_FIXED below VM_MIN_ADDRESS");
    if (va + size > k.layout.userMax) fail("mmap", "EINVAL", "MAP_FIXED range beyond VM_MAXUSER_ADDRESS");
  } else {
    // A hint never makes mmap fail; an unusable one is ignored.
    va = va > 0 && va < k.layout.userMax ? roundPage(va) : 0;
  }
  // NetBSD sys_mmap: a file mapping needs a regular file open for reading; a shared writable
  // mapping also needs it open for writing, and without that its maximum protection has no write.
  let backing: MapBacking | undefined;
  let maxProt: number = Prot.All;
  if (flags & MAP_ANON) {
    if (fd !== -1) fail("mmap", "EINVAL", "MAP_ANON with a file descriptor");
  } else {
    const fp = getfile(p, "mmap", fd);
    if (fp.ip.type !== "file") fail("mmap", "ENODEV", `fd ${fd} is not a regular file`);
    if (!fp.readable) fail("mmap", "EACCES", `fd ${fd} is not open for reading`);
    if (kind === MAP_SHARED && !fp.writable) {
      if (prot & Prot.Write)
        fail("mmap", "EACCES", `shared writable mapping of fd ${fd}, which is not open for writing`);
      maxProt = Prot.Read | Prot.Exec;
    }
    backing = { kind: "vnode", vnode: fp.ip, offset: pos };
  }
  const wired = (flags & MAP_WIRED) !== 0 || p.wireFuture;
  if (wired) checkWireLimits(k, p, size, "mmap");
  const { rv, va: got } = k.vm.map(p.space, {
    addr: va,
    len: size,
    prot: effectiveProt(k, prot),
    maxProt: effectiveProt(k, maxProt),
    fixed,
    shared: kind === MAP_SHARED,
    inheritance: kind === MAP_SHARED ? INHERIT_SHARE : INHERIT_COPY,
    wired: false,
    ...(backing ? { backing } : {}),
  });
  kernError("mmap", rv, {
    [KERN_NO_SPACE]: "ENOMEM",
    [KERN_RESOURCE_SHORTAGE]: "ENOMEM",
    [KERN_INVALID_ADDRESS]: "ENOMEM",
  });
  if (wired) {
    // NetBSD uvm_mmap: a MAP_WIRED (or MCL_FUTURE) mapping that cannot be wired is undone and
    // uvm_map_pageable's error returned — ENOMEM when the fault found no memory (mmap(2):
    // "insufficient memory was available"; decision 0011).
    const wrv = k.vm.wire(p.space, got, size, "mlock");
    if (wrv !== KERN_SUCCESS && prot !== Prot.None) {
      k.vm.unmap(p.space, got, size);
      fail("mmap", "ENOMEM", "the new mapping could not be locked");
    }
  }
  return got;
}

/** munmap(2) */
export function munmap(k: Kernel, p: Proc, addr: number, len: number): void {
  if (len === 0) fail("munmap", "EINVAL", "zero length");
  const size = checkRange(k, "munmap", addr, len, "EINVAL");
  kernError("munmap", k.vm.unmap(p.space, addr, size), {});
}

/** mprotect(2) */
export function mprotect(k: Kernel, p: Proc, addr: number, len: number, prot: number): void {
  intArg("mprotect", prot);
  const size = checkRange(k, "mprotect", addr, len, "EINVAL");
  if (size === 0) return;
  if (!k.vm.isMapped(p.space, addr, size)) fail("mprotect", "ENOMEM", "unmapped pages in the range");
  // NetBSD uvm_map_protect: an entry leaving PROT_NONE under VM_MAP_WIREFUTURE that cannot be
  // wired keeps its new protection, and whatever the error was "just call it a resource
  // shortage": ENOMEM (decision 0011).
  kernError("mprotect", k.vm.protect(p.space, addr, size, effectiveProt(k, prot), false), {
    [KERN_PROTECTION_FAILURE]: "EACCES",
    [KERN_INVALID_ADDRESS]: "ENOMEM",
    [KERN_RESOURCE_SHORTAGE]: "ENOMEM",
    [KERN_MEMORY_ERROR]: "ENOMEM",
  });
}

/** minherit(2): NetBSD ignores holes in the range (uvm_map_inherit). */
export function minherit(k: Kernel, p: Proc, addr: number, len: number, inherit: number): void {
  intArg("minherit", inherit);
  const size = checkRange(k, "minherit", addr, len, "EINVAL");
  if (inherit < INHERIT_SHARE || inherit > INHERIT_ZERO) fail("minherit", "EINVAL", `inheritance ${inherit}`);
  if (size === 0) return;
  kernError("minherit", k.vm.inherit(p.space, addr, size, inherit as Inheritance), {});
}

/** madvise(2) */
export function madvise(k: Kernel, p: Proc, addr: number, len: number, advice: number): void {
  intArg("madvise", advice);
  const size = checkRange(k, "madvise", addr, len, "EINVAL");
  const known = [MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE];
  if (!known.includes(advice)) fail("madvise", "EINVAL", `advice ${advice}`);
  if (size === 0) return;
  if (!k.vm.isMapped(p.space, addr, size)) fail("madvise", "ENOMEM", "unmapped pages in the range");
  kernError("madvise", k.vm.advise(p.space, addr, size, advice), { [KERN_INVALID_ADDRESS]: "ENOMEM" });
}

/** The wired-memory limits mlock and MAP_WIRED check (uvmexp.wiredmax: EAGAIN; RLIMIT_MEMLOCK: EAGAIN on NetBSD). */
function checkWireLimits(k: Kernel, p: Proc, size: number, call: string): void {
  if (size / PAGE_SIZE + k.vm.wiredPages > k.tunables.maxWiredPages) {
    fail(call, "EAGAIN", "system wired-page limit reached");
  }
  if (size + k.vm.userWiredPages(p.space) * PAGE_SIZE > p.memlockLimit) {
    fail(call, "EAGAIN", "RLIMIT_MEMLOCK exceeded");
  }
}

/**
 * mlock(2): NetBSD rounds the range to whole pages and answers every bad address with ENOMEM. A
 * range that cannot be faulted in for want of memory is ENOMEM too, with nothing left locked
 * (sys_mlock passes on uvm_fault's ENOMEM; mlock(2) "There was an error faulting/mapping a
 * page"; FreeBSD kern_mlock and 4.4BSD mlock answer every vm_map_wire/vm_map_pageable failure
 * with ENOMEM; decision 0011).
 */
export function mlock(k: Kernel, p: Proc, addr: number, len: number): void {
  intArg("mlock", addr);
  intArg("mlock", len);
  const { addr: a, size } = alignRange(addr, len);
  if (len < 0 || !inUserRange(k, a, size)) fail("mlock", "ENOMEM", "range outside the user address space");
  if (size === 0) return;
  checkWireLimits(k, p, size, "mlock");
  kernError("mlock", k.vm.wire(p.space, a, size, "mlock"), {
    [KERN_INVALID_ADDRESS]: "ENOMEM",
    [KERN_PROTECTION_FAILURE]: "ENOMEM",
    [KERN_RESOURCE_SHORTAGE]: "ENOMEM",
  });
}

/** munlock(2): unlocking memory that is not locked is ENOMEM (NetBSD t_mlock 1.8). */
export function munlock(k: Kernel, p: Proc, addr: number, len: number): void {
  intArg("munlock", addr);
  intArg("munlock", len);
  const { addr: a, size } = alignRange(addr, len);
  if (len < 0 || !inUserRange(k, a, size)) fail("munlock", "ENOMEM", "range outside the user address space");
  if (size === 0) return;
  kernError("munlock", k.vm.unwire(p.space, a, size, "mlock"), {
    [KERN_INVALID_ADDRESS]: "ENOMEM",
    [KERN_INVALID_ARGUMENT]: "ENOMEM",
  });
}

/**
 * mlockall(2). MCL_FUTURE is recorded first and kept whatever MCL_CURRENT's outcome, and a later
 * mlockall without it does not clear it (uvm_map_pageable_all). Memory that cannot be wired is
 * EAGAIN with nothing newly locked: NetBSD's mlockall(2) ("could not be locked when the call was
 * made"), FreeBSD sys_mlockall for a wiring failure that is not a limit, POSIX; NetBSD's code
 * passes on uvm_fault's ENOMEM, and the manual page wins (decisions 0005, 0011).
 */
export function mlockall(k: Kernel, p: Proc, flags: number): void {
  intArg("mlockall", flags);
  if (flags === 0 || (flags & ~(MCL_CURRENT | MCL_FUTURE)) !== 0) fail("mlockall", "EINVAL", `flags ${flags}`);
  if (flags & MCL_CURRENT) {
    const need = k.vm.userWiredPages(p.space);
    if (need > k.tunables.maxWiredPages) fail("mlockall", "ENOMEM", "system wired-page limit");
  }
  const rv = k.vm.wireAll(p.space, (flags & MCL_CURRENT) !== 0, (flags & MCL_FUTURE) !== 0);
  if (flags & MCL_FUTURE) p.wireFuture = true;
  kernError("mlockall", rv, {
    [KERN_RESOURCE_SHORTAGE]: "EAGAIN",
    [KERN_INVALID_ADDRESS]: "ENOMEM",
  });
  if (flags & MCL_CURRENT && k.vm.userWiredPages(p.space) * PAGE_SIZE > p.memlockLimit) {
    k.vm.unwireAll(p.space);
    p.wireFuture = false;
    fail("mlockall", "ENOMEM", "RLIMIT_MEMLOCK exceeded");
  }
}

/** munlockall(2) */
export function munlockall(k: Kernel, p: Proc): void {
  k.vm.unwireAll(p.space);
  p.wireFuture = false;
}

/** msync(2) */
export function msync(k: Kernel, p: Proc, addr: number, len: number, flags: number): void {
  intArg("msync", flags);
  const all = MS_ASYNC | MS_SYNC | MS_INVALIDATE;
  if ((flags & ~all) !== 0 || (flags & all) === 0 || (flags & (MS_ASYNC | MS_SYNC)) === (MS_ASYNC | MS_SYNC)) {
    fail("msync", "EINVAL", `flags ${flags}`);
  }
  const size = checkRange(k, "msync", addr, len, "ENOMEM");
  if (size === 0) return;
  if (!k.vm.isMapped(p.space, addr, size)) fail("msync", "ENOMEM", "unmapped pages in the range");
  kernError("msync", k.vm.sync(p.space, addr, size, flags), {
    [KERN_INVALID_ADDRESS]: "ENOMEM",
    [KERN_FAILURE_BUSY]: "EBUSY",
    [KERN_MEMORY_ERROR]: "EIO",
  });
}

/** The VM's answer when MS_INVALIDATE meets wired pages. */
const KERN_FAILURE_BUSY = 5;
