/**
 * Processes and threads. A thread runs on one CPU; every memory access and system call of a
 * thread first makes it the running thread of that CPU (cpu_switch: CR3 + u-area), then performs
 * the access through the CPU's MMU in user mode, entering trap() on a fault and retrying.
 */
import { ConfigError, PAGE_SIZE, RLIMIT_MEMLOCK, SignalError, SyscallError, type VmSpace } from "@vmlab/core";
import { ACC_EXEC, ACC_READ, ACC_WRITE, type Cpu } from "@vmlab/machine";
import type { Kernel } from "./kernel.js";
import type { OpenFile } from "./sys_generic.js";
import * as fio from "./sys_generic.js";
import type { ShmAttach } from "./sysv_shm.js";
import { userFault } from "./trap.js";
import type { Process, ShmidDs, Thread as ThreadApi } from "./types.js";
import * as sys from "./vm_mmap.js";

export class Thread implements ThreadApi {
  constructor(
    readonly k: Kernel,
    readonly proc: Proc,
    readonly tid: number,
    readonly cpu: number,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  get process(): Process {
    return this.proc;
  }

  /** The segment limit: user mode never reaches VM_MAXUSER_ADDRESS and above. */
  private checkUser(va: number, size: number): void {
    if (!(Number.isInteger(va) && va >= 0 && va + size <= this.k.layout.userMax)) {
      if (!Number.isFinite(va)) throw new RangeError(`address ${va} is not a number`);
      throw new SignalError("SIGSEGV", "SEGV_MAPERR", va);
    }
  }

  /** Enter the kernel on this thread's CPU. */
  enter(): Cpu {
    this.k.guard();
    if (this.proc.state !== "running") {
      const why = this.proc.killedReason;
      if (why !== undefined) throw new SignalError("SIGKILL", "SI_NOINFO", 0, why);
      throw new Error(`pid ${this.pid} has exited`);
    }
    return this.k.switchTo(this);
  }

  private fault(cpu: Cpu, acc: number, attempt: number): void {
    userFault(this.k, this.proc, cpu, cpu.cr2, acc, attempt);
  }

  /** A user load of 1, 2 or 4 bytes: translate through the MMU, fault and retry. */
  private load(va: number, size: 1 | 2 | 4): number {
    this.checkUser(va, size);
    const cpu = this.enter();
    for (let a = 0; ; a++) {
      const v = size === 4 ? cpu.load32(va, true) : size === 2 ? cpu.load16(va, true) : cpu.load8(va, true);
      if (v >= 0) return v;
      this.fault(cpu, ACC_READ, a);
    }
  }

  /** A user store of 1, 2 or 4 bytes. */
  private store(va: number, v: number, size: 1 | 2 | 4): void {
    this.checkUser(va, size);
    const cpu = this.enter();
    for (let a = 0; ; a++) {
      const ok =
        size === 4
          ? cpu.store32(va, v >>> 0, true)
          : size === 2
            ? cpu.store16(va, v & 0xffff, true)
            : cpu.store8(va, v & 0xff, true);
      if (ok) return;
      this.fault(cpu, ACC_WRITE, a);
    }
  }

  load32(va: number): number {
    return this.load(va, 4);
  }

  load16(va: number): number {
    return this.load(va, 2);
  }

  load8(va: number): number {
    return this.load(va, 1);
  }

  store32(va: number, v: number): void {
    this.store(va, v, 4);
  }

  store16(va: number, v: number): void {
    this.store(va, v, 2);
  }

  store8(va: number, v: number): void {
    this.store(va, v, 1);
  }

  exec(va: number): number {
    this.checkUser(va, 1);
    const cpu = this.enter();
    for (let a = 0; ; a++) {
      const v = cpu.fetch8(va, true);
      if (v >= 0) return v;
      this.fault(cpu, ACC_EXEC, a);
    }
  }

  /**
   * Walk [va, va+len) page by page, translating each piece for `acc` (faulting as needed) and
   * handing its physical address to `copy` — copyin/copyout's shape.
   */
  private eachPage(va: number, len: number, acc: number, copy: (pa: number, done: number, n: number) => void): void {
    this.checkUser(va, len);
    const cpu = this.enter();
    for (let done = 0; done < len; ) {
      const at = va + done;
      const n = Math.min(len - done, PAGE_SIZE - (at % PAGE_SIZE));
      if (cpu.needsService) cpu.service();
      let pa = cpu.xlate(at, acc, true);
      for (let a = 0; pa < 0; a++) {
        this.fault(cpu, acc, a);
        pa = cpu.xlate(at, acc, true);
      }
      copy(pa, done, n);
      done += n;
    }
  }

  readBytes(va: number, len: number): Uint8Array {
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`length ${len}`);
    const out = new Uint8Array(len);
    if (len === 0) return out;
    const mem = this.k.machine.memory;
    this.eachPage(va, len, ACC_READ, (pa, done, n) => out.set(mem.readBytes(pa, n), done));
    return out;
  }

