import type { ByteSource } from './fileAccess';
import { ProtoBuffer, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protobuf';

/**
 * Loads a protobuf file for a reader that records large payloads (tensor
 * bytes) as spans and never looks inside them: the file is walked through
 * windowed reads, those payloads are stepped over instead of read (or dropped
 * from memory when a window already brought them in), and everything else is
 * kept in one buffer. A 100 MB model whose bytes are nearly all tensor data costs
 * one small read per large tensor and a few hundred KB of memory, instead of
 * 100 MB of fresh memory (the dear part of reading a file: 20–90 µs per 4 KiB
 * page first touched on a busy VM).
 *
 * The result is a ProtoBuffer over the runs between those payloads, at their
 * file positions, so the reader's parse and every bound check run exactly as
 * over the whole file. The walk is only a plan: it never reports errors.
 * Anything it does not understand (a bad key, a length past the end of its
 * message, nesting past the depth limit) ends the plan, and everything from
 * there on is read, so the parser meets the same bytes and throws the same
 * ModelFormatError as it would over the whole file.
 */

/**
 * Per message type: `messages` maps LEN fields to the type of message they hold
 * (walked into when large); `opaque` lists LEN fields whose payload the parser
 * only measures (it must never read their bytes), which are left out when large.
 * It must agree with the parser; a disagreement is caught by ProtoBuffer, which
 * refuses to read a skipped byte.
 */
export interface SkimSchema {
  readonly [type: string]: { readonly messages?: Readonly<Record<number, string>>; readonly opaque?: readonly number[] };
}

export interface SkimOptions {
  /** Message type of the whole file, a key of the schema. */
  root: string;
  /** Nesting limit, as for the parser: the walk stops planning past it. */
  maxDepth: number;
  /** Opaque payloads (and messages to walk into) smaller than this are kept with their neighbours. */
  skipBytes?: number;
  /** First read, and first read after leaving out a large payload; doubles with each read. */
  windowBytes?: number;
  maxWindowBytes?: number;
  /** Leaving out a payload at least this large sends the window back to windowBytes. */
  jumpBytes?: number;
}

export interface Skimmed {
  buffer: ProtoBuffer;
  /** Bytes left out (unread, or read with a window and dropped). */
  skippedBytes: number;
  /** Reads issued. */
  reads: number;
}

/**
 * Leaving a payload out costs a run boundary (and, when it is already in
 * memory, moving the rest of the window down); it also keeps the runs free of
 * bias vectors and the like, so the buffer stays small. Reads are not the
 * question: stepping past a payload that runs beyond the window takes the same
 * one read as reading on through it.
 */
const DEFAULT_SKIP_BYTES = 1024;
/** Enough for a tensor's name, dims and the key of its data. */
const DEFAULT_WINDOW_BYTES = 4 * 1024;
const DEFAULT_MAX_WINDOW_BYTES = 1 << 20;
/**
 * The window doubles while the walk meets small messages (a graph's nodes, bias
 * vectors), so that a run of them costs few reads. A payload at least this large
 * ends such a run: the window goes back to its minimum, so that the reads that
 * follow bring in the next tensor's name and dims, not its values. Below it,
 * reading through a payload costs less than stepping over it: a read from the
 * page cache costs about 3 µs plus 0.08 µs per KiB here (2 cores, Node 20), so
 * one read more costs as much as copying some 40 KiB.
 */
const DEFAULT_JUMP_BYTES = 32 * 1024;
/** A key and a length (or a varint value) fit in this. */
const FIELD_HEAD_BYTES = 20;
/**
 * Blocking reads are used while they come from the page cache (microseconds
 * each, against tens through the thread pool). A few slower than this (a disk
 * or a network file system; one alone may just be the process being preempted
 * on a busy machine) send the rest of the walk through the thread pool, so the
 * caller's event loop is never held up by I/O for long.
 */
const SLOW_SYNC_READ_MS = 2;
const SLOW_SYNC_READS = 3;

export async function skimProtobuf(source: ByteSource, schema: SkimSchema, options: SkimOptions): Promise<Skimmed> {
  const skim = new Skimmer(source, schema, options);
  return skim.run();
}

/** A run of loaded bytes: file offset `start`, `length` bytes at `at` in the arena. */
interface Run {
  start: number;
  at: number;
  length: number;
}

class Skimmer {
  private readonly runs: Run[] = [];
  /**
   * Every loaded run, back to back: one buffer, so the walk touches little fresh
   * memory. Payloads left out of a window leave holes in it until the next read,
   * which first moves the runs of the window down (compact()): each byte moves
   * once, where moving the rest of the window at every payload left out would
   * cost a window per payload.
   */
  private arena: Uint8Array;
  /** runs[0, compacted) lie back to back from arena[0]; compactEnd is where they end. */
  private compacted = 0;
  private compactEnd = 0;
  /** The current run: file bytes [runStart, loadedTo) are at arena[runAt…]. */
  private runStart = 0;
  private runAt = 0;
  private loadedTo = 0;
  private window: number;
  private stopped = false;
  private sync: boolean;
  private slowReads = 0;
  private skippedBytes = 0;
  private reads = 0;
  private readonly size: number;
  private readonly skipBytes: number;
  private readonly minWindow: number;
  private readonly maxWindow: number;
  private readonly jumpBytes: number;

  constructor(
    private readonly source: ByteSource,
    private readonly schema: SkimSchema,
    private readonly options: SkimOptions,
  ) {
    this.size = source.size;
    this.skipBytes = Math.max(1, options.skipBytes ?? DEFAULT_SKIP_BYTES);
    this.minWindow = Math.max(1, options.windowBytes ?? DEFAULT_WINDOW_BYTES);
    this.maxWindow = Math.max(this.minWindow, options.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES);
    this.jumpBytes = Math.max(1, options.jumpBytes ?? DEFAULT_JUMP_BYTES);
    this.window = this.minWindow;
    this.sync = source.readIntoSync !== undefined;
    // A Buffer, so that the runs are Buffers too and the parser decodes names from them without a view each.
    this.arena = Buffer.allocUnsafeSlow(Math.min(this.size, 64 * 1024));
  }

  async run(): Promise<Skimmed> {
    // A file smaller than a skip has nothing worth skipping.
    if (this.size >= this.skipBytes) await this.walk();
    this.stopped = true;
    await this.need(this.size, 0);
    this.endRun(this.size);
    return {
      buffer: new ProtoBuffer({ arena: this.arena, runs: this.runs }, { maxDepth: this.options.maxDepth, length: this.size }),
      skippedBytes: this.skippedBytes,
      reads: this.reads,
    };
  }

  /**
   * Depth-first over the messages worth a look, in file order. A loop over an
   * explicit stack rather than recursion: one async frame for the whole walk,
   * suspended only when a read goes through the thread pool.
   */
  private async walk(): Promise<void> {
    // The messages the walk is in, innermost last: their types and where they end (two lists, not an object per message).
    const specs: SkimSchema[string][] = [this.schema[this.options.root] ?? {}];
    const ends: number[] = [this.size];
    let pos = 0;
    while (specs.length > 0) {
      const spec = specs[specs.length - 1]!;
      const end = ends[ends.length - 1]!;
      if (pos >= end) {
        specs.pop();
        ends.pop();
        continue;
      }
      if (pos + FIELD_HEAD_BYTES > this.loadedTo) {
        const pending = this.need(pos, FIELD_HEAD_BYTES);
        if (pending) await pending;
      }
      const key = this.varint(pos, end);
      if (key < 0) return this.stop();
      const wire = key % 8;
      // Exact division: a fraction would be boxed as a heap number in unoptimised code.
      const field = (key - wire) / 8;
      if (field < 1) return this.stop();
      let payload = this.after;
      let next: number;
      switch (wire) {
        case WIRE_VARINT:
          if (this.varint(payload, end, 10) < 0) return this.stop();
          next = this.after;
          break;
        case WIRE_FIXED64:
          next = payload + 8;
          break;
        case WIRE_FIXED32:
          next = payload + 4;
          break;
        case WIRE_LEN: {
          const length = this.varint(payload, end);
          if (length < 0) return this.stop();
          payload = this.after;
          next = payload + length;
          break;
        }
        default:
          return this.stop();
      }
      if (next > end) return this.stop();
      if (wire === WIRE_LEN && next - payload >= this.skipBytes) {
        const inner = spec.messages?.[field];
        if (inner !== undefined) {
          // The message's fields come next; when they end, its parent's resume at `next`.
          if (specs.length > this.options.maxDepth) return this.stop();
          specs.push(this.schema[inner] ?? {});
          ends.push(next);
          pos = payload;
          continue;
        }
        if (spec.opaque?.includes(field)) this.leaveOut(payload, next);
      }
      pos = next;
    }
  }

  /** Ends planning: everything not read yet will be. */
  private stop(): void {
    this.stopped = true;
  }

  /**
   * Reads on from loadedTo until [pos, pos+count) is loaded (clipped to the file).
   * Returns a promise only when the read went through the thread pool.
   */
  private need(pos: number, count: number): Promise<void> | undefined {
    const want = Math.min(pos + count, this.size);
    if (want <= this.loadedTo) return undefined;
    const end = this.stopped ? this.size : Math.min(this.size, Math.max(want, this.loadedTo + this.window));
    this.compact();
    const at = this.runAt + (this.loadedTo - this.runStart);
    this.reserve(at + (end - this.loadedTo));
    const target = this.arena.subarray(at, at + (end - this.loadedTo));
    const offset = this.loadedTo;
    this.loadedTo = end;
    this.reads++;
    this.window = Math.min(this.window * 2, this.maxWindow);
    const source = this.source;
    if (this.sync && target.length <= this.maxWindow) {
      const t0 = performance.now();
      source.readIntoSync!(offset, target);
      if (performance.now() - t0 > SLOW_SYNC_READ_MS && ++this.slowReads >= SLOW_SYNC_READS) this.sync = false;
      return undefined;
    }
    if (source.readInto) return source.readInto(offset, target);
    return source.read(offset, target.length).then((bytes) => target.set(bytes));
  }

  /** Grows the arena to hold `bytes`, keeping what it holds. */
  private reserve(bytes: number): void {
    if (bytes <= this.arena.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(bytes, Math.min(this.arena.length * 2, this.size)));
    grown.set(this.arena.subarray(0, this.runAt + (this.loadedTo - this.runStart)));
    this.arena = grown;
  }

  /** Moves the runs a window left holes between, and the current run, down to follow the compact ones. */
  private compact(): void {
    const arena = this.arena;
    let to = this.compactEnd;
    for (let i = this.compacted; i < this.runs.length; i++) {
      const run = this.runs[i]!;
      if (run.at !== to) arena.copyWithin(to, run.at, run.at + run.length);
      run.at = to;
      to += run.length;
    }
    this.compacted = this.runs.length;
    this.compactEnd = to;
    const loaded = this.loadedTo - this.runStart;
    if (this.runAt !== to && loaded > 0) arena.copyWithin(to, this.runAt, this.runAt + loaded);
    this.runAt = to;
  }

  /**
   * Leaves [start, end) out: the run so far ends at start, the next begins at
   * end. What a window already read past `end` stays where it is until the next
   * read compacts the arena.
   */
  private leaveOut(start: number, end: number): void {
    // Arena position minus file position, for the bytes the current window loaded.
    const shift = this.runAt - this.runStart;
    this.endRun(start);
    this.skippedBytes += end - start;
    if (end - start >= this.jumpBytes) this.window = this.minWindow;
    if (end < this.loadedTo) {
      this.runAt = end + shift;
    } else {
      this.loadedTo = end;
    }
    this.runStart = end;
  }

  private endRun(end: number): void {
    const length = end - this.runStart;
    if (length > 0) this.runs.push({ start: this.runStart, at: this.runAt, length });
    this.runAt += Math.max(0, length);
  }

  /** Where the last varint() ended. */
  private after = 0;

  /**
   * A varint of at most `maxBytes` within [pos, limit) and the loaded bytes
   * (its end goes to `after`), or -1 if there is none. Values of 8–10 bytes
   * (only skipped over) read as 0.
   */
  private varint(pos: number, limit: number, maxBytes = 7): number {
    const stop = Math.min(limit, this.loadedTo);
    const arena = this.arena;
    const shift = this.runAt - this.runStart;
    let value = 0;
    let scale = 1;
    for (let p = pos, i = 0; i < maxBytes && p < stop; i++, p++) {
      const b = arena[p + shift]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        this.after = p + 1;
        return i < 7 ? value : 0;
      }
      scale *= 128;
    }
    return -1;
  }
}
