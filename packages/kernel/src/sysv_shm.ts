/**
 * System V shared memory (NetBSD sys/kern/sysv_shm.c, 4.4BSD-Lite sysv_shm.c): a table of
 * segments, each backed by an anonymous shared object from the VM layer (uao / shm_object), mapped
 * shared by shmat, inherited shared by fork, detached at exit. IPC_RMID hides the key and frees
 * the segment at the last detach; SHM_LOCK wires its pages.
 */
import {
  type ErrnoName,
  INHERIT_SHARE,
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  KERN_NO_SPACE,
  KERN_RESOURCE_SHORTAGE,
  KERN_SUCCESS,
  PAGE_SIZE,
  Prot,
  roundPage,
  SHM_LOCK,
  SHM_RDONLY,
  SHM_RND,
  SHM_UNLOCK,
  type ShmObject,
  SyscallError,
} from "@vmlab/core";
import type { Kernel } from "./kernel.js";
import type { Proc } from "./proc.js";
import type { ShmidDs } from "./types.js";
import { effectiveProt } from "./vm_mmap.js";

/** shminfo defaults (NetBSD: SHMMNI 128, SHMSEG 128, SHMMIN 1); shmmax is set from RAM. */
export const SHMMNI = 128;
export const SHMSEG = 128;
/** SHMLBA: attach addresses round to a page. */
export const SHMLBA = PAGE_SIZE;

interface Segment {
  readonly index: number;
  readonly seq: number;
  key: number;
  mode: number;
  readonly size: number;
  readonly object: ShmObject;
  nattch: number;
  readonly cpid: number;
  lpid: number;
  removed: boolean;
  locked: boolean;
}

/** One shmat in a process (struct shmmap_entry). */
export interface ShmAttach {
  readonly va: number;
  readonly size: number;
  readonly shmid: number;
}

function fail(call: string, code: ErrnoName, detail?: string): never {
  throw new SyscallError(call, code, detail);
}

function intArg(call: string, v: number): void {
  if (!Number.isInteger(v)) fail(call, "EINVAL", `argument ${v} is not an integer`);
}

export class ShmTable {
  private readonly segs: (Segment | undefined)[] = [];
  private seq = 0;
  /** shminfo.shmmax: the largest segment, half of RAM by default. */
  readonly shmmax: number;

  constructor(private readonly k: Kernel) {
    this.shmmax = Math.floor((k.machine.memory.frames * PAGE_SIZE) / 2);
  }

  /** IXSEQ_TO_IPCID: the id names the slot and its generation. */
  private idOf(s: Segment): number {
    return (s.seq << 16) | s.index;
  }

  private lookup(call: string, shmid: number): Segment {
    intArg(call, shmid);
    const s = shmid >= 0 ? this.segs[shmid & 0xffff] : undefined;
    if (!s || this.idOf(s) !== shmid) fail(call, "EINVAL", `no segment ${shmid}`);
    // shm_find_segment_by_shmid: a segment marked removed is no longer found.
    if (s.removed) fail(call, "EINVAL", `segment ${shmid} was removed`);
    return s;
  }

  shmget(p: Proc, key: number, size: number, flags: number): number {
    intArg("shmget", key);
    intArg("shmget", size);
    intArg("shmget", flags);
    if (key !== IPC_PRIVATE) {
      const s = this.segs.find((x) => x !== undefined && !x.removed && x.key === key);
      if (s) {
        if (flags & IPC_CREAT && flags & IPC_EXCL) fail("shmget", "EEXIST", `key ${key}`);
        if (size > s.size) fail("shmget", "EINVAL", `size ${size} larger than the segment's ${s.size}`);
        return this.idOf(s);
      }
      if ((flags & IPC_CREAT) === 0) fail("shmget", "ENOENT", `no segment with key ${key}`);
    }
    if (size < 1 || size > this.shmmax) fail("shmget", "EINVAL", `size ${size} outside [1, ${this.shmmax}]`);
    let index = this.segs.indexOf(undefined);
    if (index < 0) index = this.segs.length;
    if (index >= SHMMNI) fail("shmget", "ENOSPC", `${SHMMNI} segments exist`);
    const object = this.k.vm.shmCreate(roundPage(size));
    const s: Segment = {
      index,
      seq: this.seq++ & 0x7fff,
      key,
      mode: flags & 0o777,
      size,
      object,
      nattch: 0,
      cpid: p.pid,
      lpid: 0,
      removed: false,
      locked: false,
    };
    this.segs[index] = s;
    this.k.services.trace.emit("shm", "shmget", { shmid: this.idOf(s), key, size });
    return this.idOf(s);
  }