  writeBytes(va: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const mem = this.k.machine.memory;
    this.eachPage(va, bytes.length, ACC_WRITE, (pa, done, n) => mem.writeBytes(pa, bytes.subarray(done, done + n)));
  }

  /** copyout(9): kernel bytes to user memory at va, through this thread's MMU. */
  copyout(bytes: Uint8Array, va: number): void {
    this.writeBytes(va, bytes);
  }

  /** copyin(9): n bytes of user memory at va. */
  copyin(va: number, n: number): Uint8Array {
    return this.readBytes(va, n);
  }

  // System calls: enter the kernel on this thread's CPU, then the MI code in vm_mmap.ts.
  private call<T>(fn: () => T): T {
    this.enter();
    this.k.syscalls.value++;
    this.k.machine.curcpu.cycles += this.k.machine.costs.trap;
    try {
      return fn();
    } finally {
      if (this.k.panicked === undefined) this.k.afterOp();
    }
  }

  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number {
    return this.call(() => sys.mmap(this.k, this.proc, addr, len, prot, flags, fd, offset));
  }
  munmap(addr: number, len: number): void {
    this.call(() => sys.munmap(this.k, this.proc, addr, len));
  }
  mprotect(addr: number, len: number, prot: number): void {
    this.call(() => sys.mprotect(this.k, this.proc, addr, len, prot));
  }
  madvise(addr: number, len: number, advice: number): void {
    this.call(() => sys.madvise(this.k, this.proc, addr, len, advice));
  }
  mlock(addr: number, len: number): void {
    this.call(() => sys.mlock(this.k, this.proc, addr, len));
  }
  munlock(addr: number, len: number): void {
    this.call(() => sys.munlock(this.k, this.proc, addr, len));
  }
  mlockall(flags: number): void {
    this.call(() => sys.mlockall(this.k, this.proc, flags));
  }
  munlockall(): void {
    this.call(() => sys.munlockall(this.k, this.proc));
  }
  minherit(addr: number, len: number, inherit: number): void {
    this.call(() => sys.minherit(this.k, this.proc, addr, len, inherit));
  }
  msync(addr: number, len: number, flags: number): void {
    this.call(() => sys.msync(this.k, this.proc, addr, len, flags));
  }
  open(path: string, flags: number, _mode = 0o644): number {
    return this.call(() => fio.open(this.k, this.proc, path, flags));
  }
  close(fd: number): void {
    this.call(() => fio.close(this.proc, fd));
  }
  read(fd: number, buf: number, nbytes: number): number {
    return this.call(() => fio.read(this.k, this, fd, buf, nbytes));
  }
  write(fd: number, buf: number, nbytes: number): number {
    return this.call(() => fio.write(this.k, this, fd, buf, nbytes));
  }
  lseek(fd: number, offset: number, whence: number): number {
    return this.call(() => fio.lseek(this.proc, fd, offset, whence));
  }
  ftruncate(fd: number, length: number): void {
    this.call(() => fio.ftruncate(this.k, this.proc, fd, length));
  }
  shmget(key: number, size: number, flags: number): number {
    return this.call(() => this.k.shm.shmget(this.proc, key, size, flags));
  }
  shmat(shmid: number, addr: number, flags: number): number {
    return this.call(() => this.k.shm.shmat(this.proc, shmid, addr, flags));
  }
  shmdt(addr: number): void {
    this.call(() => this.k.shm.shmdt(this.proc, addr));
  }
  shmctl(shmid: number, cmd: number, buf?: { mode?: number }): ShmidDs | undefined {
    return this.call(() => this.k.shm.shmctl(this.proc, shmid, cmd, buf));
  }
}

