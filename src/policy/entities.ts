import { z } from 'zod';
import { byCodeUnits } from '../code-unit-order.js';
import { findLimitViolation, jsonLimits } from '../json-limits.js';
import { jsonObjectSchema } from '../json-object.js';
import { jsonBytesOver } from '../json-size.js';
import { pacer } from '../pace.js';
import { EntityNames, type NamedType, type StoredName } from './entity-names.js';
import { pushFileIssues, type PolicyIssue } from './errors.js';
import { FoldedNames } from './fold-case.js';
import { jsonPath } from './json-path.js';
import { seenNameSchema, visibleNameSchema } from './schema.js';
import { unknownKeys } from './unknown-keys.js';

/** Longest id or alias of an entity, in UTF-16 code units. */
export const maxEntityNameLength = 1024;

/** Most aliases one entity may have: `subject.aliases` holds no more. */
export const maxEntityAliases = 64;

/**
 * Most bytes an entity's properties may take as compact JSON: a request body's own default limit
 * (MAX_BODY_BYTES). Each request naming the entity carries them, as it carries its body: its audit
 * line, its decision cache key and a condition's walk of the request read them whole.
 */
export const maxEntityPropertiesBytes = 1024 * 1024;

// Spaces inside an id are kept (`ACME Corp`, a directory's distinguished name), and so are
// spaces around one, as a `CHAR` column pads it: a request naming it trimmed is misnamed.
const entityKey = seenNameSchema('no request could name it apart from another such id or alias', maxEntityNameLength);

/** What only the loader checks of an entity's names, as their descriptions say. */
const oneName = 'names one entity of its type across the data files, and differs from the other names of the type in more than case, accents, whitespace or invisible characters, and holds more than those (checked at load)';

/** The claim naming a subject's issuer: never stored, so never authoritative (see `authoritativeHeld`). */
const issuerClaim = 'iss';

const entityShape = {
  // An entity of type `user ` (or with a zero-width space) would never be found by a request
  // naming `user`: its authoritative roles, a directory's revocations, would never apply.
  type: visibleNameSchema('an entity type that only looks like another would never be found by the requests for it', 256)
    .describe('How requests name the entity\'s type: it differs from the resource types of the policies, the subject type of tokens and the types of the entities before it in more than case or spelling, and holds more than accents or other combining marks (checked at load).'),
  id: entityKey.describe(`The entity's id: ${oneName}.`),
  aliases: z.array(entityKey).max(maxEntityAliases).optional().describe(`Other ids of the entity; each ${oneName}.`),
  properties: jsonObjectSchema
    .optional()
    .describe(`Stored attributes, held to the JSON limits of a request (${jsonLimits.maxCollection} elements per array or object, strings of ${jsonLimits.maxString} characters, ${jsonLimits.maxDepth} levels) and to ${maxEntityPropertiesBytes} bytes as compact JSON; checked at load.`),
  authoritative: z
    // The loader refuses the issuer with the other names that are not stored (authoritativeHeld);
    // `not` says so to an editor.
    .array(z.string().min(1).max(256).meta({ not: { const: issuerClaim } }))
    .max(64)
    .optional()
    .describe(`Stored properties that go over the caller's claims when the entity is a subject, e.g. roles a directory revokes before the token expires. Each is one of \`properties\` (checked at load), never "${issuerClaim}".`),
};

/** One known subject or resource: stored properties a request naming it is enriched with. */
const entitySchema = z
  .strictObject(entityShape, unknownKeys('an entity', Object.keys(entityShape)))
  .describe('An entity is found by type and id, or type and any alias (e.g. a user known by an opaque id and by email).');

const entityFileShape = {
  $schema: z.string().optional(),
  description: z.string().max(2000).optional(),
  entities: z.array(entitySchema),
};

/** One entity data file: `POLICY_DIR/data/*.json`. */
export const entityFileSchema = z
  .strictObject(entityFileShape, unknownKeys('an entity data file', Object.keys(entityFileShape)))
  .describe('Entity data: the subjects and resources requests are enriched with. Checked at load besides: no key twice in an object, no number a double does not hold exactly.');

