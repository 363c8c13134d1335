import { AppException } from '../../common/errors/app.exception';
import { Role } from '../../tenancy/role';
import {
  applyDealChange,
  type DealChange,
  type DealState,
  initialDealState,
  creationEvents,
  isClosedStatus,
} from './deal-rules';
import { DEAL_STAGES, DealStatus } from './deal.enums';

/*
 * The deal rules of API.md section 6 (status machine, won needs an amount, stage order per
 * role, auto-close, INVALID_STAGE) and the precedence of section 1 among them:
 * 403 (who may change what), then 409 (transitions), then 422 (semantic rules).
 */

const ALL_ROLES = [Role.OWNER, Role.ADMIN, Role.MANAGER, Role.MEMBER] as const;
const MAY_ROLL_BACK = [Role.OWNER, Role.ADMIN] as const;
const FORWARD_ONLY = [Role.MANAGER, Role.MEMBER] as const;
const STATUSES = [DealStatus.NEW, DealStatus.IN_PROGRESS, DealStatus.WON, DealStatus.LOST];
const OPEN_STAGES = ['qualification', 'proposal', 'negotiation'] as const;

const ALLOWED: ReadonlySet<string> = new Set([
  'new->in_progress',
  'new->lost',
  'in_progress->won',
  'in_progress->lost',
]);

/** A deal in `status`, at a stage that fits it, with an amount that allows winning. */
const dealIn = (status: DealStatus, stage?: string, amount = '100.00'): DealState => ({
  status,
  stage: stage ?? (isClosedStatus(status) ? 'closed' : 'qualification'),
  amount,
});

const apply = (current: DealState, change: DealChange, role: Role = Role.OWNER) =>
  applyDealChange(current, change, role, DEAL_STAGES);

/** The AppException `fn` throws (fails when it throws nothing or something else). */
function rejection(fn: () => unknown): AppException {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(AppException);
  return thrown as AppException;
}

function expectRule(fn: () => unknown, status: number, code: string): void {
  const error = rejection(fn);
  expect({ status: error.status, code: error.code }).toEqual({ status, code });
}

const pairs = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const));

