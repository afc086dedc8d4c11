// The one module both builds compile: every kernel file re-exported.
export * from './elementwise';
export * from './reduce';
export * from './copy';
export * from './quantize';
export * from './gemm_f32';
export * from './conv_f32';
export * from './gemm_i8';
export * from './elementwise_i8';
export * from './spmm';
