// `npm run bench -- train [filter]`: training throughput of our TrainStep on a llama-style student,
// against @jax-js/jax and @genai-fi/nanogpt measured in the same run on the same adapter, plus
// KV-cache decode. Writes bench/results/train.json.
//
// Filter (comma-separated, optional): config names (v512, v49152), runners (ours, jax, nanogpt,
// decode), and `quick` (2 timed steps everywhere, for development).
//
// Ours runs in this process; each peer in a child process with the same environment (adapter,
// LP_NUM_THREADS), one at a time, so nothing else of ours runs on the 2 cores meanwhile. Every
// process gets the same Dawn polling throttle and the same GPU counters (bench/peers/common.ts).
// Timing: the median of per-step wall times after warm-up (the first step compiles pipelines
// everywhere); the median because other people's processes share the cores. Ours enqueues its
// steps back to back and times the gaps between their metrics arriving; peers read each loss.
// MFU = model FLOP/s (6·P_matmul·B·T + 12·L·B·T²·C per step) ÷ our best matmul GFLOP/s measured
// here at the start and the end (bench/kernels/matmul.ts): how close the whole step gets to our
// best matmul. Each peer's MFU counts its own model's FLOPs.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { nodeGPU } from '../src/gpu/node.ts';
import { Runtime } from '../src/gpu/runtime.ts';
import { printTable, writeJson } from './common.ts';
import { bestMatmulGflops } from './kernels/matmul.ts';
import { batch, gpuMemory, llamaMatmulParams, median, stepFlops, throttleDawnPolling, type PeerResult, type TrainBenchConfig } from './peers/common.ts';

interface Schedule { warmup: number; steps: number; budgetMs?: number }
interface BenchConfig {
  key: string;
  model: Omit<TrainBenchConfig, 'name' | 'warmup' | 'steps'>;
  ours: Schedule;
  peers: Partial<Record<PeerName, Schedule | string>>; // a string: why the peer is skipped
}
type PeerName = 'jax' | 'nanogpt';

const MODEL = { d: 256, layers: 4, heads: 4, mlp: 1024, T: 128, B: 8 };
const CONFIGS: BenchConfig[] = [
  // Peers take 3-25 s a step here: a few timed steps each, cut at a time budget to keep the whole
  // run near 10 minutes on 2 shared cores.
  { key: 'v512', model: { vocab: 512, ...MODEL }, ours: { warmup: 3, steps: 10 }, peers: { jax: { warmup: 2, steps: 4, budgetMs: 40_000 }, nanogpt: { warmup: 2, steps: 4, budgetMs: 40_000 } } },
  { key: 'v49152', model: { vocab: 49152, ...MODEL }, ours: { warmup: 2, steps: 5 }, peers: { jax: { warmup: 1, steps: 3, budgetMs: 60_000 }, nanogpt: { warmup: 1, steps: 3, budgetMs: 60_000 } } },
];
const PEER_FILES: Record<PeerName, string> = { jax: 'peers/jax.ts', nanogpt: 'peers/nanogpt.ts' };
const PEER_TIMEOUT_MS = 300_000;

interface OursResult {
  status: 'measured' | 'pending' | 'failed';
  note: string;
  tokens_per_s?: number;
  step_ms?: number;
  mean_step_ms?: number;
  peak_bytes?: number;
  dispatches_per_step?: number;
  submits_per_step?: number;
  planned_bytes?: number;
  losses?: number[];
  decode_tokens_per_s?: number;
  decode_note?: string;
}

const describe = (m: BenchConfig['model']) => `llama V${m.vocab} C${m.d} L${m.layers} H${m.heads} F${m.mlp} T${m.T} B${m.B}`;

