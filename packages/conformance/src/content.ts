/**
 * What a page of the reference model holds: the bytes a process reads there and what a store does
 * to them. Three kinds, one interface (`PageContent`):
 *
 *  - `Cell`: one page of anonymous memory (private, MAP_SHARED anonymous, or a SysV segment page);
 *  - `FileView`: a MAP_SHARED page of a file — the file's own page in the merged cache, so
 *    read(2), write(2) and every other mapper see the same bytes (docs/decisions/0007);
 *  - `PrivateView`: a MAP_PRIVATE page of a file — the file's page until the first write to it in
 *    that mapping, then a private copy (Cell) made at that moment.
 *
 * A `ModelFile` is a size and a cell per page. Bytes past EOF in the last partial page read zero
 * (POSIX mmap: "the system shall always zero-fill any partial page at the end of an object");
 * a store there through a mapping is not part of the file, and whether it survives the page being
 * cleaned and read back is left open by the BSDs, so such bytes are unknown until written inside
 * the file. A page wholly past EOF does not exist: an access there is SIGBUS.
 */
import { PAGE_SIZE } from "@vmlab/core";

const P = PAGE_SIZE;

/** The bytes behind one virtual page of the model. */
export interface PageContent {
  /** The byte at offset i of the page; null where the value is unknown. */
  byte(i: number): number | null;
  /** A store of v at offset i (call only when the access is allowed and the page exists). */
  write(i: number, v: number): void;
  /** The byte becomes unknown (a value copied from unknown bytes, e.g. read(2) of such a file byte). */
  forgetByte(i: number): void;
  /** The contents are left open (MADV_FREE, msync MS_INVALIDATE of anonymous memory). */
  forget(): void;
  /** The page lies wholly past the end of its file: any access is SIGBUS. */
  pastEof(): boolean;
  /** What a child gets for this page under INHERIT_COPY. */
  forkCopy(): PageContent;
}

/** A content cell: one page of bytes, possibly shared by several processes. */
export class Cell implements PageContent {
  /** null until first written: fresh anonymous memory reads zero. */
  data: Uint8Array | null = null;
  /** null when every byte is known; otherwise 1 marks a known byte. */
  known: Uint8Array | null = null;

  /** @param object the cell is a MAP_SHARED object page (see INHERIT_COPY in `BsdModel.fork`). */
  constructor(readonly object: boolean) {}

  byte(i: number): number | null {
    if (this.known !== null && this.known[i] === 0) return null;
    return this.data === null ? 0 : this.data[i]!;
  }

  write(i: number, v: number): void {
    if (this.data === null) this.data = new Uint8Array(P);
    this.data[i] = v & 0xff;
    if (this.known !== null) this.known[i] = 1;
  }

  forgetByte(i: number): void {
    if (this.known === null) this.known = new Uint8Array(P).fill(1);
    this.known[i] = 0;
  }

  /** The BSDs leave the contents open (MADV_FREE, MS_INVALIDATE): accept anything until written. */
  forget(): void {
    this.known = new Uint8Array(P);
  }

  pastEof(): boolean {
    return false;
  }

  /** INHERIT_COPY: a snapshot; unknown bytes for a MAP_SHARED object page (the BSDs differ). */
  forkCopy(): PageContent {
    return this.copy(false, this.object);
  }

  /** A private snapshot (copy-on-write resolved eagerly). */
  copy(object: boolean, unknown: boolean): Cell {
    const c = new Cell(object);
    if (this.data !== null) c.data = this.data.slice();
    if (unknown) c.known = new Uint8Array(P);
    else if (this.known !== null) c.known = this.known.slice();
    return c;
  }

  /** Byte i becomes zero (truncation zero-fills the partial page past the new EOF). */
  zero(i: number): void {
    if (this.data !== null) this.data[i] = 0;
    if (this.known !== null) this.known[i] = 1;
  }
}

/** A regular file: its size and a cell per page (index = page of the file). */
export class ModelFile {
  size: number;
  readonly pages: Cell[] = [];

  constructor(
    readonly path: string,
    bytes: Uint8Array = new Uint8Array(0),
  ) {
    this.size = 0;
    this.write(0, bytes);
  }

  /** Pages the file spans (the last one may be partial). */
  get npages(): number {
    return Math.ceil(this.size / P);
  }

  /** The byte at file offset `off` as a mapping sees it (within the pages that exist). */
  byte(off: number): number | null {
    const c = this.pages[Math.floor(off / P)];
    return c === undefined ? 0 : c.byte(off % P);
  }

  /** A store through a MAP_SHARED mapping: past EOF (in the last partial page) it is not file data. */
  store(off: number, v: number): void {
    const c = this.cell(Math.floor(off / P));
    if (off >= this.size) c.forgetByte(off % P);
    else c.write(off % P, v);
  }

