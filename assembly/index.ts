// The one module both builds compile: every kernel file re-exported.
export * from './elementwise';
export * from './reduce';
export * from './copy';
export * from './quantize';