export class Proc implements Process {
  state: "running" | "zombie" | "reaped" = "running";
  exitStatus: number | undefined;
  readonly children = new Set<Proc>();
  readonly threads: Thread[] = [];
  readonly main: Thread;
  /** Kernel VA of the u-area pages (kmem). */
  uareaKva = 0;
  /** RLIMIT_MEMLOCK soft limit in bytes. */
  memlockLimit: number;
  /** mlockall(MCL_FUTURE) in force. */
  wireFuture = false;
  /** The descriptor table (fd → open file). */
  files: (OpenFile | undefined)[] = [];
  /** SysV segments attached (shmmap_state). */
  shmAttached: ShmAttach[] = [];
  /** Set when the kernel killed the process (the reason, e.g. out of swap space). */
  killedReason: string | undefined;

  constructor(
    readonly k: Kernel,
    readonly pid: number,
    readonly space: VmSpace,
    public parent: Proc | undefined,
  ) {
    this.memlockLimit = parent?.memlockLimit ?? k.tunables.memlockLimit;
    this.main = new Thread(k, this, k.nextTid++, parent ? parent.main.cpu : 0);
    this.threads.push(this.main);
    parent?.children.add(this);
  }

  // The process's own calls run on its main thread.
  load8(va: number): number {
    return this.main.load8(va);
  }
  load16(va: number): number {
    return this.main.load16(va);
  }
  load32(va: number): number {
    return this.main.load32(va);
  }
  store8(va: number, v: number): void {
    this.main.store8(va, v);
  }
  store16(va: number, v: number): void {
    this.main.store16(va, v);
  }
  store32(va: number, v: number): void {
    this.main.store32(va, v);
  }
  readBytes(va: number, len: number): Uint8Array {
    return this.main.readBytes(va, len);
  }
  writeBytes(va: number, bytes: Uint8Array): void {
    this.main.writeBytes(va, bytes);
  }
  exec(va: number): number {
    return this.main.exec(va);
  }
  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number {
    return this.main.mmap(addr, len, prot, flags, fd, offset);
  }
  munmap(addr: number, len: number): void {
    this.main.munmap(addr, len);
  }
  mprotect(addr: number, len: number, prot: number): void {
    this.main.mprotect(addr, len, prot);
  }
  madvise(addr: number, len: number, advice: number): void {
    this.main.madvise(addr, len, advice);
  }
  mlock(addr: number, len: number): void {
    this.main.mlock(addr, len);
  }
  munlock(addr: number, len: number): void {
    this.main.munlock(addr, len);
  }
  mlockall(flags: number): void {
    this.main.mlockall(flags);
  }
  munlockall(): void {
    this.main.munlockall();
  }
  minherit(addr: number, len: number, inherit: number): void {
    this.main.minherit(addr, len, inherit);
  }
  msync(addr: number, len: number, flags: number): void {
    this.main.msync(addr, len, flags);
  }
  open(path: string, flags: number, mode?: number): number {
    return this.main.open(path, flags, mode);
  }
  close(fd: number): void {
    this.main.close(fd);
  }
  read(fd: number, buf: number, nbytes: number): number {
    return this.main.read(fd, buf, nbytes);
  }
  write(fd: number, buf: number, nbytes: number): number {
    return this.main.write(fd, buf, nbytes);
  }
  lseek(fd: number, offset: number, whence: number): number {
    return this.main.lseek(fd, offset, whence);
  }
  ftruncate(fd: number, length: number): void {
    this.main.ftruncate(fd, length);
  }
  shmget(key: number, size: number, flags: number): number {
    return this.main.shmget(key, size, flags);
  }
  shmat(shmid: number, addr: number, flags: number): number {
    return this.main.shmat(shmid, addr, flags);
  }
  shmdt(addr: number): void {
    this.main.shmdt(addr);
  }
  shmctl(shmid: number, cmd: number, buf?: { mode?: number }): ShmidDs | undefined {
    return this.main.shmctl(shmid, cmd, buf);
  }

