/**
 * The OpenAPI 3.1 description of the standalone server (`GET /openapi.json`): every endpoint of
 * WIRE.md with its request body, success body and error bodies, built from the same endpoint paths
 * the handler serves, plus the server's own routes.
 */
import { WIRE_ERRORS, type ErrorKind } from '../errors.js';
import type { EndpointPaths } from '../http/handler.js';
import type { Settings } from '../settings/settings.js';

type Schema = Record<string, unknown>;

export interface OpenApiOptions {
  paths: EndpointPaths;
  settings: Settings;
  /** The server's own routes. */
  mePath: string;
  version: string;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: Schema) => ({ 'application/json': { schema } });

/** An error response whose body is `{detail, code}` with one of the listed table rows. */
function errorResponse(description: string, kinds: readonly ErrorKind[], schema: Schema = ref('Error')): Schema {
  const examples = Object.fromEntries(kinds.map((kind) => [kind, { value: { detail: WIRE_ERRORS[kind].detail, code: WIRE_ERRORS[kind].code } }]));
  return { description, content: { 'application/json': { schema, examples } } };
}

const TOKEN_ERRORS: ErrorKind[] = ['token_invalid', 'token_expired', 'token_wrong_type', 'token_no_id', 'token_no_type', 'token_no_exp'];

const COMMON_POST_ERRORS = {
  '400': {
    description: 'A required field is missing, blank or not a string (one key per bad field), or the JSON body cannot be parsed.',
    content: { 'application/json': { schema: { oneOf: [ref('FieldErrors'), ref('Error')] } } },
  },
  '405': errorResponse('The method is not POST (`Allow` names the allowed methods).', ['method_not_allowed']),
  '413': errorResponse('The body is larger than maxBodySize.', ['payload_too_large']),
  '415': errorResponse('The Content-Type is neither JSON nor application/x-www-form-urlencoded.', ['unsupported_media_type']),
  '503': errorResponse('The store is unavailable; nothing was issued (fail closed).', ['service_unavailable']),
};

const BEARER_ERRORS: ErrorKind[] = ['not_authenticated', 'bad_authorization_header', 'token_no_user_id', 'user_not_found', 'user_inactive', 'password_changed'];

function bearer401(): Schema {
  // anyOf: the body with `messages` is an `Error` too (extra properties are allowed), so oneOf would fail it.
  const response = errorResponse('The bearer token is missing, malformed or not valid (WIRE.md "Protected routes"). Carries `WWW-Authenticate`.', BEARER_ERRORS, {
    anyOf: [ref('TokenNotValidForAnyType'), ref('Error')],
  });
  return { ...response, headers: { 'WWW-Authenticate': { $ref: '#/components/headers/WwwAuthenticate' } } };
}

function requestBody(fields: string[], description: string): Schema {
  const schema = {
    type: 'object',
    required: fields,
    properties: Object.fromEntries(fields.map((field) => [field, { type: 'string', minLength: 1 }])),
  };
  return { required: true, description, content: { 'application/json': { schema }, 'application/x-www-form-urlencoded': { schema } } };
}

/** `fields`: the request body's (none: no body, the cookie transport's refresh); `setsCookie`: the 200 sets the refresh cookie. */
function tokenPost(summary: string, fields: string[], success: Schema, errors: Record<string, Schema>, cookie: { security?: Schema[]; setsCookie?: boolean } = {}): Schema {
  const headers: Schema = { 'Cache-Control': { $ref: '#/components/headers/NoStore' } };
  if (cookie.setsCookie) headers['Set-Cookie'] = { $ref: '#/components/headers/RefreshCookie' };
  return {
    post: {
      summary,
      tags: ['tokens'],
      security: cookie.security ?? [],
      ...(fields.length > 0 ? { requestBody: requestBody(fields, `JSON or form fields: ${fields.join(', ')}.`) } : {}),
      responses: {
        '200': { description: cookie.setsCookie ? 'Success. `Cache-Control: no-store`; the refresh token is in the `Set-Cookie` header, never in the body.' : 'Success. `Cache-Control: no-store`.', headers, content: jsonContent(success) },
        ...COMMON_POST_ERRORS,
        ...errors,
      },
    },
  };
}

/** 403 of the cookie endpoints in cookie transport: a cross-site request (WIRE.md "Cookie transport"). */
const CSRF_403 = errorResponse('A cross-site request (Fetch Metadata or Origin), refused before anything else.', ['csrf_failed']);

/**
 * How the bearer token travels: `Authorization: Bearer …` is an http scheme; another header
 * (`authHeaderName`) or several accepted types are described as they are.
 */
