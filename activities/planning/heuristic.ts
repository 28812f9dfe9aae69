/**
 * Decomposition without a model (the fallback): a goal is split into clauses, a
 * document into its sections, between a design task and a tests-and-docs task. Crude on
 * purpose; the plan says it was made this way and is meant to be edited before it runs.
 */
import type { Complexity } from '../../common/models';
import { chooseRole } from '../task/prompt-roles';
import { checkPlan, type PlanDraft, type PlannedTask } from './plan-tool';
import type { DecomposeInput, Decomposition } from './decompose';
import { DEFAULT_MAX_TASKS } from './decompose';

const VERB =
  /^(add|build|convert|create|design|document|fix|implement|improve|make|migrate|refactor|remove|replace|set up|support|update|write)\b/i;
/** Sections of a PRD that describe rather than ask for work. */
const NOT_WORK =
  /^(overview|introduction|background|summary|context|problem|goals?|non-goals?|out of scope|motivation|glossary|references|open questions|appendix|table of contents)\b/i;

interface Piece {
  title: string;
  body: string;
  /** Index of an earlier piece this one builds on ("... with authentication"). */
  buildsOn?: number;
}

/** "Build a REST API with authentication and rate limiting" -> API; auth and rate limiting build on it. */
function clausesOf(goal: string): Piece[] {
  const pieces: Piece[] = [];
  goal
    .trim()
    .replace(/\.$/, '')
    .split(/\s+with\s+/i)
    .forEach((part, level) => {
      const base = pieces.length - 1;
      for (const c of part
        .split(/\s*(?:,|;|\band\b|\bplus\b|&)\s*/i)
        .map((s) => s.trim())
        .filter(Boolean)) {
        pieces.push({
          title: VERB.test(c) ? c[0].toUpperCase() + c.slice(1) : `Implement ${c}`,
          body: c,
          buildsOn: level > 0 && base >= 0 ? base : undefined,
        });
      }
    });
  return pieces;
}

/** `##`/`###` sections that ask for work; else the document's top-level list items. */
function sectionsOf(text: string): Piece[] {
  const pieces: Piece[] = [];
  let cur: Piece | undefined;
  for (const line of text.split('\n')) {
    const h = /^#{2,3}\s+(.+?)\s*#*\s*$/.exec(line);
    if (h) {
      cur = NOT_WORK.test(h[1]) ? undefined : { title: h[1], body: '' };
      if (cur) pieces.push(cur);
    } else if (cur) cur.body += line + '\n';
  }
  if (pieces.length > 0) return pieces.map((p) => ({ ...p, body: p.body.trim() }));
  return text
    .split('\n')
    .map((l) => /^[-*]\s+(.+)$|^\d+[.)]\s+(.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ title: (m[1] ?? m[2]).trim(), body: (m[1] ?? m[2]).trim() }));
}

function complexityOf(text: string): Complexity {
  return text.length < 300 ? 'low' : text.length < 1500 ? 'medium' : 'high';
}

function bullets(body: string): string[] {
  return body
    .split('\n')
    .map((l) => /^\s*[-*]\s+(?:\[[ x]\]\s+)?(.+)$/.exec(l)?.[1]?.trim())
    .filter((s): s is string => Boolean(s));
}

const id = (n: number) => `task-${String(n).padStart(3, '0')}`;
const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40) || 'plan';

export function decomposeHeuristically(input: DecomposeInput, reason: string): Decomposition {
  const maxTasks = input.maxTasks ?? DEFAULT_MAX_TASKS;
  const subject = input.goal ?? input.document?.name ?? 'the goal';
  const pieces = (input.document ? sectionsOf(input.document.text) : clausesOf(input.goal ?? '')).slice(
    0,
    Math.max(1, maxTasks - 2),
  );
  const design = `docs/plans/${slug(input.goal ?? input.document?.name ?? 'plan')}.md`;
  const tasks: PlannedTask[] = [];
  const withDesign = maxTasks >= 3;
  if (withDesign) {
    tasks.push({
      id: id(1),
      title: `Design: ${subject}`,
      description: `Read the codebase and write ${design}: the components ${subject} needs, their interfaces and data, and the order to build them in.${input.document ? ` Source: ${input.document.name}.` : ''}`,
      role: 'docs',
      depends_on: [],
      estimated_complexity: 'low',
      acceptance_criteria: [`${design} names every component, its interface and its tests`],
      deliverables: [design],
    });
  }
  const first = tasks.length;
  for (const p of pieces) {
    const criteria = bullets(p.body);
    const deps = p.buildsOn !== undefined ? [id(first + p.buildsOn + 1)] : withDesign ? [id(1)] : [];
    tasks.push({
      id: id(tasks.length + 1),
      title: p.title,
      description: p.body && p.body !== p.title ? p.body : `${p.title}, as part of: ${subject}.`,
      role: chooseRole({ title: p.title, description: p.body }),
      depends_on: deps,
      // A clause of a one-line goal says nothing about its size: assume a feature's worth.
      estimated_complexity: input.document ? complexityOf(p.body) : 'medium',
      acceptance_criteria: criteria.length ? criteria : [`${p.title} works and is covered by tests`],
      deliverables: [],
    });
  }
  if (withDesign) {
    const built = tasks.slice(first).map((t) => t.id);
    tasks.push({
      id: id(tasks.length + 1),
      title: `Tests and documentation: ${subject}`,
      description: `Add integration tests across what the earlier tasks built and document how to use it.`,
      role: 'tests',
      depends_on: built.length ? built : [id(1)],
      estimated_complexity: 'medium',
      acceptance_criteria: ['the test suite passes', 'the README explains the new behaviour'],
      deliverables: [],
    });
  }
  const draft: PlanDraft = { summary: `Heuristic plan (${reason}): edit it before it runs.`, tasks };
  const check = checkPlan(draft, { maxTasks, source: 'heuristic plan' });
  if (!check.spec) throw new Error(`the heuristic plan is invalid: ${check.issues.map((i) => i.message).join('; ')}`);
  return { draft, spec: check.spec, planner: { kind: 'heuristic', reason } };
}
