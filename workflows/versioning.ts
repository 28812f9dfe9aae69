/**
 * How each workflow type behaves when a new worker version becomes current (Worker
 * Versioning; docs/operations.md, "Deploying during a night").
 *
 * PINNED: a run finishes on the worker version it started on, so a deploy never replays its
 * history against other code and its changes need no `patched()`. That is right for
 * `agentTask` (a task finishes on the code it started on, even parked for days on a
 * question, and its own continue-as-new stays on that version) and for `plannedNight`.
 * `nightlyBatch` is pinned too: its tasks are its children, which the server starts on the
 * parent's pinned version, so a night is one unit of code. It moves at its next
 * continue-as-new (workflows/night/batch.ts): the new run starts on the current version.
 *
 * AUTO_UPGRADE: the next workflow task runs on the current version, replaying the run so
 * far on the new code, so every change to these types must be guarded with `patched()`
 * (test/replay.test.ts replays their recorded histories). That is the choice for the types
 * that never end: `nightshiftIntake` (continuous), `dailyLedger` (all day, across
 * continue-as-new) and `improvementLoops` (one batch per loop, for days). Pinned, they would
 * hold the old version forever: the Temporal dev server nightshift embeds (CLI 1.5.1, server
 * 1.29) neither sets `targetWorkerDeploymentVersionChanged` nor honours
 * `initialVersioningBehavior` on continue-as-new (upgrade-on-continue-as-new is newer), so a
 * pinned chain stays where it began, and the old workers could never stop. The children
 * they start (tasks, batches) are pinned to the version current at their start.
 */
import type { VersioningBehavior } from '@temporalio/common';
import type { WorkflowType } from '../contract';

export const VERSIONING_BEHAVIOR = {
  nightlyBatch: 'PINNED',
  agentTask: 'PINNED',
  plannedNight: 'PINNED',
  improvementLoops: 'AUTO_UPGRADE',
  nightshiftIntake: 'AUTO_UPGRADE',
  dailyLedger: 'AUTO_UPGRADE',
} as const satisfies Record<WorkflowType, VersioningBehavior>;
