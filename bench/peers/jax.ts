// jax-js (@jax-js/jax, WebGPU device) training the same llama-style model as ours: RMSNorm,
// rotate-half RoPE, causal attention through nn.dotProductAttention, SwiGLU MLP, tied LM head,
// mean cross-entropy, AdamW written with jax ops (@jax-js/optax is not on the registry).
// Best usage we found: the whole step (valueAndGrad + AdamW) in one `jit`, the loss read every step
// (jax-js is lazy; queueing steps without reading is slower and grows memory, see PEERS.md).
// Run: node --import tsx bench/peers/jax.ts '<TrainBenchConfig json>'.
import 'core-js/actual/iterator'; // Node 20 lacks iterator helpers that dotProductAttention uses
import { batch, gpuMemory, installNavigator, llamaMatmulParams, logTo, peerMain, stepFlops, timeSteps, type PeerResult, type TrainBenchConfig } from './common.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Arr = any; // jax.Array; its typings fight the pytree generics more than they help here

const LR = 1e-3, BETA1 = 0.9, BETA2 = 0.95, EPS = 1e-8, WD = 0.1, NORM_EPS = 1e-5, THETA = 10000;

/** Rows per logits chunk: a divisor of N keeping (rows, V) f32 under 64 MiB. */
function chunkRows(N: number, V: number): number {
  let rows = N;
  while (rows > 1 && rows * V * 4 > 64 * 2 ** 20 && rows % 2 === 0) rows /= 2;
  return rows;
}

