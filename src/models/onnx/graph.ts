// A small builder for ONNX graphs: each op call appends a node and returns its output's name, so
// a model reads like the forward it is. Constants become initializers (named after what they are,
// shared when equal), weights are added once under their Hugging Face name.
import { DataType, type AttrValue, type DataTypeId, type NodeDef, type TensorInit, type ValueInfo } from './proto.ts';

function le(bytes: ArrayBufferView): Uint8Array {
  // Typed arrays are little-endian on every platform Node and browsers run on; ONNX raw_data is too.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly initializers: TensorInit[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private readonly consts = new Map<string, string>();
  private readonly names = new Set<string>();
  private count = 0;
  /** Bytes of initializer data so far. */
  weightBytes = 0;

  input(name: string, dataType: DataTypeId, dims: (number | string)[]): string {
    this.inputs.push({ name, dataType, dims });
    return name;
  }

  output(name: string, dataType: DataTypeId, dims: (number | string)[]): void {
    this.outputs.push({ name, dataType, dims });
  }

  /** A float initializer (weights, tables). */
  weight(name: string, dims: number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`onnx: ${name} has ${data.length} values, expected ${n} for [${dims.join(', ')}]`);
    if (this.names.has(name)) throw new Error(`onnx: initializer ${name} added twice`);
    this.names.add(name);
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, raw: le(data) });
    this.weightBytes += data.byteLength;
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, slice bounds); `scalar` makes it 0-D. */
  ints(values: number[], scalar = false): string {
    const key = `i64${scalar ? 's' : ''}:${values.join(',')}`;
    return this.constant(key, () => ({ dataType: DataType.INT64, dims: scalar ? [] : [values.length], raw: le(BigInt64Array.from(values, (v) => BigInt(v))) }));
  }

  /** A 0-D float constant. */
  scalar(v: number): string {
    return this.constant(`f32:${v}`, () => ({ dataType: DataType.FLOAT, dims: [], raw: le(Float32Array.of(v)) }));
  }

  private constant(key: string, make: () => Omit<TensorInit, 'name'>): string {
    let name = this.consts.get(key);
    if (!name) {
      name = `const_${this.consts.size}`;
      this.consts.set(key, name);
      this.initializers.push({ name, ...make() });
    }
    return name;
  }

  /** Appends `op` and returns its first output (or all of them with `outputs` > 1, via `many`). */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, output?: string): string {
    return this.many(op, inputs, 1, attrs, output ? [output] : undefined)[0];
  }

  many(op: string, inputs: string[], outputs: number, attrs?: Record<string, AttrValue>, names?: string[]): string[] {
    const id = this.count++;
    const outs = names ?? Array.from({ length: outputs }, (_, i) => `/${op}_${id}${outputs > 1 ? `_${i}` : ''}`);
    this.nodes.push({ op, inputs, outputs: outs, name: `${op}_${id}`, attrs });
    return outs;
  }
}
