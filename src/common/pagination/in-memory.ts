import type { CursorCodec } from './cursor.codec';
import type { ListQueryDto } from './list-query.dto';
import type { ListResult } from './list-result.dto';

/**
 * A page of a short list held in memory (at most a few hundred items, e.g. an organization's
 * roles), with exactly the two shapes of API.md section 1: page/pageSize with `total`, or
 * limit/cursor with a tamper-proof `nextCursor` bound to `endpoint`. Items are in their final
 * order and carry a unique `key`.
 */
export function pageInMemory<T>(
  items: T[],
  keyOf: (item: T) => string,
  query: ListQueryDto,
  codec: CursorCodec,
  endpoint: string,
): ListResult<T> {
  if (query.isKeyset) {
    const limit = query.limit ?? 20;
    let start = 0;
    if (query.cursor) {
      const { id } = codec.decode(endpoint, query.cursor);
      start = items.findIndex((item) => keyOf(item) === id) + 1;
      // The item the cursor named is gone: continue after where it was is unknown; start over
      // would repeat items, so answer the rest as empty rather than guess.
      if (start === 0) return { items: [], nextCursor: null };
    }
    const page = items.slice(start, start + limit);
    const more = start + limit < items.length;
    return {
      items: page,
      nextCursor: more
        ? codec.encode(endpoint, { key: null, id: keyOf(page[page.length - 1]) })
        : null,
    };
  }
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  return {
    items: items.slice((page - 1) * pageSize, page * pageSize),
    total: items.length,
    page,
    pageSize,
  };
}
