/** Every workflow type the worker registers. Bundled for Temporal's deterministic sandbox. */
export { nightlyBatch } from './batch';
export { agentTask } from './task';
export { plannedNight } from './planned';
export { improvementLoops } from './improve';
export { nightshiftIntake } from './intake';
export { dailyLedger } from './ledger';
