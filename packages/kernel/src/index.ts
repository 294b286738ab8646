/**
 * @vmlab/kernel — composes a system from parts passed in as values (it never imports a concrete
 * machine, pmap or VM layer): boot order, processes and threads on CPUs, context switches with
 * u-areas, the trap handler, the memory, file and SysV shm system calls with BSD argument checks,
 * a file system and a swap device on simulated disks with interrupt-time completion, sleeping,
 * the pageout daemon's scheduling and the out-of-swap killer.
 */
export { type Buf, DEFAULT_DISK_TIMING, Disk, type DiskTiming } from "./dev/disk.js";
export { SwapDevice } from "./dev/swap.js";
export type { FileSystemApi } from "./fs/fs.js";
export { createSystem, Kernel } from "./kernel.js";
export { Proc, Thread } from "./proc.js";
export { Services } from "./services.js";
export type * from "./types.js";
