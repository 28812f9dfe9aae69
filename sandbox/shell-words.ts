/**
 * A shell parser for the safety policy: the POSIX/bash subset that decides which
 * programs a command line runs. It does not run or expand anything; it builds a small
 * tree (scripts of pipelines of commands of words) whose words keep their pieces apart
 * (literal text, `$VAR`/`${VAR:-x}`, `$(…)`/backticks, arithmetic), so the policy can
 * resolve what it can and refuse what it cannot.
 *
 * Covered: quoting (`'…'`, `"…"`, `$'…'` with its escapes, backslashes), `$()`, backticks
 * and process substitution (parsed as scripts of their own), pipelines, `&& || ; &`,
 * subshells and braces, `if/while/for/case` (keywords are skipped, `case` patterns are
 * read), function definitions, redirections, here-documents and here-strings, and
 * assignments. What it cannot parse raises `ShellSyntaxError`; the policy treats that as
 * a command it cannot resolve.
 */

export type WordPart =
  /** Literal text with quotes removed; `glob` when unquoted pattern characters are in it. */
  | { kind: 'lit'; text: string; glob: boolean }
  /** `$NAME`, `${NAME}`; `op` is what follows the name inside braces (`:-`, `#`, `/`…), `arg` its word for `-`/`=` ops. */
  | { kind: 'var'; name: string; op: string; arg?: Word; quoted: boolean }
  /** `$(…)`, backticks; `<(…)`, `>(…)` with `fileName` (the word is a path to a pipe, not the output). */
  | { kind: 'sub'; script: Script; quoted: boolean; fileName?: boolean }
  | { kind: 'arith' };

export interface Word {
  parts: WordPart[];
  /** The source text, for keywords and messages. */
  raw: string;
}

export interface Redirect {
  op: string;
  target?: Word;
  /** Here-document body (after the delimiter line) or here-string word. */
  body?: Word;
}

export interface Assignment {
  name: string;
  /** Undefined for values no word can hold (arrays, `for` loop variables). */
  value: Word | undefined;
}

export interface SimpleCommand {
  kind: 'simple';
  assigns: Assignment[];
  words: Word[];
  redirects: Redirect[];
}

export interface GroupCommand {
  kind: 'group';
  /** `( … )` runs in a child shell: what it assigns or `cd`s to does not last. */
  subshell: boolean;
  body: Script;
  redirects: Redirect[];
}

export type Command = SimpleCommand | GroupCommand;
export interface Pipeline {
  commands: Command[];
}
export interface Script {
  pipelines: Pipeline[];
}

export class ShellSyntaxError extends Error {}

/** Past this nesting of `$(…)`, quotes and subshells the text is refused, not parsed. */
const MAX_NESTING = 64;
const META = ' \t\n;&|<>()';
const SKIPPED_KEYWORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  '!',
  '{',
  '}',
  'time',
  'coproc',
]);

