export { EXIT, VERSION, buildProgram, runCli } from './program.js';
export { BUILT_IN_BACKENDS, probeBackends, registerBuiltInBackends, type BackendReport } from './backends.js';
export { runDemo, type DemoFigures } from './commands/demo.js';
export { consoleOutput, type Output } from './output.js';
