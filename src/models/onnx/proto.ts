// ONNX messages as plain objects, and their encoding with the field numbers of onnx/onnx.proto
// (IR version 8). Only what a decoder graph with initializers needs: ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto (raw little-endian data), ValueInfoProto with a tensor
// type whose dimensions are numbers or symbolic names.
import { ProtoWriter } from './protobuf.ts';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

export interface TensorInit {
  name: string;
  dataType: DataTypeId;
  dims: readonly number[];
  /** Little-endian element bytes. */
  raw: Uint8Array;
  /** Where the bytes live instead, when stored outside the .onnx file (raw is then not written). */
  external?: { location: string; offset: number; length: number };
}

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] } | { tensor: TensorInit };

export interface NodeDef {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  attrs?: Record<string, AttrValue>;
}

/** A graph input or output: element type and dims (number, or a symbolic name such as "batch_size"). */
export interface ValueInfo {
  name: string;
  dataType: DataTypeId;
  dims: readonly (number | string)[];
}

export interface ModelDef {
  graphName: string;
  nodes: readonly NodeDef[];
  initializers: readonly TensorInit[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  opset: number;
  irVersion: number;
  producer: string;
  metadata?: Record<string, string>;
}

// AttributeProto.AttributeType
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

function tensor(t: TensorInit): ProtoWriter {
  const w = new ProtoWriter();
  w.packed(1, t.dims); // dims
  w.int(2, t.dataType); // data_type
  w.string(8, t.name); // name
  if (!t.external) return w.bytes(9, t.raw); // raw_data
  const { location, offset, length } = t.external;
  for (const [k, v] of [['location', location], ['offset', String(offset)], ['length', String(length)]]) w.message(13, new ProtoWriter().string(1, k).string(2, v)); // external_data
  return w.int(14, 1); // data_location = EXTERNAL
}

function attribute(name: string, v: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx: attribute ${name} = ${v}: integers only, use { float } for a float`);
    w.int(3, v).int(20, ATTR.INT);
  } else if (typeof v === 'string') w.string(4, v).int(20, ATTR.STRING);
  else if (Array.isArray(v)) w.packed(8, v).int(20, ATTR.INTS);
  else if ('float' in v) w.float(2, v.float).int(20, ATTR.FLOAT);
  else if ('floats' in v) {
    for (const f of v.floats) w.float(7, f);
    w.int(20, ATTR.FLOATS);
  } else w.message(5, tensor(v.tensor)).int(20, ATTR.TENSOR);
  return w;
}

function node(n: NodeDef): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  return w;
}

function valueInfo(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.int(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, v.dataType).message(2, shape); // elem_type, shape
  const type = new ProtoWriter().message(1, tensorType); // TypeProto.tensor_type
  return new ProtoWriter().string(1, v.name).message(2, type);
}

export function encodeModel(m: ModelDef): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of m.nodes) graph.message(1, node(n));
  graph.string(2, m.graphName);
  for (const t of m.initializers) graph.message(5, tensor(t));
  for (const i of m.inputs) graph.message(11, valueInfo(i));
  for (const o of m.outputs) graph.message(12, valueInfo(o));

  const model = new ProtoWriter();
  model.int(1, m.irVersion); // ir_version
  model.string(2, m.producer); // producer_name
  model.message(7, graph); // graph
  model.message(8, new ProtoWriter().string(1, '').int(2, m.opset)); // opset_import (default domain)
  for (const [k, v] of Object.entries(m.metadata ?? {})) model.message(14, new ProtoWriter().string(1, k).string(2, v));
  return model.finish();
}