  shmat(p: Proc, shmid: number, addr: number, flags: number): number {
    intArg("shmat", addr);
    intArg("shmat", flags);
    const s = this.lookup("shmat", shmid);
    if (p.shmAttached.length >= SHMSEG) fail("shmat", "EMFILE", `${SHMSEG} segments attached`);
    const size = roundPage(s.size);
    let va = addr;
    if (va !== 0) {
      if (flags & SHM_RND) va -= va % SHMLBA;
      else if (va % SHMLBA !== 0) fail("shmat", "EINVAL", "address not aligned to SHMLBA");
      if (va < this.k.layout.userMin || va + size > this.k.layout.userMax)
        fail("shmat", "EINVAL", "address outside user space");
      // uvm_map with UVM_FLAG_FIXED but not UVM_FLAG_UNMAP: an address in use is ENOMEM, never replaced.
      for (let a = va; a < va + size; a += PAGE_SIZE) {
        if (this.k.vm.isMapped(p.space, a, PAGE_SIZE)) fail("shmat", "ENOMEM", "the address range is in use");
      }
    }
    const prot = flags & SHM_RDONLY ? Prot.Read : Prot.Read | Prot.Write;
    const { rv, va: got } = this.k.vm.map(p.space, {
      addr: va,
      len: size,
      prot: effectiveProt(this.k, prot),
      maxProt: effectiveProt(this.k, prot),
      fixed: va !== 0,
      shared: true,
      inheritance: INHERIT_SHARE,
      wired: false,
      backing: { kind: "shm", shm: s.object, offset: 0 },
    });
    if (rv !== KERN_SUCCESS) {
      fail(
        "shmat",
        rv === KERN_NO_SPACE || rv === KERN_RESOURCE_SHORTAGE ? "ENOMEM" : "EINVAL",
        `vm map returned ${rv}`,
      );
    }
    s.nattch++;
    s.lpid = p.pid;
    p.shmAttached.push({ va: got, size, shmid });
    return got;
  }

  shmdt(p: Proc, addr: number): void {
    intArg("shmdt", addr);
    const i = p.shmAttached.findIndex((a) => a.va === addr);
    if (i < 0) fail("shmdt", "EINVAL", "no segment attached at that address");
    const a = p.shmAttached[i] as ShmAttach;
    p.shmAttached.splice(i, 1);
    this.k.vm.unmap(p.space, a.va, a.size);
    this.detached(p, a.shmid);
  }

  /** One attachment fewer: free a removed segment at its last detach (shm_delete_mapping). */
  private detached(p: Proc, shmid: number): void {
    const s = this.segs[shmid & 0xffff];
    if (!s || this.idOf(s) !== shmid) return;
    s.nattch--;
    s.lpid = p.pid;
    if (s.removed && s.nattch === 0) this.free(s);
  }

  private free(s: Segment): void {
    if (s.locked) this.k.vm.shmLock(s.object, false);
    this.k.vm.shmRelease(s.object);
    this.segs[s.index] = undefined;
    this.k.services.trace.emit("shm", "free", { shmid: this.idOf(s) });
  }

  shmctl(_p: Proc, shmid: number, cmd: number, buf?: { mode?: number }): ShmidDs | undefined {
    intArg("shmctl", cmd);
    const s = this.lookup("shmctl", shmid);
    switch (cmd) {
      case IPC_STAT:
        return {
          shm_perm: { key: s.key, mode: s.mode },
          shm_segsz: s.size,
          shm_nattch: s.nattch,
          shm_cpid: s.cpid,
          shm_lpid: s.lpid,
          locked: s.locked,
        };
      case IPC_SET:
        if (buf?.mode !== undefined) s.mode = buf.mode & 0o777;
        return undefined;
      case IPC_RMID:
        // The key goes private at once; the memory stays until the last detach.
        s.key = IPC_PRIVATE;
        s.removed = true;
        if (s.nattch === 0) this.free(s);
        return undefined;
      case SHM_LOCK:
      case SHM_UNLOCK: {
        const lock = cmd === SHM_LOCK;
        if (s.locked === lock) return undefined;
        const rv = this.k.vm.shmLock(s.object, lock);
        if (rv !== KERN_SUCCESS) fail("shmctl", "ENOMEM", `shmLock returned ${rv}`);
        s.locked = lock;
        return undefined;
      }
      default:
        return fail("shmctl", "EINVAL", `command ${cmd}`);
    }
  }

  /** shmfork: the child shares every attachment. */
  fork(parent: Proc, child: Proc): void {
    for (const a of parent.shmAttached) {
      child.shmAttached.push(a);
      const s = this.segs[a.shmid & 0xffff];
      if (s) s.nattch++;
    }
  }

  /** shmexit: detach everything (the address space is going away with its mappings). */
  exit(p: Proc): void {
    for (const a of p.shmAttached.splice(0)) this.detached(p, a.shmid);
  }

  /** Segments that exist (tests, audits). */
  get count(): number {
    return this.segs.filter((s) => s !== undefined).length;
  }
}
