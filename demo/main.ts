// The demo page: wires the engine Worker to the components, nothing else.
import '../src/ui/pupil-adapter-info.ts';
import { BROWSER_ADVICE, describeError, hasWebGPU, startEngine } from '../src/worker/client.ts';

const view = document.querySelector('pupil-adapter-info')!;

if (!hasWebGPU()) {
  view.error = { name: 'NoWebGPUError', message: 'This browser does not expose WebGPU (navigator.gpu is missing).', advice: BROWSER_ADVICE };
} else {
  const engine = startEngine();
  try {
    view.report = await engine.api.probe();
  } catch (e) {
    view.error = describeError(e);
  }
}
