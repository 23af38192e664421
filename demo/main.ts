// The demo page: one <pupil-studio>, nothing else. `?config=<JSON>` overrides the studio's
// defaults (the end-to-end test uses it for a student small enough for a software GPU), and
// `?storage=indexeddb|memory` picks the run storage.
import '../src/ui/index.ts';
import type { RunConfigInput } from '../src/worker/protocol.ts';

const q = new URLSearchParams(location.search);
const studio = document.createElement('pupil-studio');
const config = q.get('config');
if (config) studio.config = JSON.parse(config) as RunConfigInput;
const storage = q.get('storage');
if (storage === 'opfs' || storage === 'indexeddb' || storage === 'memory') studio.storage = storage;
document.querySelector('main')!.append(studio);
