// The node's two topics, built from its configuration: readings go to
// {topic_data_prefix}/{sensor_id}/data, configuration is read from {topic_config}.
// Prefix and config topic may span several levels; the sensor id is one level.

import { checkSegment } from "../../device/topics.js";

export const SENSOR_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws RangeError unless the id can be the {sensor_id} level of the data topic. */
export function checkSensorId(id: string): string {
  if (!SENSOR_ID.test(id)) throw new RangeError(`sensor id must match ${SENSOR_ID.source}: "${id}"`);
  return id;
}

export function dataTopic(prefix: string, sensorId: string): string {
  return `${prefix}/${checkSegment("sensor_id", checkSensorId(sensorId))}/data`;
}

/**
 * The configuration topic. The seed's default (/homecontrol/device/config) is one topic for
 * every node; a configured value may contain "{sensor_id}" to give each node its own.
 */
export function configTopic(template: string, sensorId: string): string {
  return template.split("{sensor_id}").join(checkSensorId(sensorId));
}