const EMPTY_PARENS = /\(\s*\)/y;
/** Characters with no meaning to the shell inside a word, and inside double quotes. */
const PLAIN_RUN = /[^\s;&|<>()\\'"$`*?[{]/;
const PLAIN_RUN_STICKY = /[^\s;&|<>()\\'"$`*?[{]+/y;
const QUOTED_RUN = /[^"\\$`]+|[\s\S]/y;
const REDIRECTION = /(\d{1,9}|\{[A-Za-z_][A-Za-z0-9_]{0,63}\})?(<<<|<<-|<<|<>|<&|<|>>|>&|>\||>|&>>|&>)/y;
const BRACKET_GLOB = /\[[^\s\]]{1,255}\]/y;
const BRACE_EXPANSION = /\{[^\s}]{0,255}?(,|\.\.)/y;
const ASSIGNMENT = /([A-Za-z_][A-Za-z0-9_]*)(\[[^\]\n]*\])?\+?=/y;

export function parseShell(src: string): Script {
  const p = new Parser(src);
  const script = p.script('eof');
  if (p.pos < src.length) throw new ShellSyntaxError(`unexpected ${JSON.stringify(src[p.pos])} at ${p.pos}`);
  return script;
}

/** Appends literal text to a word's parts, joining it to a literal before it. */
function addLiteral(parts: WordPart[], text: string, glob: boolean): void {
  const last = parts[parts.length - 1];
  if (last?.kind === 'lit') {
    last.text += text;
    last.glob ||= glob;
  } else parts.push({ kind: 'lit', text, glob });
}

/** Parses the text of a here-document that expands `$…` and backticks. */
export function parseExpandingText(src: string): Word {
  const p = new Parser(src);
  return { parts: p.doubleQuoted(true), raw: src };
}

type End = 'eof' | ')' | 'case';

class Parser {
  pos = 0;
  private nesting = 0;
  private pendingHeredocs: Array<{ redirect: Redirect; delimiter: string; expand: boolean; stripTabs: boolean }> = [];

  constructor(private readonly src: string) {}

  private peek(k = 0): string {
    return this.src[this.pos + k] ?? '';
  }

  /** A match of the sticky `re` at pos, without copying the rest of the text. */
  private matchHere(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.pos;
    return re.exec(this.src);
  }

  private enter(): void {
    if (++this.nesting > MAX_NESTING) throw new ShellSyntaxError('nested too deeply');
  }

  private skipBlanks(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r') this.pos++;
      else if (c === '\\' && this.peek(1) === '\n') this.pos += 2;
      else if (c === '#') while (this.pos < this.src.length && this.peek() !== '\n') this.pos++;
      else return;
    }
  }

  private newline(): void {
    this.pos++;
    this.readHeredocBodies();
  }

  script(end: End): Script {
    this.enter();
    const pipelines: Pipeline[] = [];
    for (;;) {
      this.skipBlanks();
      const c = this.peek();
      if (c === '') {
        if (end === ')') throw new ShellSyntaxError('missing )');
        break;
      }
      if (c === '\n') {
        this.newline();
        continue;
      }
      if (c === ';') {
        if (this.peek(1) === ';' && end === 'case') break;
        if (this.peek(1) === '&' && end === 'case') break;
        this.pos++;
        continue;
      }
      if (c === '&' || (c === '|' && this.peek(1) === '|')) {
        this.pos += c === '&' && this.peek(1) === '&' ? 2 : c === '|' ? 2 : 1;
        continue;
      }
      if (c === ')') {
        if (end === ')') break;
        throw new ShellSyntaxError('unexpected )');
      }
      if (end === 'case' && this.atWord('esac')) break;
      pipelines.push(this.pipeline(end));
    }
    this.nesting--;
    return { pipelines };
  }

  private atWord(w: string): boolean {
    return (
      this.src.startsWith(w, this.pos) &&
      (this.pos + w.length >= this.src.length || META.includes(this.src[this.pos + w.length]))
    );
  }

  private pipeline(end: End): Pipeline {
    const commands: Command[] = [this.command(end)];
    for (;;) {
      this.skipBlanks();
      if (this.peek() === '|' && this.peek(1) !== '|') {
        this.pos += this.peek(1) === '&' ? 2 : 1;
        this.skipBlanks();
        while (this.peek() === '\n') this.newline();
        commands.push(this.command(end));
      } else break;
    }
    return { commands };
  }

  private command(end: End): Command {
    this.skipBlanks();
    if (this.peek() === '(') {
      if (this.peek(1) === '(') {
        this.arithmetic(2);
        return { kind: 'simple', assigns: [], words: [], redirects: [] };
      }
      this.pos++;
      const body = this.script(')');
      this.pos++;
      return { kind: 'group', subshell: true, body, redirects: this.trailingRedirects() };
    }
    const cmd: SimpleCommand = { kind: 'simple', assigns: [], words: [], redirects: [] };
    for (;;) {
      this.skipBlanks();
      const c = this.peek();
      if (c === '' || c === '\n' || c === ';' || (c === '&' && this.peek(1) !== '>') || c === '|' || c === ')') break;
      if (c === '(') {
        // `name() { … }`: a function definition; its body is checked where it stands.
        const parens = cmd.words.length === 1 ? this.matchHere(EMPTY_PARENS) : null;
        if (parens) {
          this.pos += parens[0].length;
          cmd.words = [];
          continue;
        }
        throw new ShellSyntaxError(`unexpected ( at ${this.pos}`);
      }
      if (this.redirect(cmd.redirects)) continue;
      const atCommandWord = cmd.words.length === 0;
      if (atCommandWord && end === 'case' && this.atWord('esac')) break;
      const assign = atCommandWord ? this.matchHere(ASSIGNMENT) : null;
      if (assign) {
        this.pos += assign[0].length;
        if (this.peek() === '(') {
          this.skipBalanced();
          cmd.assigns.push({ name: assign[1], value: undefined });
        } else cmd.assigns.push({ name: assign[1], value: assign[2] ? undefined : this.word() });
        continue;
      }
      const word = this.word();
      if (atCommandWord && cmd.assigns.length === 0) {
        if (SKIPPED_KEYWORDS.has(word.raw)) continue;
        if (word.raw === 'function') {
          this.skipBlanks();
          this.word();
          this.skipBlanks();
          this.pos += this.matchHere(EMPTY_PARENS)?.[0].length ?? 0;
          continue;
        }
        if (word.raw === 'for' || word.raw === 'select') return this.forClause();
        if (word.raw === 'case') return this.caseClause();
      }
      cmd.words.push(word);
    }
    return cmd;
  }

  /** `for NAME in WORDS` up to the `;` or newline; the loop variable holds what the policy cannot know. */
  private forClause(): Command {
    this.skipBlanks();
    if (this.peek() === '(' && this.peek(1) === '(') {
      this.arithmetic(2);
      return { kind: 'simple', assigns: [], words: [], redirects: [] };
    }
    const name = this.word().raw;
    const words: Word[] = [];
    for (;;) {
      this.skipBlanks();
      const c = this.peek();
      if (c === '' || c === '\n' || c === ';') break;
      if (META.includes(c)) throw new ShellSyntaxError(`unexpected ${c} in for`);
      words.push(this.word());
    }
    // The words are kept as arguments of a no-op so substitutions in them are checked.
    return {
      kind: 'group',
      subshell: false,
      body: {
        pipelines: [
          {
            commands: [
              {
                kind: 'simple',
                assigns: [],
                words: [{ parts: [{ kind: 'lit', text: ':', glob: false }], raw: ':' }, ...words.slice(1)],
                redirects: [],
              },
            ],
          },
          { commands: [{ kind: 'simple', assigns: [{ name, value: undefined }], words: [], redirects: [] }] },
        ],
      },
      redirects: [],
    };
  }

  private caseClause(): Command {
    this.skipBlanks();
    const subject = this.word();
    this.skipBlanks();
    if (!this.atWord('in')) throw new ShellSyntaxError('case without in');
    this.pos += 2;
    const pipelines: Pipeline[] = [
      {
        commands: [
          {
            kind: 'simple',
            assigns: [],
            words: [{ parts: [{ kind: 'lit', text: ':', glob: false }], raw: ':' }, subject],
            redirects: [],
          },
        ],
      },
    ];
    for (;;) {
      while (/[ \t\r\n;]/.test(this.peek())) {
        if (this.peek() === '\n') this.newline();
        else this.pos++;
      }
      if (this.peek() === '') throw new ShellSyntaxError('case without esac');
      if (this.atWord('esac')) {
        this.pos += 4;
        break;
      }
      if (this.peek() === '(') this.pos++;
      // The pattern: words separated by `|`, up to the `)`.
      for (;;) {
        this.skipBlanks();
        if (this.peek() === ')') {
          this.pos++;
          break;
        }
        if (this.peek() === '|') {
          this.pos++;
          continue;
        }
        if (this.peek() === '' || META.includes(this.peek())) throw new ShellSyntaxError('bad case pattern');
        this.word();
      }
      pipelines.push(...this.script('case').pipelines);
      if (this.peek() === ';') this.pos += this.src.startsWith(';;&', this.pos) ? 3 : 2;
    }
    return { kind: 'group', subshell: false, body: { pipelines }, redirects: this.trailingRedirects() };
  }

  private trailingRedirects(): Redirect[] {
    const out: Redirect[] = [];
    for (;;) {
      this.skipBlanks();
      if (!this.redirect(out)) return out;
    }
  }

  /** Parses one redirection at pos into `out`; false if there is none. */
  private redirect(out: Redirect[]): boolean {
    const c = this.peek();
    if (c !== '<' && c !== '>' && c !== '&' && c !== '{' && (c < '0' || c > '9')) return false;
    const m = this.matchHere(REDIRECTION);
    if (!m) return false;
    // `2>x` is a redirection; `2 >x` and `a2>x` are not, but the digits here begin a word.
    if (m[1] && this.pos > 0 && !' \t\n;&|()'.includes(this.src[this.pos - 1])) return false;
    // `<(…)`/`>(…)` are process substitutions, read as words.
    if ((m[2] === '<' || m[2] === '>') && this.peek((m[1] ?? '').length + 1) === '(') return false;
    this.pos += m[0].length;
    const op = m[2];
    this.skipBlanks();
    if (op === '<<' || op === '<<-') {
      const delimWord = this.word();
      const quoted = /['"\\]/.test(delimWord.raw);
      const delimiter = delimWord.parts.map((p) => (p.kind === 'lit' ? p.text : '')).join('');
      const redirect: Redirect = { op };
      this.pendingHeredocs.push({ redirect, delimiter, expand: !quoted, stripTabs: op === '<<-' });
      out.push(redirect);
      return true;
    }
    if ((op === '>&' || op === '<&') && /^[-\d]/.test(this.peek())) {
      while (/[-\d]/.test(this.peek())) this.pos++;
      out.push({ op });
      return true;
    }
    const target = this.word();
    out.push(op === '<<<' ? { op, body: target } : { op, target });
    return true;
  }

  private readHeredocBodies(): void {
    for (const h of this.pendingHeredocs.splice(0)) {
      const lines: string[] = [];
      for (;;) {
        if (this.pos >= this.src.length) break;
        const nl = this.src.indexOf('\n', this.pos);
        let line = this.src.slice(this.pos, nl === -1 ? this.src.length : nl);
        this.pos = nl === -1 ? this.src.length : nl + 1;
        if (h.stripTabs) line = line.replace(/^\t+/, '');
        if (line === h.delimiter) break;
        lines.push(line);
      }
      const text = lines.length > 0 ? lines.join('\n') + '\n' : '';
      h.redirect.body = h.expand
        ? parseExpandingText(text)
        : { parts: [{ kind: 'lit', text, glob: false }], raw: text };
    }
  }

  /** Skips a balanced `( … )` (array values), honouring quotes. */
  private skipBalanced(): void {
    let depth = 0;
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c === '\\') this.pos += 2;
      else if (c === "'") this.pos = this.closing("'", this.pos + 1) + 1;
      else if (c === '"') {
        this.pos++;
        this.doubleQuoted(false);
        this.pos++;
      } else {
        this.pos++;
        if (c === '(') depth++;
        else if (c === ')' && --depth === 0) return;
      }
    }
    throw new ShellSyntaxError('missing )');
  }

  private closing(ch: string, from: number): number {
    const at = this.src.indexOf(ch, from);
    if (at === -1) throw new ShellSyntaxError(`missing ${ch}`);
    return at;
  }

  /** `$((…))` or `((…))` at pos (after `$` if any): skipped; substitutions inside are refused. */
  private arithmetic(open: number): WordPart {
    const start = this.pos + open;
    let depth = open;
    let i = start;
    while (i < this.src.length && depth > 0) {
      if (this.src[i] === '(') depth++;
      else if (this.src[i] === ')') depth--;
      i++;
    }
    if (depth > 0) throw new ShellSyntaxError('missing ))');
    const text = this.src.slice(start, i);
    if (text.includes('$(') || text.includes('`')) throw new ShellSyntaxError('command substitution inside arithmetic');
    this.pos = i;
    return { kind: 'arith' };
  }

  /** One word at pos, up to an unquoted metacharacter. */
  word(): Word {
    this.enter();
    const start = this.pos;
    const parts: WordPart[] = [];
    for (;;) {
      const c = this.peek();
      if (c === '') break;
      if ((c === '<' || c === '>') && this.peek(1) === '(') {
        this.pos += 2;
        parts.push({ kind: 'sub', script: this.script(')'), quoted: true, fileName: true });
        this.pos++;
        continue;
      }
      if (META.includes(c)) break;
      if (c === '\\') {
        if (this.peek(1) === '\n') this.pos += 2;
        else {
          addLiteral(parts, this.peek(1), false);
          this.pos += 2;
        }
      } else if (c === "'") {
        const end = this.closing("'", this.pos + 1);
        addLiteral(parts, this.src.slice(this.pos + 1, end), false);
        this.pos = end + 1;
      } else if (c === '$' && this.peek(1) === "'") {
        this.pos += 2;
        addLiteral(parts, this.ansiC(), false);
      } else if (c === '"' || (c === '$' && this.peek(1) === '"')) {
        this.pos += c === '$' ? 2 : 1;
        parts.push(...this.doubleQuoted(false));
        if (this.peek() !== '"') throw new ShellSyntaxError('missing "');
        this.pos++;
      } else if (c === '$' || c === '`') {
        const part = this.dollarOrBacktick(false);
        if (part) parts.push(part);
        else {
          addLiteral(parts, '$', false);
          this.pos++;
        }
      } else if (PLAIN_RUN.test(c)) {
        // A run of ordinary characters at once: char-by-char concatenation is what made long lines slow.
        const run = this.matchHere(PLAIN_RUN_STICKY)!;
        addLiteral(parts, run[0], false);
        this.pos += run[0].length;
      } else {
        // `*?[` are globs; `{a,b}` is brace expansion: either can spell any program name.
        const pattern =
          c === '*' ||
          c === '?' ||
          ((c === '[' || c === '{') && this.matchHere(c === '[' ? BRACKET_GLOB : BRACE_EXPANSION) !== null);
        addLiteral(parts, c, pattern);
        this.pos++;
      }
    }
    if (this.pos === start) throw new ShellSyntaxError(`expected a word at ${start}`);
    this.nesting--;
    return { parts, raw: this.src.slice(start, this.pos) };
  }

  /**
   * The inside of `"…"` up to the closing quote (left at pos), or with `toEnd` the whole
   * rest of the text (an expanding here-document).
   */
  doubleQuoted(toEnd: boolean): WordPart[] {
    const parts: WordPart[] = [];
    let text = '';
    for (;;) {
      const c = this.peek();
      if (c === '') {
        if (toEnd) break;
        throw new ShellSyntaxError('missing "');
      }
      if (c === '"' && !toEnd) break;
      if (c === '\\' && '$`"\\\n'.includes(this.peek(1)) && this.peek(1) !== '') {
        if (this.peek(1) !== '\n') text += this.peek(1);
        this.pos += 2;
      } else if (c === '$' || c === '`') {
        const part = this.dollarOrBacktick(true);
        if (part) {
          if (text) parts.push({ kind: 'lit', text, glob: false });
          text = '';
          parts.push(part);
        } else {
          text += '$';
          this.pos++;
        }
      } else {
        const run = this.matchHere(QUOTED_RUN)!;
        text += run[0];
        this.pos += run[0].length;
      }
    }
    if (text) parts.push({ kind: 'lit', text, glob: false });
    return parts;
  }

  /** A `$…` expansion or backtick substitution at pos, or undefined for a lone `$`. */
  private dollarOrBacktick(quoted: boolean): WordPart | undefined {
    if (this.peek() === '`') {
      // Inside backticks a backslash quotes only `$`, `` ` `` and `\`; the rest is a script.
      let inner = '';
      let i = this.pos + 1;
      for (;;) {
        const c = this.src[i];
        if (c === undefined) throw new ShellSyntaxError('missing `');
        if (c === '`') break;
        if (c === '\\' && '$`\\'.includes(this.src[i + 1] ?? '')) {
          inner += this.src[i + 1];
          i += 2;
        } else {
          inner += c;
          i++;
        }
      }
      this.pos = i + 1;
      this.enter();
      const script = parseShell(inner);
      this.nesting--;
      return { kind: 'sub', script, quoted };
    }
    const n = this.peek(1);
    if (n === '(') {
      if (this.peek(2) === '(') {
        this.pos++;
        return this.arithmetic(2);
      }
      this.pos += 2;
      const script = this.script(')');
      this.pos++;
      return { kind: 'sub', script, quoted };
    }
    if (n === '[') {
      this.pos++;
      this.arithmeticBrackets();
      return { kind: 'arith' };
    }
    if (n === '{') return this.braced(quoted);
    const m = this.src.slice(this.pos + 1, this.pos + 256).match(/^([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/);
    if (!m) return undefined;
    this.pos += 1 + m[0].length;
    return { kind: 'var', name: m[0], op: '', quoted };
  }

  private arithmeticBrackets(): void {
    const end = this.closing(']', this.pos);
    if (/\$\(|`/.test(this.src.slice(this.pos, end)))
      throw new ShellSyntaxError('command substitution inside arithmetic');
    this.pos = end + 1;
  }

  /** `${…}` at pos. */
  private braced(quoted: boolean): WordPart {
    const open = this.pos + 2;
    let depth = 1;
    let i = open;
    while (i < this.src.length) {
      const c = this.src[i];
      if (c === '\\') i += 2;
      else if (c === "'" && !quoted) i = this.closing("'", i + 1) + 1;
      else if (c === '{') {
        depth++;
        i++;
      } else if (c === '}') {
        if (--depth === 0) break;
        i++;
      } else i++;
    }
    if (depth > 0) throw new ShellSyntaxError('missing }');
    const inner = this.src.slice(open, i);
    this.pos = i + 1;
    const m = inner.match(/^([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])(.*)$/s);
    if (!m) return { kind: 'var', name: inner, op: '!', quoted };
    const rest = m[2];
    const op = rest.match(/^(:?[-=+?]|##?|%%?|\/\/?|\^\^?|,,?|:|\[|@)?/)![0];
    if (op === '' && rest !== '') return { kind: 'var', name: m[1], op: rest[0], quoted };
    if (op === '-' || op === ':-' || op === '=' || op === ':=') {
      const argText = rest.slice(op.length);
      const sub = new Parser(argText);
      sub.nesting = this.nesting;
      const parts = argText === '' ? [] : sub.doubleQuoted(true);
      return { kind: 'var', name: m[1], op, arg: { parts, raw: argText }, quoted };
    }
    // Other operators transform the value in ways the policy does not follow, but any
    // substitution in them still runs.
    if (/\$\(|`/.test(rest)) {
      const sub = new Parser(rest);
      sub.nesting = this.nesting;
      return {
        kind: 'var',
        name: m[1],
        op: op || rest[0] || '?',
        arg: { parts: sub.doubleQuoted(true), raw: rest },
        quoted,
      };
    }
    return { kind: 'var', name: m[1], op: op || '', quoted };
  }

  /** The body of `$'…'` at pos (after the quote), decoded; leaves pos after the closing quote. */
  private ansiC(): string {
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === '') throw new ShellSyntaxError("missing '");
      this.pos++;
      if (c === "'") return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.peek();
      this.pos++;
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        a: '\x07',
        b: '\b',
        e: '\x1b',
        E: '\x1b',
        f: '\f',
        v: '\v',
        '\\': '\\',
        "'": "'",
        '"': '"',
        '?': '?',
      };
      if (e in simple) out += simple[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const max = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const m = this.src.slice(this.pos, this.pos + max).match(/^[0-9a-fA-F]+/);
        if (!m) out += '\\' + e;
        else {
          this.pos += m[0].length;
          out += String.fromCodePoint(Math.min(parseInt(m[0], 16), 0x10ffff));
        }
      } else if (/[0-7]/.test(e)) {
        const m = this.src.slice(this.pos - 1, this.pos + 2).match(/^[0-7]{1,3}/)!;
        this.pos += m[0].length - 1;
        out += String.fromCharCode(parseInt(m[0], 8) & 0xff);
      } else if (e === 'c') {
        out += String.fromCharCode(this.peek().charCodeAt(0) & 0x1f);
        this.pos++;
      } else out += '\\' + e;
    }
  }
}
