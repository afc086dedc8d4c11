export {
  Optimizer, type BaseHyperparameters, type OptimizerStateDict, type ParamGroup, type ParamGroupInput, type ParamState, type ParamStateDict,
  type ParamsInput,
} from './optimizer.js';
export { SGD, SGD_DEFAULTS, type SGDOptions } from './sgd.js';
export { ADAMW_DEFAULTS, ADAM_DEFAULTS, Adam, AdamBase, AdamW, type AdamOptions } from './adam.js';
export {
  CosineAnnealingLR, LRSchedule, LambdaLR, LinearWarmup, MultiStepLR, OneCycleLR, StepLR, type OneCycleOptions, type ScheduleStateDict,
  type ScheduledOptimizer,
} from './schedule.js';
export { clipGradNorm, clipGradValue, type ClipGradNormOptions } from './clip.js';