/** Our trainer on the config, or `pending` while src/train/step.ts or the llama model are missing. */
async function runOurs(rt: Runtime, c: TrainBenchConfig, wantDecode: boolean): Promise<OursResult> {
  let mods;
  try {
    mods = await Promise.all([
      import('../src/train/step.ts'), import('../src/models/registry.ts'), import('../src/models/params.ts'), import('../src/models/init.ts'),
    ]);
  } catch (e) {
    return { status: 'pending', note: `our trainer is not importable yet: ${(e as Error).message.split('\n')[0]}` };
  }
  const [{ TrainStep }, { parseConfig }, { ParamLayout, ParamStore }, { tinyConfig, initialize }] = mods;
  const log = (s: string) => process.stderr.write(`  [ours] ${s}\n`);
  const hf = tinyConfig('llama', { vocab: c.vocab, hidden: c.d, layers: c.layers, heads: c.heads, kvHeads: c.heads, intermediate: c.mlp, maxPositions: 1024 });
  const { arch, config } = parseConfig(hf);
  rt.pool.trim(); // the matmul benchmark's buffers are back in the pool: destroy them
  gpuMemory.reset();
  const specs = arch.parameters(config);
  const store = new ParamStore(rt, new ParamLayout(specs));
  store.load(initialize(specs, 1));
  const total = c.warmup + c.steps;
  const trainer = new TrainStep(rt, arch, config, store, {
    B: c.B, T: c.T, weightDecay: 0.1, betas: [0.9, 0.95], maxGradNorm: 1,
    schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: total, kind: 'constant' },
  });
  const { ids, targets } = batch(c);
  const b = {
    ids, targets, segmentIds: new Int32Array(c.B * c.T).fill(1), positions: Int32Array.from({ length: c.B * c.T }, (_, i) => i % c.T),
    B: c.B, T: c.T, trainedTokens: c.B * c.T, tokens: c.B * c.T, examples: c.B,
  };
  const losses: number[] = [];
  try {
    for (let i = 0; i < c.warmup; i++) {
      const t0 = performance.now();
      const m = await trainer.step([b]).metrics;
      losses.push(m.loss);
      log(`warmup ${i}: ${(performance.now() - t0).toFixed(0)} ms, loss ${m.loss.toFixed(4)}`);
    }
    // Steps are only enqueued; their metrics resolve in order as the GPU finishes each, so the
    // gaps between arrivals are the per-step times (median, as for the peers).
    const { dispatches, submits } = gpuMemory;
    const t0 = performance.now();
    const arrivals: number[] = [];
    const handles = Array.from({ length: c.steps }, () => trainer.step([b]));
    for (const h of handles) h.metrics.then(() => arrivals.push(performance.now()));
    for (const h of handles) losses.push((await h.metrics).loss);
    const times = arrivals.map((t, i) => t - (i ? arrivals[i - 1] : t0));
    const ms = median(times), mean = (arrivals.at(-1)! - t0) / c.steps;
    log(`timed ${c.steps} steps: median ${ms.toFixed(0)} ms/step (${times.map((t) => t.toFixed(0)).join(', ')}), loss ${losses.at(-1)!.toFixed(4)}`);
    const out: OursResult = {
      status: 'measured',
      note: 'TrainStep (forward, masked CE, backward, clip, AdamW), f32; steps enqueued back to back, metrics read asynchronously',
      tokens_per_s: (c.B * c.T) / (ms / 1000),
      step_ms: ms,
      mean_step_ms: mean,
      peak_bytes: gpuMemory.peak,
      dispatches_per_step: (gpuMemory.dispatches - dispatches) / c.steps,
      submits_per_step: (gpuMemory.submits - submits) / c.steps,
      planned_bytes: trainer.plan.total,
      losses,
    };
    trainer.destroy();
    if (wantDecode) Object.assign(out, await runDecode(rt, config, store, log));
    return out;
  } finally {
    store.destroy();
  }
}

/** Greedy decode with the KV cache (src/generate), 16 prompt tokens then 64 new ones. */
async function runDecode(rt: Runtime, config: unknown, store: unknown, log: (s: string) => void): Promise<Pick<OursResult, 'decode_tokens_per_s' | 'decode_note'>> {
  let gen;
  try {
    gen = await Promise.all([import('../src/generate/gpu-model.ts'), import('../src/generate/generate.ts')]);
  } catch (e) {
    return { decode_note: `pending: src/generate has no GPU model yet (${(e as Error).message.split('\n')[0]})` };
  }
  const [{ GpuCausalLM }, { generateText }] = gen;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const model = new GpuCausalLM(rt, config as any, store as any, { maxLength: 256 });
  try {
    const prompt = Array.from({ length: 16 }, (_, i) => (i * 7) % 256);
    await generateText(model, prompt, { maxNewTokens: 4, eos: [], sampling: { temperature: 0 } }); // compiles
    const r = await generateText(model, prompt, { maxNewTokens: 64, eos: [], sampling: { temperature: 0 } });
    log(`decode: prefill ${r.prefillMs.toFixed(0)} ms, ${r.tokensPerSecond.toFixed(1)} tokens/s`);
    return { decode_tokens_per_s: r.tokensPerSecond, decode_note: 'batch 1, greedy, 16-token prompt then 64 tokens, KV cache, logits read back every token' };
  } finally {
    model.destroy();
  }
}

