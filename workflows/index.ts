/** Every workflow type the worker registers. Bundled for Temporal's deterministic sandbox. */
import { setWorkflowOptions } from '@temporalio/workflow';
import { nightlyBatch } from './night/batch';
import { agentTask } from './task/task';
import { plannedNight } from './planning/planned-night';
import { improvementLoops } from './planning/improvement-loops';
import { nightshiftIntake } from './intake/intake';
import { dailyLedger } from './budget/daily-ledger';
import { VERSIONING_BEHAVIOR } from './versioning';

const workflows = { nightlyBatch, agentTask, plannedNight, improvementLoops, nightshiftIntake, dailyLedger };
for (const [type, fn] of Object.entries(workflows) as [
  keyof typeof workflows,
  (...args: never[]) => Promise<unknown>,
][]) {
  setWorkflowOptions({ versioningBehavior: VERSIONING_BEHAVIOR[type] }, fn);
}

export { nightlyBatch, agentTask, plannedNight, improvementLoops, nightshiftIntake, dailyLedger };
