/** Lifetimes and intervals: a number of seconds, or a string like "30s", "5m", "12h", "1d", "2w". */

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/;

/**
 * Parses a duration into seconds. Returns `undefined` when the value is not a duration, so that the
 * caller can name the setting in its error.
 *
 * @example parseDuration("5m") // 300
 * @example parseDuration(90)   // 90
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] ?? 's']!;
  return Number.isFinite(seconds) ? seconds : undefined;
}
