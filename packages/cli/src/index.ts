export { EXIT, VERSION, buildProgram, runCli } from './program.js';
export { BUILT_IN_BACKENDS, probeBackends, registerBuiltInBackends, type BackendReport } from './backends.js';
export { runMainJob, type MainJobOptions } from './main-job/run.js';
export { FULL_CONFIG, QUICK_CONFIG, type MainJobConfig } from './main-job/config.js';
export type { MainJobFigures, ModelFigures, ModelName } from './main-job/figures.js';
export { consoleOutput, type Output } from './output.js';
export * from './report/index.js';
