/**
 * All activities, built over their dependencies so tests can pass real clients pointed at
 * loopback servers. Workflows import only the type `Activities`.
 */
import type { NightshiftConfig } from '../common/config';
import { createCommandActivities } from './command';
import { createSpecActivities } from './spec';

export interface ActivityDeps {
  config: NightshiftConfig;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createSpecActivities(deps.config),
    ...createCommandActivities(deps.config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
