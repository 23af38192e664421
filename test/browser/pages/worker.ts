// Drives the engine Worker through its typed client, as the UI does. `?phase=train` starts a tiny
// scratch run, pauses, resumes, stops, chats and exports; `?phase=resume&run=ID` (after a reload)
// finds the run and continues it. `&storage=indexeddb` forces the OPFS fallback. Publishes
// window.__results.
import { readZip } from '../../../src/models/zip.ts';
import { EngineClient } from '../../../src/worker/client.ts';
import type { EngineEvent, RunConfigInput } from '../../../src/worker/protocol.ts';

const q = new URLSearchParams(location.search);
const phase = q.get('phase') ?? 'train';
const storage = (q.get('storage') ?? undefined) as 'indexeddb' | undefined;

// SwiftShader is slow: a one-layer C32 student on 64-token sequences, evaluated only at the end.
const CONFIG: RunConfigInput = {
  name: 'worker test',
  student: { scratch: { arch: 'llama', hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64, maxPositions: 96 } },
  data: { source: 'bundled', limit: 48, validation: 4, maxLength: 64 },
  train: { maxSteps: 1000, batchSize: 2, seqLen: 64, warmupRatio: 0 },
  eval: { every: 0, atStart: false, batches: 1, samples: [], exactMatch: 0, maxNewTokens: 4 },
  save: { every: 0 },
};

const client = EngineClient.create(storage ? { storage } : undefined);
const events: EngineEvent[] = [];
client.on((e) => events.push(e));
const steps = () => events.filter((e) => e.type === 'step') as Extract<EngineEvent, { type: 'step' }>[];

async function until(what: string, ok: () => boolean, ms = 60_000) {
  const t0 = performance.now();
  while (!ok()) {
    const err = events.find((e) => e.type === 'error');
    if (err) throw new Error(`while waiting for ${what}: ${JSON.stringify(err)}`);
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.slice(-5))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The main thread stays free: the longest gap between 10 ms timer ticks while training runs.
let maxGap = 0;
let phaseName = 'boot';
const gaps: Record<string, number> = {};
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  maxGap = Math.max(maxGap, now - lastTick);
  gaps[phaseName] = Math.max(gaps[phaseName] ?? 0, now - lastTick);
  lastTick = now;
}, 10);

async function train() {
  phaseName = 'start';
  maxGap = 0;
  const t0 = performance.now();
  const runId = await client.start(CONFIG);
  const startMs = performance.now() - t0;
  phaseName = 'steps';
  await until('2 steps', () => steps().length >= 2);
  phaseName = 'pause';
  await client.pause();
  const paused = await client.status();
  const atPause = steps().length;
  await new Promise((r) => setTimeout(r, 1000));
  const stepsWhilePaused = steps().length - atPause;
  await client.resume();
  phaseName = 'resume';
  await until('2 more steps', () => steps().length >= atPause + 2);
  const gapWhileTraining = maxGap;
  phaseName = 'after';
  await client.stop();
  const stopped = await client.status();

  const stream = client.generate([{ role: 'user', content: 'Compute the sum of 2 and 3.' }], { maxNewTokens: 6, temperature: 0 });
  const tokens: string[] = [];
  for await (const t of stream) tokens.push(t.text);
  const reply = await stream.result;

  // Cancelling part-way ends the stream with 'cancelled'.
  const long = client.generate([{ role: 'user', content: 'Spell kitten.' }], { maxNewTokens: 40, temperature: 1, seed: 3 });
  let seen = 0;
  for await (const _ of long) if (++seen === 2) await client.cancelGeneration();
  const cancelled = await long.result;

  const zip = await client.exportModel({ dtype: 'f32' });
  const files = [...readZip(zip).keys()].sort();
  const runs = await client.listRuns();
  const metrics = await client.metrics(runId);
  return {
    runId, gaps, startMs, pausedState: paused.state, stepsWhilePaused, gapWhileTraining, stopped, storage: stopped.storage,
    stepNumbers: steps().map((s) => s.step), finiteLosses: steps().every((s) => Number.isFinite(s.loss)),
    kinds: [...new Set(events.map((e) => e.type))].sort(), taggedWithRun: events.every((e) => e.runId === runId),
    checkpointStep: events.find((e) => e.type === 'checkpoint')?.step,
    done: (events.find((e) => e.type === 'done') as Extract<EngineEvent, { type: 'done' }> | undefined)?.summary,
    reply, tokens, cancelled: { finishReason: cancelled.finishReason, tokens: cancelled.tokens, seen },
    zipBytes: zip.byteLength, files, listed: runs.find((r) => r.runId === runId), metricSteps: metrics.filter((r) => r.kind === 'step').map((r) => r.step),
  };
}

async function resume() {
  const runId = q.get('run')!;
  const runs = await client.listRuns();
  const listed = runs.find((r) => r.runId === runId);
  await client.resumeRun(runId);
  await until('2 steps after resuming', () => steps().length >= 2);
  await client.stop();
  const stopped = await client.status();
  await client.deleteRun(runId);
  const afterDelete = (await client.listRuns()).some((r) => r.runId === runId);
  return { listed, stepNumbers: steps().map((s) => s.step), stopped, afterDelete, storage: stopped.storage };
}

try {
  (window as any).__results = phase === 'train' ? await train() : await resume();
} catch (e) {
  (window as any).__results = { error: String((e as Error).stack ?? e), events: events.slice(-10) };
}
document.getElementById('out')!.textContent = JSON.stringify((window as any).__results, null, 2);
