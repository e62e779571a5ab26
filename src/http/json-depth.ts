/**
 * Request bodies are checked for nesting before JSON.parse: a body of 30,000 `[` parses, but
 * JSON.stringify and the validators recurse and throw RangeError on it. The check counts brackets
 * outside strings, in one linear pass, without building anything.
 */

/** Deepest nesting a request body may have; the deepest real one (an AdmissionReview's pod) is about 15. */
export const MAX_JSON_DEPTH = 64;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/** True when `text`, read as JSON, nests objects and arrays more than `max` levels deep. */
export function jsonTooDeep(text: string, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}

/** What every refusal of a too-deep body says, in the endpoint's own words around it. */
export const TOO_DEEP_MESSAGE = `the JSON body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep; no document the endpoint takes is nested like that`;
