// Activation planning: every tensor a model graph needs for one (B, T) is named and shaped up
// front, so the memory plan can be priced before anything is allocated, and build() allocates
// exactly that list once (nothing is allocated at step time).
import type { Runtime } from '../gpu/runtime.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import { byteSize, numel } from '../gpu/tensor.ts';

/** Name → shape (f32 unless listed in `dtypes`). */
export type ShapePlan = Record<string, number[]>;

export function planBytes(plan: ShapePlan): number {
  return Object.values(plan).reduce((a, s) => a + 4 * numel(s), 0);
}

/** The allocated tensors of a plan, by name. */
export class Activations {
  private readonly byName = new Map<string, Tensor>();
  /** What to free: one tensor per allocation (a group's members are views of one). */
  private readonly owned: Tensor[] = [];

  /**
   * `groups`: names to place back to back in one buffer (each at an offset aligned for binding),
   * so that an op may treat them as one batched tensor: q, k, v of a block for one batched
   * projection (src/nn/linear.ts linearForwardMany). Members missing from the plan are skipped.
   */
  constructor(
    private readonly rt: Runtime,
    plan: ShapePlan,
    dtypes: Record<string, DType> = {},
    groups: string[][] = [],
  ) {
    const align = rt.limits.minStorageBufferOffsetAlignment;
    const grouped = new Set<string>();
    for (const names of groups) {
      const members = names.filter((n) => plan[n] && (dtypes[n] ?? 'f32') === 'f32');
      if (members.length < 2) continue;
      const offsets: number[] = [];
      let end = 0;
      for (const n of members) {
        const at = Math.ceil(end / align) * align;
        offsets.push(at);
        end = at + byteSize({ shape: plan[n], dtype: 'f32' });
      }
      if (end > Math.min(rt.limits.maxStorageBufferBindingSize, rt.limits.maxBufferSize)) continue; // allocated one by one below
      const base = rt.tensor([end / 4], 'f32', members.join('+'));
      this.owned.push(base);
      members.forEach((n, i) => {
        this.byName.set(n, { buffer: base.buffer, byteOffset: offsets[i], shape: [...plan[n]], dtype: 'f32', label: n });
        grouped.add(n);
      });
    }
    for (const [name, shape] of Object.entries(plan)) {
      if (grouped.has(name)) continue;
      const t = rt.tensor(shape, dtypes[name] ?? 'f32', name);
      this.byName.set(name, t);
      this.owned.push(t);
    }
  }

  get(name: string): Tensor {
    const t = this.byName.get(name);
    if (!t) throw new Error(`activation ${name} was not planned`);
    return t;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  all(): Tensor[] {
    return [...this.byName.values()];
  }

  destroy(): void {
    this.rt.free(...this.owned);
    this.owned.length = 0;
    this.byName.clear();
  }
}
