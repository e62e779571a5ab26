/**
 * `Uint8Array.fromBase64` (ES2026, "Uint8Array to/from base64") for Node versions that lack it.
 *
 * jose decodes every JWS segment with `Uint8Array.fromBase64` when the runtime has it, and
 * otherwise with `atob` and a byte-by-byte copy loop. On Node 20 that fallback costs about as
 * much as all of idbridge's own work on a token (a tenth of a verification), so the Node hosts
 * install this standard method at start. It follows the specification (alphabets, ASCII
 * whitespace, padding, the three `lastChunkHandling` modes, SyntaxError on anything else) and
 * decodes with Buffer once the input is known to be well formed.
 */

type Alphabet = 'base64' | 'base64url';
type LastChunkHandling = 'loose' | 'strict' | 'stop-before-partial';

export interface FromBase64Options {
  alphabet?: Alphabet;
  lastChunkHandling?: LastChunkHandling;
}

/** The two characters of the other alphabet, which Buffer would decode silently. */
const FOREIGN = { base64: ['-', '_'], base64url: ['+', '/'] } as const;
const ALPHABET_CHAR = { base64: /^[A-Za-z0-9+/]$/, base64url: /^[A-Za-z0-9_-]$/ } as const;
const WHITESPACE = new Set(['\t', '\n', '\f', '\r', ' ']);
const VALUES = new Map(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'].map((c, i) => [c, i]),
);

function hasWhitespace(input: string): boolean {
  for (const char of WHITESPACE) if (input.includes(char)) return true;
  return false;
}

/** Installs `Uint8Array.fromBase64` unless the runtime already has it. Returns whether it did. */
export function installFromBase64(): boolean {
  if (typeof (Uint8Array as unknown as { fromBase64?: unknown }).fromBase64 === 'function')
    return false;
  Object.defineProperty(Uint8Array, 'fromBase64', {
    value: fromBase64,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return true;
}

export function fromBase64(input: unknown, options?: FromBase64Options): Uint8Array {
  if (typeof input !== 'string') throw new TypeError('Uint8Array.fromBase64 expects a string');
  const alphabet = options?.alphabet ?? 'base64';
  if (alphabet !== 'base64' && alphabet !== 'base64url')
    throw new TypeError('alphabet must be "base64" or "base64url"');
  const lastChunkHandling = options?.lastChunkHandling ?? 'loose';
  if (
    lastChunkHandling !== 'loose' &&
    lastChunkHandling !== 'strict' &&
    lastChunkHandling !== 'stop-before-partial'
  ) {
    throw new TypeError('lastChunkHandling must be "loose", "strict" or "stop-before-partial"');
  }
  // The common case (what a JWS segment is): alphabet characters only, no padding, no spaces.
  const [a, b] = FOREIGN[alphabet];
  if (!input.includes('=') && !input.includes(a) && !input.includes(b) && !hasWhitespace(input)) {
    const decoded = decodeClean(input, alphabet, lastChunkHandling, false);
    // Buffer skips characters outside the alphabet; if it skipped any, the input was not clean.
    if (decoded) return decoded;
  }
  const [text, , , padded] = canonical(input, alphabet, lastChunkHandling);
  return decodeClean(text, alphabet, lastChunkHandling, padded) ?? new Uint8Array(0);
}

/**
 * Decodes alphabet characters only (null if Buffer found others); `padded` says the last chunk
 * was closed by `=` padding.
 * A final chunk of one character is never valid; of two or three, it is decoded in loose mode
 * (extra bits ignored), refused in strict mode, left out in stop-before-partial mode.
 */
function decodeClean(
  text: string,
  alphabet: Alphabet,
  lastChunkHandling: LastChunkHandling,
  padded: boolean,
): Uint8Array | null {
  const rest = text.length % 4;
  let usable = text;
  if (rest !== 0 && !padded) {
    if (lastChunkHandling === 'stop-before-partial') usable = text.slice(0, text.length - rest);
    else if (rest === 1) throw new SyntaxError('the base64 input ends with a lone character');
    else if (lastChunkHandling === 'strict')
      throw new SyntaxError('the base64 input is missing its padding');
  }
  if (
    lastChunkHandling === 'strict' &&
    (rest === 2 || rest === 3) &&
    padded &&
    overflowBits(text, rest) !== 0
  ) {
    throw new SyntaxError('the base64 input has non-zero bits after its last byte');
  }
  // Buffer.alloc, not Buffer.from: its own ArrayBuffer, never a slice of Buffer's shared pool.
  const expected = Math.floor((usable.length * 3) / 4);
  const out = Buffer.alloc(expected);
  if (out.write(usable, alphabet) !== expected) return null;
  return new Uint8Array(out.buffer, out.byteOffset, expected);
}

/** The bits of a final 2- or 3-character chunk that do not make a whole byte. */
function overflowBits(text: string, rest: number): number {
  const last = VALUES.get(normalize(text[text.length - 1]!)) ?? 0;
  return rest === 2 ? last & 0x0f : last & 0x03;
}

function normalize(char: string): string {
  return char === '-' ? '+' : char === '_' ? '/' : char;
}

/**
 * The specification's reading of anything else: whitespace skipped, `=` allowed only to pad
 * the last chunk (two or three characters) to four, and nothing but whitespace after it.
 */
function canonical(
  input: string,
  alphabet: Alphabet,
  lastChunkHandling: LastChunkHandling,
): [string, Alphabet, LastChunkHandling, boolean] {
  let text = '';
  for (let i = 0; i < input.length; i++) {
    const char = input[i]!;
    if (WHITESPACE.has(char)) continue;
    if (char === '=') {
      const chunk = text.length % 4;
      if (chunk < 2) throw new SyntaxError('misplaced "=" in base64 input');
      let padding = 1;
      for (i++; i < input.length; i++) {
        const next = input[i]!;
        if (WHITESPACE.has(next)) continue;
        if (next === '=' && chunk === 2 && padding === 1) {
          padding++;
          continue;
        }
        throw new SyntaxError('unexpected character after base64 padding');
      }
      if (chunk + padding === 4) return [text, alphabet, lastChunkHandling, true];
      // "AA=" without its second "=": a partial chunk, which only stop-before-partial tolerates.
      if (lastChunkHandling === 'stop-before-partial')
        return [text.slice(0, text.length - chunk), alphabet, lastChunkHandling, false];
      throw new SyntaxError('incomplete base64 padding');
    }
    if (!ALPHABET_CHAR[alphabet].test(char))
      throw new SyntaxError(`character ${JSON.stringify(char)} is not in the ${alphabet} alphabet`);
    text += char;
  }
  return [text, alphabet, lastChunkHandling, false];
}
