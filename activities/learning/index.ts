/** Learning activities: skills extracted from tasks that succeeded. */
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import type { StateStore } from '../../common/store';
import { withHeartbeats } from '../heartbeat';
import type { TranscriptStore } from '../task/transcripts';
import {
  collectSkillBatch,
  learnSkill,
  submitSkillBatch,
  type LearnSkillInput,
  type LearnSkillResult,
} from './learn-skill';

export function createLearningActivities(deps: {
  anthropic: Anthropic | undefined;
  transcripts: TranscriptStore;
  store: StateStore;
}) {
  return withHeartbeats(
    {
      /** Idempotent by workflow ID: a retry, on any host, finds the skill it recorded in the state store and returns it. */
      async learnSkill(input: LearnSkillInput): Promise<LearnSkillResult> {
        return learnSkill(
          {
            anthropic: deps.anthropic,
            transcripts: deps.transcripts,
            store: deps.store,
            signal: Context.current().cancellationSignal,
          },
          input,
        );
      },
      /** The same request through the Message Batches API, submitted at most once (activities/model/batches.ts). */
      async submitSkillBatch(input: LearnSkillInput) {
        return submitSkillBatch({ anthropic: deps.anthropic, transcripts: deps.transcripts, store: deps.store }, input);
      },
      /** An ended skill batch's answer, written as learnSkill writes it. */
      async collectSkillBatch(input: LearnSkillInput & { batchId: string }) {
        return collectSkillBatch(
          { anthropic: deps.anthropic, transcripts: deps.transcripts, store: deps.store },
          input,
        );
      },
    },
    ['learnSkill', 'submitSkillBatch', 'collectSkillBatch'],
  );
}