  /** A byte whose value is unknown lands in the file (write(2) from unknown user bytes). */
  storeUnknown(off: number): void {
    this.cell(Math.floor(off / P)).forgetByte(off % P);
  }

  /** write(2) at `off`: the file grows to cover it; a gap reads zero (or stays unknown). */
  write(off: number, bytes: ArrayLike<number | null>): void {
    const end = off + bytes.length;
    if (end > this.size) this.resize(end);
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === null || b === undefined) this.storeUnknown(off + i);
      else this.cell(Math.floor((off + i) / P)).write((off + i) % P, b);
    }
  }

  /** The bytes read(2) returns for [off, off+n) (the caller clips n to the size). */
  read(off: number, n: number): (number | null)[] {
    const out: (number | null)[] = [];
    for (let i = 0; i < n; i++) out.push(this.byte(off + i));
    return out;
  }

  /**
   * ftruncate(2): shrinking drops the pages wholly past the new EOF and zero-fills the rest of the
   * new last page; growing adds zero pages.
   */
  truncate(len: number): void {
    if (len < this.size) {
      const keep = Math.ceil(len / P);
      this.pages.length = Math.min(this.pages.length, keep);
      const tail = this.pages[keep - 1];
      if (tail !== undefined && len % P !== 0) for (let i = len % P; i < P; i++) tail.zero(i);
    }
    this.resize(len);
  }

  private resize(len: number): void {
    this.size = len;
    while (this.pages.length < this.npages) this.pages.push(new Cell(true));
  }

  private cell(pindex: number): Cell {
    const c = this.pages[pindex];
    if (c === undefined) throw new RangeError(`model: ${this.path} has no page ${pindex}`);
    return c;
  }

  /** The cell of an existing page (for views). */
  page(pindex: number): Cell | undefined {
    return pindex < this.npages ? this.pages[pindex] : undefined;
  }
}

/** A MAP_SHARED page of a file: the file's own page. */
export class FileView implements PageContent {
  constructor(
    readonly file: ModelFile,
    readonly pindex: number,
  ) {}

  byte(i: number): number | null {
    return this.file.byte(this.pindex * P + i);
  }

  write(i: number, v: number): void {
    this.file.store(this.pindex * P + i, v);
  }

  forgetByte(i: number): void {
    this.file.storeUnknown(this.pindex * P + i);
  }

  /**
   * MS_INVALIDATE cleans before it frees on every BSD (vm_object_page_clean / uvm_map_clean
   * PGO_CLEANIT / vm_object_sync), so the file's bytes stay. MADV_FREE is not issued on file pages
   * by the harness (the BSDs differ; README "Semantics decisions").
   */
  forget(): void {}

  pastEof(): boolean {
    return this.pindex >= this.file.npages;
  }

  /** INHERIT_COPY of a MAP_SHARED file page: a snapshot whose bytes are unknown (as for anonymous objects). */
  forkCopy(): PageContent {
    const c = new Cell(false);
    c.forget();
    return c;
  }
}

/** A MAP_PRIVATE page of a file: the file's page until the first write, then a private copy. */
export class PrivateView implements PageContent {
  constructor(
    readonly file: ModelFile,
    readonly pindex: number,
    /** The private copy, made by the first write (null: the page still shows the file). */
    public copy: Cell | null = null,
  ) {}

  byte(i: number): number | null {
    return this.copy !== null ? this.copy.byte(i) : this.file.byte(this.pindex * P + i);
  }

  /** Copy-on-write: the first store copies the file's page as it is now. */
  materialize(): Cell {
    if (this.copy === null) {
      const src = this.file.page(this.pindex);
      if (src === undefined) throw new RangeError(`model: copy of ${this.file.path} page ${this.pindex} past EOF`);
      this.copy = src.copy(false, false);
    }
    return this.copy;
  }

  write(i: number, v: number): void {
    this.materialize().write(i, v);
  }

  forgetByte(i: number): void {
    this.materialize().forgetByte(i);
  }

  forget(): void {
    this.copy?.forget();
  }

  pastEof(): boolean {
    return this.copy === null && this.pindex >= this.file.npages;
  }

  /** The child follows the same rule: the file until its own first write, or a copy of ours. */
  forkCopy(): PageContent {
    return new PrivateView(this.file, this.pindex, this.copy === null ? null : this.copy.copy(false, false));
  }
}

/** struct file: an open file entry, shared by the descriptors that fork duplicates. */
export interface ModelOpenFile {
  readonly file: ModelFile;
  /** O_ACCMODE | O_APPEND bits. */
  readonly flags: number;
  offset: number;
}
