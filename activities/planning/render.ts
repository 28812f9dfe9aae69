/**
 * A plan on disk: `tasks/<date>.yaml` (a task file, ready for `nightshift start` once
 * reviewed) and its companion `tasks/<date>.plan.md` with the execution phases, a Mermaid
 * graph, each task's model and estimated cost. Also the plan as text for the terminal.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Document } from 'yaml';
import { SpecError } from '../../common/errors';
import { chooseRole } from '../task/prompt-roles';
import type { BatchSpec } from '../../taskfile/types';
import { waves } from '../../workflows/night/dag';
import type { Planner } from './decompose';
import type { NightEstimate } from './estimate';
import type { PlanDraft } from './plan-tool';

export interface PlanHeader {
  date: string;
  maxCostUsd: number;
  /** What was planned from: the goal, or the document's name. */
  from: string;
  /** Who asked (a workflow ID): a retry finds its own plan by it instead of planning again. */
  key?: string;
  planner: Planner;
  summary?: string;
}

export function describePlanner(p: Planner): string {
  if (p.kind === 'model')
    return `${p.model}, ${p.attempts === 1 ? 'first answer valid' : `valid on attempt ${p.attempts}`}, planning cost $${p.costUsd.toFixed(4)}`;
  if (p.kind === 'reused') return `the plan already written for ${p.key}`;
  return `heuristic decomposition (${p.reason}); no model was asked`;
}

export function renderPlanYaml(draft: PlanDraft, h: PlanHeader): string {
  const doc = new Document({ date: h.date, max_cost_usd: h.maxCostUsd, tasks: draft.tasks });
  doc.commentBefore = [
    ` Planned by nightshift from: ${h.from.split('\n')[0].slice(0, 200)}`,
    ` Planner: ${describePlanner(h.planner)}`,
    ` Review and edit, then: nightshift start <this file>`,
    ...(h.key ? [` Plan key: ${h.key}`] : []),
  ].join('\n');
  return doc.toString({ lineWidth: 100 });
}

const usd = (n: number) => `$${n.toFixed(2)}`;
const esc = (s: string) => s.replace(/"/g, "'").replace(/[[\]]/g, '');

export function mermaidGraph(spec: BatchSpec): string {
  const lines = ['graph TD'];
  for (const t of spec.tasks) lines.push(`  ${t.id.replace(/[^A-Za-z0-9_]/g, '_')}["${t.id}: ${esc(t.title)}"]`);
  for (const t of spec.tasks)
    for (const d of t.dependsOn)
      lines.push(`  ${d.replace(/[^A-Za-z0-9_]/g, '_')} --> ${t.id.replace(/[^A-Za-z0-9_]/g, '_')}`);
  return lines.join('\n');
}

/** Phases and edges as plain text, for the terminal. */
export function renderPlanText(spec: BatchSpec, est: NightEstimate): string {
  const byId = new Map(est.tasks.map((t) => [t.id, t]));
  const lines: string[] = [];
  waves(spec.tasks).forEach((wave, i) => {
    lines.push(`Phase ${i + 1}${wave.length > 1 ? ' (in parallel)' : ''}:`);
    for (const id of wave) {
      const t = spec.tasks.find((x) => x.id === id)!;
      const e = byId.get(id)!;
      const after = t.dependsOn.length ? `  <- ${t.dependsOn.join(', ')}` : '';
      lines.push(
        `  ${id}  ${t.title}  [${chooseRole(t)}, ${e.complexity}, ${e.model}, ~${usd(e.costUsd)}, ~${e.hours}h]${after}`,
      );
    }
  });
  lines.push(
    '',
    `Estimated: ${usd(est.costUsd)} of ${usd(est.budgetUsd)} budget (${est.fits ? 'fits' : 'DOES NOT FIT'}), about ${est.hours} h wall-clock with ${spec.maxConcurrentAgents} agents`,
  );
  return lines.join('\n');
}

export function renderPlanMarkdown(spec: BatchSpec, h: PlanHeader, est: NightEstimate, yamlFile: string): string {
  const byId = new Map(est.tasks.map((t) => [t.id, t]));
  const out = [
    `# Plan · ${h.date}`,
    '',
    `- From: ${h.from.split('\n')[0]}`,
    `- Planner: ${describePlanner(h.planner)}`,
    `- Task file: \`${yamlFile}\` (review it, then \`nightshift start ${yamlFile}\`)`,
    ...(h.summary ? [`- Approach: ${h.summary}`] : []),
    `- Estimate: ${usd(est.costUsd)} of the ${usd(est.budgetUsd)} budget (${est.fits ? 'fits' : '**does not fit**'}), about ${est.hours} h wall-clock with ${spec.maxConcurrentAgents} agents at once; from ${est.historyTasks} finished agent tasks of history plus default hours per complexity as the prior`,
    '',
    '## Execution phases',
    '',
    ...waves(spec.tasks).map(
      (w, i) => `${i + 1}. ${w.map((id) => `\`${id}\``).join(', ')}${w.length > 1 ? ' (in parallel)' : ''}`,
    ),
    '',
    '## Dependency graph',
    '',
    '```mermaid',
    mermaidGraph(spec),
    '```',
    '',
    '## Tasks',
    '',
    '| task | role | complexity | model | est. cost | est. hours | depends on |',
    '|---|---|---|---|---|---|---|',
    ...spec.tasks.map((t) => {
      const e = byId.get(t.id)!;
      return `| ${t.id} | ${chooseRole(t)} | ${e.complexity} | ${e.model} | ${usd(e.costUsd)} | ${e.hours} | ${t.dependsOn.join(', ') || '-'} |`;
    }),
    '',
  ];
  for (const t of spec.tasks) {
    out.push(`### ${t.id}: ${t.title}`, '', t.description || '(no description)', '');
    if (t.acceptanceCriteria.length) out.push('Acceptance criteria:', ...t.acceptanceCriteria.map((c) => `- ${c}`), '');
    if (t.deliverables.length) out.push('Deliverables:', ...t.deliverables.map((d) => `- \`${d}\``), '');
  }
  return out.join('\n');
}

/** Companion of `tasks/2026-11-21.yaml` is `tasks/2026-11-21.plan.md`. */
export function companionOf(yamlFile: string): string {
  return yamlFile.replace(/\.ya?ml$/i, '') + '.plan.md';
}

/**
 * Writes both files (whole-file writes: a retry writes the same bytes). Refuses to replace
 * a task file that is not a plan nightshift wrote, unless `overwrite`.
 */
export async function writePlanFiles(
  root: string,
  yamlRel: string,
  yamlText: string,
  markdown: string,
  o: { overwrite?: boolean } = {},
): Promise<{ yaml: string; markdown: string }> {
  const abs = path.resolve(root, yamlRel);
  const existing = await fs.readFile(abs, 'utf8').catch(() => undefined);
  if (
    existing !== undefined &&
    existing !== yamlText &&
    !o.overwrite &&
    !existing.startsWith('# Planned by nightshift')
  ) {
    throw new SpecError([
      {
        file: yamlRel,
        path: '',
        message: 'already exists and was not written by nightshift plan; choose another file (--out) or pass --force',
      },
    ]);
  }
  await fs.mkdir(path.dirname(abs), { recursive: true });
  await fs.writeFile(abs, yamlText);
  const md = companionOf(abs);
  await fs.writeFile(md, markdown);
  return { yaml: path.relative(root, abs), markdown: path.relative(root, md) };
}
