// LayerNorm and RMSNorm (src/ops/norm.ts) against a plain copy of the same bytes: the norms are
// memory-bound, so a copy kernel moving as many bytes is the roofline they are measured against.
// Figures are GB/s (bytes each op must read and write, once), in the *_gflops columns of the table.
// Bytes: forward reads x, writes y (2·N·C words); backward reads x, dout, writes dinp (3·N·C).
// Timing: timeRuns in bench/common.ts (submit several runs, sleep through most, then await
// once: an await spins a core that lavapipe would otherwise use).
import type { Dispatch, Runtime } from '../../src/gpu/runtime.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { layerNormBackward, layerNormForward, layerNormScratchShape, rmsNormBackward, rmsNormForward, rmsNormScratchShape } from '../../src/ops/norm.ts';
import { timeRuns, type KernelRow } from '../common.ts';

const SHAPES: [number, number][] = [[1024, 256], [1024, 768], [1024, 4096], [130, 4096]];
const BUDGET_MS = 1000;

// Bench-only copy (copy1) and sum of two inputs (copy2), one vec4 per invocation.
const COPY = /* wgsl */ `
struct Params { n4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@group(0) @binding(2) var<storage, read> a: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;

@compute @workgroup_size(64)
fn copy1(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < p.n4) { dst[gid.x] = a[gid.x]; }
}

@compute @workgroup_size(64)
fn copy2(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < p.n4) { dst[gid.x] = a[gid.x] + b[gid.x]; }
}
`;

function copy(rt: Runtime, dst: Tensor, a: Tensor, b?: Tensor): Dispatch {
  const n4 = Math.ceil(dst.shape.reduce((x, y) => x * y, 1) / 4);
  return rt.kernel({
    key: { kernel: 'bench_copy', variant: b ? 'copy2' : 'copy1', dtype: 'f32' },
    code: COPY,
    entryPoint: b ? 'copy2' : 'copy1',
    bindings: b ? { 1: dst, 2: a, 3: b } : { 1: dst, 2: a },
    params: [['u32', n4]],
    workgroups: [Math.ceil(n4 / 64)],
  });
}


function rand(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 2 * Math.random() - 1;
  return x;
}

export async function bench(rt: Runtime, filter?: string): Promise<KernelRow[]> {
  void filter;
  const rows: KernelRow[] = [];
  const lines: string[] = [];
  for (const [N, C] of SHAPES) {
    const made: Tensor[] = [];
    const up = (shape: number[]) => { const t = rt.upload(rand(shape.reduce((a, b) => a * b, 1)), shape); made.push(t); return t; };
    const mk = (shape: readonly number[]) => { const t = rt.tensor(shape); made.push(t); return t; };
    const inp = up([N, C]), dout = up([N, C]), weight = up([C]), bias = up([C]);
    const out = mk([N, C]), dinp = mk([N, C]), mean = mk([N]), rstd = mk([N]), dweight = mk([C]), dbias = mk([C]);
    const lnScratch = mk(layerNormScratchShape(N, C)), rmsScratch = mk(rmsNormScratchShape(N, C));
    const ops: [string, Dispatch[], 2 | 3][] = [
      ['layernorm forward', layerNormForward(rt, { out, mean, rstd, inp, weight, bias }), 2],
      ['layernorm backward', layerNormBackward(rt, { dinp, dweight, dbias, scratch: lnScratch, dout, inp, weight, mean, rstd }), 3],
      ['rmsnorm forward', rmsNormForward(rt, { out, rstd, inp, weight }), 2],
      ['rmsnorm backward', rmsNormBackward(rt, { dinp, dweight, scratch: rmsScratch, dout, inp, weight, rstd }), 3],
    ];
    const peers = { 2: [copy(rt, out, inp)], 3: [copy(rt, dinp, inp, dout)] };
    const peerMs = { 2: await timeRuns(() => rt.run(peers[2]), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: 3, maxReps: 50 }), 3: await timeRuns(() => rt.run(peers[3]), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: 3, maxReps: 50 }) };
    for (const [name, d, words] of ops) {
      const t = await timeRuns(() => rt.run(d), () => rt.sync(), { budgetMs: BUDGET_MS, rounds: 3, maxReps: 50 });
      const gb = (words * N * C * 4) / 1e9;
      rows.push({ name: `${name}`, shape: `N=${N} C=${C} f32`, ours_gflops: gb / (t / 1e3), peer: 'copy of the same bytes (GB/s)', peer_gflops: gb / (peerMs[words] / 1e3), ratio: peerMs[words] / t });
      lines.push(`  ${name.padEnd(19)} N=${String(N).padEnd(5)} C=${String(C).padEnd(5)} ${t.toFixed(3).padStart(9)} ms   (copy ${peerMs[words].toFixed(3)} ms)`);
    }
    for (const d of [...ops.map((o) => o[1]), peers[2], peers[3]]) rt.release(d);
    rt.free(...made);
  }
  console.log('norm, ms per call:\n' + lines.join('\n'));
  return rows;
}
