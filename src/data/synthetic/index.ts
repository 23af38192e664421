// The bundled synthetic default dataset: verifiable instruction tasks, their generator and scorer.
export {
  DEFAULT_SEED, DEFAULT_TEST, DEFAULT_TRAIN, MAX_EXAMPLE_BYTES,
  generateDataset, generateItems, isTestValue, toJsonl,
  type GenerateOptions, type GeneratedItem, type Split,
} from './generator.ts';
export { exactMatch, scoreExample, type ExactMatchReport, type MatchRate } from './scorer.ts';
export { TASKS, TASK_FAMILIES, findTask } from './tasks.ts';
export { taskId, type ScoreMode, type SyntheticRecord, type TaskSpec, type Template } from './spec.ts';
export { datasetStats, type DatasetStats } from './stats.ts';
