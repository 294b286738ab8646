/**
 * BSD user-visible constants with NetBSD's names and values (sys/sys/mman.h, fcntl.h, ipc.h,
 * shm.h, resource.h). Where FreeBSD differs the difference is noted beside the constant.
 */

// mmap(2) protections
export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;

// mmap(2) flags
export const MAP_SHARED = 0x0001;
export const MAP_PRIVATE = 0x0002;
export const MAP_FIXED = 0x0010;
export const MAP_NORESERVE = 0x0040;
export const MAP_INHERIT = 0x0080;
export const MAP_HASSEMAPHORE = 0x0200;
export const MAP_TRYFIXED = 0x0400;
/** NetBSD only: wire the mapping at creation. */
export const MAP_WIRED = 0x0800;
export const MAP_FILE = 0x0000;
export const MAP_ANON = 0x1000;
export const MAP_ANONYMOUS = MAP_ANON;
export const MAP_STACK = 0x2000;
export const MAP_FAILED = -1;

// mlockall(2)
export const MCL_CURRENT = 0x01;
export const MCL_FUTURE = 0x02;

// msync(2): NetBSD numbering (FreeBSD: MS_SYNC 0, MS_ASYNC 1, MS_INVALIDATE 2)
export const MS_ASYNC = 0x01;
export const MS_INVALIDATE = 0x02;
export const MS_SYNC = 0x04;

// madvise(2)
export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_SPACEAVAIL = 5;
export const MADV_FREE = 6;

// minherit(2): NetBSD numbering (FreeBSD: INHERIT_ZERO is 3, no DONATE_COPY)
export const INHERIT_SHARE = 0;
export const INHERIT_COPY = 1;
export const INHERIT_NONE = 2;
export const INHERIT_DONATE_COPY = 3;
export const INHERIT_ZERO = 4;
export const MAP_INHERIT_SHARE = INHERIT_SHARE;
export const MAP_INHERIT_COPY = INHERIT_COPY;
export const MAP_INHERIT_NONE = INHERIT_NONE;
export const MAP_INHERIT_DONATE_COPY = INHERIT_DONATE_COPY;
export const MAP_INHERIT_ZERO = INHERIT_ZERO;

// open(2)
export const O_RDONLY = 0x0000;
export const O_WRONLY = 0x0001;
export const O_RDWR = 0x0002;
export const O_ACCMODE = 0x0003;
export const O_NONBLOCK = 0x0004;
export const O_APPEND = 0x0008;
export const O_SYNC = 0x0080;
export const O_CREAT = 0x0200;
export const O_TRUNC = 0x0400;
export const O_EXCL = 0x0800;

// lseek(2)
export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

// System V IPC
export const IPC_PRIVATE = 0;
export const IPC_CREAT = 0o1000;
export const IPC_EXCL = 0o2000;
export const IPC_NOWAIT = 0o4000;
export const IPC_RMID = 0;
export const IPC_SET = 1;
export const IPC_STAT = 2;
export const SHM_LOCK = 3;
export const SHM_UNLOCK = 4;
export const SHM_RDONLY = 0o10000;
export const SHM_RND = 0o20000;

// getrlimit(2)
export const RLIMIT_MEMLOCK = 6;
export const RLIM_INFINITY = Number.MAX_SAFE_INTEGER;
