/**
 * No-progress detection: an agent that runs the same failing command again and again,
 * flips an edit back and forth, or keeps reading what it has already read spends the
 * night and the budget on nothing. Each turn is reduced to a fingerprint (its tool calls
 * and inputs, each call's result, the workspace tree after the turn's edits); when the
 * turns stop telling anything new, the agent is nudged once with what was seen, and if it
 * goes on the same way the task stops as `stuck`, its work kept.
 *
 * Pure and deterministic: workflow code, unit-tested on recorded turn sequences.
 */

/** The thresholds (task file `no_progress:`). */
export interface ProgressSettings {
  /** The same call with the same result this many times. @default 3 */
  repeats?: number;
  /** Edits that bring the workspace back to a tree it held before (not the one just before), this many times. @default 2 */
  revisits?: number;
  /** Turns in a row with no change to the workspace and no result not seen before. @default 6 */
  idleTurns?: number;
}

/** Results and trees remembered, at most. */
const MEMORY = 500;

export const PROGRESS_DEFAULTS: Required<ProgressSettings> = { repeats: 3, revisits: 2, idleTurns: 6 };

/** One tool call of a turn, as runTool reported it. */
export interface CallSeen {
  /** Tool name and input, hashed by the activity. */
  call: string;
  /** The result the agent read, hashed. */
  result: string;
  /** For the message: `bash: npm test` and the like. */
  summary: string;
}

export interface TurnSeen {
  turn: number;
  calls: CallSeen[];
  /** The workspace tree after the turn's last edit; absent when nothing was edited or it could not be read. */
  tree?: string;
}

export interface ProgressState {
  /** `<call> <result> <tree before the turn>` → times seen since the last nudge. */
  repeats: Record<string, number>;
  /** Every result seen, so "new information" can be told from old. */
  results: string[];
  /** Trees the workspace held, in order, with no two neighbours equal. */
  trees: string[];
  revisits: number;
  idle: number;
  nudged: boolean;
}

export type ProgressVerdict = { verdict: 'ok' } | { verdict: 'nudge' | 'stuck'; why: string };

export function newProgressState(startTree?: string): ProgressState {
  return { repeats: {}, results: [], trees: startTree ? [startTree] : [], revisits: 0, idle: 0, nudged: false };
}

/** Folds one turn into `state` (mutated) and says whether the agent is still getting anywhere. */
export function observeTurn(state: ProgressState, seen: TurnSeen, settings: ProgressSettings = {}): ProgressVerdict {
  const s = { ...PROGRESS_DEFAULTS, ...settings };
  const why: string[] = [];

  let learned = false;
  // The same call and result on a different workspace is progress checked again, not a repeat.
  const treeBefore = state.trees[state.trees.length - 1] ?? '';
  for (const c of seen.calls) {
    const key = `${c.call} ${c.result} ${treeBefore}`;
    const times = (state.repeats[key] = (state.repeats[key] ?? 0) + 1);
    if (times >= s.repeats) why.push(`\`${c.summary}\` ran ${times} times with the same result`);
    if (!state.results.includes(c.result)) {
      state.results.push(c.result);
      // Bounded: the state is carried across continue-as-new; very old results are forgotten.
      if (state.results.length > MEMORY) state.results.shift();
      learned = true;
    }
  }

  let changed = false;
  if (seen.tree !== undefined && seen.tree !== state.trees[state.trees.length - 1]) {
    changed = true;
    // Back to a tree held before the last one: an edit undone, or flipped back and forth.
    if (state.trees.slice(0, -1).includes(seen.tree)) {
      state.revisits++;
      if (state.revisits >= s.revisits)
        why.push(`edits returned the workspace to an earlier state ${state.revisits} times`);
    }
    state.trees.push(seen.tree);
    if (state.trees.length > MEMORY) state.trees.shift();
  }

  state.idle = changed || learned ? 0 : state.idle + 1;
  if (state.idle >= s.idleTurns) why.push(`${state.idle} turns in a row changed no file and turned up nothing new`);

  if (why.length === 0) return { verdict: 'ok' };
  const reason = [...new Set(why)].join('; ');
  if (state.nudged) return { verdict: 'stuck', why: reason };
  // After the nudge the agent starts with a clean count: it gets as many turns again to show progress.
  state.nudged = true;
  state.repeats = {};
  state.revisits = 0;
  state.idle = 0;
  return { verdict: 'nudge', why: reason };
}

/** What the agent reads after the nudge turn. */
export function nudgeText(why: string): string {
  return (
    `Nightshift note: you do not seem to be making progress (${why}). ` +
    'Stop repeating what has not worked: read the error carefully, try a different approach, or call finish explaining what blocks you. ' +
    'If this goes on, the task is stopped as stuck and your work so far is kept for a person.'
  );
}
