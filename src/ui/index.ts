// The library entry: importing it registers every <pupil-*> element. `npm run build:lib` bundles
// it (with the engine Worker) into dist-lib/ for pages that use a plain <script type="module">.
export { PupilAdapterInfo } from './pupil-adapter-info.ts';
export { PupilChat, type BeforeReply, type ChatBackend, type Sampling } from './pupil-chat.ts';
export { PupilDataset, type DatasetChangeDetail, type DatasetMode, type DatasetSource } from './pupil-dataset.ts';
export { PupilDistill, type DistillProgress, type DistillUseDetail } from './pupil-distill.ts';
export { PupilDistillSettings, type DistillSettingsValue } from './pupil-distill-settings.ts';
export { PupilTeacherSettings, teacherAdvice, type TeacherChoice } from './pupil-teacher-settings.ts';
export { openDistillStore, type DistillMode, type DistillStore, type GeneratedRecord, type GeneratedSet } from './distill-store.ts';
export { PupilLossChart, type ChartView } from './pupil-loss-chart.ts';
export { PupilModelPicker, estimateMemory, type ModelChange } from './pupil-model-picker.ts';
export { PupilRuns, type RunListItem } from './pupil-runs.ts';
export { PupilStudio, STUDIO_DEFAULTS, adviceFor, mergeConfig } from './pupil-studio.ts';
export { PupilTrainControls, type TrainControlsConfig } from './pupil-train-controls.ts';
export { controlStyles, themeStyles } from './theme.ts';
export { EngineClient, describeError, hasWebGPU } from '../worker/client.ts';
export type * from '../worker/protocol.ts';
