import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dependentsOf, findCycle, readyTasks, waves } from '../../workflows/night/dag';

const t = (id: string, dependsOn: string[] = [], priority = 5) => ({ id, dependsOn, priority });
const wander = [t('w1'), t('w2', ['w1']), t('w3', ['w1']), t('w4', ['w2', 'w3'])];

test('waves are the execution phases', () => {
  assert.deepEqual(waves(wander), [['w1'], ['w2', 'w3'], ['w4']]);
});

test('readyTasks: dependencies succeeded, not started, by priority then file order', () => {
  const tasks = [t('a', [], 5), t('b', [], 1), t('c', ['a'], 0), t('d', [], 1)];
  assert.deepEqual(readyTasks(tasks, new Set(), new Set()), ['b', 'd', 'a']);
  assert.deepEqual(readyTasks(tasks, new Set(['a']), new Set(['a', 'b'])), ['c', 'd']);
});

test('dependentsOf is transitive and excludes unrelated tasks', () => {
  assert.deepEqual(dependentsOf(wander, 'w2'), ['w4']);
  assert.deepEqual(dependentsOf(wander, 'w1'), ['w2', 'w3', 'w4']);
  assert.deepEqual(dependentsOf(wander, 'w4'), []);
});

test('findCycle names the cycle, or finds none', () => {
  assert.equal(findCycle(wander), undefined);
  assert.deepEqual(findCycle([t('a', ['b']), t('b', ['c']), t('c', ['a']), t('d')]), ['a', 'b', 'c', 'a']);
});
