import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';
import 'tsx/cjs';
register();
await import(workerData.entry);
