import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ModulesContainer } from '@nestjs/core';
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ReferenceObject,
  SchemaObject,
} from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { as, expectError, register, type Session } from './support/api';
import { createTestApp, TestApp } from './support/test-app';

/**
 * The OpenAPI document against the validation the server really applies: a client generated
 * from /docs-json (openapi-typescript + openapi-fetch) must be able to send everything the server
 * accepts, and must be told about every null the server answers.
 */

type Schema = SchemaObject | ReferenceObject;
type Class = new () => object;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Responses whose properties may be absent (every other answer carries all its properties). */
const OPTIONAL_IN_RESPONSES: Record<string, string[]> = {
  ErrorResponseDto: ['details'],
  // API.md section 12: present when tracing is on.
  EventEnvelopeDto: ['traceparent'],
  // API.md section 18: the related records are present when `include` names them.
  DealWithRelationsDto: ['contact', 'company', 'pipeline', 'tasks', 'activities'],
  ContactWithRelationsDto: ['company'],
  LeadWithRelationsDto: ['convertedContact', 'convertedDeal'],
};

const isRef = (s: Schema): s is ReferenceObject => '$ref' in s;

function schemaNamed(doc: OpenAPIObject, name: string): SchemaObject {
  const schema = doc.components?.schemas?.[name];
  if (!schema || isRef(schema)) throw new Error(`no schema ${name} in the document`);
  return schema;
}

/** The component a property points to: `$ref`, `allOf: [$ref]` (nullable objects) or array items. */
function refName(s: Schema | undefined): string | undefined {
  if (!s) return undefined;
  if (isRef(s)) return s.$ref.replace('#/components/schemas/', '');
  if (s.allOf?.length === 1) return refName(s.allOf[0]);
  if (s.type === 'array') return refName(s.items);
  return undefined;
}

function resolve(doc: OpenAPIObject, s: Schema): SchemaObject {
  return isRef(s) ? schemaNamed(doc, refName(s)!) : s;
}

/**
 * What openapi-typescript (its defaults, defaultNonNullable on) makes a client send: the
 * `required` properties, and in a component schema also those with a `default`.
 */
function requiredByTypedClient(schema: SchemaObject): string[] {
  const withDefault = Object.entries(schema.properties ?? {})
    .filter(([, p]) => !isRef(p) && p.default !== undefined)
    .map(([k]) => k);
  return [...new Set([...(schema.required ?? []), ...withDefault])];
}

interface Validated {
  /** Validation is skipped when the property is absent (@IsOptional, @OptionalNotNull, ValidateIf). */
  optional: boolean;
  /** Validation is skipped for null (@IsOptional): the server accepts null. */
  acceptsNull: boolean;
}

/** The properties class-validator checks on `cls` (inherited ones included). */
function validatedProperties(cls: Class): Map<string, Validated> {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
  const properties = new Map<string, Validated>();
  for (const name of new Set(metadata.map((m) => m.propertyName))) {
    const conditions = metadata
      .filter((m) => m.propertyName === name && m.type === ValidationTypes.CONDITIONAL_VALIDATION)
      .map((m) => m.constraints[0] as (object: object, value: unknown) => boolean);
    const skipped = (value: unknown): boolean =>
      conditions.some((condition) => !condition({ [name]: value }, value));
    properties.set(name, { optional: skipped(undefined), acceptsNull: skipped(null) });
  }
  return properties;
}

/** The class class-transformer builds for a nested property (its @Type), as validation sees it. */
function nestedClass(cls: Class, property: string): Class | undefined {
  const instance = plainToInstance(cls, { [property]: [{}] }) as Record<string, unknown>;
  const value = instance[property];
  const element: unknown = Array.isArray(value) ? value[0] : value;
  const ctor = element && typeof element === 'object' ? element.constructor : undefined;
  return ctor === Object ? undefined : (ctor as Class | undefined);
}

/**
 * Compares a request schema (and the schemas nested in it) with the validation of `cls`;
 * returns the mismatches, one line each.
 */
