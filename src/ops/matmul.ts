// Matrix multiply, the kernel behind every linear layer and its backward:
//   forward  y = x·Wᵀ (NT, Hugging Face (out, in) weights) or x·W (NN, gpt2 Conv1D weights)
//   backward dx = dy·W (NN) or dy·Wᵀ (NT), dW = dyᵀ·x (TN), accumulated into the gradient.
// Letters: Z batch, M rows of out, N columns of out, K the inner (summed) dimension.
import { OpError } from '../gpu/errors.ts';
import type { Dispatch, Runtime } from '../gpu/runtime.ts';
import { shapeStr, type DType, type Tensor } from '../gpu/tensor.ts';
import { specialize } from '../gpu/wgsl.ts';
import plainCode from '../../shaders/matmul.wgsl?raw';
import subgroupCode from '../../shaders/matmul_subgroup.wgsl?raw';
import rowsCode from '../../shaders/matmul_rows.wgsl?raw';
import { ceilDiv, expectDType, expectRank } from './check.ts';

/** Rows of out per invocation in each shader (their `const TM`). */
const TM_PLAIN = 8;
const TM_SUBGROUP = 16;
const TM_SUBGROUP_VEC4 = 24; // nn4, nt4 and tn4 of the subgroup shader (its `const TMV`)
/**
 * Rows (and columns) of out per workgroup of matmul_rows.wgsl, the common path on CPU adapters
 * (the LM head's logits among others): callers that choose a row count (LM head chunks) use
 * multiples of it. On GPUs the 24-row kernels then end a chunk with one partly filled tile.
 */
export const MATMUL_ROW_TILE = 32;
// Where matmul_rows.wgsl is used (with rowTiles): more than 16 rows (which also keeps the
// placeholder bound for a missing bias, a, at the 16 bytes of its vec4 binding), and K from 256 to
// 4096 (see rowTiles).
const ROWS_MIN_M = 17;
const ROWS_MIN_K = 256;
const ROWS_MAX_K = 4096;

/**
 * Per-adapter choices. Defaults, measured on lavapipe (2 cores, AVX2 8-wide lanes) at 1024³:
 * the subgroup kernel with one 8-lane subgroup per workgroup ≈35 GFLOP/s; the plain kernel
 * ≈12 GFLOP/s whatever its workgroup shape (its cost is the per-lane loads of a). On GPUs,
 * workgroups of 8 would leave most of a 32/64-wide wave idle, so they get 64 invocations
 * (subgroup kernel: 16 rows × 256 columns per workgroup) or 16×8 (plain: 64 rows × 64 columns).
 */
export interface MatmulTuning {
  /** Use matmul_subgroup.wgsl when the device has subgroups of at least 8 lanes. */
  subgroups: boolean;
  /** Use the vec4 entry points where the layout and sizes allow (nn4, nt4, tn4; see matmul()). */
  vec4: boolean;
  /**
   * Use matmul_rows.wgsl (lanes own rows of a 32 × 32 tile) on the subgroup kernel's vec4 path when
   * N % 4 == 0, there are more than 16 rows and 256 ≤ K ≤ 4096. Default on CPU adapters only:
   * measured on lavapipe at the shapes of a training step (K 256 to 1024), NT 1.07-1.21×, NN
   * 0.98-1.10×, TN 1.00-1.14× the 24-row kernels, 1.05-1.07× over a step's matmuls; at the 49152
   * vocabulary's LM head the NT logits (K 256) 1.17×, but K = 49152 (NN, 0.79×) and a 160-row
   * chunk as K (TN, 0.93×) slower, hence the K range. Unmeasured on GPUs, where 8-lane workgroups
   * would leave most of a wave idle.
   */
  rowTiles: boolean;
  /** Workgroup width of the subgroup kernel (a multiple of the subgroup size). */
  subgroupWgx: number;
  /** Workgroup shape of the plain kernel. */
  wgx: number;
  wgy: number;
}

const tunings = new WeakMap<Runtime, MatmulTuning>();

/** The tuning in force for this runtime. */
export function matmulTuning(rt: Runtime): MatmulTuning {
  let t = tunings.get(rt);
  if (!t) {
    const cpu = rt.isCpuAdapter;
    t = {
      subgroups: rt.features.subgroups && rt.minSubgroupSize >= 8,
      vec4: true,
      rowTiles: cpu,
      subgroupWgx: cpu ? 8 : 64,
      wgx: 16,
      wgy: cpu ? 1 : 8,
    };
    tunings.set(rt, t);
  }
  return t;
}

