/**
 * Worker entry of zip's batch task (run on the compression pool by name, `deflateBatch`):
 * the members of one zip write(), each raw-deflated on its own, laid out by batch.ts, in
 * one message each way. The zip writer hands this module's path to the pool it was
 * given; the pool itself knows nothing of zip.
 */
import { exactBuffer } from '../../util/bytes.js';
import { layOutMembers, layOutMembersInto, type DeflateBatchTask } from './batch.js';

/** The result goes into the writer's shared `output` when there is one, so no result bytes cross by message. */
export function deflateBatch(task: DeflateBatchTask): ArrayBuffer | number {
  const bodies = new Uint8Array(task.bodies, 0, task.bodiesLength);
  if (task.output) return layOutMembersInto(new Uint8Array(task.output), task.names, bodies, task.fields, task.level);
  return exactBuffer(layOutMembers(task.names, bodies, task.fields, task.level));
}