function compareRequestSchema(
  doc: OpenAPIObject,
  name: string,
  cls: Class,
  checked: Set<string>,
): string[] {
  if (checked.has(name)) return [];
  checked.add(name);
  if (cls.name !== name) return [`${name}: validated as ${cls.name}, another class of that name`];
  const schema = schemaNamed(doc, name);
  const documented = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const validated = validatedProperties(cls);
  const problems: string[] = [];
  for (const key of new Set([...Object.keys(documented), ...validated.keys()])) {
    const property = documented[key];
    const rule = validated.get(key);
    if (!property) {
      problems.push(`${name}.${key}: validated but not in the document`);
      continue;
    }
    if (!rule) {
      problems.push(`${name}.${key}: documented but not validated (forbidNonWhitelisted: 400)`);
      continue;
    }
    if (required.has(key) === rule.optional) {
      problems.push(
        rule.optional
          ? `${name}.${key}: required in the document, optional for the server`
          : `${name}.${key}: optional in the document, required by the server`,
      );
    }
    const nullable = !isRef(property) && property.nullable === true;
    if (nullable !== rule.acceptsNull) {
      problems.push(
        rule.acceptsNull
          ? `${name}.${key}: the server accepts null, the document does not say nullable`
          : `${name}.${key}: nullable in the document, the server refuses null`,
      );
    }
    if (!required.has(key) && !isRef(property) && property.default !== undefined) {
      problems.push(`${name}.${key}: optional but has a default (typed clients would require it)`);
    }
    const nested = refName(property);
    if (nested && schemaNamed(doc, nested).properties) {
      const nestedCls = nestedClass(cls, key);
      if (!nestedCls) problems.push(`${name}.${key}: refers to ${nested}, validated without @Type`);
      else problems.push(...compareRequestSchema(doc, nested, nestedCls, checked));
    }
  }
  return problems;
}

interface Route {
  operationId: string;
  body?: Class;
  query?: Class;
}

/** Every route handler with the classes of its whole-body and whole-query arguments. */
function routesOf(t: TestApp): Route[] {
  const routes: Route[] = [];
  for (const module of t.app.get(ModulesContainer).values()) {
    for (const { metatype } of module.controllers.values()) {
      if (typeof metatype !== 'function') continue;
      const prototype = metatype.prototype as object;
      for (const key of Object.getOwnPropertyNames(prototype)) {
        if (key === 'constructor') continue;
        const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, key) ?? {}) as Record<
          string,
          { index: number; data?: unknown }
        >;
        const types = (Reflect.getMetadata('design:paramtypes', prototype, key) ?? []) as Class[];
        const route: Route = {
          operationId: `${metatype.name.replace(/Controller$/, '')}_${key}`,
        };
        for (const [argKey, { index, data }] of Object.entries(args)) {
          if (data !== undefined) continue;
          if (argKey === `${RouteParamtypes.BODY}:${index}`) route.body = types[index];
          if (argKey === `${RouteParamtypes.QUERY}:${index}`) route.query = types[index];
        }
        routes.push(route);
      }
    }
  }
  return routes;
}

function operations(doc: OpenAPIObject): Map<string, { path: string; op: OperationObject }> {
  const found = new Map<string, { path: string; op: OperationObject }>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op?.operationId) found.set(op.operationId, { path: `${method} ${path}`, op });
    }
  }
  return found;
}

/** Where `value` does not fit `schema`: missing required properties, nulls not declared nullable. */
function conformance(doc: OpenAPIObject, s: Schema, value: unknown, at: string): string[] {
  const schema = resolve(doc, s);
  if (value === null) return schema.nullable ? [] : [`${at}: null, not nullable in the document`];
  const problems: string[] = [];
  for (const part of schema.allOf ?? []) problems.push(...conformance(doc, part, value, at));
  if (schema.oneOf) {
    const fits = schema.oneOf.map((o) => conformance(doc, o, value, at));
    if (!fits.some((p) => p.length === 0)) problems.push(...fits.flat());
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => problems.push(...conformance(doc, schema.items!, v, `${at}[${i}]`)));
  }
  if (value !== undefined && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (!(key in object)) problems.push(`${at}.${key}: required in the document, absent`);
    }
    for (const [key, property] of Object.entries(schema.properties ?? {})) {
      if (key in object) problems.push(...conformance(doc, property, object[key], `${at}.${key}`));
    }
  }
  return problems;
}

