/**
 * The one did-you-mean every suggestion site uses: task-file keys and values, repo names,
 * model names, plan-prompt commands. Damerau distance, so a swapped pair of letters
 * (`titel`, `dokcer`) costs one edit as a person counts it, not two.
 */
import damerauLevenshtein from 'damerau-levenshtein';

const distance = (a: string, b: string) => damerauLevenshtein(a.toLowerCase(), b.toLowerCase()).steps;

/** How far off a word of this length may be and still be a typo rather than another word. */
const tolerance = (word: string, floor: number) => Math.max(floor, Math.floor(word.length / 4));

/**
 * Up to `max` of `known` close enough to `word`, nearest first (ties alphabetical).
 * `floor` is the distance always tolerated, however short the word.
 */
export function nearest(word: string, known: readonly string[], o: { max?: number; floor?: number } = {}): string[] {
  const limit = tolerance(word, o.floor ?? 1);
  return [...new Set(known)]
    .map((name) => ({ name, d: distance(word, name) }))
    .filter((x) => x.d <= limit && x.name !== word)
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, o.max ?? 1)
    .map((x) => x.name);
}

/** The one nearest name, if any is close enough. */
export const didYouMean = (word: string, known: readonly string[]): string | undefined => nearest(word, known)[0];

/** `; did you mean "title"?`, or nothing: for the end of an error message. */
export const didYouMeanSuffix = (word: string, known: readonly string[]): string => {
  const hint = didYouMean(word, known);
  return hint === undefined ? '' : `; did you mean "${hint}"?`;
};
