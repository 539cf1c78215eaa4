import { foldCase, FoldedNames } from './fold-case.js';

/** A name entity data holds, the id or an alias of an entity of `type`. */
export interface StoredName {
  readonly type: string;
  readonly name: string;
}

/** A type requests name, and where it is named: a policy's resource type, the subject type of tokens, an entity's type. */
export interface NamedType {
  readonly name: string;
  readonly where: string;
}

/** Where a name was met: the entity it names, and its file and JSON path. */
interface Place {
  readonly entity: object;
  readonly where: string;
}

/**
 * The ids and aliases of the entities of a load, by their type and themselves folded (foldCase),
 * each the first met to fold so. Names that fold alike are names a request cannot tell apart:
 * `ALICE` is misnamed for `alice` and for `Alice` alike, and a backend or rule comparing names
 * loosely (D1 folds an owner's case and surrounding whitespace) takes them for one. So two
 * entities may not hold names that fold alike; one entity may (`Carol@Example.com` and
 * `carol@example.com`, both spellings a directory meets), though not one name twice.
 */
export class EntityNames {
  /** The index `misnamed` looks names up in. */
  readonly folded = new FoldedNames<FoldedNames<StoredName>>();
  readonly #places = new Map<StoredName, Place>();
  /** The spellings of each type, by fold: those requests name, then each entity's first. */
  readonly #types = new FoldedNames<NamedType[]>();

  /**
   * `types`: the types requests name before any entity's (resource types, the subject type of
   * tokens, issuers' subject types). Two of them may fold alike (an issuer's `User` beside the
   * tokens' `user`): both are kept, as an entity of either type is one the other never finds.
   */
  constructor(types: readonly NamedType[]) {
    for (const type of types) {
      const spellings = this.#types.holding(type.name, () => []);
      if (!spellings.some((held) => held.name === type.name)) spellings.push(type);
    }
  }

  /**
   * Holds `type`, an entity's, met at `where`; the problem when it differs from a type held
   * before only in case or spelling. The requests for that type never find the entity: a token
   * subject of type `user`, whose caller cannot change its type, was denied as misnaming a stored
   * `User`, and an `Invoice` never gave the invoices the policies of `invoice` decide its properties.
   */
  holdType(type: string, where: string): string | undefined {
    // As for a name (see `hold`): one only of combining marks folds to nothing, and a request
    // naming a type `""` or `" "` would be misnamed for it.
    if (foldCase(type) === '') return `"${type}" is only accents or other combining marks: types are compared without them, so no request could name it apart from an empty or blank one`;
    const held = this.#types.holding(type, () => [{ name: type, where }]).find((spelling) => spelling.name !== type);
    if (held === undefined) return undefined;
    return `"${type}" differs from "${held.name}" (${held.where}) only in case or spelling, so no request for it finds this entity: write the type as requests name it`;
  }

  /**
   * Holds `name` of `type` as a name of `entity`, met at `where` (file and JSON path); the
   * problem, naming the place of the name it clashes with, when that cannot be.
   */
  hold(type: string, name: string, entity: object, where: string): string | undefined {
    // The schema refuses a name only of whitespace or invisible characters; one only of
    // combining marks (`\u0301`) folds to nothing too, and would take in every blank name of
    // its type: a request naming `""` or `" "` would be misnamed for it.
    if (foldCase(name) === '') return `"${name}" is only accents or other combining marks: names are compared without them, so no request could name it apart from an empty or blank one`;
    const made: StoredName = { type, name };
    const held = this.folded.holding(type, () => new FoldedNames<StoredName>()).holding(name, () => made);
    if (held === made) {
      this.#places.set(made, { entity, where });
      return undefined;
    }
    const first = this.#places.get(held) as Place;
    if (held.name === name && held.type === type) return `"${name}" already names a ${type} entity (${first.where})`;
    if (first.entity === entity) return undefined;
    return `the ${type} "${name}" differs from the ${held.type} "${held.name}" (${first.where}) only in case or spelling (accents, whitespace, invisible characters), so no caller can tell the two entities apart: name one otherwise`;
  }
}
