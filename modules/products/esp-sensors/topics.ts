// The node's two topics from the generated table: readings on
// {topic_data_prefix}/{sensor_id}/data, configuration read from {topic_config}. Both values
// come from the persisted configuration and may span levels (resolveTable checks them against
// index.json's patterns); the sensor id is one level. `root` (an option) is put in front of
// both, so nodes sharing a broker need not share the specified configuration topic.

import { resolveTable } from "../../device/topics.js";
import type { Route } from "../../device/topics.js";
import { PLACEHOLDERS, TABLE } from "./table.js";

export interface EspTopics {
  sensorData: Route;
  config: Route;
}

/**
 * The topics for one sensor. `{sensor_id}` inside topic_config is replaced by the sensor id
 * (one configuration topic per node without a root). Throws RangeError when a value does not
 * fit its placeholder's pattern.
 */
export function espTopics(sensorId: string, topics: { topic_data_prefix: string; topic_config: string }, root: string): EspTopics {
  return resolveTable(TABLE, PLACEHOLDERS, {
    sensor_id: sensorId,
    topic_data_prefix: topics.topic_data_prefix,
    topic_config: topics.topic_config.split("{sensor_id}").join(sensorId),
  }, root);
}

/** The filter for every level the data and config topics share, then "#": the live view of one node. */
export function commonFilter(t: EspTopics): string {
  const x = t.sensorData.topic.split("/");
  const y = t.config.topic.split("/");
  let n = 0;
  while (n < x.length - 1 && n < y.length - 1 && x[n] === y[n]) n++;
  return n === 0 ? "#" : `${x.slice(0, n).join("/")}/#`;
}
