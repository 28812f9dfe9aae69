/** Every workflow type the worker registers. Bundled for Temporal's deterministic sandbox. */
import { setWorkflowOptions } from '@temporalio/workflow';
import { nightlyBatch } from './batch';
import { agentTask } from './task';
import { plannedNight } from './planned';
import { improvementLoops } from './improve';
import { nightshiftIntake } from './intake';
import { dailyLedger } from './ledger';
import { VERSIONING_BEHAVIOR } from './versioning';

const workflows = { nightlyBatch, agentTask, plannedNight, improvementLoops, nightshiftIntake, dailyLedger };
for (const [type, fn] of Object.entries(workflows) as [keyof typeof workflows, (...args: never[]) => Promise<unknown>][]) {
  setWorkflowOptions({ versioningBehavior: VERSIONING_BEHAVIOR[type] }, fn);
}

export { nightlyBatch, agentTask, plannedNight, improvementLoops, nightshiftIntake, dailyLedger };
