/**
 * JSON task files carry `//` comments (JSONC). Comments are blanked, not removed, so
 * every line and column stays where the person wrote it and messages point at their lines.
 */
export function blankJsonComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') out += text[i++] === '\t' ? '\t' : ' ';
      i--;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? text.length : end + 2;
      for (; i < stop; i++) out += text[i] === '\n' ? '\n' : ' ';
      i--;
    } else out += c;
  }
  return out;
}

/** Whether a file is read as JSON with comments rather than YAML. */
export function isJsonFile(file: string): boolean {
  return /\.jsonc?$/i.test(file);
}
