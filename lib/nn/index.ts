/** Neural-network modules: `import { nn } from 'selfsup'` (docs/nn.md). */
export { Module, ModuleList, Parameter, isParameter, toSnakeCase, type StateDict, type StateDictInput, type LoadResult } from './module';
export {
  Linear, Conv2d, Embedding, LayerNorm, BatchNorm1d, Dropout, ReLU, GELU, SiLU, Softmax, Identity, Sequential,
  type LayerOptions, type LinearOptions, type Conv2dModuleOptions, type EmbeddingModuleOptions, type LinearInit, type LayerNormModuleOptions, type BatchNormModuleOptions, type DropoutModuleOptions,
} from './layers';
export { MLP, type MLPOptions, type ProjectorPreset } from './mlp';
export {
  MultiheadSelfAttention, FeedForward, TransformerBlock, PatchEmbed, VisionTransformer, sincosPosEmbed2d, attentionReference,
  type TransformerOptions, type MultiheadSelfAttentionOptions, type TransformerBlockOptions, type PatchEmbedOptions,
  type VisionTransformerOptions, type VisionTransformerOutput, type VisionTransformerCallOptions, type AttentionCallOptions,
} from './vit';
export * as init from './init';
export { truncNormal_, kaimingUniform_, xavierUniform_, uniform_, normal_, constant_, zeros_, ones_, type TruncNormalOptions } from './init';
export {
  encodeSafetensors, decodeSafetensors, readSafetensorsFile, writeSafetensorsFile,
  type RawTensor, type SafetensorsContents, type StDtype,
} from './safetensors';