function bearerScheme(settings: Settings): Schema {
  const types = settings.authHeaderTypes;
  if (settings.authHeaderName.toLowerCase() !== 'authorization') {
    return { type: 'apiKey', in: 'header', name: settings.authHeaderName, description: `\`${settings.authHeaderName}: <type> <access token>\`, <type> one of ${types.join(', ')} (any case).` };
  }
  return {
    type: 'http',
    scheme: types[0]!.toLowerCase(),
    bearerFormat: 'JWT',
    ...(types.length > 1 ? { description: `Also accepted: ${types.slice(1).map((t) => `\`Authorization: ${t} <access token>\``).join(', ')}.` } : {}),
  };
}

const stringProps = (...names: string[]) => ({ type: 'object', required: names, properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])) });

/** Builds the document. Endpoints turned off (`null` paths) are left out. */
export function openApiDocument(options: OpenApiOptions): Schema {
  const { paths: p, settings } = options;
  const user = settings.usernameField;
  // The cookie transport: the refresh token only ever travels in the HttpOnly cookie.
  const cookie = settings.refreshTransport === 'cookie';
  const csrf: Record<string, Schema> = cookie ? { '403': CSRF_403 } : {};
  const paths: Record<string, Schema> = {};
  const refreshErrors: ErrorKind[] = [...TOKEN_ERRORS, 'token_blacklisted', 'no_active_account_for_token', 'password_changed'];
  const refresh401Text = 'The refresh token is invalid, expired, of the wrong type, spent or revoked; or its user is gone, inactive or changed password.';
  if (p.obtain) {
    paths[p.obtain] = tokenPost(cookie ? 'Log in: an access token in the body, the refresh token in the HttpOnly cookie' : 'Log in: obtain a refresh/access token pair', [user, 'password'], cookie ? stringProps('access') : stringProps('refresh', 'access'), {
      '401': errorResponse('Wrong credentials, unknown or inactive user (indistinguishable).', ['no_active_account']),
      '429': { ...errorResponse('Too many failed logins for this username or address.', ['throttled']), headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } },
      ...csrf,
    }, { setsCookie: cookie });
  }
  if (p.refresh) {
    const success = settings.rotateRefreshTokens && !cookie ? stringProps('access', 'refresh') : stringProps('access');
    // The cookie transport adds one: no cookie at all.
    const refresh401 = errorResponse(refresh401Text, cookie ? [...refreshErrors, 'refresh_cookie_missing'] : refreshErrors);
    paths[p.refresh] = tokenPost(
      cookie
        ? 'Refresh: a new access token, from the refresh cookie (no body)' + (settings.rotateRefreshTokens ? '; the successor refresh token replaces the cookie' : '')
        : settings.rotateRefreshTokens ? 'Refresh: a new access token and the successor refresh token (the presented one is spent)' : 'Refresh: a new access token',
      cookie ? [] : ['refresh'],
      success,
      { '401': refresh401, ...csrf },
      cookie ? { security: [{ refreshCookie: [] }], setsCookie: settings.rotateRefreshTokens } : {},
    );
  }
  if (p.verify) {
    paths[p.verify] = tokenPost('Verify any token (refresh and sliding tokens must not be revoked)', ['token'], { type: 'object', maxProperties: 0 }, {
      '401': errorResponse('The token is not valid.', [...TOKEN_ERRORS, 'token_blacklisted']),
    });
  }
  if (p.blacklist) {
    paths[p.blacklist] = tokenPost('Blacklist a refresh token (ends its session)', ['refresh'], { type: 'object', maxProperties: 0 }, {
      '401': errorResponse('The refresh token is not valid or already blacklisted.', [...TOKEN_ERRORS, 'token_blacklisted']),
    });
  }
  if (p.slidingObtain) {
    paths[p.slidingObtain] = tokenPost('Log in: obtain a sliding token', [user, 'password'], stringProps('token'), {
      '401': errorResponse('Wrong credentials, unknown or inactive user (indistinguishable).', ['no_active_account']),
      '429': { ...errorResponse('Too many failed logins.', ['throttled']), headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } },
    });
  }
  if (p.slidingRefresh) {
    paths[p.slidingRefresh] = tokenPost('Refresh a sliding token (same jti and refresh_exp, new exp)', ['token'], stringProps('token'), {
      '401': errorResponse('The sliding token is not valid, past refresh_exp, or revoked.', [...TOKEN_ERRORS, 'token_refresh_exp_expired', 'token_blacklisted', 'no_active_account_for_token']),
    });
  }
  const bearerOnly = { security: [{ bearer: [] }] };
  if (p.logout) {
    paths[p.logout] = {
      post: {
        summary: 'Log out: blacklist the caller\'s refresh token',
        tags: ['sessions'],
        ...bearerOnly,
        ...(cookie ? { security: [{ bearer: [], refreshCookie: [] }] } : { requestBody: requestBody(['refresh'], 'The refresh token to blacklist; it must belong to the caller.') }),
        responses: {
          '205': cookie ? { description: 'Logged out; empty body; the refresh cookie is cleared.', headers: { 'Set-Cookie': { $ref: '#/components/headers/RefreshCookie' } } } : { description: 'Logged out; empty body.' },
          ...COMMON_POST_ERRORS,
          '401': bearer401(),
          ...csrf,
        },
      },
    };
  }
  if (p.logoutAll) {
    paths[p.logoutAll] = {
      post: {
        summary: 'Log out everywhere: revoke every session of the caller and invalidate older access tokens',
        tags: ['sessions'],
        ...bearerOnly,
        responses: {
          '205': cookie
            ? { description: 'Every session revoked; empty body; the refresh cookie is cleared.', headers: { 'Set-Cookie': { $ref: '#/components/headers/RefreshCookie' } } }
            : { description: 'Every session revoked; empty body.' },
          '401': bearer401(),
          '503': COMMON_POST_ERRORS['503'],
          ...csrf,
        },
      },
    };
  }
  if (p.sessions) {
    paths[p.sessions] = {
      get: {
        summary: 'The caller\'s live sessions',
        tags: ['sessions'],
        ...bearerOnly,
        responses: { '200': { description: 'Most recently used first.', content: jsonContent({ type: 'array', items: ref('Session') }) }, '401': bearer401(), '503': COMMON_POST_ERRORS['503'] },
      },
    };
    paths[`${p.sessions}{id}/`] = {
      delete: {
        summary: 'Revoke one of the caller\'s sessions',
        tags: ['sessions'],
        ...bearerOnly,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{32}$' } }],
        responses: {
          '204': { description: 'Revoked; empty body.' },
          '401': bearer401(),
          '404': errorResponse('The caller has no such live session.', ['not_found']),
          '503': COMMON_POST_ERRORS['503'],
        },
      },
    };
  }
  if (p.jwks) {
    paths[p.jwks] = {
      get: {
        summary: 'Public verification keys (empty for HMAC)',
        tags: ['keys'],
        security: [],
        responses: { '200': { description: 'A JWKS document (RFC 7517).', content: jsonContent({ type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: { type: 'object' } } } }) } },
      },
    };
  }
  paths[options.mePath] = {
    get: {
      summary: 'The authenticated user',
      tags: ['users'],
      ...bearerOnly,
      responses: { '200': { description: 'The user the bearer token stands for.', content: jsonContent(stringProps('id', 'username')) }, '401': bearer401(), '503': COMMON_POST_ERRORS['503'] },
    },
  };
  paths['/healthz'] = {
    get: { summary: 'Liveness: the process answers', tags: ['operations'], security: [], responses: { '200': { description: 'Alive.', content: jsonContent({ type: 'object', properties: { status: { const: 'ok' } } }) } } },
  };
  paths['/readyz'] = {
    get: {
      summary: 'Readiness: the store answers',
      tags: ['operations'],
      security: [],
      responses: {
        '200': { description: 'Ready.', content: jsonContent({ type: 'object', properties: { status: { const: 'ready' } } }) },
        '503': errorResponse('The store does not answer.', ['service_unavailable']),
      },
    },
  };
  paths['/openapi.json'] = {
    get: { summary: 'This document', tags: ['operations'], security: [], responses: { '200': { description: 'OpenAPI 3.1.', content: jsonContent({ type: 'object' }) } } },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'tokenpair',
      version: options.version,
      description: 'JWT authentication wire-compatible with djangorestframework-simplejwt: access/refresh pairs, rotation, blacklisting, sliding tokens, sessions.',
    },
    paths,
    components: {
      securitySchemes: {
        bearer: bearerScheme(settings),
        ...(cookie ? { refreshCookie: { type: 'apiKey', in: 'cookie', name: settings.refreshCookieName, description: 'The HttpOnly refresh cookie (cookie transport).' } } : {}),
      },
      headers: {
        NoStore: { schema: { type: 'string', const: 'no-store' } },
        RefreshCookie: { description: `The refresh cookie \`${settings.refreshCookieName}\` (HttpOnly; set with the token, or cleared with Max-Age=0).`, schema: { type: 'string' } },
        RetryAfter: { description: 'Seconds until a login may be tried again.', schema: { type: 'integer' } },
        WwwAuthenticate: { schema: { type: 'string', examples: [`${settings.authHeaderTypes[0]} realm="api"`] } },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['detail', 'code'],
          properties: { detail: { type: 'string' }, code: { type: 'string', enum: [...new Set(Object.values(WIRE_ERRORS).map((e) => e.code)), 'server_error'] } },
        },
        FieldErrors: {
          type: 'object',
          description: 'Django REST framework field errors: one key per bad field, e.g. {"password": ["This field is required."]}.',
          additionalProperties: { type: 'array', items: { type: 'string' } },
        },
        TokenNotValidForAnyType: {
          type: 'object',
          required: ['detail', 'code', 'messages'],
          properties: {
            detail: { const: WIRE_ERRORS.token_not_valid_for_any_type.detail },
            code: { const: 'token_not_valid' },
            messages: {
              type: 'array',
              items: { type: 'object', required: ['token_class', 'token_type', 'message'], properties: { token_class: { type: 'string' }, token_type: { type: 'string' }, message: { type: 'string' } } },
            },
          },
        },
        Session: {
          type: 'object',
          required: ['id', 'created', 'last_used', 'expires', 'user_agent', 'address'],
          properties: {
            id: { type: 'string' },
            created: { type: 'string', format: 'date-time' },
            last_used: { type: 'string', format: 'date-time' },
            expires: { type: 'string', format: 'date-time' },
            user_agent: { type: ['string', 'null'] },
            address: { type: ['string', 'null'] },
          },
        },
      },
    },
  };
}
