import { Hono } from 'hono';
import { z } from 'zod';
import type { SearchHit, SearchQuery, SearchService } from '../../decision/search.js';
import { decodePageToken, encodePageToken, searchFingerprint, type PageTokenScope } from '../authzen/page-token.js';
import { actionInput, actionSchema, entitySchema, propertiesSchema, resourceInput, searchedEntitySchema, subjectInput, subjectSchema } from '../authzen/wire.js';
import type { DecisionMeta } from '../../decision/record.js';
import { authzenBody } from '../authzen/body.js';
import { decisionMeta } from '../decision-meta.js';
import type { AppEnv } from '../env.js';
import { jsonWithRequestId } from '../middleware/request-id.js';

/** Page size when the request gives no `page.limit` (or 0), and the largest a page holds. */
const defaultPageSize = 100;
const maxPageSize = 1000;

const pageSchema = z.object({
  /**
   * Any non-negative integer, as AuthZEN's paginated request defines it: the page size is the
   * PDP's to choose, so a larger limit is served a page of maxPageSize (and a next_token when
   * more remain), and 0 asks for nothing particular (the default size).
   */
  limit: z.number().min(0).refine(Number.isInteger, 'Invalid input: expected a non-negative integer').optional(),
  /**
   * Bounded by the JSON string limit alone, as every string of a body is: a token holds the
   * cursor it resumes after, an entity id of up to 1,024 characters, and the longest sealed
   * (1,024 lone surrogates, six bytes each in JSON) is some 8,300 characters.
   */
  token: z.string().optional(),
  /** The name earlier drafts used for the request token. */
  next_token: z.string().optional(),
}).refine((page) => page.token === undefined || page.next_token === undefined || page.token === page.next_token, {
  // Either one alone would have been read: two that differ leave the search to resume unknown.
  path: ['next_token'],
  message: 'differs from page.token, the name that is read: send one of them',
});

const context = propertiesSchema.optional();

const subjectSearchBody = z.object({ subject: searchedEntitySchema, action: actionSchema, resource: entitySchema, context, page: pageSchema.optional() });
const resourceSearchBody = z.object({ subject: subjectSchema, action: actionSchema, resource: searchedEntitySchema, context, page: pageSchema.optional() });
const actionSearchBody = z.object({ subject: subjectSchema, resource: entitySchema, context, page: pageSchema.optional() });

const empty: Readonly<Record<string, unknown>> = Object.freeze({});

/** Results exactly `{type, id}` (type first) or `{name}`, as strict clients compare them. */
function wireHit(hit: SearchHit): { type: string; id: string } | { name: string } {
  return 'name' in hit ? { name: hit.name } : { type: hit.type, id: hit.id };
}

type Page = z.infer<typeof pageSchema> | undefined;

/** The page size for a request's `page.limit`: the default for none or 0, at most maxPageSize. */
function pageSize(limit: number | undefined): number {
  return limit === undefined || limit === 0 ? defaultPageSize : Math.min(limit, maxPageSize);
}

async function answer(search: SearchService, query: SearchQuery, page: Page, meta: DecisionMeta, startedAt: number) {
  const fingerprint = searchFingerprint(query);
  const [token, path] = page?.token !== undefined ? [page.token, '$.page.token'] : [page?.next_token ?? '', '$.page.next_token'];
  const resumed = token === '' ? undefined : decodePageToken(search.cursors, token, { search: fingerprint, limit: page?.limit }, path);
  // The limit as given (none is not the default size): every page of a search asks the same.
  const scope: PageTokenScope = { search: fingerprint, limit: page?.limit ?? resumed?.limit };
  const result = await search.search(query, { limit: pageSize(scope.limit), after: resumed?.after, meta, startedAt });
  // `page.count` is this page's results; AuthZEN's optional `total` is not given: it would take
  // deciding every candidate of the search, where a page decides only as far as it reaches.
  // `page` comes first, as AuthZEN recommends: a PEP reading the answer as it arrives has `count`
  // before the results.
  return {
    page: { next_token: result.after === undefined ? '' : encodePageToken(search.cursors, result.after, scope), count: result.hits.length },
    results: result.hits.map(wireHit),
  };
}

/**
 * POST /access/v1/search/{subject,resource,action}: which subjects, resources or actions are
 * permitted, over the entities known from entity data (and, for actions, the actions the
 * resource type's policies name). Unknown types or ids simply find nothing.
 */
export function searchRoutes(search: SearchService): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .post('/access/v1/search/subject', async (c) => {
      const body = await authzenBody(c, subjectSearchBody);
      const query: SearchQuery = {
        kind: 'subject',
        subjectType: body.subject.type,
        action: actionInput(body.action),
        resource: resourceInput(body.resource),
        context: body.context ?? empty,
      };
      return jsonWithRequestId(c, await answer(search, query, body.page, decisionMeta(c, 'authzen_search'), c.get('startedAt')));
    })
    .post('/access/v1/search/resource', async (c) => {
      const body = await authzenBody(c, resourceSearchBody);
      const query: SearchQuery = {
        kind: 'resource',
        subject: subjectInput(body.subject),
        action: actionInput(body.action),
        resourceType: body.resource.type,
        context: body.context ?? empty,
      };
      return jsonWithRequestId(c, await answer(search, query, body.page, decisionMeta(c, 'authzen_search'), c.get('startedAt')));
    })
    .post('/access/v1/search/action', async (c) => {
      const body = await authzenBody(c, actionSearchBody);
      const query: SearchQuery = {
        kind: 'action',
        subject: subjectInput(body.subject),
        resource: resourceInput(body.resource),
        context: body.context ?? empty,
      };
      return jsonWithRequestId(c, await answer(search, query, body.page, decisionMeta(c, 'authzen_search'), c.get('startedAt')));
    });
}