  /**
   * fork(2): a u-area and vmspace_fork (Kernel.forkProc), then the descriptors and SysV
   * attachments. ENOMEM when the memory for the child cannot be had even by waiting (NetBSD
   * fork1 when uvm_uarea_alloc fails, FreeBSD fork1 when vmspace_fork returns NULL; fork(2):
   * "insufficient swap space for the new process"), with nothing of the child left.
   */
  fork(): Process {
    this.main.enter();
    this.k.syscalls.value++;
    const child = this.k.forkProc(this);
    if (child === undefined) {
      this.k.afterOp();
      throw new SyscallError("fork", "ENOMEM", "no memory for the child, even by waiting");
    }
    child.memlockLimit = this.memlockLimit;
    // fdcopy: the child shares the open-file entries (and their offsets); shmfork.
    child.files = this.files.map((fp) => {
      if (fp) fp.refs++;
      return fp;
    });
    this.k.shm.fork(this, child);
    this.k.afterOp();
    return child;
  }

  /** exit(2): tear down the address space and the u-area; the process becomes a zombie. */
  exit(status: number): void {
    this.k.guard();
    if (this.state !== "running") throw new Error(`pid ${this.pid} has already exited`);
    this.teardown(status);
  }

  /** psignal(SIGKILL) from the kernel itself (the out-of-swap killer): exit with the signal's status. */
  kill(signal: number, reason: string): void {
    if (this.state !== "running") return;
    this.killedReason = reason;
    this.teardown(signal);
  }

  private teardown(status: number): void {
    const k = this.k;
    for (const fp of this.files) if (fp) fio.release(fp);
    this.files = [];
    k.offCpu(this);
    k.onCpu(this.main.cpu, () => {
      k.uareaRelease(this.space, this.uareaKva);
      k.shm.exit(this);
    });
    this.state = "zombie";
    this.exitStatus = status | 0;
    for (const c of this.children) {
      c.parent = undefined;
      if (c.state === "zombie") this.reapChild(c);
    }
    this.children.clear();
    if (this.parent === undefined) this.reapChild(this);
    k.services.trace.emit("proc", "exit", { pid: this.pid, status: this.exitStatus });
    k.afterOp();
  }

  private reapChild(c: Proc): void {
    c.state = "reaped";
    this.k.reap(c);
  }

  /**
   * wait(2) for any child. The simulator runs a process only when it is called, so a child that
   * has not exited can never exit while we wait: that is EAGAIN here instead of blocking forever.
   */
  wait(): { pid: number; status: number } {
    this.main.enter();
    for (const c of this.children) {
      if (c.state === "zombie") {
        this.children.delete(c);
        c.parent = undefined;
        this.reapChild(c);
        return { pid: c.pid, status: c.exitStatus ?? 0 };
      }
    }
    if (this.children.size === 0) throw new SyscallError("wait4", "ECHILD");
    throw new SyscallError("wait4", "EAGAIN", "no child has exited and waiting would block forever");
  }

  newThread(opts: { cpu?: number } = {}): ThreadApi {
    this.k.guard();
    const cpu = opts.cpu ?? this.main.cpu;
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.k.machine.cpus.length) {
      throw new ConfigError("cpu", cpu, `a CPU index from 0 to ${this.k.machine.cpus.length - 1}`);
    }
    const td = new Thread(this.k, this, this.k.nextTid++, cpu);
    this.threads.push(td);
    return td;
  }

  setrlimit(resource: number, cur: number): void {
    this.main.enter();
    if (resource !== RLIMIT_MEMLOCK) throw new SyscallError("setrlimit", "EINVAL", "only RLIMIT_MEMLOCK is modelled");
    if (!Number.isFinite(cur) || cur < 0) throw new SyscallError("setrlimit", "EINVAL");
    this.memlockLimit = cur;
  }
}
