export * from './linalg';
export * from './attention';
export * from './info_nce';
export * from './vicreg';
export * from './tokens';
export * from './sinkhorn';
export * from './pointwise';
export * from './koleo';
