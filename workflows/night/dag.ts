/**
 * The dependency graph of a batch. Pure functions only: the batch workflow calls them on
 * every decision, and replay requires they give the same answer every time.
 */

export interface DagTask {
  id: string;
  dependsOn: string[];
  /** Lower runs first; ties go to file order. */
  priority: number;
}

/** A dependency cycle as a closed walk, e.g. ["a", "b", "c", "a"], or undefined. */
export function findCycle(tasks: readonly DagTask[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.id, t.dependsOn]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of deps.get(id) ?? []) {
      if (!deps.has(d)) continue;
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const t of tasks) {
    const cycle = visit(t.id);
    if (cycle) return cycle;
  }
  return undefined;
}

/**
 * Tasks whose dependencies have all succeeded and which have not started, best first.
 * `succeeded` and `started` hold task IDs.
 */
export function readyTasks(
  tasks: readonly DagTask[],
  succeeded: ReadonlySet<string>,
  started: ReadonlySet<string>,
): string[] {
  return tasks
    .map((t, order) => ({ t, order }))
    .filter(({ t }) => !started.has(t.id) && t.dependsOn.every((d) => succeeded.has(d)))
    .sort((a, b) => a.t.priority - b.t.priority || a.order - b.order)
    .map(({ t }) => t.id);
}

/** Every task that depends on `id`, directly or not, in file order. */
export function dependentsOf(tasks: readonly DagTask[], id: string): string[] {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const t of tasks) {
      if (out.has(t.id)) continue;
      if (t.dependsOn.some((d) => d === id || out.has(d))) {
        out.add(t.id);
        grew = true;
      }
    }
  }
  return tasks.filter((t) => out.has(t.id)).map((t) => t.id);
}

/** Execution phases: each wave holds the tasks whose dependencies are all in earlier waves. */
export function waves(tasks: readonly DagTask[]): string[][] {
  const placed = new Set<string>();
  const result: string[][] = [];
  while (placed.size < tasks.length) {
    const wave = readyTasks(tasks, placed, placed);
    if (wave.length === 0) break; // a cycle; validation rejects these before a batch starts
    wave.forEach((id) => placed.add(id));
    result.push(wave);
  }
  return result;
}
