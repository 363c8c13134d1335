import { neutralise } from './csv/csv-export';
import { planImport, type PlanRules, type ValidRow } from './import-plan';

interface Row {
  name: string;
  phone: string | null;
}

const merge = (earlier: Row | undefined, later: Row): Row =>
  earlier ? { name: later.name, phone: later.phone ?? earlier.phone } : later;

const rules = (onDuplicate: PlanRules<Row>['onDuplicate']): PlanRules<Row> => ({
  onDuplicate,
  keyField: 'email',
  existsMessage: 'exists',
  mayUpdate: (record) => record.ownerId === 'me',
  merge,
});

const row = (line: number, key: string | null, name: string, phone: string | null = null) =>
  ({ line, key, value: { name, phone } }) satisfies ValidRow<Row>;

// a@: held by my record; b@: by someone else's; c@: new, twice in the file; no key: never a duplicate.
const existing = new Map([
  ['a@x', { id: 'A', ownerId: 'me' }],
  ['b@x', { id: 'B', ownerId: 'other' }],
]);
const rows = [
  row(2, 'a@x', 'A1', '1'),
  row(3, 'c@x', 'C1', '3'),
  row(4, 'b@x', 'B1'),
  row(5, null, 'N'),
  row(6, 'c@x', 'C2'),
  row(7, null, 'N'),
  row(8, 'a@x', 'A2'),
];

describe('planImport', () => {
  it('skip: every duplicate (organization or file) is skipped', () => {
    const plan = planImport(rows, existing, rules('skip'));
    expect(plan).toEqual({
      creates: [
        { name: 'C1', phone: '3' },
        { name: 'N', phone: null },
        { name: 'N', phone: null },
      ],
      updates: new Map(),
      created: 3,
      updated: 0,
      skipped: 4,
      failed: [],
      duplicates: [],
    });
  });

  it('update: rows merge into the record in file order; others’ records fail the row', () => {
    const plan = planImport(rows, existing, rules('update'));
    expect(plan.creates).toEqual([
      { name: 'C2', phone: '3' },
      { name: 'N', phone: null },
      { name: 'N', phone: null },
    ]);
    expect(plan.updates).toEqual(new Map([['A', { name: 'A2', phone: '1' }]]));
    expect([plan.created, plan.updated, plan.skipped]).toEqual([3, 3, 0]);
    expect(plan.failed).toEqual([
      { row: 4, errors: [{ field: 'email', message: 'exists and is owned by another user' }] },
    ]);
  });

  it('fail: lists every duplicate row', () => {
    expect(planImport(rows, existing, rules('fail')).duplicates).toEqual([
      { row: 2, field: 'email', message: 'exists' },
      { row: 4, field: 'email', message: 'exists' },
      { row: 6, field: 'email', message: 'duplicate of line 3' },
      { row: 8, field: 'email', message: 'exists' },
    ]);
  });
});

describe('neutralise', () => {
  it("prefixes ' to what a spreadsheet would run", () => {
    for (const value of ['=1+1', '+1', '-2', '@cmd', '\tx', '\rx']) {
      expect(neutralise(value)).toBe(`'${value}`);
    }
    for (const value of ['', 'plain', ' =not first', "'quoted", '1-2']) {
      expect(neutralise(value)).toBe(value);
    }
  });
});
