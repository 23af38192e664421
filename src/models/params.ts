import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';

/** How a parameter starts in a from-scratch student. */
export type InitKind =
  | { kind: 'normal'; std: number }
  | { kind: 'zeros' }
  | { kind: 'ones' };

/** One named parameter, with Hugging Face's name and shape so a state dict maps one to one. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** AdamW weight decay applies (matrices and embeddings: yes; norms and biases: no). */
  decay: boolean;
  init: InitKind;
  /** Frozen parameters get no gradient and no optimizer state (LoRA base weights). */
  trainable?: boolean;
}

export interface ParamEntry extends ParamSpec {
  /** Element offset in its flat buffer (trainable or frozen). */
  offset: number;
  size: number;
  trainable: boolean;
}

/**
 * Where each parameter lives in the flat buffers: trainable parameters (and, with the same
 * offsets, their gradients and AdamW moments) in one, frozen ones in another. Offsets are
 * aligned so that every parameter can be bound as its own storage view.
 */
export class ParamLayout {
  readonly entries: ParamEntry[] = [];
  readonly byName = new Map<string, ParamEntry>();
  /** Elements in the trainable and frozen flat buffers (including alignment padding). */
  trainableSize = 0;
  frozenSize = 0;

  /** `alignElems`: minStorageBufferOffsetAlignment / 4 (64 covers every adapter in practice). */
  constructor(specs: readonly ParamSpec[], readonly alignElems = 64) {
    for (const s of specs) {
      if (this.byName.has(s.name)) throw new Error(`ParamLayout: parameter ${s.name} is listed twice`);
      const size = s.shape.reduce((a, b) => a * b, 1);
      const trainable = s.trainable ?? true;
      const at = trainable ? this.trainableSize : this.frozenSize;
      const offset = Math.ceil(at / alignElems) * alignElems;
      const e: ParamEntry = { ...s, trainable, offset, size };
      if (trainable) this.trainableSize = offset + size;
      else this.frozenSize = offset + size;
      this.entries.push(e);
      this.byName.set(s.name, e);
    }
  }

  get(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`no parameter named ${name}`);
    return e;
  }

  /** Number of real (non-padding) trainable parameters. */
  get trainableCount(): number {
    return this.entries.filter((e) => e.trainable).reduce((a, e) => a + e.size, 0);
  }

  get count(): number {
    return this.entries.reduce((a, e) => a + e.size, 0);
  }
}

/** The flat GPU buffers of a model and typed views of each parameter and gradient. */
export class ParamStore {
  /** (P) trainable parameters; grads, m, v share its layout. */
  readonly params: Tensor;
  readonly grads: Tensor;
  /** (P_frozen) frozen parameters, or undefined when everything trains. */
  readonly frozen?: Tensor;

  constructor(
    readonly rt: Runtime,
    readonly layout: ParamLayout,
  ) {
    const align = rt.limits.minStorageBufferOffsetAlignment / 4;
    if (layout.alignElems % align !== 0) throw new Error(`ParamLayout alignment ${layout.alignElems} elements does not satisfy this device's ${align}`);
    this.params = rt.tensor([Math.max(1, layout.trainableSize)], 'f32', 'params', true);
    this.grads = rt.tensor([Math.max(1, layout.trainableSize)], 'f32', 'grads', true);
    if (layout.frozenSize) this.frozen = rt.tensor([layout.frozenSize], 'f32', 'frozen params', true);
  }

  /** The parameter's view (trainable or frozen buffer). */
  param(name: string): Tensor {
    const e = this.layout.get(name);
    const flat = e.trainable ? this.params : this.frozen!;
    return { buffer: flat.buffer, byteOffset: e.offset * 4, shape: e.shape, dtype: 'f32', label: name };
  }

  /** The gradient's view; frozen parameters have none. */
  grad(name: string): Tensor {
    const e = this.layout.get(name);
    if (!e.trainable) throw new Error(`${name} is frozen: it has no gradient`);
    return { buffer: this.grads.buffer, byteOffset: e.offset * 4, shape: e.shape, dtype: 'f32', label: `d ${name}` };
  }

  /** Uploads named host arrays (a state dict) into their places. */
  load(weights: ReadonlyMap<string, Float32Array>): void {
    for (const e of this.layout.entries) {
      const w = weights.get(e.name);
      if (!w) throw new Error(`weights: ${e.name} is missing`);
      if (w.length !== e.size) throw new Error(`weights: ${e.name} has ${w.length} values, expected ${e.size} (shape ${e.shape.join('×')})`);
      this.rt.write(this.param(e.name), w);
    }
  }

  /** Reads every parameter back as a state dict. */
  async read(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const [flat, frozen] = await Promise.all([this.rt.read(this.params), this.frozen ? this.rt.read(this.frozen) : undefined]);
    for (const e of this.layout.entries) {
      const src = (e.trainable ? flat : frozen!) as Float32Array;
      out.set(e.name, src.slice(e.offset, e.offset + e.size));
    }
    return out;
  }

  destroy(): void {
    this.rt.free(this.params, this.grads, ...(this.frozen ? [this.frozen] : []));
  }
}
