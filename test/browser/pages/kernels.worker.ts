// Inside a Worker in Chromium: acquire the device from navigator.gpu and run each kernel case
// against its float64 reference. Posts { features, results: [{ name, checks, ok }] } or { error }.
import { Runtime } from '../../../src/gpu/runtime.ts';
import { cases } from './kernel-cases.ts';

try {
  const rt = await Runtime.create();
  const results = [];
  for (const c of cases) {
    try {
      const checks = await c.run(rt);
      await rt.sync();
      const gpuErrors = rt.errors.splice(0);
      results.push({ name: c.name, checks, gpuErrors, ok: checks.length > 0 && checks.every((k) => k.maxError <= k.tol) && gpuErrors.length === 0 });
    } catch (e) {
      results.push({ name: c.name, ok: false, error: String((e as Error).stack ?? e) });
    }
  }
  postMessage({ features: rt.features, results });
} catch (e) {
  postMessage({ error: String((e as Error).stack ?? e) });
}
