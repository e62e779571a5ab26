// ESLint (flat config): the rules live in tools/lint, beside the TypeScript 6 that typescript-eslint loads.
import { idbridgeLint } from '@idbridge/lint';

export default idbridgeLint(import.meta.dirname);
