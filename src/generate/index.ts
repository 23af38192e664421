// Generation: a model behind the CausalLM interface (gpu-model.ts for students on the GPU), the
// sampling loop with streaming and stop conditions, and the samplers.
export type { CausalLM, FinishReason, GenerateEvent, GenerateResult, TokenDecoder } from './types.ts';
export { generate, generateText, type Generation, type GenerateOptions } from './generate.ts';
export { sample, samplingDistribution, checkSamplingOptions, applyRepetitionPenalty, type SamplingOptions } from './sampler.ts';
export { Rng, type RngState } from './rng.ts';
export { IncrementalDecoder, StopMatcher } from './stop.ts';
export { GpuCausalLM, decoderSpecFor, type GpuCausalLMOptions } from './gpu-model.ts';
