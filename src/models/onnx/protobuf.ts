// The few protobuf wire-format pieces ONNX needs to be written: varints (int32/int64/enums,
// negative values as 10-byte two's complement), fixed32 floats and length-delimited fields
// (strings, bytes, nested messages, packed repeated ints). A message is kept as a list of chunks
// and never flattened until the very end, so a weight tensor's bytes are copied once, into the
// final file, however deeply it is nested.

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  /** Bytes written so far, nested messages included. */
  length = 0;

  private flush(): void {
    if (this.scratch.length === 0) return;
    this.chunks.push(Uint8Array.from(this.scratch));
    this.scratch = [];
  }

  private byte(b: number): void {
    this.scratch.push(b);
    this.length++;
  }

  /** Unsigned or signed integer as a varint (int64 semantics: negatives take 10 bytes). */
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`protobuf: ${v} is not a safe integer`);
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
    return this;
  }

  private tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    return this.varint(v);
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.byte(x);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    this.flush();
    this.chunks.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** A nested message, its chunks taken over without copying. */
  message(field: number, m: ProtoWriter): this {
    this.tag(field, 2);
    this.varint(m.length);
    this.flush();
    m.flush();
    this.chunks.push(...m.chunks);
    this.length += m.length;
    return this;
  }

  /** Packed repeated varints (proto3 default; proto2 parsers accept it too). */
  packed(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    this.tag(field, 2);
    this.varint(inner.length);
    inner.flush();
    this.flush();
    this.chunks.push(...inner.chunks);
    this.length += inner.length;
    return this;
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