/**
 * Peers that stay out of package.json: @genai-fi/nanogpt pulls in pdfjs-dist → @napi-rs/canvas,
 * whose `workspaces` field makes `npm ci` reject any lock file that contains it. The bench
 * installs it on first use instead (into node_modules, without touching package.json).
 */
const ON_DEMAND: Partial<Record<PeerName, string>> = { nanogpt: '@genai-fi/nanogpt@1.3.0' };

function ensurePeerInstalled(name: PeerName): void {
  const spec = ON_DEMAND[name];
  if (!spec) return;
  const pkg = spec.slice(0, spec.lastIndexOf('@'));
  if (existsSync(fileURLToPath(new URL(`../node_modules/${pkg}/package.json`, import.meta.url)))) return;
  console.error(`installing the ${name} peer for this benchmark: npm install --no-save ${spec}`);
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', spec], { stdio: 'inherit', cwd: fileURLToPath(new URL('..', import.meta.url)) });
}

/** Runs one peer in a child process; its stderr streams through, its RESULT line is parsed. */
function runPeer(name: PeerName, c: TrainBenchConfig): Promise<PeerResult> {
  ensurePeerInstalled(name);
  const file = fileURLToPath(new URL(PEER_FILES[name], import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, file, JSON.stringify(c)], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Dawn's adapter warnings are noise; keep the runner's own lines.
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim() && !/^Warning:|already registered/.test(line)) process.stderr.write(line + '\n');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), PEER_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) return resolve(JSON.parse(line.slice(7)) as PeerResult);
      const why = signal === 'SIGKILL' ? `timed out after ${PEER_TIMEOUT_MS / 1000} s` : `exited with ${code ?? signal} and no result`;
      resolve({ name, tokens_per_s: 0, note: `failed: ${why}` });
    });
  });
}