/** Overrides part of the tuning (benchmarks, per-adapter tuning). */
export function setMatmulTuning(rt: Runtime, t: Partial<MatmulTuning>): void {
  const cur = matmulTuning(rt);
  if (t.subgroups && !(rt.features.subgroups && rt.minSubgroupSize >= 8)) {
    throw new OpError('matmul', 'subgroups were requested but the device has no subgroups of 8 or more lanes');
  }
  tunings.set(rt, { ...cur, ...t });
}

/** Floating-point operations of one matmul (an FMA counts as 2). */
export function matmulFlops(M: number, N: number, K: number, batch = 1): number {
  return 2 * M * N * K * batch;
}

export interface MatmulArgs {
  out: Tensor; // (M, N) or (Z, M, N); f32, or f16
  a: Tensor; // (M, K), or (K, M) when transA; optional leading Z
  b: Tensor; // (K, N), or (N, K) when transB; optional leading Z, a 2D b is shared by the batch
  bias?: Tensor; // (N), same dtype as out, added to every row (not scaled by alpha)
  transA?: boolean;
  transB?: boolean;
  /** out += alpha·a·b (+ bias) instead of out = ... */
  accumulate?: boolean;
  alpha?: number;
  /** Walk row tiles fastest (default: when b is much larger than a and than SWAP_MIN_BYTES). */
  swapGrid?: boolean;
}

/** Below this size b stays in cache whatever the order of the workgroups. */
const SWAP_MIN_BYTES = 8 << 20;

