import * as Comlink from 'comlink';
import { BROWSER_ADVICE } from '../gpu/errors.ts';
import type { EngineApi, EngineErrorInfo } from './protocol.ts';

export interface Engine {
  api: Comlink.Remote<EngineApi>;
  terminate(): void;
}

/** Starts the engine Worker. The page's main thread never touches the GPU itself. */
export function startEngine(): Engine {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'pupil-engine' });
  return { api: Comlink.wrap<EngineApi>(worker), terminate: () => worker.terminate() };
}

/** True when this browser exposes WebGPU at all (the Worker may still find no adapter). */
export function hasWebGPU(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu;
}

/** Turns whatever the Worker threw into something the page can show. */
export function describeError(e: unknown): EngineErrorInfo {
  const err = e as { name?: string; message?: string };
  const name = err?.name ?? 'Error';
  const message = err?.message ?? String(e);
  return name === 'NoWebGPUError' || /WebGPU/.test(message) ? { name, message, advice: BROWSER_ADVICE } : { name, message };
}

export { BROWSER_ADVICE };