describe('deal rules (API.md section 6)', () => {
  describe('status machine: every pair of statuses', () => {
    it.each(pairs.filter(([from, to]) => ALLOWED.has(`${from}->${to}`)))(
      '%s -> %s is allowed and records status_changed {from, to} first',
      (from, to) => {
        for (const role of ALL_ROLES) {
          const current = dealIn(from);
          const { next, events } = apply(current, { status: to }, role);
          expect(next.status).toBe(to);
          expect(next.amount).toBe('100.00');
          expect(events[0]).toEqual({ type: 'status_changed', from, to });
          if (isClosedStatus(to)) {
            expect(next.stage).toBe('closed');
            expect(events).toEqual([
              { type: 'status_changed', from, to },
              { type: 'stage_changed', from: 'qualification', to: 'closed' },
            ]);
          } else {
            expect(next.stage).toBe('qualification');
            expect(events).toHaveLength(1);
          }
        }
      },
    );

    it.each(pairs.filter(([from, to]) => from !== to && !ALLOWED.has(`${from}->${to}`)))(
      '%s -> %s is 409 INVALID_STATUS_TRANSITION for every role',
      (from, to) => {
        for (const role of ALL_ROLES) {
          expectRule(
            () => apply(dealIn(from), { status: to }, role),
            409,
            'INVALID_STATUS_TRANSITION',
          );
        }
      },
    );

    it.each(STATUSES)('%s -> the same status is a no-op without events', (status) => {
      for (const role of ALL_ROLES) {
        const current = dealIn(status);
        const { next, events } = apply(current, { status }, role);
        expect(next).toEqual(current);
        expect(events).toEqual([]);
      }
    });

    it('an empty change is a no-op without events', () => {
      const current = dealIn(DealStatus.IN_PROGRESS, 'proposal');
      expect(apply(current, {}, Role.MEMBER)).toEqual({ next: current, events: [] });
    });

    it('an amount-only change records no event', () => {
      const { next, events } = apply(dealIn(DealStatus.NEW), { amount: '5.00' }, Role.MEMBER);
      expect(next).toEqual({ status: 'new', stage: 'qualification', amount: '5.00' });
      expect(events).toEqual([]);
    });

    it('isClosedStatus is true for won and lost only', () => {
      expect(STATUSES.filter(isClosedStatus)).toEqual([DealStatus.WON, DealStatus.LOST]);
    });
  });

  describe('won needs amount > 0', () => {
    it.each(['0.00', '0'])(
      'in_progress -> won with amount %j is 422 AMOUNT_REQUIRED_TO_WIN',
      (amount) => {
        expectRule(
          () =>
            apply(dealIn(DealStatus.IN_PROGRESS, 'negotiation', amount), {
              status: DealStatus.WON,
            }),
          422,
          'AMOUNT_REQUIRED_TO_WIN',
        );
      },
    );

    it('the amount in the same change counts (0 -> 0.01 wins)', () => {
      const { next, events } = apply(dealIn(DealStatus.IN_PROGRESS, 'qualification', '0.00'), {
        status: DealStatus.WON,
        amount: '0.01',
      });
      expect(next).toEqual({ status: 'won', stage: 'closed', amount: '0.01' });
      expect(events).toEqual([
        { type: 'status_changed', from: 'in_progress', to: 'won' },
        { type: 'stage_changed', from: 'qualification', to: 'closed' },
      ]);
    });

    it('an amount of 0 in the same change refuses the win even if the deal had an amount', () => {
      expectRule(
        () => apply(dealIn(DealStatus.IN_PROGRESS), { status: DealStatus.WON, amount: '0.00' }),
        422,
        'AMOUNT_REQUIRED_TO_WIN',
      );
    });

    it('a won deal cannot have its amount set to 0 (422)', () => {
      expectRule(
        () => apply(dealIn(DealStatus.WON), { amount: '0.00' }),
        422,
        'AMOUNT_REQUIRED_TO_WIN',
      );
      expect(apply(dealIn(DealStatus.WON), { amount: '1.50' }).next.amount).toBe('1.50');
    });

    it('new -> won with amount 0 is 409 INVALID_STATUS_TRANSITION, not 422', () => {
      expectRule(
        () => apply(dealIn(DealStatus.NEW, 'qualification', '0.00'), { status: DealStatus.WON }),
        409,
        'INVALID_STATUS_TRANSITION',
      );
      expectRule(
        () => apply(dealIn(DealStatus.NEW), { status: DealStatus.WON, amount: '0.00' }),
        409,
        'INVALID_STATUS_TRANSITION',
      );
    });

    it('lost needs no amount', () => {
      const { next } = apply(dealIn(DealStatus.NEW, 'proposal', '0.00'), {
        status: DealStatus.LOST,
      });
      expect(next).toEqual({ status: 'lost', stage: 'closed', amount: '0.00' });
    });
  });

  describe('stage order', () => {
    const forward = OPEN_STAGES.flatMap((from, i) =>
      OPEN_STAGES.slice(i + 1).map((to) => [from, to] as const),
    );
    const backward = forward.map(([a, b]) => [b, a] as const);

    it.each(forward)(
      '%s -> %s (forward) is allowed for every role, with stage_changed',
      (from, to) => {
        for (const role of ALL_ROLES) {
          for (const status of [DealStatus.NEW, DealStatus.IN_PROGRESS]) {
            const { next, events } = apply(dealIn(status, from), { stage: to }, role);
            expect(next).toEqual({ status, stage: to, amount: '100.00' });
            expect(events).toEqual([{ type: 'stage_changed', from, to }]);
          }
        }
      },
    );

    it.each(backward)('%s -> %s (backward) is allowed for owners and admins', (from, to) => {
      for (const role of MAY_ROLL_BACK) {
        const { next, events } = apply(dealIn(DealStatus.IN_PROGRESS, from), { stage: to }, role);
        expect(next.stage).toBe(to);
        expect(events).toEqual([{ type: 'stage_changed', from, to }]);
      }
    });

    it.each(backward)(
      '%s -> %s (backward) is 403 STAGE_ROLLBACK_FORBIDDEN for managers and members',
      (from, to) => {
        for (const role of FORWARD_ONLY) {
          expectRule(
            () => apply(dealIn(DealStatus.IN_PROGRESS, from), { stage: to }, role),
            403,
            'STAGE_ROLLBACK_FORBIDDEN',
          );
        }
      },
    );

    it.each(OPEN_STAGES)('%s -> the same stage is a no-op without events', (stage) => {
      for (const role of ALL_ROLES) {
        expect(apply(dealIn(DealStatus.IN_PROGRESS, stage), { stage }, role).events).toEqual([]);
      }
    });

    it.each(['demo', 'won', 'closed_lost'])(
      'unknown stage %j is 422 INVALID_STAGE for every role',
      (stage) => {
        for (const role of ALL_ROLES) {
          expectRule(
            () => apply(dealIn(DealStatus.IN_PROGRESS, 'negotiation'), { stage }, role),
            422,
            'INVALID_STAGE',
          );
        }
      },
    );

    it('follows the pipeline it is given (the last stage closes)', () => {
      const stages = ['lead', 'demo', 'done'];
      const lead: DealState = { status: DealStatus.IN_PROGRESS, stage: 'lead', amount: '1.00' };
      expect(applyDealChange(lead, { stage: 'demo' }, Role.MEMBER, stages).next.stage).toBe('demo');
      expect(
        applyDealChange(lead, { status: DealStatus.WON }, Role.MEMBER, stages).next.stage,
      ).toBe('done');
      expectRule(
        () => applyDealChange({ ...lead, stage: 'demo' }, { stage: 'lead' }, Role.MANAGER, stages),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
      expectRule(
        () => applyDealChange(lead, { stage: 'done' }, Role.OWNER, stages),
        422,
        'INVALID_STAGE',
      );
      expectRule(
        () => applyDealChange(lead, { stage: 'proposal' }, Role.OWNER, stages),
        422,
        'INVALID_STAGE',
      );
    });
  });

  describe('closed stage', () => {
    it.each([DealStatus.WON, DealStatus.LOST])(
      'becoming %s moves the stage to closed by itself, from any open stage',
      (to) => {
        for (const stage of OPEN_STAGES) {
          const { next, events } = apply(
            dealIn(DealStatus.IN_PROGRESS, stage),
            { status: to },
            Role.MEMBER,
          );
          expect(next.stage).toBe('closed');
          expect(events).toEqual([
            { type: 'status_changed', from: 'in_progress', to },
            { type: 'stage_changed', from: stage, to: 'closed' },
          ]);
        }
      },
    );

    it.each([DealStatus.WON, DealStatus.LOST])(
      'becoming %s with stage closed in the same change is fine',
      (to) => {
        const { next, events } = apply(dealIn(DealStatus.IN_PROGRESS, 'proposal'), {
          status: to,
          stage: 'closed',
        });
        expect(next.stage).toBe('closed');
        expect(events.map((e) => e.type)).toEqual(['status_changed', 'stage_changed']);
      },
    );

    it.each([DealStatus.NEW, DealStatus.IN_PROGRESS])(
      'closed while %s is 422 INVALID_STAGE',
      (status) => {
        for (const role of ALL_ROLES) {
          expectRule(
            () => apply(dealIn(status, 'negotiation'), { stage: 'closed' }, role),
            422,
            'INVALID_STAGE',
          );
        }
      },
    );

    it('new -> in_progress together with stage closed is 422 INVALID_STAGE', () => {
      expectRule(
        () => apply(dealIn(DealStatus.NEW), { status: DealStatus.IN_PROGRESS, stage: 'closed' }),
        422,
        'INVALID_STAGE',
      );
    });

    it.each(['qualification', 'proposal', 'negotiation'])(
      '{status: won, stage: %s} is 422 INVALID_STAGE',
      (stage) => {
        for (const role of MAY_ROLL_BACK) {
          expectRule(
            () =>
              apply(
                dealIn(DealStatus.IN_PROGRESS, 'qualification'),
                { status: DealStatus.WON, stage },
                role,
              ),
            422,
            'INVALID_STAGE',
          );
          expectRule(
            () =>
              apply(
                dealIn(DealStatus.IN_PROGRESS, 'qualification'),
                { status: DealStatus.LOST, stage },
                role,
              ),
            422,
            'INVALID_STAGE',
          );
        }
      },
    );

    it.each([DealStatus.WON, DealStatus.LOST])(
      'the stage of a %s deal cannot leave closed: 422 INVALID_STAGE for owners and admins',
      (status) => {
        for (const role of MAY_ROLL_BACK) {
          for (const stage of OPEN_STAGES) {
            expectRule(() => apply(dealIn(status), { stage }, role), 422, 'INVALID_STAGE');
          }
        }
      },
    );

    it.each([DealStatus.WON, DealStatus.LOST])(
      'the stage of a %s deal: a manager or member trying to leave closed gets 403 first',
      (status) => {
        for (const role of FORWARD_ONLY) {
          for (const stage of OPEN_STAGES) {
            expectRule(
              () => apply(dealIn(status), { stage }, role),
              403,
              'STAGE_ROLLBACK_FORBIDDEN',
            );
          }
        }
      },
    );

    it.each([DealStatus.WON, DealStatus.LOST])(
      'a %s deal: stage closed again is a no-op',
      (status) => {
        for (const role of ALL_ROLES) {
          expect(apply(dealIn(status), { stage: 'closed', status }, role)).toEqual({
            next: dealIn(status),
            events: [],
          });
        }
      },
    );
  });

  describe('precedence: 403, then 409, then 422', () => {
    it('a member rolling back and making an invalid transition gets 403', () => {
      expectRule(
        () =>
          apply(
            dealIn(DealStatus.IN_PROGRESS, 'negotiation'),
            { status: DealStatus.NEW, stage: 'proposal' },
            Role.MEMBER,
          ),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
    });

    it('a manager asking for an earlier stage together with won/lost gets 403, not 409 or 422', () => {
      for (const status of [DealStatus.WON, DealStatus.LOST]) {
        // new -> won is an invalid transition (409), and a stage other than closed is 422
        expectRule(
          () =>
            apply(
              dealIn(DealStatus.NEW, 'proposal'),
              { status, stage: 'qualification' },
              Role.MANAGER,
            ),
          403,
          'STAGE_ROLLBACK_FORBIDDEN',
        );
      }
    });

    it('an owner asking new -> won at an earlier stage with amount 0 gets 409', () => {
      expectRule(
        () =>
          apply(dealIn(DealStatus.NEW, 'proposal', '0.00'), {
            status: DealStatus.WON,
            stage: 'qualification',
          }),
        409,
        'INVALID_STATUS_TRANSITION',
      );
    });

    it('an invalid transition with an unknown or closed stage is 409, not 422', () => {
      expectRule(
        () => apply(dealIn(DealStatus.IN_PROGRESS), { status: DealStatus.NEW, stage: 'demo' }),
        409,
        'INVALID_STATUS_TRANSITION',
      );
      expectRule(
        () => apply(dealIn(DealStatus.WON), { status: DealStatus.NEW, stage: 'closed' }),
        409,
        'INVALID_STATUS_TRANSITION',
      );
    });

    it('a member moving forward with an invalid transition gets 409', () => {
      expectRule(
        () => apply(dealIn(DealStatus.LOST), { status: DealStatus.IN_PROGRESS }, Role.MEMBER),
        409,
        'INVALID_STATUS_TRANSITION',
      );
    });
  });

  describe('events', () => {
    it('a status and a stage change in one change: status_changed first, then stage_changed', () => {
      const { next, events } = apply(
        dealIn(DealStatus.NEW, 'qualification'),
        { status: DealStatus.IN_PROGRESS, stage: 'negotiation' },
        Role.MEMBER,
      );
      expect(next).toEqual({ status: 'in_progress', stage: 'negotiation', amount: '100.00' });
      expect(events).toEqual([
        { type: 'status_changed', from: 'new', to: 'in_progress' },
        { type: 'stage_changed', from: 'qualification', to: 'negotiation' },
      ]);
    });

    it('a status change alone has no stage event while the deal stays open', () => {
      expect(
        apply(dealIn(DealStatus.NEW, 'proposal'), { status: DealStatus.IN_PROGRESS }).events,
      ).toEqual([{ type: 'status_changed', from: 'new', to: 'in_progress' }]);
    });

    it('does not modify the current state it is given', () => {
      const current = dealIn(DealStatus.IN_PROGRESS, 'proposal');
      const copy = { ...current };
      apply(current, { status: DealStatus.WON, amount: '9.00' });
      expect(current).toEqual(copy);
    });
  });

  describe('creationEvents (a deal created in a later status goes through the machine)', () => {
    const events = (requested: DealChange, role = Role.MEMBER) =>
      creationEvents(initialDealState(requested, DEAL_STAGES), role, DEAL_STAGES);

    it('records nothing for a new deal, whatever its stage', () => {
      expect(events({})).toEqual([]);
      expect(events({ stage: 'negotiation' })).toEqual([]);
    });

    it('in_progress: new -> in_progress, the stage kept', () => {
      expect(events({ status: DealStatus.IN_PROGRESS, stage: 'proposal' })).toEqual([
        { type: 'status_changed', from: 'new', to: 'in_progress' },
      ]);
    });

    it('won: new -> in_progress -> won, and the first stage -> closed', () => {
      expect(events({ status: DealStatus.WON, amount: '5.00' })).toEqual([
        { type: 'status_changed', from: 'new', to: 'in_progress' },
        { type: 'status_changed', from: 'in_progress', to: 'won' },
        { type: 'stage_changed', from: 'qualification', to: 'closed' },
      ]);
    });

    it('lost: new -> lost, and the first stage -> closed', () => {
      expect(events({ status: DealStatus.LOST, stage: 'closed' })).toEqual([
        { type: 'status_changed', from: 'new', to: 'lost' },
        { type: 'stage_changed', from: 'qualification', to: 'closed' },
      ]);
    });
  });

  describe('initialDealState', () => {
    const initial = (requested: DealChange) => initialDealState(requested, DEAL_STAGES);

    it('defaults to new, qualification, 0.00', () => {
      expect(initial({})).toEqual({ status: 'new', stage: 'qualification', amount: '0.00' });
    });

    it('keeps a given open status, stage and amount', () => {
      expect(
        initial({ status: DealStatus.IN_PROGRESS, stage: 'negotiation', amount: '5.00' }),
      ).toEqual({
        status: 'in_progress',
        stage: 'negotiation',
        amount: '5.00',
      });
      expect(initial({ stage: 'proposal' })).toEqual({
        status: 'new',
        stage: 'proposal',
        amount: '0.00',
      });
    });

    it('a won deal (with an amount) or a lost one starts at closed', () => {
      expect(initial({ status: DealStatus.WON, amount: '10.00' })).toEqual({
        status: 'won',
        stage: 'closed',
        amount: '10.00',
      });
      expect(initial({ status: DealStatus.LOST })).toEqual({
        status: 'lost',
        stage: 'closed',
        amount: '0.00',
      });
      expect(initial({ status: DealStatus.LOST, stage: 'closed' }).stage).toBe('closed');
    });

    it('a won deal needs amount > 0 (422 AMOUNT_REQUIRED_TO_WIN)', () => {
      expectRule(() => initial({ status: DealStatus.WON }), 422, 'AMOUNT_REQUIRED_TO_WIN');
      expectRule(
        () => initial({ status: DealStatus.WON, amount: '0.00' }),
        422,
        'AMOUNT_REQUIRED_TO_WIN',
      );
    });

    it('closed needs won or lost (422 INVALID_STAGE)', () => {
      expectRule(() => initial({ stage: 'closed' }), 422, 'INVALID_STAGE');
      expectRule(
        () => initial({ status: DealStatus.IN_PROGRESS, stage: 'closed' }),
        422,
        'INVALID_STAGE',
      );
    });

    it('a won or lost deal at an open stage is 422 INVALID_STAGE', () => {
      expectRule(
        () => initial({ status: DealStatus.WON, amount: '1.00', stage: 'proposal' }),
        422,
        'INVALID_STAGE',
      );
      expectRule(
        () => initial({ status: DealStatus.LOST, stage: 'qualification' }),
        422,
        'INVALID_STAGE',
      );
    });

    it('an unknown stage is 422 INVALID_STAGE, whatever the status', () => {
      for (const status of STATUSES) {
        expectRule(() => initial({ status, amount: '1.00', stage: 'demo' }), 422, 'INVALID_STAGE');
      }
    });
  });
});