/** out = alpha · op(a)·op(b) + bias, or out += the same when `accumulate`. */
export function matmul(rt: Runtime, args: MatmulArgs): Dispatch[] {
  const op = 'matmul';
  const { out, a, b, bias, transA = false, transB = false, accumulate = false, alpha = 1 } = args;
  const desc = () => `a ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} · b ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''} → out ${shapeStr(out.shape)}`;

  expectDType(op, 'a', a, 'f32', 'f16');
  expectDType(op, 'b', b, a.dtype);
  expectDType(op, 'out', out, 'f32', 'f16');
  if ((a.dtype === 'f16' || out.dtype === 'f16') && !rt.features.f16) {
    throw new OpError(op, `f16 tensors need the shader-f16 feature, which this device does not have (${desc()})`);
  }
  expectRank(op, 'a', a, 2, 3);
  expectRank(op, 'b', b, 2, 3);
  // A 2D operand is shared by every batch of a 3D one (stride 0): one x against several weights
  // (fused projections), or one weight against a batch of inputs.
  const batched = a.shape.length === 3 || b.shape.length === 3;
  expectRank(op, 'out', out, batched ? 3 : 2);
  const Z = a.shape.length === 3 ? a.shape[0] : b.shape.length === 3 ? b.shape[0] : 1;
  if (a.shape.length === 3 && b.shape.length === 3 && b.shape[0] !== Z) {
    throw new OpError(op, `a and b have different batch sizes, ${Z} and ${b.shape[0]} (${desc()})`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  for (const [name, v] of [['M', M], ['N', N], ['K', K], ['batch', Z]] as const) {
    if (!(Number.isInteger(v) && v > 0)) throw new OpError(op, `${name} must be a positive integer, got ${v} (${desc()})`);
  }
  if (K !== Kb) throw new OpError(op, `inner dimensions differ: ${K} vs ${Kb} (${desc()})`);
  const want = batched ? [Z, M, N] : [M, N];
  if (out.shape.some((d, i) => d !== want[i])) {
    throw new OpError(op, `out (${out.label}) has shape ${shapeStr(out.shape)}, expected ${shapeStr(want)} (${desc()})`);
  }
  if (bias) {
    expectDType(op, 'bias', bias, out.dtype);
    if (bias.shape.length !== 1 || bias.shape[0] !== N) {
      throw new OpError(op, `bias (${bias.label}) has shape ${shapeStr(bias.shape)}, expected (${N}) (${desc()})`);
    }
  }
  if (!Number.isFinite(alpha)) throw new OpError(op, `alpha must be a finite number, got ${alpha}`);

  const t = matmulTuning(rt);
  const sg = t.subgroups;
  // vec4 entry points: NN needs K and N multiples of 4; NT (subgroup kernel only) needs K; TN
  // (subgroup kernel only, the weight gradients) needs M and N, since a and b are read along them.
  const nn4 = t.vec4 && !transA && !transB && K % 4 === 0 && N % 4 === 0;
  const nt4 = t.vec4 && sg && !transA && transB && K % 4 === 0;
  const tn4 = t.vec4 && sg && transA && !transB && M % 4 === 0 && N % 4 === 0;
  const vec4 = nn4 || nt4 || tn4;
  // matmul_rows.wgsl writes out a vec4 at a time; with few rows (decode steps, bias gradients) most
  // of its 32-row tile would be wasted. Its K range is where it was measured faster (see rowTiles).
  const rows = vec4 && sg && t.rowTiles && N % 4 === 0 && M >= ROWS_MIN_M && K >= ROWS_MIN_K && K <= ROWS_MAX_K;
  const entry = rows ? (nn4 ? 'nn' : nt4 ? 'nt' : 'tn') : nn4 ? 'nn4' : nt4 ? 'nt4' : tn4 ? 'tn4' : 'strided';
  // nn4/nt4/tn4 own 24 rows per lane, except for a few rows (decode steps, bias gradients), where
  // the third block would be wasted work.
  const third = vec4 && sg && M > TM_SUBGROUP;
  const tm = !sg ? TM_PLAIN : third ? TM_SUBGROUP_VEC4 : TM_SUBGROUP;
  const wgx = sg ? t.subgroupWgx : t.wgx;
  const wgy = sg ? 1 : t.wgy;
  // Row tiles fastest when b is far larger than a and than a cache (see SWAP in the shader).
  const bBytes = K * N * (b.dtype === 'f16' ? 2 : 4), aBytes = M * K * (a.dtype === 'f16' ? 2 : 4);
  // Measured on lavapipe only, so GPUs keep the default order until someone measures one.
  const swap = sg && (args.swapGrid ?? (rt.isCpuAdapter && bBytes > SWAP_MIN_BYTES && bBytes > 8 * aBytes));
  const tiles: [number, number] = rows ? [ceilDiv(N, MATMUL_ROW_TILE), ceilDiv(M, MATMUL_ROW_TILE)] : [ceilDiv(N, 4 * wgx), ceilDiv(M, tm * wgy)];
  const workgroups: [number, number, number] = swap ? [tiles[1], tiles[0], Z] : [tiles[0], tiles[1], Z];
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups.some((w) => w > max)) {
    throw new OpError(op, `needs ${workgroups.join(' × ')} workgroups, over this device's limit of ${max} per dimension (${desc()})`);
  }

  const kernel = rows ? 'matmul_rows' : sg ? 'matmul_subgroup' : 'matmul';
  const constants: Record<string, number> = rows
    ? { ...(swap ? { SWAP: 1 } : {}) }
    : sg
      ? { WGX: wgx, ...(vec4 ? { THIRD: third ? 1 : 0 } : {}), ...(swap ? { SWAP: 1 } : {}) }
      : { WGX: wgx, WGY: wgy };
  const binds: Record<number, Tensor> = vec4 ? { 1: out, 5: a, 6: b } : { 1: out, 2: a, 3: b };
  // Without a bias the shader never reads binding 4, but 'auto' layouts still want it bound:
  // a (read-only already) stands in, so no buffer is allocated here.
  binds[4] = bias ?? a;
  return [
    rt.kernel({
      key: { kernel, variant: `${entry}.out_${out.dtype}`, dtype: a.dtype, constants },
      code: shaderCode(rows ? rowsCode : sg ? subgroupCode : plainCode, a.dtype, out.dtype),
      entryPoint: entry,
      bindings: binds,
      params: [
        ['u32', M], ['u32', N], ['u32', K],
        ['u32', a.shape.length === 3 ? M * K : 0], ['u32', b.shape.length === 3 ? K * N : 0], ['u32', M * N],
        ['u32', transA ? 1 : K], ['u32', transA ? M : 1], // sam, sak
        ['u32', transB ? 1 : N], ['u32', transB ? K : 1], // sbk, sbn
        ['f32', alpha], ['u32', accumulate ? 1 : 0], ['u32', bias ? 1 : 0],
      ],
      workgroups,
    }),
  ];
}

const codes = new Map<string, string>();

/** The shader with a and b stored as `ab`, out and bias as `o` (arithmetic stays f32). */
function shaderCode(code: string, ab: DType, o: DType): string {
  const id = `${code.length}:${ab}:${o}:${code.slice(0, 40)}`;
  let c = codes.get(id);
  if (!c) {
    c = specialize(code, ab);
    if (o === 'f16') {
      if (ab !== 'f16') c = `enable f16;\n${c}`;
      c = c.replace(/^alias OT = f32;/m, 'alias OT = f16;');
    }
    codes.set(id, c);
  }
  return c;
}
