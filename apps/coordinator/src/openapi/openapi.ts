import type { INestApplication } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from '@casam/protocol';
import { AUDIENCE_METADATA, PUBLIC_AUDIENCE } from '../auth/auth.decorators';
import { WIRE_MESSAGE_METADATA } from '../common/wire-request';
import { describeWireMessages } from './wire-openapi';
import { COORDINATOR_VERSION as VERSION } from '../version';

/** Where the machine-readable API description is served (stable: clients and the admin UI read it). */
export const OPENAPI_JSON_PATH = 'api/openapi.json';
/** Where the browsable API reference is served (Swagger UI from the local swagger-ui-dist package). */
export const OPENAPI_UI_PATH = 'api/docs';

/**
 * Builds the OpenAPI 3 document from the live app: routes from Nest's metadata; summaries, path and query
 * parameters and request bodies from the wire messages of libs/protocol (the same schemas the coordinator
 * validates with and the site agent's egress allowlist is made of, so the description cannot drift from the
 * behaviour); and per-operation security from the `@Allow` audience.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('CA-SAM Federation coordinator')
    .setDescription(
      `REST API of the coordinator (server ${VERSION}, protocol ${PROTOCOL_VERSION}). Errors are ` +
        '`{"error":{"code","message","correlationId","details?"}}`; switch on `code`. Clients state their protocol ' +
        `version in the \`${PROTOCOL_HEADER}\` header. Access tokens: admins from POST /api/v1/auth/login, sites from ` +
        'POST /api/v1/auth/site-token.',
    )
    .setVersion(VERSION)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
  });
  describeWireMessages(doc, routeWireMessages(app));

  const audiences = routeAudiences(app);
  for (const pathItem of Object.values(doc.paths))
    for (const op of Object.values(pathItem) as {
      operationId?: string;
      security?: unknown;
      description?: string;
    }[]) {
      if (!op || typeof op !== 'object' || !op.operationId) continue;
      const allowed = audiences.get(op.operationId) ?? ['admin'];
      (op as Record<string, unknown>)['x-casam-audience'] = allowed;
      op.security = allowed.includes(PUBLIC_AUDIENCE) ? [] : [{ bearer: [] }];
      const who = allowed.includes(PUBLIC_AUDIENCE)
        ? 'No token needed.'
        : `Needs ${allowed
            .map((a) =>
              a === 'site'
                ? 'a site access token'
                : a === 'viewer'
                  ? 'an admin access token (viewer or admin role)'
                  : 'an admin access token with the admin role',
            )
            .join(' or ')}.`;
      op.description = op.description ? `${op.description}\n\n${who}` : who;
    }
  return doc;
}

/** operationId → the audiences of its handler (handler metadata over controller metadata, default admin). */
function routeAudiences(app: INestApplication): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const mod of app.get(ModulesContainer).values())
    for (const wrapper of mod.controllers.values()) {
      const cls = wrapper.metatype as (new (...a: unknown[]) => unknown) | undefined;
      if (!cls) continue;
      const classAudience = Reflect.getMetadata(AUDIENCE_METADATA, cls) as string[] | undefined;
      const proto = cls.prototype as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key === 'constructor' || typeof proto[key] !== 'function') continue;
        const a =
          (Reflect.getMetadata(AUDIENCE_METADATA, proto[key] as object) as string[] | undefined) ??
          classAudience;
        out.set(`${cls.name.replace(/Controller$/, '')}_${key}`, a ?? ['admin']);
      }
    }
  return out;
}

/** operationId → the wire message its handler declares (`@WireBody`, `@WireParams`, `@WireQuery`). */
function routeWireMessages(app: INestApplication): Map<string, object> {
  const out = new Map<string, object>();
  for (const mod of app.get(ModulesContainer).values())
    for (const wrapper of mod.controllers.values()) {
      const cls = wrapper.metatype as (new (...a: unknown[]) => unknown) | undefined;
      if (!cls) continue;
      const proto = cls.prototype as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(proto)) {
        if (key === 'constructor' || typeof proto[key] !== 'function') continue;
        const m = Reflect.getMetadata(WIRE_MESSAGE_METADATA, proto[key] as object) as object | undefined;
        if (m) out.set(`${cls.name.replace(/Controller$/, '')}_${key}`, m);
      }
    }
  return out;
}

/** Serves the document at {@link OPENAPI_JSON_PATH} and Swagger UI at {@link OPENAPI_UI_PATH} (both public). */
export function serveOpenApi(app: INestApplication): void {
  SwaggerModule.setup(OPENAPI_UI_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    yamlDocumentUrl: 'api/openapi.yaml',
    customSiteTitle: 'CA-SAM coordinator API',
  });
}
