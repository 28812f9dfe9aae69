/**
 * Captured command output with a hard cap. A runaway command (1 GB of logs) must not
 * take the worker's memory or a Temporal payload with it, yet the end of a test run is
 * where the failure is, so the head and the tail are kept and the cut is stated.
 */
import { StringDecoder } from 'node:string_decoder';

/** @default 1 MiB per stream */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

export class CappedOutput {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly maxBytes: number = DEFAULT_MAX_OUTPUT_BYTES,
    private readonly onText?: (chunk: string) => void,
  ) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.onText) {
      const text = this.decoder.write(chunk);
      if (text) this.onText(text);
    }
    const headCap = Math.floor(this.maxBytes / 4);
    if (this.headBytes < headCap) {
      const take = chunk.subarray(0, headCap - this.headBytes);
      this.head.push(take);
      this.headBytes += take.length;
      chunk = chunk.subarray(take.length);
      if (chunk.length === 0) return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    const tailCap = this.maxBytes - headCap;
    if (this.tailBytes > tailCap * 2) this.trimTail(tailCap);
  }

  /** The captured text; when bytes were dropped, a line in the middle says how many. */
  text(): string {
    const tailCap = this.maxBytes - Math.floor(this.maxBytes / 4);
    this.trimTail(tailCap);
    const head = Buffer.concat(this.head).toString('utf8');
    const tail = Buffer.concat(this.tail).toString('utf8');
    const cut = this.total - this.headBytes - this.tailBytes;
    if (cut <= 0) return head + tail;
    return `${head}\n[… output cut: ${cut} of ${this.total} bytes not kept (cap ${this.maxBytes} bytes per stream) …]\n${tail}`;
  }

  private trimTail(cap: number): void {
    if (this.tailBytes <= cap) return;
    const all = Buffer.concat(this.tail);
    const kept = all.subarray(all.length - cap);
    this.tail = [Buffer.from(kept)];
    this.tailBytes = kept.length;
  }
}
