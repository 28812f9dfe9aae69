/** Every workflow type the worker registers. Bundled for Temporal's deterministic sandbox. */
export { nightlyBatch } from './batch';
export { agentTask } from './task';
export { nightshiftIntake } from './intake';
