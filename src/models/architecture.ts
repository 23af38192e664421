import type { Runtime, Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { HFConfig, ModelConfig } from './config.ts';
import type { ParamSpec, ParamStore } from './params.ts';

// Letters used on every shape: B batch, T sequence, C hidden, V vocabulary, L layers,
// Hq query heads, Hkv key/value heads, D head size, F MLP inner size.

/** What the trainer writes into GPU tensors before each micro-batch (src/data Batch, uploaded). */
export interface BatchInputs {
  ids: Tensor; // (B, T) i32
  targets: Tensor; // (B, T) i32, -100 where no loss
  positions: Tensor; // (B, T) i32, restart at 0 in each packed segment
  segmentIds: Tensor; // (B, T) i32, 0 = padding, 1.. = packed example
  /** (3·B·T + 2) i32: embeddingBackwardIndex(ids, V), rebuilt on the CPU per batch. */
  embeddingIndex: Tensor;
  /**
   * (3·B·T + 2) i32: embeddingBackwardIndex(positions, maxPositions), rebuilt per batch like
   * embeddingIndex. Needed by architectures with a learned position table (gpt2's wpe).
   */
  positionIndex?: Tensor;
}

export interface BuildOptions {
  /** Recompute each block's activations in the backward instead of keeping them. */
  recompute?: boolean;
  /**
   * Forward only (a frozen teacher): no backward steps, no gradient scratch, one shared set of
   * block activations; `backward` is empty and `dhidden` is `hidden` (never written).
   */
  forwardOnly?: boolean;
}

/**
 * The planned dispatches of one model for one (B, T): the trunk from token ids to the final
 * hidden states and back. Heads (LM head with cross-entropy, value head) sit on `hidden`.
 */
export interface ModelGraph {
  /** ids → hidden (B, T, C), after the final norm. */
  forward: Step[];
  /** dhidden → parameter gradients, accumulated (+=) into the store's grads. */
  backward: Step[];
  hidden: Tensor; // (B, T, C)
  dhidden: Tensor; // (B, T, C)
  /** Every activation tensor of the graph, for the memory accounting (some are views of one shared buffer: free them with destroy()). */
  activations: Tensor[];
  destroy(): void;
}

/** One architecture family: a folder under src/models/ and one line in the registry. */
export interface Architecture {
  /** Registry name, e.g. 'llama'. */
  name: string;
  /** Hugging Face `model_type`s it accepts. */
  modelTypes: string[];
  /** Normalises config.json; throws UnsupportedConfigError naming the field and value. */
  parseConfig(hf: HFConfig): ModelConfig;
  /** Parameters with Hugging Face names and shapes (tied weights omitted as HF does). */
  parameters(cfg: ModelConfig): ParamSpec[];
  /** Activation shapes for a planned (B, T), by name, for the memory plan before allocating. */
  activationShapes(cfg: ModelConfig, B: number, T: number, opts?: BuildOptions): Record<string, number[]>;
  /** Allocates the activations and builds the forward and backward dispatch lists. */
  build(rt: Runtime, cfg: ModelConfig, store: ParamStore, inputs: BatchInputs, opts?: BuildOptions): ModelGraph;
  /** The name of the LM head weight (V, C): 'lm_head.weight', or the embedding when tied. */
  lmHeadWeight(cfg: ModelConfig): string;
}
