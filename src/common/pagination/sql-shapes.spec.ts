import { DataSource, SelectQueryBuilder } from 'typeorm';
import { ENTITIES } from '../../entities';
import { Contact } from '../../modules/contacts/contact.entity';
import { ScopedRepository } from '../../tenancy/scoped-repository';
import { queryAndParameters, shapeOf } from './sql-shapes';

/*
 * The shape of a builder names everything its SQL text is written from and nothing else: two
 * builders that differ only in parameter values share one, anything that changes the text gives
 * another. The data source builds its metadata without connecting (no SQL runs here).
 */
describe('sql-shapes', () => {
  const dataSource = new DataSource({ type: 'postgres', entities: ENTITIES });
  beforeAll(async () => {
    await (dataSource as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas();
  });

  const contacts = (organizationId: string): SelectQueryBuilder<Contact> =>
    dataSource
      .createQueryBuilder(Contact, 'c')
      .where('c.organization_id = :organizationId', { organizationId })
      .select(['c.id', 'c.name']);

  it('one shape for builders that differ only in their parameters', () => {
    expect(shapeOf(contacts('a'))).toBe(shapeOf(contacts('b')));
    expect(queryAndParameters(contacts('a'))).toEqual(contacts('a').getQueryAndParameters());
    const [sql, parameters] = queryAndParameters(contacts('b'));
    expect(sql).toBe(contacts('b').getQueryAndParameters()[0]);
    expect(parameters).toEqual(['b']);
  });

  it.each<[string, (q: SelectQueryBuilder<Contact>) => unknown]>([
    ['another condition', (q) => q.andWhere('c.owner_id = :ownerId', { ownerId: 'x' })],
    ['an OR instead of an AND', (q) => q.orWhere('c.owner_id = :ownerId', { ownerId: 'x' })],
    ['another column', (q) => q.addSelect('c.email')],
    ['a join', (q) => q.innerJoin('c.company', 'co')],
    ['an order', (q) => q.orderBy('c.name', 'ASC')],
    ['the other direction', (q) => q.orderBy('c.name', 'DESC')],
    ['a limit', (q) => q.limit(21)],
    ['another limit', (q) => q.limit(22)],
    ['an offset', (q) => q.offset(20)],
    ['a lock', (q) => q.setLock('pessimistic_write')],
    ['a group', (q) => q.groupBy('c.id')],
    ['deleted rows', (q) => q.withDeleted()],
  ])('another shape with %s', (_, change) => {
    const changed = contacts('a');
    change(changed);
    expect(shapeOf(changed)).not.toBe(shapeOf(contacts('a')));
    // and its own SQL, even after the plain shape was stored
    queryAndParameters(contacts('a'));
    expect(queryAndParameters(changed)).toEqual(changed.getQueryAndParameters());
  });

  it('a spread parameter binds as many values as it is given, from one text', () => {
    const of = (ids: string[]) => contacts('a').andWhere('c.id IN (:...ids)', { ids });
    expect(shapeOf(of(['1']))).toBe(shapeOf(of(['1', '2', '3'])));
    queryAndParameters(of(['1']));
    expect(queryAndParameters(of(['1', '2', '3']))).toEqual(
      of(['1', '2', '3']).getQueryAndParameters(),
    );
  });

  it('binds positional parameters as TypeORM does: repeated names, casts, late names', () => {
    const repeated = (v: string) =>
      contacts('a').andWhere('(c.name = :v OR c.email = :v) AND c.phone::text <> :w', {
        v,
        w: 'w',
      });
    queryAndParameters(repeated('x'));
    const [sql, values] = queryAndParameters(repeated('y'));
    expect([sql, values]).toEqual(repeated('y').getQueryAndParameters());
    expect(sql).toContain('c.phone::text <> $3');
    expect(values).toEqual(['a', 'y', 'w']);
    // A `:word` no parameter was named after is left as written; named later, it is bound.
    const cast = (extra: Record<string, unknown>) =>
      contacts('a').andWhere('c.name::text = :n', { n: 'n', ...extra });
    queryAndParameters(cast({}));
    expect(queryAndParameters(cast({ text: 't' }))).toEqual(
      cast({ text: 't' }).getQueryAndParameters(),
    );
    expect(queryAndParameters(cast({ text: 't' }))[0]).toContain('c.name:$2 = $3');
  });

  it('under Jest, a stored text that no longer matches the builder throws', () => {
    const query = contacts('a').andWhere('c.email IS NOT NULL');
    queryAndParameters(query);
    // The same shape with another text is what a missing field of shapeOf would cause.
    const same = contacts('a').andWhere('c.email IS NOT NULL');
    const original = same.getQuery.bind(same);
    same.getQuery = () => `${original()} AND TRUE`;
    expect(() => queryAndParameters(same)).toThrow(/one shape, two texts/);
  });

  it("a tenant repository's builders bind into their shape's stored text (reads made to write)", () => {
    const scoped = (organizationId: string) =>
      new ScopedRepository(dataSource.manager, Contact, organizationId)
        .query('c')
        .andWhere('c.id = :id', { id: organizationId })
        .setLock('pessimistic_write');
    const [sql, parameters] = scoped('b').getQueryAndParameters();
    expect([sql, parameters]).toEqual(
      SelectQueryBuilder.prototype.getQueryAndParameters.call(scoped('b')),
    );
    expect(parameters).toEqual(['b', 'b']);
    // It reads the store: a builder of the same shape whose text differs is caught (under Jest).
    const same = scoped('c');
    const original = same.getQuery.bind(same);
    same.getQuery = () => `${original()} AND TRUE`;
    expect(() => same.getQueryAndParameters()).toThrow(/one shape, two texts/);
  });

  it('no shape for what it does not model (common table expressions)', () => {
    const query = contacts('a').addCommonTableExpression('SELECT 1 AS one', 'ones');
    expect(shapeOf(query)).toBeUndefined();
    expect(queryAndParameters(query)).toEqual(query.getQueryAndParameters());
  });
});
