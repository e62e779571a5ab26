// Worker threads do not inherit tsx's loader on Node 20: register it here, then load the TS module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
