/**
 * Request bodies of the token endpoints: JSON or form, size-capped, prototype-safe, and the
 * field errors of Django REST framework (WIRE.md "Errors").
 */
import { TokenPairError } from '../errors.js';

/** A 400 with DRF's field-error body: `{"<field>": ["<message>"]}`. */
export class FieldErrors extends TokenPairError {
  override name = 'FieldErrors';
  readonly fields: Record<string, string[]>;

  constructor(fields: Record<string, string[]>) {
    super('invalid_fields', Object.keys(fields).join(', '));
    this.fields = fields;
  }

  override toJSON(): Record<string, unknown> {
    return { ...this.fields };
  }
}

/** Parses a request body into a null-prototype object of fields. */
export function parseBody(contentType: string | undefined, body: Uint8Array | undefined, maxBytes: number): Record<string, unknown> {
  const size = body?.byteLength ?? 0;
  if (size > maxBytes) throw new TokenPairError('payload_too_large', `${size} bytes > ${maxBytes}`);
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (size === 0 && mediaType === '') return Object.create(null) as Record<string, unknown>;
  const bytes = Buffer.from(body?.buffer ?? new ArrayBuffer(0), body?.byteOffset ?? 0, size);
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) return parseJson(jsonText(bytes));
  if (mediaType === 'application/x-www-form-urlencoded') return parseForm(bytes.toString('utf8'));
  throw new TokenPairError('unsupported_media_type', mediaType, `Unsupported media type "${(contentType ?? '').slice(0, 100)}" in request.`);
}

// JSON is UTF-8 (RFC 8259): invalid bytes are a parse error, as in DRF, not silently replaced by
// U+FFFD. A BOM is kept, so JSON.parse refuses it (DRF decodes with "utf-8", not "utf-8-sig").
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function jsonText(bytes: Uint8Array): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new TokenPairError('parse_error', 'invalid UTF-8', 'JSON parse error - Invalid UTF-8 in request body');
  }
}

function parseJson(text: string): Record<string, unknown> {
  if (text.trim() === '') return Object.create(null) as Record<string, unknown>;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : 'invalid JSON';
    throw new TokenPairError('parse_error', reason, `JSON parse error - ${reason.slice(0, 200)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value === 'string' ? 'str' : typeof value === 'number' ? (Number.isInteger(value) ? 'int' : 'float') : 'bool';
    throw new FieldErrors({ non_field_errors: [`Invalid data. Expected a dictionary, but got ${kind}.`] });
  }
  // JSON.parse makes "__proto__" an ordinary own property; copying with defineProperty keeps it one.
  const fields = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    Object.defineProperty(fields, key, { value: (value as Record<string, unknown>)[key], enumerable: true, writable: true, configurable: true });
  }
  return fields;
}

function parseForm(text: string): Record<string, unknown> {
  const fields = Object.create(null) as Record<string, unknown>;
  // Django's QueryDict answers the last value of a repeated key; so does this.
  for (const [key, value] of new URLSearchParams(text)) fields[key] = value;
  return fields;
}

export interface FieldRule {
  name: string;
  /** Usernames are trimmed as DRF does; passwords are used exactly as typed (S14). */
  trim: boolean;
}

/**
 * Reads string fields with DRF's CharField rules: numbers become strings; `null`, booleans, objects
 * and arrays are errors; blank is an error. All bad fields are reported at once.
 */
export function requireStrings(fields: Record<string, unknown>, rules: readonly FieldRule[]): Record<string, string> {
  const errors: Record<string, string[]> = {};
  const values: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const { name, trim } of rules) {
    const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (value === undefined) {
      errors[name] = ['This field is required.'];
      continue;
    }
    if (value === null) {
      errors[name] = ['This field may not be null.'];
      continue;
    }
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      errors[name] = ['Not a valid string.'];
      continue;
    }
    const text = trim ? String(value).trim() : String(value);
    if (text.length === 0) {
      errors[name] = ['This field may not be blank.'];
      continue;
    }
    values[name] = text;
  }
  if (Object.keys(errors).length > 0) throw new FieldErrors(errors);
  return values;
}
