/**
 * errno values as NetBSD numbers them (sys/sys/errno.h). NetBSD decides where the BSDs differ
 * (API.md); FreeBSD's numbers agree below 86 except ENOTSUP, which FreeBSD folds into EOPNOTSUPP.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EDEADLK: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EAGAIN: 35,
  EOPNOTSUPP: 45,
  ENAMETOOLONG: 63,
  ENOSYS: 78,
  EIDRM: 82,
  EOVERFLOW: 84,
  ENOTSUP: 86,
} as const;

export type ErrnoName = keyof typeof ERRNO;

export function errnoOf(name: ErrnoName): number {
  return ERRNO[name];
}
