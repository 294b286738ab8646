/**
 * The public shapes of a composed system (API.md "Composing a system", "Processes", "Inspecting").
 */
import type { AddressLayout, PmapModule, TraceEvent, TraceFilter, VmFactory, VmLayer } from "@vmlab/core";
import type { Machine, MachineSpec, PmapFactory } from "@vmlab/machine";
import type { DiskTiming } from "./dev/disk.js";
import type { FileSystemApi } from "./fs/fs.js";

export interface SystemOptions {
  /** A booted-on-demand machine spec (`i386Pae({ memoryMiB, cpus })`). */
  machine: MachineSpec;
  pmap: PmapFactory;
  vm: VmFactory;
  seed?: number;
  errata?: readonly string[];
  /** Audit every layer after each system call and fault (slow; for tests). */
  auditEveryOp?: boolean;
  /** Tunables. */
  tunables?: Partial<Tunables>;
  /** Size of the file system's disk (default 64 MiB). */
  diskMiB?: number;
  /** Size of the swap device (default: the machine's RAM size; 0 = no swap). */
  swapMiB?: number;
  /** Disk timing in cycles, including the interrupt injector's jitter (see dev/disk.ts). */
  disk?: Partial<DiskTiming>;
}

export interface Tunables {
  /** vm.max_wired / uvmexp.wiredmax: system-wide wired-page limit (default: one third of RAM). */
  maxWiredPages: number;
  /** Default RLIMIT_MEMLOCK of a new process, in bytes. */
  memlockLimit: number;
  /** Trace ring capacity. */
  traceCapacity: number;
}

export interface SystemConfig {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly seed: number;
  readonly errata: readonly string[];
}

/** The memory-access and system-call surface shared by a process and its threads. */
export interface ProcessApi {
  readonly pid: number;
  load8(va: number): number;
  load16(va: number): number;
  load32(va: number): number;
  store8(va: number, v: number): void;
  store16(va: number, v: number): void;
  store32(va: number, v: number): void;
  readBytes(va: number, len: number): Uint8Array;
  writeBytes(va: number, bytes: Uint8Array): void;
  /** Instruction fetch at va (PROT_EXEC / NX checks); returns the byte fetched. */
  exec(va: number): number;
  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number;
  munmap(addr: number, len: number): void;
  mprotect(addr: number, len: number, prot: number): void;
  madvise(addr: number, len: number, advice: number): void;
  mlock(addr: number, len: number): void;
  munlock(addr: number, len: number): void;
  mlockall(flags: number): void;
  munlockall(): void;
  minherit(addr: number, len: number, inherit: number): void;
  msync(addr: number, len: number, flags: number): void;
  /** open(2): returns the descriptor. Flags O_RDONLY/O_WRONLY/O_RDWR | O_CREAT | O_TRUNC | O_EXCL | O_APPEND. */
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): void;
  /** read(2) into user memory at buf; returns the byte count (0 at EOF). */
  read(fd: number, buf: number, nbytes: number): number;
  /** write(2) from user memory at buf; returns the byte count. */
  write(fd: number, buf: number, nbytes: number): number;
  lseek(fd: number, offset: number, whence: number): number;
  ftruncate(fd: number, length: number): void;
  shmget(key: number, size: number, flags: number): number;
  shmat(shmid: number, addr: number, flags: number): number;
  shmdt(addr: number): void;
  /** shmctl(2): IPC_STAT returns the segment's state; IPC_RMID, IPC_SET, SHM_LOCK, SHM_UNLOCK return undefined. */
  shmctl(shmid: number, cmd: number, buf?: { mode?: number }): ShmidDs | undefined;
}

/** struct shmid_ds, the fields modelled. */
export interface ShmidDs {
  readonly shm_perm: { readonly key: number; readonly mode: number };
  readonly shm_segsz: number;
  readonly shm_nattch: number;
  readonly shm_cpid: number;
  readonly shm_lpid: number;
  /** SHM_LOCK in force. */
  readonly locked: boolean;
}

export interface Process extends ProcessApi {
  readonly state: "running" | "zombie" | "reaped";
  readonly exitStatus: number | undefined;
  /** Why the kernel killed the process (e.g. "out of swap space"), if it did. */
  readonly killedReason: string | undefined;
  fork(): Process;
  exit(status: number): void;
  /** wait(2): reap one zombie child; returns { pid, status }. ECHILD if none. */
  wait(): { pid: number; status: number };
  newThread(opts?: { cpu?: number }): Thread;
  /** setrlimit(RLIMIT_MEMLOCK) (the only limit modelled). */
  setrlimit(resource: number, cur: number): void;
}

export interface Thread extends ProcessApi {
  readonly tid: number;
  readonly cpu: number;
  readonly process: Process;
}

export interface System {
  readonly config: SystemConfig;
  readonly layout: AddressLayout;
  readonly machine: Machine;
  readonly pmap: PmapModule;
  readonly vm: VmLayer;
  spawn(): Process;
  /** The in-memory file system whose data lives on the simulated disk. */
  readonly fs: FileSystemApi;
  audit(): void;
  stats(): Record<string, number>;
  trace(filter?: TraceFilter): TraceEvent[];
  memoryPressure(pages: number): void;
  runPagedaemon(): void;
  advance(cycles: number): void;
  /** The panic that killed this system, if any. */
  readonly panicked: string | undefined;
}
