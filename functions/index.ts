// The Cloud Functions entry: wires the idbridge app to the Functions Framework, nothing else.
// Deploy: see README, "Cloud Functions". Run locally: npm run build && npx functions-framework --target=idbridge
import { http } from '@google-cloud/functions-framework';
import { answerFrameworkRefusals } from '../src/hosts/functions/framework-errors.js';
import { createFunctionHandler } from '../src/hosts/functions/handler.js';

const handler = createFunctionHandler(process.env);
// Bodies the framework cannot parse reach the app too, instead of Express's HTML error page.
answerFrameworkRefusals(handler);
http('idbridge', handler);
