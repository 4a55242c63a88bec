/**
 * The fixed form of a leaky policy expression: the conditions that do not read the tenant setting
 * are kept (`is_public OR ...`, `AND NOT archived`), every condition that reads it becomes the
 * tenant predicate (in the NULLIF form, which fails closed), and conditions that are always true go.
 * Works on pg_get_expr() text.
 */
export function fixExpression(original: string | null, predicate: string): string {
  if (original === null) return predicate;
  const disjuncts: string[] = [];
  for (const disjunct of splitTopLevel(unwrap(original), 'OR')) {
    const conjuncts: string[] = [];
    for (const term of splitTopLevel(unwrap(disjunct), 'AND')) {
      const bare = unwrap(term).trim();
      if (/^true$/i.test(bare) || /^\(?1\s*=\s*1\)?$/.test(bare)) continue;
      const next = /current_setting\s*\(/i.test(bare) ? predicate : term.trim();
      if (!conjuncts.includes(next)) conjuncts.push(next);
    }
    // An always-true disjunct opened the policy to everyone: it goes, the tenant predicate stays.
    const joined = conjuncts.length === 0 ? predicate : conjuncts.length === 1 ? conjuncts[0]! : conjuncts.map(wrap).join(' AND ');
    if (!disjuncts.includes(joined)) disjuncts.push(joined);
  }
  if (!disjuncts.some((text) => text.includes(predicate))) return predicate;
  return disjuncts.length === 1 ? disjuncts[0]! : disjuncts.map(wrap).join(' OR ');
}

function wrap(text: string): string {
  return /^\(.*\)$/s.test(text) && balancedWhole(text) ? text : `(${text})`;
}

/** Removes parentheses that enclose the whole text. */
function unwrap(text: string): string {
  let result = text.trim();
  while (result.startsWith('(') && result.endsWith(')') && balancedWhole(result)) result = result.slice(1, -1).trim();
  return result;
}

/** True when the opening parenthesis at 0 closes at the very end (quotes respected). */
function balancedWhole(text: string): boolean {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "'") quoted = !quoted;
    if (quoted) continue;
    if (char === '(') depth++;
    if (char === ')') {
      depth--;
      if (depth === 0 && i < text.length - 1) return false;
    }
  }
  return depth === 0;
}

/** Splits on a keyword at parenthesis depth 0, outside quotes. */
function splitTopLevel(text: string, keyword: 'AND' | 'OR'): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  const pattern = new RegExp(`^\\s${keyword}\\s`, 'i');
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "'") quoted = !quoted;
    if (quoted) continue;
    if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (depth === 0 && pattern.test(text.slice(i, i + keyword.length + 2))) {
      parts.push(text.slice(start, i));
      start = i + keyword.length + 2;
      i = start - 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part.length > 0);
}
