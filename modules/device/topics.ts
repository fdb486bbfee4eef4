// Topic templates: "devices/{org}/{device}/telemetry" filled from validated values, so an
// id can never inject a level separator or a wildcard into a topic.

export type TopicValues = Record<string, string>;

/** Throws RangeError when a value is empty or contains '/', '+', '#' or NUL. */
export function checkSegment(name: string, value: string): string {
  if (value === "" || /[/+#\u0000]/.test(value)) {
    throw new RangeError(`${name} must be a non-empty topic level without '/', '+', '#' or NUL: "${value}"`);
  }
  return value;
}

/** Fills every {name} in the template; a missing value is an error, not "undefined". */
export function fillTopic(template: string, values: TopicValues): string {
  return template.replace(/\{([a-z_]+)\}/gi, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new RangeError(`no value for {${name}} in ${template}`);
    return checkSegment(name, value);
  });
}

/** Fills all templates of a topic map at once. */
export function fillTopics<T extends Record<string, string>>(templates: T, values: TopicValues): { [K in keyof T]: string } {
  const out = {} as { [K in keyof T]: string };
  for (const key of Object.keys(templates) as (keyof T)[]) out[key] = fillTopic(templates[key], values);
  return out;
}
