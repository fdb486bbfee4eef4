// The controller's fourteen topics, with their QoS and retain flags, from the generated table
// (schemas/index.json). The specified topics carry no device level, so the `root` option puts
// levels in front of them when several controllers share a broker; "" keeps them exactly.

import { resolveTable } from "../../device/topics.js";
import type { Route } from "../../device/topics.js";
import { PLACEHOLDERS, TABLE } from "./table.js";

export type BessRoutes = { readonly [K in keyof typeof TABLE]: Route };

/** Throws a RangeError for a root with an empty level or a wildcard. */
export function bessRoutes(root = ""): BessRoutes {
  return resolveTable(TABLE, PLACEHOLDERS, {}, root);
}

/** The leading levels every topic shares ("bess", or "<root>/bess"). */
export function sharedLevels(topics: readonly string[]): string {
  const split = topics.map((t) => t.split("/"));
  const shared: string[] = [];
  for (let i = 0; split.every((levels) => i < levels.length - 1 && levels[i] === split[0][i]); i++) shared.push(split[0][i]);
  return shared.join("/");
}

/** One filter for every topic of the controller (its live view). */
export function allTopics(routes: BessRoutes): string {
  return `${sharedLevels(Object.values(routes).map((r) => r.topic))}/#`;
}

/** Where the outcome of a request arrives: status/info or status/error. */
export function answerTopics(routes: BessRoutes): string {
  return `${sharedLevels([routes.statusInfo.topic, routes.statusError.topic])}/+`;
}