export async function run(filter?: string): Promise<void> {
  const words = (filter ?? '').split(',').filter(Boolean);
  const quick = words.includes('quick');
  const runners = words.filter((w) => ['ours', 'jax', 'nanogpt', 'decode'].includes(w));
  const keys = words.filter((w) => CONFIGS.some((c) => c.key === w));
  const wants = (r: string) => !runners.length || runners.includes(r);

  const loadAtStart = loadavg();
  const throttled = throttleDawnPolling();
  const gpu = await nodeGPU();
  gpuMemory.install();
  const rt = await Runtime.create({ gpu });
  const threads = process.env.LP_NUM_THREADS ?? 'default';
  console.log(`adapter: ${rt.adapterInfo.vendor} ${rt.adapterInfo.architecture} ${rt.adapterInfo.description}; LP_NUM_THREADS ${threads}; Dawn polling ${throttled ? 'throttled to 1 ms' : 'spinning'}`);
  // Measured at the start and again at the end (the cores are shared: keep the better figure).
  const bestAtStart = await bestMatmulGflops(rt);
  console.log(`our best matmul: ${bestAtStart.toFixed(2)} GFLOP/s (the MFU denominator; measured again at the end)`);

  const results = [];
  const table: Record<string, unknown>[] = [];
  for (const bc of CONFIGS) {
    if (keys.length && !keys.includes(bc.key)) continue;
    const sched = (s: Schedule): Schedule => (quick ? { ...s, warmup: Math.min(s.warmup, 2), steps: 2 } : s);
    const cfg = (s: Schedule): TrainBenchConfig => ({ name: bc.key, ...bc.model, ...sched(s) });
    const flops = stepFlops(llamaMatmulParams(cfg(bc.ours)), bc.model);
    console.log(`\n== ${describe(bc.model)}: ${(flops / 1e9).toFixed(2)} GFLOP per step`);

    let ours: OursResult = { status: 'pending', note: 'not run (filtered out)' };
    if (wants('ours') || wants('decode')) {
      try {
        ours = await runOurs(rt, cfg(bc.ours), wants('decode'));
      } catch (e) {
        ours = { status: 'failed', note: `failed: ${(e as Error).message.split('\n')[0].slice(0, 300)}` };
        console.error(e);
      }
    }
    const peers: PeerResult[] = [];
    for (const [name, s] of Object.entries(bc.peers) as [PeerName, Schedule | string][]) {
      if (!wants(name)) continue;
      if (typeof s === 'string') {
        peers.push({ name, tokens_per_s: 0, note: `skipped: ${s}` });
        continue;
      }
      peers.push(await runPeer(name, cfg(s)));
    }

    const fastest = Math.max(0, ...peers.map((p) => p.tokens_per_s));
    const row = {
      config: bc.key,
      model: describe(bc.model),
      flops_per_step: flops,
      status: ours.status,
      note: ours.note,
      tokens_per_s: ours.tokens_per_s ?? null,
      step_ms: ours.step_ms ?? null,
      mean_step_ms: ours.mean_step_ms ?? null,
      model_gflops_per_s: ours.step_ms ? flops / (ours.step_ms / 1000) / 1e9 : null,
      mfu: null as number | null,
      peak_bytes: ours.peak_bytes ?? null,
      dispatches_per_step: ours.dispatches_per_step ?? null,
      submits_per_step: ours.submits_per_step ?? null,
      planned_bytes: ours.planned_bytes ?? null,
      losses: ours.losses ?? null,
      speedup_vs_fastest_peer: ours.tokens_per_s && fastest ? ours.tokens_per_s / fastest : null,
      decode_tokens_per_s: ours.decode_tokens_per_s ?? null,
      decode_note: ours.decode_note ?? null,
      peers: peers.map((p) => ({ ...p, mfu: undefined as number | undefined })),
      ours,
    };
    results.push(row);
  }

  const bestAtEnd = await bestMatmulGflops(rt);
  const best = Math.max(bestAtStart, bestAtEnd);
  console.log(`\nour best matmul: ${bestAtEnd.toFixed(2)} GFLOP/s at the end; MFU uses ${best.toFixed(2)}`);
  const mfu = (f: number, ms?: number) => (ms ? f / (ms / 1000) / 1e9 / best : undefined);
  for (const row of results) {
    const { ours, config: key } = row;
    row.mfu = mfu(row.flops_per_step, ours.step_ms) ?? null;
    for (const p of row.peers) p.mfu = p.flops_per_step && p.step_ms ? mfu(p.flops_per_step, p.step_ms) : undefined;
    const mb = (b?: number | null) => (b ? (b / 2 ** 20).toFixed(0) : '-');
    const pct = (x?: number | null) => (x ? `${(100 * x).toFixed(1)}%` : '-');
    table.push({ config: key, library: 'pupil (ours)', 'tokens/s': ours.tokens_per_s ?? ours.status, 'ms/step': ours.step_ms ?? '-', MFU: pct(row.mfu), 'peak MiB': mb(ours.peak_bytes), 'disp/step': ours.dispatches_per_step ?? '-', 'ours ×': '-' });
    for (const p of row.peers) {
      table.push({
        config: key, library: p.name, 'tokens/s': p.tokens_per_s || p.note.split(':')[0], 'ms/step': p.step_ms ?? '-', MFU: pct(p.mfu), 'peak MiB': mb(p.peak_bytes), 'disp/step': p.dispatches_per_step ?? '-',
        'ours ×': ours.tokens_per_s && p.tokens_per_s ? (ours.tokens_per_s / p.tokens_per_s).toFixed(2) : '-',
      });
    }
    if (ours.decode_tokens_per_s) table.push({ config: key, library: 'pupil decode (KV cache, B 1)', 'tokens/s': ours.decode_tokens_per_s, 'ms/step': 1000 / ours.decode_tokens_per_s, MFU: '-', 'peak MiB': '-', 'disp/step': '-', 'ours ×': '-' });
  }

  console.log('');
  printTable(table);
  const out = {
    date: new Date().toISOString(),
    adapter: rt.adapterInfo,
    lp_num_threads: threads,
    cpus_load_average_1_5_15_min: { start: loadAtStart, end: loadavg() },
    dawn_polling: throttled ? 'native setImmediate re-armed with a 1 ms timer in every process (src/gpu/node.ts)' : 'spinning (PUPIL_DAWN_SPIN=1)',
    quick,
    best_matmul_gflops: best,
    best_matmul_gflops_at_start_and_end: [bestAtStart, bestAtEnd],
    flops_formula: '6·P_matmul·B·T + 12·L·B·T²·C per step; MFU = model FLOP/s ÷ best_matmul_gflops',
    configs: results.map(({ ours: _, ...row }) => row),
  };
  writeJson('bench/results/train.json', out);
  console.log('wrote bench/results/train.json');
  rt.destroy();
}
