/** The planning activity: decomposition inside a workflow (start --decompose, improve). */
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../common/config';
import type { Planner } from './decompose';
import { makePlan, type PlanRequest } from './plan';

export interface DecomposeGoalResult {
  /** The task file written, relative to NIGHTSHIFT_ROOT. */
  tasksFile: string;
  markdown: string;
  taskIds: string[];
  planner: Planner;
  estimatedCostUsd: number;
  fitsBudget: boolean;
}

export function createPlanningActivities(deps: { config: Pick<NightshiftConfig, 'root'>; anthropic: Anthropic | undefined }) {
  return {
    /**
     * Plans `input` into a task file. Idempotent by `input.key` (the workflow ID): a retry
     * after the file was written reuses it rather than paying for another plan.
     */
    async decomposeGoal(input: PlanRequest): Promise<DecomposeGoalResult> {
      const r = await makePlan(deps.config.root, deps.anthropic, input, { signal: Context.current().cancellationSignal });
      return {
        tasksFile: r.files.yaml,
        markdown: r.files.markdown,
        taskIds: r.spec.tasks.map((t) => t.id),
        planner: r.planner,
        estimatedCostUsd: r.estimate.costUsd,
        fitsBudget: r.estimate.fits,
      };
    },
  };
}
