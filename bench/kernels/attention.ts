// Flash attention (src/ops/attention.ts) against the composition it replaces, built from our own
// matmul: S = scale·q·kᵀ materialised (B·H, T, T), a causal softmax in place, out = P·v; backward
// dP = dout·vᵀ, dv = Pᵀ·dout, dS = P∘(dP − rowsum(P∘dP)), dq = scale·dS·k, dk = scale·dSᵀ·q.
// The composition gets its inputs head-major (B·H, T, D) for free (no transposes are timed).
// FLOP convention, the same for both: forward 4·B·H·T²·D (no causal halving), backward 2.5× that.
// Timing: timeRuns in bench/common.ts (submit, sleep through most of the run, then await: an
// await spins a core that lavapipe would otherwise use), best of 5 rounds for every side.
import type { Dispatch, Runtime } from '../../src/gpu/runtime.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { attentionBackward, attentionForward, attentionScratchShapes, attentionTuning, setAttentionTuning } from '../../src/ops/attention.ts';
import { matmul } from '../../src/ops/matmul.ts';
import { timeRuns, type KernelRow } from '../common.ts';

const [B, H, T, D] = [4, 8, 256, 64];
const BUDGET_MS = 3000;
const ROUNDS = 5; // one round on this shared 2-core VM put the same forward at 5.0 or 7.9 ms

// Bench-only causal softmax over rows of S (Z·T rows of T), one invocation per row, and its backward.
const SOFTMAX = /* wgsl */ `
struct Params { T: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<storage, read> pr: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let i = r % p.T;
  let base = r * p.T;
  var m = -1e30;
  for (var j = 0u; j <= i; j++) { m = max(m, s[base + j]); }
  var sum = 0.0;
  for (var j = 0u; j <= i; j++) { let e = exp(s[base + j] - m); s[base + j] = e; sum += e; }
  let inv = 1.0 / sum;
  for (var j = 0u; j <= i; j++) { s[base + j] *= inv; }
  for (var j = i + 1u; j < p.T; j++) { s[base + j] = 0.0; }
}

// s holds dP on entry and dS on exit; pr holds P.
@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let base = r * p.T;
  var dot = 0.0;
  for (var j = 0u; j < p.T; j++) { dot += pr[base + j] * s[base + j]; }
  for (var j = 0u; j < p.T; j++) { s[base + j] = pr[base + j] * (s[base + j] - dot); }
}
`;

function softmax(rt: Runtime, entry: 'forward' | 'backward', s: Tensor, pr?: Tensor): Dispatch {
  const rows = B * H * T;
  return rt.kernel({
    key: { kernel: 'bench_softmax', variant: entry, dtype: 'f32' },
    code: SOFTMAX,
    entryPoint: entry,
    bindings: pr ? { 1: s, 2: pr } : { 1: s },
    params: [['u32', T], ['u32', rows]],
    workgroups: [Math.ceil(rows / 64)],
  });
}


function rand(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 2 * Math.random() - 1;
  return x;
}

export async function bench(rt: Runtime, filter?: string): Promise<KernelRow[]> {
  void filter;
  const n = B * T * H * D;
  const scale = 1 / Math.sqrt(D);
  const flopF = 4 * B * H * T * T * D;
  const flopB = 2.5 * flopF;
  const made: Tensor[] = [];
  const up = (shape: number[]) => { const t = rt.upload(rand(n), shape); made.push(t); return t; };
  const mk = (shape: number[]) => { const t = rt.tensor(shape); made.push(t); return t; };

  // Ours: natural layout (B, T, H, D).
  const q = up([B, T, H, D]), k = up([B, T, H, D]), v = up([B, T, H, D]), dout = up([B, T, H, D]);
  const sh = attentionScratchShapes(B, T, H);
  const out = mk([B, T, H, D]), lse = mk(sh.lse), delta = mk(sh.delta);
  const dq = mk([B, T, H, D]), dk = mk([B, T, H, D]), dv = mk([B, T, H, D]);
  const fwd = attentionForward(rt, { out, lse, q, k, v });
  const bwd = attentionBackward(rt, { dq, dk, dv, dout, q, k, v, out, lse, delta });
  // Where the default backward is the fused kernel (CPU adapters), the two-kernel one as well.
  const tuning = attentionTuning(rt);
  let bwd2: Dispatch[] | undefined;
  if (tuning.backward === 'fused' && tuning.subgroups) {
    setAttentionTuning(rt, { backward: 'subgroup' });
    bwd2 = attentionBackward(rt, { dq, dk, dv, dout, q, k, v, out, lse, delta });
    setAttentionTuning(rt, { backward: 'fused' });
  }

  // Composition: head-major (B·H, T, D), scores (B·H, T, T).
  const Z = B * H;
  const cq = up([Z, T, D]), ck = up([Z, T, D]), cv = up([Z, T, D]), cdout = up([Z, T, D]);
  const S = mk([Z, T, T]), dP = mk([Z, T, T]);
  const cout = mk([Z, T, D]), cdq = mk([Z, T, D]), cdk = mk([Z, T, D]), cdv = mk([Z, T, D]);
  const cfwd = [
    ...matmul(rt, { out: S, a: cq, b: ck, transB: true, alpha: scale }),
    softmax(rt, 'forward', S),
    ...matmul(rt, { out: cout, a: S, b: cv }),
  ];
  const cbwd = [
    ...matmul(rt, { out: dP, a: cdout, b: cv, transB: true }),
    ...matmul(rt, { out: cdv, a: S, b: cdout, transA: true }),
    softmax(rt, 'backward', dP, S),
    ...matmul(rt, { out: cdq, a: dP, b: ck, alpha: scale }),
    ...matmul(rt, { out: cdk, a: dP, b: cq, transA: true, alpha: scale }),
  ];

  const tf = await timeRuns(() => rt.run(fwd), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: ROUNDS });
  const tb = await timeRuns(() => rt.run(bwd), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: ROUNDS });
  const cf = await timeRuns(() => rt.run(cfwd), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: ROUNDS });
  const cb = await timeRuns(() => rt.run(cbwd), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: ROUNDS });
  const tb2 = bwd2 && (await timeRuns(() => rt.run(bwd2), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: ROUNDS }));
  for (const d of [fwd, bwd, cfwd, cbwd, ...(bwd2 ? [bwd2] : [])]) rt.release(d);
  rt.free(...made);

  const shape = `B=${B} H=${H} T=${T} D=${D} causal f32`;
  const peer = 'matmul + softmax composition (ours)';
  const row = (name: string, flop: number, ours: number, theirs: number): KernelRow => ({
    name, shape, ours_gflops: flop / ours / 1e6, peer, peer_gflops: flop / theirs / 1e6, ratio: theirs / ours,
  });
  return [
    row('attention forward', flopF, tf, cf),
    row('attention backward', flopB, tb, cb),
    row('attention fwd+bwd', flopF + flopB, tf + tb, cf + cb),
    ...(tb2 ? [row('attention backward, two kernels', flopB, tb2, cb)] : []),
  ];
}