export async function runJax(c: TrainBenchConfig): Promise<PeerResult> {
  const log = logTo('jax-js');
  await installNavigator();
  const jax = await import('@jax-js/jax');
  const { numpy: np, nn, random } = jax;
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error('jax-js found no WebGPU device');
  jax.defaultDevice('webgpu');

  const { vocab: V, d: C, layers: L, heads: H, mlp: F, T, B } = c;
  const D = C / H;

  // Parameters as (in, out) matrices so that every projection is x @ W.
  let key = random.key(0);
  const normal = (shape: number[], std: number): Arr => {
    const [k1, k2] = random.split(key, 2);
    key = k1;
    return random.normal(k2, shape).mul(std);
  };
  type Params = { wte: Arr; normF: Arr; layers: Record<string, Arr>[] };
  const params: Params = {
    wte: normal([V, C], 0.02),
    normF: np.ones([C]),
    layers: Array.from({ length: L }, () => ({
      n1: np.ones([C]), wq: normal([C, C], 0.02), wk: normal([C, C], 0.02), wv: normal([C, C], 0.02),
      wo: normal([C, C], 0.02 / Math.sqrt(2 * L)), n2: np.ones([C]),
      wg: normal([C, F], 0.02), wu: normal([C, F], 0.02), wd: normal([F, C], 0.02 / Math.sqrt(2 * L)),
    })),
  };
  const zerosLike = (p: Params): Params => jax.tree.map((x: Arr) => np.zerosLike(x.ref), p) as unknown as Params;
  let m = zerosLike(params), v = zerosLike(params);
  let p = params;

  // RoPE tables (T, 1, D): rotate-half pairs dimension i with i + D/2.
  const cosT = new Float32Array(T * D), sinT = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D / 2; i++) {
      const a = t * Math.pow(THETA, (-2 * i) / D);
      cosT[t * D + i] = cosT[t * D + i + D / 2] = Math.cos(a);
      sinT[t * D + i] = sinT[t * D + i + D / 2] = Math.sin(a);
    }
  }
  const cos = np.array(cosT).reshape([T, 1, D]), sin = np.array(sinT).reshape([T, 1, D]);

  const rmsNorm = (x: Arr, w: Arr): Arr => {
    const ms = np.square(x.ref).mean(-1, { keepdims: true });
    return x.div(np.sqrt(ms.add(NORM_EPS))).mul(w);
  };
  const rope = (x: Arr, cs: Arr, sn: Arr): Arr => { // (B, T, H, D)
    const rot = np.concatenate([x.ref.slice([], [], [], [D / 2]).neg(), x.ref.slice([], [], [], [0, D / 2])], -1);
    return x.mul(cs).add(rot.mul(sn));
  };

  const lossFn = (pp: Params, ids: Arr, targets: Arr, cs: Arr, sn: Arr): Arr => {
    let x = np.take(pp.wte.ref, ids, 0); // (B, T, C)
    for (const ly of pp.layers) {
      const h = rmsNorm(x.ref, ly.n1);
      const q = rope(np.matmul(h.ref, ly.wq).reshape([B, T, H, D]), cs.ref, sn.ref);
      const k = rope(np.matmul(h.ref, ly.wk).reshape([B, T, H, D]), cs.ref, sn.ref);
      const vv = np.matmul(h, ly.wv).reshape([B, T, H, D]);
      const att = nn.dotProductAttention(q, k, vv, { isCausal: true }).reshape([B, T, C]);
      x = x.add(np.matmul(att, ly.wo));
      const h2 = rmsNorm(x.ref, ly.n2);
      const g = nn.silu(np.matmul(h2.ref, ly.wg)).mul(np.matmul(h2, ly.wu));
      x = x.add(np.matmul(g, ly.wd));
    }
    cs.dispose();
    sn.dispose();
    const hf = rmsNorm(x, pp.normF).reshape([B * T, C]); // (N, C)
    const tg = targets.reshape([B * T, 1]);
    // The logits go through in row chunks: jax-js's device keeps WebGPU's default 128 MiB binding
    // limit, and (N, V) f32 logits are 192 MiB at V 49152 (ours chunks its LM head too).
    const rows = chunkRows(B * T, V);
    let total: Arr = null;
    for (let r = 0; r < B * T; r += rows) {
      const logits = np.matmul(hf.ref.slice([r, r + rows]), pp.wte.ref.transpose()); // (rows, V)
      const lp = nn.logSoftmax(logits, -1);
      // A one-hot product rather than takeAlongAxis: its gradient is a scatter, which jax-js
      // 0.1.25's jit cannot compile ("routine primitive scatter input is not imm"). The one-hot is
      // a compare with arange, which fuses; nn.oneHot gathers rows of a (V, V) identity.
      const hot = tg.ref.slice([r, r + rows]).equal(np.arange(V).reshape([1, V])).astype(np.float32); // (rows, V)
      const part = lp.mul(hot).sum(); // Σ log p(target)
      total = total === null ? part : total.add(part);
    }
    hf.dispose();
    tg.dispose();
    pp.wte.dispose();
    return total.mul(-1 / (B * T));
  };

  // AdamW with global-norm clipping to 1 and decay on matrices only, as ours (TrainStep).
  const adamw = (pp: Params, mm: Params, vv: Params, grads: Params, bc: Arr): Params[] => {
    // bc = [1/(1-β1^t), 1/(1-β2^t)]: traced, so the step count does not retrace.
    const [c1, c2] = [bc.ref.slice(0), bc.slice(1)];
    const pl = jax.tree.leaves(pp), ml = jax.tree.leaves(mm), vl = jax.tree.leaves(vv), gl = jax.tree.leaves(grads);
    const norm = np.sqrt(gl.map((g: Arr) => np.square(g.ref).sum()).reduce((a: Arr, b: Arr) => a.add(b)));
    const clip = np.minimum(np.reciprocal(norm.add(1e-6)), 1);
    const np_: Arr[] = [], nm: Arr[] = [], nv: Arr[] = [];
    for (let i = 0; i < pl.length; i++) {
      const g = gl[i].mul(clip.ref);
      const m1 = ml[i].mul(BETA1).add(g.ref.mul(1 - BETA1));
      const v1 = vl[i].mul(BETA2).add(np.square(g).mul(1 - BETA2));
      const upd = m1.ref.mul(c1.ref).div(np.sqrt(v1.ref.mul(c2.ref)).add(EPS));
      const decay = pl[i].ndim > 1 ? WD : 0;
      np_.push(pl[i].mul(1 - LR * decay).sub(upd.mul(LR)));
      nm.push(m1);
      nv.push(v1);
    }
    clip.dispose();
    c1.dispose();
    c2.dispose();
    const def = jax.tree.structure(pp);
    return [jax.tree.unflatten(def, np_), jax.tree.unflatten(def, nm), jax.tree.unflatten(def, nv)] as Params[];
  };
  // The whole step in one jit (the usual JAX train step); JAX_SPLIT=1 jits grads and update apart.
  const split = process.env.JAX_SPLIT === '1';
  const gradFn = jax.jit((pp: Params, ids: Arr, targets: Arr, cs: Arr, sn: Arr) => jax.valueAndGrad(lossFn)(pp, ids, targets, cs, sn));
  const adamFn = jax.jit(adamw);
  const step = split
    ? (pp: Params, mm: Params, vv: Params, bc: Arr, ids: Arr, targets: Arr, cs: Arr, sn: Arr) => {
      const [loss, grads] = gradFn(jax.tree.ref(pp), ids, targets, cs, sn) as [Arr, Params];
      return [loss, ...adamFn(pp, mm, vv, grads, bc)];
    }
    : jax.jit((pp: Params, mm: Params, vv: Params, bc: Arr, ids: Arr, targets: Arr, cs: Arr, sn: Arr) => {
      const [loss, grads] = jax.valueAndGrad(lossFn)(jax.tree.ref(pp), ids, targets, cs, sn);
      return [loss, ...adamw(pp, mm, vv, grads as Params, bc)];
    });

  const { ids, targets } = batch(c);
  const idsA = np.array(ids, { dtype: np.int32 }).reshape([B, T]);
  const tgtA = np.array(targets, { dtype: np.int32 }).reshape([B, T]);
  let t = 0;
  const one = async (): Promise<number> => {
    t++;
    const bc = np.array([1 / (1 - BETA1 ** t), 1 / (1 - BETA2 ** t)]);
    const [loss, p2, m2, v2] = step(p, m, v, bc, idsA.ref, tgtA.ref, cos.ref, sin.ref) as Arr[];
    p = p2; m = m2; v = v2;
    const value = (await loss.data())[0] as number;
    return value;
  };
  const { ms, mean, losses, perStep } = await timeSteps(c, one, log);
  const flops = stepFlops(llamaMatmulParams(c), c);
  return {
    name: '@jax-js/jax 0.1.25',
    tokens_per_s: (B * T) / (ms / 1000),
    step_ms: ms,
    mean_step_ms: mean,
    peak_bytes: gpuMemory.peak,
    dispatches_per_step: perStep.dispatches,
    submits_per_step: perStep.submits,
    flops_per_step: flops,
    losses,
    note: `same llama model and update (clip 1, AdamW with jax ops); valueAndGrad ${split ? 'and AdamW in two jits' : '+ AdamW in one jit'}; loss read each step; LM head in ${B * T / chunkRows(B * T, V)} row chunk(s)`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) await peerMain(runJax);
