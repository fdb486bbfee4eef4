// Topic names and filters [MQTT-4.7]: validation and matching.
// XS charges every .length and charCodeAt of a JS loop; native indexOf scans a string for a
// fraction of that (an 18-character topic name: ~50 computrons instead of ~720), so each check
// looks for the wildcards natively first and walks characters only when one is there.

import { MqttError } from "./errors.js";

/**
 * Matches any character that keeps a topic name from being plain: outside ASCII, U+0000, or a
 * wildcard. A non-empty name it does not match is valid and its UTF-8 length is its length, as
 * one native test shows (no g flag: the test keeps no state).
 */
export const NOT_PLAIN_TOPIC_NAME = /[^\x01-\x22\x24-\x2a\x2c-\x7f]/;

/** Null when valid, else the reason and clause. Names carry no wildcards. */
export function topicNameError(topic: string): [string, string] | null {
  if (topic.length === 0) return ["topic name is empty", "MQTT-4.7.3-1"];
  if (topic.indexOf("#") >= 0 || topic.indexOf("+") >= 0) return ["topic name contains a wildcard", "MQTT-3.3.2-2"];
  return null;
}

/** Null when valid: '#' only last and alone in its level, '+' alone in its level. */
export function topicFilterError(filter: string): [string, string] | null {
  const n = filter.length;
  if (n === 0) return ["topic filter is empty", "MQTT-4.7.3-1"];
  // The first fault from the left is reported. Only the first '#' can be misplaced first
  // (a well-placed '#' is the last character), so it is found once; each '+' before it is
  // checked where indexOf finds it.
  const hash = filter.indexOf("#");
  const badHash = hash >= 0 && (hash !== n - 1 || (hash > 0 && filter.charCodeAt(hash - 1) !== 0x2f /* / */)) ? hash : n;
  for (let i = filter.indexOf("+"); i >= 0 && i < badHash; i = filter.indexOf("+", i + 1)) {
    if ((i > 0 && filter.charCodeAt(i - 1) !== 0x2f) || (i < n - 1 && filter.charCodeAt(i + 1) !== 0x2f)) {
      return ["'+' must occupy a whole level", "MQTT-4.7.1-3"];
    }
  }
  return badHash < n ? ["'#' must be last and occupy a whole level", "MQTT-4.7.1-2"] : null;
}

export function assertTopicName(topic: string): void {
  const e = topicNameError(topic);
  if (e) throw new MqttError("INVALID_ARGUMENT", e[0], e[1]);
}

export function assertTopicFilter(filter: string): void {
  const e = topicFilterError(filter);
  if (e) throw new MqttError("INVALID_ARGUMENT", e[0], e[1]);
}

/** Does topic match filter? '$'-topics are not matched by a leading wildcard [MQTT-4.7.2-1]. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  // Without a wildcard a filter matches only the identical topic (natively checked, see above).
  if (filter.indexOf("#") < 0 && filter.indexOf("+") < 0) return false;
  const fc = filter.charCodeAt(0);
  if (topic.charCodeAt(0) === 0x24 && (fc === 0x23 || fc === 0x2b)) return false;
  let f = 0, t = 0;
  const fn = filter.length, tn = topic.length;
  while (f < fn) {
    const c = filter.charCodeAt(f);
    if (c === 0x23) return true; // '#' matches the parent level and everything below
    if (c === 0x2b) {
      while (t < tn && topic.charCodeAt(t) !== 0x2f) t++;
      f++;
    } else {
      // compare one literal level
      while (f < fn && filter.charCodeAt(f) !== 0x2f) {
        if (t >= tn || topic.charCodeAt(t) !== filter.charCodeAt(f)) return false;
        f++; t++;
      }
      if (t < tn && topic.charCodeAt(t) !== 0x2f) return false;
    }
    // both at a level separator or at the end
    if (f >= fn) return t >= tn;
    // filter has '/' at f
    if (t >= tn) {
      // "a/#" matches "a": the rest of the filter must be exactly "/#"
      return f + 2 === fn && filter.charCodeAt(f + 1) === 0x23;
    }
    f++; t++;
  }
  return t >= tn;
}