/** JSON Schema of an entity data file, for editors. */
export function entityJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(entityFileSchema, { target: 'draft-2020-12' }),
    $id: 'https://invoice-pdp.local/entities.schema.json',
    title: 'Invoice PDP entity data',
  };
}

export type EntityFile = z.infer<typeof entityFileSchema>;

/** A loaded entity. */
export interface Entity {
  readonly type: string;
  readonly id: string;
  readonly aliases: readonly string[];
  readonly properties: Readonly<Record<string, unknown>>;
  /** Stored properties that win over the caller's claims when this entity is a subject (see `ClaimMapper`). */
  readonly authoritative: readonly string[];
}

/** Known entities, looked up by id or alias within a type and listed in id order. */
export interface EntityIndex {
  readonly size: number;
  /** The entity that `idOrAlias` names within `type`, if any. */
  find(type: string, idOrAlias: string): Entity | undefined;
  /**
   * The stored name (an id or an alias) and type that `type` and `idOrAlias` would be with case,
   * accents, whitespace and invisible characters set aside (see foldCase), for a name `find`
   * does not know: the record a backend comparing names loosely means, or another one, which
   * entity data cannot tell.
   */
  misnamed(type: string, idOrAlias: string): StoredName | undefined;
  /** Every entity of `type`, sorted by id (code-unit order). */
  ofType(type: string): readonly Entity[];
  /** The entities as plain data, in a stable order, for the content hash. */
  versionInput(): unknown;
}

const byId = (a: Entity, b: Entity): number => byCodeUnits(a.id, b.id);

class MapEntityIndex implements EntityIndex {
  readonly #keys: ReadonlyMap<string, ReadonlyMap<string, Entity>>;
  readonly #sorted: ReadonlyMap<string, readonly Entity[]>;
  /** Every stored name by its folded type, then its folded self (see `EntityNames`). */
  readonly #folded: FoldedNames<FoldedNames<StoredName>>;
  readonly size: number;

  /** `sorted` lists each type's entities in id order; `folded` holds every name in `keys` (see `EntityNames`). */
  constructor(keys: ReadonlyMap<string, ReadonlyMap<string, Entity>>, sorted: ReadonlyMap<string, readonly Entity[]>, folded: FoldedNames<FoldedNames<StoredName>>) {
    this.#keys = keys;
    this.#folded = folded;
    this.#sorted = sorted;
    let size = 0;
    for (const list of sorted.values()) size += list.length;
    this.size = size;
  }

  find(type: string, idOrAlias: string): Entity | undefined {
    return this.#keys.get(type)?.get(idOrAlias);
  }

  misnamed(type: string, idOrAlias: string): StoredName | undefined {
    return this.#folded.get(type)?.get(idOrAlias);
  }

  ofType(type: string): readonly Entity[] {
    return this.#sorted.get(type) ?? [];
  }

