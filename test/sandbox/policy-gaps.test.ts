/**
 * The policy's gaps of the last round, closed through a real sandbox: a link to git (or a
 * copy of it) made in an earlier call and run by path, git-core's git-* names, Makefile
 * recipes run by `make`, and workspace modules imported by an interpreter's program.
 * Each refusal is by the git rule; the ordinary uses next to them still pass.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyViolation } from '../../common/errors';
import { createLocalProvider, type LocalSandbox } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { checkCommandInSandbox, DEFAULT_SAFETY_POLICY } from '../../sandbox/policy';
import { scratchDir } from '../helpers/outside-tmp';

const MAKEFILE = [
  'GIT := git',
  'PUSH = $(GIT) push',
  '.PHONY: all test release',
  'all: test',
  'test: deps',
  '\t@echo testing',
  'deps:',
  '\tnpm --version',
  'release:',
  '\t$(PUSH) origin main',
  'ship: release',
  'sneaky:',
  '\t$(G) commit -am x',
  'include extra.mk',
  '',
].join('\n');

describe('policy gaps: programs by path, make, imported modules', () => {
  const provider = createLocalProvider({ root: path.join(scratchDir('policy-gaps'), '.nightshift', 'sandboxes') });
  let sb: LocalSandbox;
  const check = (cmd: string) => checkCommandInSandbox(cmd, DEFAULT_SAFETY_POLICY, sb.workspaceDir, sb);
  const refused = (cmd: string) =>
    assert.rejects(
      check(cmd),
      (e: unknown) => e instanceof PolicyViolation && e.rule === 'no-git-writes',
      `${cmd} was not refused`,
    );
  const allowed = async (cmd: string) => {
    await check(cmd).catch((e: Error) => assert.fail(`${cmd} was refused: ${e.message}`));
  };

  before(async () => {
    sb = (await provider.create({ key: 'policy/gaps' })) as LocalSandbox;
    const planted = await sb.exec(
      [
        'ln -s /usr/bin/git g',
        'cp /usr/bin/git tool',
        'ln -s /usr/lib/git-core/git-commit gc',
        'mkdir -p sub lib pkg',
        'ln -s ../g sub/again',
        "printf '#!/bin/sh\\necho built\\n' > build.sh && chmod +x build.sh",
        'cp /usr/bin/env myenv',
      ].join(' && '),
    );
    assert.equal(planted.exitCode, 0, planted.stderr);
    await sb.writeFile('Makefile', MAKEFILE);
    await sb.writeFile('extra.mk', 'deploy:\n\t-git push --force\n');
    await sb.writeFile('sub/Makefile', 'all:\n\tgit commit -m sub\n');
    await sb.writeFile('shelly.mk', 'NOW != git commit -qm x\nall:\n\techo hi\n');
    await sb.writeFile('shell-call.mk', 'V := $(shell git push origin)\nall:\n\techo hi\n');
    await sb.writeFile('main.py', 'import helper\nhelper.run()\n');
    await sb.writeFile('helper.py', "import subprocess\n\ndef run():\n    subprocess.run(['git', 'push'])\n");
    await sb.writeFile('main2.py', 'from pkg import tool\ntool.go()\n');
    await sb.writeFile('pkg/__init__.py', '');
    await sb.writeFile('pkg/tool.py', "import os\n\ndef go():\n    os.system('git commit -am x')\n");
    await sb.writeFile('ok.py', 'import os, json\nimport sys\nprint(json.dumps(sys.argv))\n');
    await sb.writeFile('dyn.py', "import importlib\nimportlib.import_module('helper').run()\n");
    await sb.writeFile('main.js', "const h = require('./lib/h');\nh();\n");
    await sb.writeFile('lib/h.js', "module.exports = () => require('child_process').execSync('git push');\n");
    await sb.writeFile('main.mjs', "import h from './lib/h.js';\nh();\n");
    await sb.writeFile('dyn.js', 'const m = require(process.argv[2]);\nm();\n');
    await sb.writeFile('missing.js', "require('./nope')();\n");
    await sb.writeFile('fine.js', "const fs = require('fs');\nconsole.log(fs.existsSync('x'));\n");
  });
  after(async () => {
    await sb.kill();
    await shutdownIsolation();
  });

  it('a link to git, a copy of it, or git-core’s names run by path are git', async () => {
    await refused('./g push origin main');
    await refused('./tool commit -am x');
    await refused('./gc -m x');
    await refused('sub/again push');
    await refused('cd sub && ../g push');
    await refused('/usr/lib/git-core/git-push origin');
    await refused('git-commit -m x');
    await allowed('./g status');
    await allowed('./tool log --oneline');
    await allowed('./build.sh');
    await allowed('./myenv true');
  });

  it('make runs the recipes of the targets it is asked for, with their dependencies and includes', async () => {
    await refused('make release');
    await refused('make ship');
    await refused('make deploy');
    await refused('G=git make sneaky');
    await refused('make -C sub');
    await refused('make -f shelly.mk');
    await refused('make --file=shell-call.mk all');
    await refused("make --eval='x:'");
    await allowed('make');
    await allowed('make test');
    await allowed('make -j4 all');
    await allowed('make -C lib');
  });

  it('make refuses a makefile it cannot read', async () => {
    const fifo = await sb.exec('mkfifo pipe.mk');
    assert.equal(fifo.exitCode, 0);
    await refused('make -f pipe.mk');
    await refused('make -f -');
  });

  it('modules an interpreter’s program imports from the workspace are read too', async () => {
    await refused('python3 main.py');
    await refused('python3 main2.py');
    await refused('python3 dyn.py');
    await refused('node main.js');
    await refused('node main.mjs');
    await refused('node dyn.js helper');
    await refused('node missing.js');
    await allowed('python3 ok.py');
    await allowed('node fine.js');
  });
});
