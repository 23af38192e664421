// matmul against tfjs-backend-webgpu's tf.matMul on the same adapter, in the same process.
// Timing: submit `reps` runs, then sleep through most of the expected time before awaiting the
// queue. Awaiting with the `webgpu` package spins a CPU core (see /work/shared/PEERS.md), which on
// lavapipe is taken from the adapter; both libraries are timed the same way.
import { nodeGPU } from '../../src/gpu/node.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { matmul, matmulFlops } from '../../src/ops/matmul.ts';
import { timeRuns, type KernelRow } from '../common.ts';

type Layout = 'NN' | 'NT' | 'TN';
const SHAPES: [number, number, number][] = [ // M, K, N
  [256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [2048, 768, 768], [2048, 768, 3072],
];
const LAYOUTS: Layout[] = ['NN', 'NT', 'TN'];


function randomData(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.random() - 0.5;
  return x;
}

async function ours(rt: Runtime, M: number, K: number, N: number, layout: Layout): Promise<number> {
  const transA = layout === 'TN', transB = layout === 'NT';
  const a = rt.upload(randomData(M * K), transA ? [K, M] : [M, K], 'f32', 'a');
  const b = rt.upload(randomData(K * N), transB ? [N, K] : [K, N], 'f32', 'b');
  const out = rt.tensor([M, N], 'f32', 'out');
  const d = matmul(rt, { out, a, b, transA, transB });
  const ms = await timeRuns(() => rt.run(d), () => rt.sync());
  rt.release(d);
  rt.free(a, b, out);
  return matmulFlops(M, N, K) / ms / 1e6;
}

/** Our best rate (GFLOP/s) over the large shapes: the denominator of MFU. */
export async function bestMatmulGflops(rt: Runtime): Promise<number> {
  let best = 0;
  for (const [M, K, N, layout] of [[1024, 1024, 1024, 'NN'], [2048, 768, 3072, 'NT'], [2048, 768, 3072, 'NN']] as const) {
    best = Math.max(best, await ours(rt, M, K, N, layout));
  }
  return best;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TF = any;

async function loadTfjs(): Promise<TF> {
  const gpu = await nodeGPU(); // also installs the WebGPU globals tfjs expects
  (globalThis as { navigator?: unknown }).navigator = { gpu, userAgent: 'node' };
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
  return tf;
}

async function tfjs(tf: TF, M: number, K: number, N: number, layout: Layout): Promise<number> {
  const transA = layout === 'TN', transB = layout === 'NT';
  const a = tf.tensor2d(randomData(M * K), transA ? [K, M] : [M, K]);
  const b = tf.tensor2d(randomData(K * N), transB ? [N, K] : [K, N]);
  const backend = tf.backend();
  const ms = await timeRuns(
    () => {
      tf.matMul(a, b, transA, transB).dispose();
      // tfjs batches its dispatches until a read: submit now, as rt.run does for ours.
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
    },
    () => backend.device.queue.onSubmittedWorkDone(),
  );
  tf.dispose([a, b]);
  return matmulFlops(M, N, K) / ms / 1e6;
}

export async function bench(rt: Runtime, filter?: string): Promise<KernelRow[]> {
  const tf = await loadTfjs();
  const rows: KernelRow[] = [];
  const only = filter?.split(',').find((f) => f.startsWith('matmul:'))?.slice(7); // e.g. matmul:NT
  for (const [M, K, N] of SHAPES) {
    for (const layout of LAYOUTS) {
      if (only && !only.split('+').includes(layout)) continue;
      const o = await ours(rt, M, K, N, layout);
      const p = await tfjs(tf, M, K, N, layout);
      const row = { name: `matmul ${layout}`, shape: `${M}x${K}x${N}`, ours_gflops: o, peer: 'tfjs-webgpu', peer_gflops: p, ratio: o / p };
      console.log(`${row.name} M×K×N ${row.shape}: ours ${o.toFixed(2)} GFLOP/s, tfjs ${p.toFixed(2)}, ×${row.ratio.toFixed(2)}`);
      rows.push(row);
    }
  }
  return rows;
}
