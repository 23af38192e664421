// The dedicated Worker that owns the GPU. The page talks to it only through `EngineApi`
// (src/worker/client.ts); everything heavy (training, storage, generation, export) happens here.
import * as Comlink from 'comlink';
import { Engine } from './engine.ts';

Comlink.expose(new Engine());