  versionInput(): unknown {
    if (this.size === 0) return null;
    const types = [...this.#sorted.keys()].sort();
    return { entities: types.flatMap((type) => this.ofType(type)) };
  }
}

/** An index with no entities: the set of a policy directory without `data/`. */
export const noEntities: EntityIndex = new MapEntityIndex(new Map(), new Map(), new FoldedNames());

/**
 * Whether every name in `authoritative` is a stored property other than `iss`: a name without a
 * value would silently drop the caller's claim (state `"roles": []` to take every role away), and
 * an issuer is what the caller's claims came from, never stored (see `issuerClaimMapper`).
 */
function authoritativeHeld(entity: Entity, file: string, index: number, issues: PolicyIssue[]): boolean {
  let held = true;
  entity.authoritative.forEach((name, a) => {
    const path = `$.entities[${index}].authoritative[${a}]`;
    if (name === issuerClaim) {
      issues.push({ file, path, message: 'the issuer comes from the caller\'s claims alone and cannot be authoritative' });
      held = false;
    } else if (!Object.hasOwn(entity.properties, name)) {
      issues.push({ file, path, message: `"${name}" is not one of this entity's properties; store it (an empty list to take every value away)` });
      held = false;
    }
  });
  return held;
}

/**
 * Whether the entity's properties keep to the JSON limits a request is held to (elements per
 * array or object, string length, depth) and to the size of its body: they are merged into
 * requests, and the cost bound every condition is held to at load (steps on the largest data
 * those limits allow) holds only while stored data is no larger than a caller could send. The
 * size is checked first, its walk stopping at the bound: the limits' walk reads the whole value.
 */
function propertiesWithinLimits(entity: Entity, file: string, index: number, issues: PolicyIssue[]): boolean {
  if (jsonBytesOver(entity.properties, maxEntityPropertiesBytes)) {
    issues.push({ file, path: `$.entities[${index}].properties`, message: `more than ${maxEntityPropertiesBytes} bytes as compact JSON, the most an entity's properties may take: each request naming the entity carries them, as it carries its body` });
    return false;
  }
  const violation = findLimitViolation(entity.properties);
  if (violation === undefined) return true;
  issues.push({ file, path: jsonPath(['entities', index, 'properties', ...violation.path]), message: violation.message });
  return false;
}

/**
 * What an entity leaves out, shared by every entity leaving it out: one empty list or object each
 * held 2.3 million entities of a type and an id alone (four data files of 16 MiB) some 300 MB more.
 */
const noNames: readonly string[] = Object.freeze([]);
const noProperties: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Indexes validated entity files. An id or alias names one entity per type across every file,
 * and the names of two entities never differ only in case or spelling (see `EntityNames`); a
 * clash is reported with both places, and every clash is reported at once, up to
 * `maxIssuesPerFile` problems a file and then one saying there are more. The event loop turns
 * every few milliseconds, as when policies compile: a reload indexes while the service answers
 * on the set in force, and one 16 MiB file of 170,000 users took 2.4 s. An entity's type may not
 * differ only in case or spelling from one of `types` (the types requests name: resource types,
 * the subject type of tokens) or from an earlier entity's (see `EntityNames.holdType`).
 */
export async function indexEntities(files: readonly { file: string; data: EntityFile }[], issues: PolicyIssue[], types: readonly NamedType[]): Promise<EntityIndex> {
  const keys = new Map<string, Map<string, Entity>>();
  const sorted = new Map<string, Entity[]>();
  const names = new EntityNames(types);
  const pace = pacer();
  for (const { file, data } of files) {
    const found: PolicyIssue[] = [];
    for (const [index, source] of data.entities.entries()) {
      await pace();
      const misspelt = names.holdType(source.type, `${file} $.entities[${index}].type`);
      if (misspelt !== undefined) found.push({ file, path: `$.entities[${index}].type`, message: misspelt });
      const entity: Entity = {
        type: source.type,
        id: source.id,
        aliases: source.aliases ?? noNames,
        properties: source.properties ?? noProperties,
        authoritative: source.authoritative ?? noNames,
      };
      const bounded = propertiesWithinLimits(entity, file, index, found);
      const held = authoritativeHeld(entity, file, index, found);
      // Under a refused type its names are not held: under a type no request names, they would
      // clash with the entities of the type it was meant to be, the same mistake reported again.
      if (misspelt !== undefined) continue;
      // Its names are held even when its properties or authoritative names are refused, so the
      // names that clash with them are reported in the same run rather than once it is fixed.
      const own: [string, string][] = [[entity.id, `$.entities[${index}].id`]];
      entity.aliases.forEach((alias, a) => own.push([alias, `$.entities[${index}].aliases[${a}]`]));
      let clashed = false;
      for (const [name, path] of own) {
        await pace();
        const clash = names.hold(entity.type, name, entity, `${file} ${path}`);
        if (clash !== undefined) found.push({ file, path, message: clash });
        clashed ||= clash !== undefined;
      }
      if (clashed || !held || !bounded) continue;
      const ofType = keys.get(entity.type) ?? new Map<string, Entity>();
      keys.set(entity.type, ofType);
      for (const [name] of own) ofType.set(name, entity);
      const list = sorted.get(entity.type) ?? [];
      sorted.set(entity.type, list);
      list.push(entity);
    }
    pushFileIssues(issues, file, found);
  }
  for (const list of sorted.values()) list.sort(byId);
  return new MapEntityIndex(keys, sorted, names.folded);
}
