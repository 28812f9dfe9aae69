/**
 * A deliberately small shell lexer for the safety policy. It does not run or expand
 * anything; it splits a command line into the simple commands the shell would run, so
 * that `a && git commit`, `x; git push`, `$(git commit)` and `"$(git push)"` are all seen.
 *
 * It errs towards finding more commands rather than fewer: text inside command
 * substitutions and subshells becomes commands of its own. Here-document bodies are
 * skipped because they are data (a file that mentions `git commit` is not a commit).
 */

/** Splits `src` into simple commands, each a list of words with quotes removed. */
export function splitCommands(src: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let dropNextWord = false;
  const heredocs: string[] = [];
  let wantHeredocWord = false;
  // Where to go back to when a `$(`, `(` or backtick closes.
  const stack: Array<'plain' | 'dq' | 'bt' | 'dq-bt'> = [];
  let mode: 'plain' | 'sq' | 'dq' = 'plain';

  const endWord = () => {
    if (!inWord) return;
    if (wantHeredocWord) {
      heredocs.push(word);
      wantHeredocWord = false;
    } else if (dropNextWord) {
      dropNextWord = false;
    } else {
      words.push(word);
    }
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length > 0) commands.push(words);
    words = [];
  };

  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (mode === 'sq') {
      if (c === "'") mode = 'plain';
      else word += c;
      continue;
    }
    if (mode === 'dq') {
      if (c === '"') mode = 'plain';
      else if (c === '\\' && i + 1 < src.length) word += src[++i];
      else if (c === '$' && src[i + 1] === '(') {
        i++;
        endCommand();
        stack.push('dq');
        mode = 'plain';
      } else if (c === '`') {
        endCommand();
        stack.push('dq-bt');
        mode = 'plain';
      } else word += c;
      continue;
    }
    if (c === '\\') {
      if (src[i + 1] === '\n') i++;
      else if (i + 1 < src.length) {
        inWord = true;
        word += src[++i];
      }
      continue;
    }
    if (c === "'") {
      mode = 'sq';
      inWord = true;
      continue;
    }
    if (c === '$' && src[i + 1] === "'") {
      i++;
      mode = 'sq';
      inWord = true;
      continue;
    }
    if (c === '"') {
      mode = 'dq';
      inWord = true;
      continue;
    }
    if (c === '$' && src[i + 1] === '(') {
      i++;
      endCommand();
      stack.push('plain');
      continue;
    }
    if (c === '`') {
      const top = stack[stack.length - 1];
      endCommand();
      if (top === 'bt' || top === 'dq-bt') {
        stack.pop();
        if (top === 'dq-bt') {
          mode = 'dq';
          inWord = true;
        }
      } else stack.push('bt');
      continue;
    }
    if (c === '(') {
      endCommand();
      stack.push('plain');
      continue;
    }
    if (c === ')') {
      endCommand();
      if (stack.pop() === 'dq') {
        mode = 'dq';
        inWord = true;
      }
      continue;
    }
    if (c === '<' && src[i + 1] === '<' && src[i + 2] !== '<') {
      endWord();
      i++;
      if (src[i + 1] === '-') i++;
      wantHeredocWord = true;
      continue;
    }
    if (c === '<' || c === '>') {
      // A redirection: its target is a file name, not an argument.
      if (inWord && /^\d+$/.test(word)) {
        word = '';
        inWord = false;
      }
      endWord();
      while (src[i + 1] === '>' || src[i + 1] === '&' || src[i + 1] === '|' || src[i + 1] === '<') i++;
      dropNextWord = true;
      continue;
    }
    if (c === '\n') {
      endCommand();
      if (heredocs.length > 0) i = skipHeredocs(src, i + 1, heredocs.splice(0)) - 1;
      continue;
    }
    if (c === ';' || c === '&' || c === '|') {
      endCommand();
      continue;
    }
    if (c === '#' && !inWord) {
      while (i + 1 < src.length && src[i + 1] !== '\n') i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      endWord();
      continue;
    }
    inWord = true;
    word += c;
  }
  endCommand();
  return commands;
}

/** Returns the index just past the last here-document body starting at `from`. */
function skipHeredocs(src: string, from: number, delimiters: string[]): number {
  let pos = from;
  for (const delim of delimiters) {
    for (;;) {
      const nl = src.indexOf('\n', pos);
      const line = src.slice(pos, nl === -1 ? src.length : nl);
      pos = nl === -1 ? src.length : nl + 1;
      if (line.replace(/^\t+/, '') === delim || nl === -1) break;
    }
  }
  return pos;
}
