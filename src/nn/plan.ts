// Activation planning: every tensor a model graph needs for one (B, T) is named and shaped up
// front, so the memory plan can be priced before anything is allocated, and build() allocates
// exactly that list once (nothing is allocated at step time).
import type { Runtime } from '../gpu/runtime.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import { numel } from '../gpu/tensor.ts';

/** Name → shape (f32 unless listed in `dtypes`). */
export type ShapePlan = Record<string, number[]>;

export function planBytes(plan: ShapePlan): number {
  return Object.values(plan).reduce((a, s) => a + 4 * numel(s), 0);
}

/** The allocated tensors of a plan, by name. */
export class Activations {
  private readonly byName = new Map<string, Tensor>();

  constructor(
    private readonly rt: Runtime,
    plan: ShapePlan,
    dtypes: Record<string, DType> = {},
  ) {
    for (const [name, shape] of Object.entries(plan)) this.byName.set(name, rt.tensor(shape, dtypes[name] ?? 'f32', name));
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
    this.rt.free(...this.byName.values());
    this.byName.clear();
  }
}
