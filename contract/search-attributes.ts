/** The search attributes every nightshift workflow carries (`temporal workflow list --query "NightshiftBatch='...'"`). */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SEARCH_ATTRIBUTES = {
  batch: defineSearchAttributeKey('NightshiftBatch', SearchAttributeType.KEYWORD),
  task: defineSearchAttributeKey('NightshiftTask', SearchAttributeType.KEYWORD),
  repo: defineSearchAttributeKey('NightshiftRepo', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('NightshiftStatus', SearchAttributeType.KEYWORD),
};
