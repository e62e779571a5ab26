// The Cloud Functions entry: wires the idbridge app to the Functions Framework, nothing else.
// Deploy: see README, "Cloud Functions". Run locally: npm run build && npx functions-framework --target=idbridge
import { http } from '@google-cloud/functions-framework';
import { createFunctionHandler } from '../src/functions/handler.js';

http('idbridge', createFunctionHandler(process.env));
