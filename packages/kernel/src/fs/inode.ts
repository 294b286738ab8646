/**
 * An inode: the kernel's file (or directory), and the vnode the VM's pagers see. Data blocks are
 * page-sized blocks on the file system's disk, found through a direct block map (pindex → block
 * number, -1 for a hole), the in-memory shape of ufs's di_db/di_ib.
 */
import { PAGE_SIZE, type Vnode } from "@vmlab/core";

export const NO_BLOCK = -1;

export class Inode implements Vnode {
  size = 0;
  vmObject: unknown = undefined;
  /** Block map: file page index → disk block, NO_BLOCK for a hole. */
  readonly blocks: number[] = [];
  /** Entries of a directory; undefined for a regular file. */
  readonly entries: Map<string, Inode> | undefined;
  /** Open files referring to this inode. */
  opens = 0;

  constructor(
    readonly id: number,
    readonly type: "file" | "dir",
  ) {
    this.entries = type === "dir" ? new Map() : undefined;
  }

  /** Pages the file spans (the last one may be partial). */
  get pages(): number {
    return Math.ceil(this.size / PAGE_SIZE);
  }
}