describe('OpenAPI document (/docs-json) vs what the server validates and answers', () => {
  let t: TestApp;
  let doc: OpenAPIObject;
  let routes: Route[];
  let byOperationId: Map<string, { path: string; op: OperationObject }>;
  /** Request schemas compared with their validation classes. */
  const requestSchemas = new Set<string>();

  beforeAll(async () => {
    t = await createTestApp();
    const res = await t.http().get('/docs-json');
    expect(res.status).toBe(200);
    doc = res.body as OpenAPIObject;
    routes = routesOf(t);
    byOperationId = operations(doc);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('documents every request body as its validation class: required, optional, nullable', () => {
    const problems: string[] = [];
    let bodies = 0;
    for (const route of routes) {
      if (!route.body) continue;
      const operation = byOperationId.get(route.operationId);
      if (!operation) {
        problems.push(`${route.operationId}: not in the document`);
        continue;
      }
      bodies += 1;
      const schema = operation.op.requestBody as
        { content: Record<string, { schema: Schema }> } | undefined;
      const name = refName(schema?.content['application/json']?.schema);
      if (!name) {
        problems.push(`${operation.path}: body ${route.body.name} without a schema reference`);
        continue;
      }
      problems.push(...compareRequestSchema(doc, name, route.body, requestSchemas));
    }
    expect(problems).toEqual([]);
    expect(bodies).toBeGreaterThanOrEqual(25);
    // Nested input schemas were reached too.
    expect([...requestSchemas]).toEqual(
      expect.arrayContaining(['AddressInputDto', 'PipelineStageInputDto', 'CommentPayloadDto']),
    );
  });

  it('documents every query DTO parameter as required or optional like its validation', () => {
    const problems: string[] = [];
    let queries = 0;
    for (const route of routes) {
      if (!route.query) continue;
      const operation = byOperationId.get(route.operationId);
      if (!operation) {
        problems.push(`${route.operationId}: not in the document`);
        continue;
      }
      queries += 1;
      const parameters = ((operation.op.parameters ?? []) as ParameterObject[]).filter(
        (p) => p.in === 'query',
      );
      const validated = validatedProperties(route.query);
      const where = `${operation.path} (${route.query.name})`;
      for (const p of parameters) {
        const rule = validated.get(p.name);
        if (!rule) problems.push(`${where} ${p.name}: documented but not validated`);
        else if ((p.required ?? false) === rule.optional) {
          problems.push(
            `${where} ${p.name}: required ${String(p.required)}, optional ${rule.optional}`,
          );
        }
      }
      for (const key of validated.keys()) {
        if (!parameters.some((p) => p.name === key)) {
          problems.push(`${where} ${key}: validated but not documented`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(queries).toBeGreaterThanOrEqual(15);
  });

  it('gives no optional property a default (openapi-typescript would make it required)', () => {
    const problems: string[] = [];
    for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
      if (isRef(schema)) continue;
      for (const key of requiredByTypedClient(schema)) {
        if (!schema.required?.includes(key)) problems.push(`${name}.${key}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has answers carry every property (required), null where declared nullable', () => {
    const problems: string[] = [];
    const responses = Object.entries(doc.components?.schemas ?? {}).filter(
      ([name, schema]) => !requestSchemas.has(name) && !isRef(schema) && schema.properties,
    );
    expect(responses.length).toBeGreaterThanOrEqual(30);
    for (const [name, schema] of responses as [string, SchemaObject][]) {
      const optional = OPTIONAL_IN_RESPONSES[name] ?? [];
      for (const key of Object.keys(schema.properties!)) {
        if (schema.required?.includes(key) === optional.includes(key)) {
          problems.push(`${name}.${key}: ${optional.includes(key) ? 'required' : 'optional'}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('declares nullable exactly the response properties stored in nullable columns', () => {
    const problems: string[] = [];
    const compared: string[] = [];
    for (const entity of t.db.entityMetadatas) {
      const name = `${entity.name}Dto`;
      const schema = doc.components?.schemas?.[name];
      if (!schema || isRef(schema)) continue;
      compared.push(name);
      for (const column of entity.columns) {
        const property = schema.properties?.[column.propertyName];
        if (!property || isRef(property)) continue;
        if ((property.nullable === true) !== column.isNullable) {
          problems.push(`${name}.${column.propertyName}: column nullable ${column.isNullable}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(compared).toEqual(
      expect.arrayContaining([
        'ContactDto',
        'CompanyDto',
        'DealDto',
        'LeadDto',
        'TaskDto',
        'ActivityDto',
        'OrganizationDto',
        'UserDto',
        'PipelineDto',
      ]),
    );
  });

  describe('typed clients', () => {
    let owner: Session;
    let headers: Record<string, string>;

    beforeAll(async () => {
      owner = await register(t, 'openapi');
      headers = as(owner, owner.organizationId);
    });

    /** Calls the API and checks the answer against the operation's documented 2xx schema. */
    async function call(
      operationId: string,
      send: (h: Record<string, string>) => Promise<{ status: number; body: unknown }>,
    ): Promise<Record<string, unknown>> {
      const res = await send(headers);
      expect(res.status).toBeLessThan(300);
      const { op, path } = byOperationId.get(operationId)!;
      const response = op.responses[String(res.status)] as {
        content?: Record<string, { schema: Schema }>;
      };
      const schema = response?.content?.['application/json']?.schema;
      expect({ path, status: res.status, schema: schema !== undefined }).toEqual({
        path,
        status: res.status,
        schema: true,
      });
      expect(conformance(doc, schema!, res.body, path)).toEqual([]);
      return res.body as Record<string, unknown>;
    }

    it('POST /api/v1/deals needs only contactId, title, amount and currency', async () => {
      const { op } = byOperationId.get('Deals_create')!;
      const body = op.requestBody as { content: Record<string, { schema: Schema }> };
      const schema = resolve(doc, body.content['application/json'].schema);
      const sent = ['contactId', 'title', 'amount', 'currency'];
      expect(requiredByTypedClient(schema).filter((k) => !sent.includes(k))).toEqual([]);
      expect(schema.properties?.status).toBeDefined();

      const contact = await call('Contacts_create', (h) =>
        t.http().post('/api/v1/contacts').set(h).send({ name: 'Typed Client' }),
      );
      const deal = await call('Deals_create', (h) =>
        t
          .http()
          .post('/api/v1/deals')
          .set(h)
          .send({ contactId: contact.id, title: 'Typed', amount: 10, currency: 'USD' }),
      );
      expect(deal).toMatchObject({ status: 'new', amount: '10.00', lostReason: null });
    });

    it('accepts null exactly where the document says nullable (two cases that disagreed)', async () => {
      // ContactInputDto.ownerId is not nullable: null is a 400 (it was let through, then a 500).
      const contact = await t
        .http()
        .post('/api/v1/contacts')
        .set(headers)
        .send({ name: 'Null Owner', ownerId: null });
      expectError(contact, 400, 'VALIDATION_FAILED');
      // CreateOrganizationDto.defaultCurrency is nullable: null means the server default.
      const organization = await call('Organizations_create', (h) =>
        t
          .http()
          .post('/api/v1/organizations')
          .set({ authorization: h.authorization })
          .send({ name: 'Null Currency', defaultCurrency: null }),
      );
      expect(organization.defaultCurrency).toBeNull();
    });

    it('answers with the documented shapes, nulls included (minimal records)', async () => {
      const organizations = await call('Organizations_listMine', (h) =>
        t.http().get('/api/v1/organizations/me').set({ authorization: h.authorization }),
      );
      expect(organizations).toBeDefined();
      const company = await call('Companies_create', (h) =>
        t.http().post('/api/v1/companies').set(h).send({ name: 'Bare Co' }),
      );
      expect(company).toMatchObject({ domain: null, address: null });
      const contact = await call('Contacts_create', (h) =>
        t.http().post('/api/v1/contacts').set(h).send({ name: 'Bare Contact' }),
      );
      const deal = await call('Deals_create', (h) =>
        t.http().post('/api/v1/deals').set(h).send({ contactId: contact.id, title: 'Bare' }),
      );
      await call('Tasks_create', (h) =>
        t
          .http()
          .post('/api/v1/tasks')
          .set(h)
          .send({ dealId: deal.id, title: 'Bare task', dueDate: '2999-01-01' }),
      );
      const lead = await call('Leads_create', (h) =>
        t.http().post('/api/v1/leads').set(h).send({ name: 'Bare Lead' }),
      );
      await call('Leads_convert', (h) =>
        t
          .http()
          .post(`/api/v1/leads/${String(lead.id)}/convert`)
          .set(h)
          .send({}),
      );
      await call('Activities_list', (h) =>
        t
          .http()
          .get(`/api/v1/deals/${String(deal.id)}/activities`)
          .set(h),
      );
      await call('Deals_list', (h) => t.http().get('/api/v1/deals?limit=5').set(h));
      await call('Contacts_list', (h) => t.http().get('/api/v1/contacts').set(h));
      await call('Pipelines_list', (h) => t.http().get('/api/v1/pipelines').set(h));
    });
  });
});
