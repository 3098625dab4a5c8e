/**
 * `cbv config defaults`: the complete default configuration as commented YAML,
 * generated from the schema so that it can never drift from what is validated.
 */
import { stringify } from 'yaml';
import * as z from 'zod';
import { defaultConfig } from './load.js';
import { configSchema } from './schema.js';

interface JsonSchemaNode {
  description?: string;
  properties?: Record<string, JsonSchemaNode>;
  enum?: unknown[];
}

function render(value: unknown, node: JsonSchemaNode | undefined, indent: string): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const lines: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const childNode = node?.properties?.[key];
    const comment = childNode?.description;
    const choices = childNode?.enum ? ` One of: ${childNode.enum.join(', ')}.` : '';
    if (comment) lines.push(`${indent}# ${comment}${choices}`);
    if (
      child !== null &&
      typeof child === 'object' &&
      !Array.isArray(child) &&
      Object.keys(child).length > 0
    ) {
      lines.push(`${indent}${key}:`, ...render(child, childNode, `${indent}  `));
    } else {
      // Lists in flow style ([a, b]) keep one key per line; JSON is valid YAML.
      const text =
        Array.isArray(child) || (child !== null && typeof child === 'object')
          ? JSON.stringify(child)
          : stringify(child).trim();
      lines.push(`${indent}${key}: ${text}`);
    }
  }
  return lines;
}

export function defaultsYaml(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const header = [
    '# cbv configuration: every key with its default.',
    '# Durations are in seconds. Unknown keys are errors.',
    '',
  ];
  const body = Object.entries(defaultConfig()).flatMap(([section, value]) => {
    const node = schema.properties?.[section];
    return [
      ...(node?.description ? [`# ${node.description}`] : []),
      `${section}:`,
      ...render(value, node, '  '),
      '',
    ];
  });
  return [...header, ...body].join('\n');
}
