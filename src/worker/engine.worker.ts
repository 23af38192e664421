// The dedicated Worker that owns the GPU. The page talks to it only through `EngineApi`.
import * as Comlink from 'comlink';
import { Runtime } from '../gpu/runtime.ts';
import { probeRuntime } from './probe.ts';
import type { EngineApi } from './protocol.ts';

let runtime: Promise<Runtime> | undefined;

function getRuntime(): Promise<Runtime> {
  runtime ??= Runtime.create().catch((e) => {
    runtime = undefined;
    throw e;
  });
  return runtime;
}

const api: EngineApi = {
  async probe() {
    return probeRuntime(await getRuntime());
  },
};

Comlink.expose(api);
