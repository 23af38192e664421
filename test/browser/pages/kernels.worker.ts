// Inside a Worker in Chromium: acquire the device from navigator.gpu and run each kernel case
// against its float64 reference. Posts [{ name, maxError, tol, ok }] or { error }.
import { Runtime } from '../../../src/gpu/runtime.ts';
import { cases } from './kernel-cases.ts';

try {
  const rt = await Runtime.create();
  const results = [];
  for (const c of cases) {
    try {
      const r = await c.run(rt);
      results.push({ name: c.name, ...r, ok: r.maxError <= r.tol && rt.errors.length === 0, gpuErrors: rt.errors.splice(0) });
    } catch (e) {
      results.push({ name: c.name, maxError: Infinity, tol: 0, ok: false, error: String((e as Error).stack ?? e) });
    }
  }
  postMessage({ features: rt.features, results });
} catch (e) {
  postMessage({ error: String((e as Error).stack ?? e) });
}
