import { HttpStatus } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { Role } from '../../tenancy/role';
import { DealStatus } from './deal.enums';

/**
 * The deal rules of API.md section 6, as pure functions over an ordered stage list (the last
 * stage is the closing one), so that every path that changes a deal (PATCH, and the deal
 * actions) shares one implementation. Violations are thrown in the documented precedence:
 * who may change what (403), then state transitions (409), then semantic rules (422).
 */

export interface DealState {
  status: DealStatus;
  stage: string;
  /** Two-decimal string. */
  amount: string;
}

export type DealChange = Partial<DealState>;

export interface DealEvent {
  type: 'status_changed' | 'stage_changed';
  from: string;
  to: string;
}

const TRANSITIONS: Record<DealStatus, readonly DealStatus[]> = {
  [DealStatus.NEW]: [DealStatus.IN_PROGRESS, DealStatus.LOST],
  [DealStatus.IN_PROGRESS]: [DealStatus.WON, DealStatus.LOST],
  [DealStatus.WON]: [],
  [DealStatus.LOST]: [],
};

const CLOSED_STATUSES: readonly DealStatus[] = [DealStatus.WON, DealStatus.LOST];
/** Roles that may move a deal's stage backwards. */
const MAY_ROLL_BACK: readonly string[] = [Role.OWNER, Role.ADMIN];

export const isClosedStatus = (status: DealStatus): boolean => CLOSED_STATUSES.includes(status);

function invalidStage(message: string): AppException {
  return AppException.unprocessable(ErrorCode.INVALID_STAGE, message);
}

function isPositive(amount: string): boolean {
  return /[1-9]/.test(amount);
}

/** The state of a new deal: any status may be given; won/lost deals start at the closing stage. */
export function initialDealState(requested: DealChange, stages: readonly string[]): DealState {
  const closing = stages[stages.length - 1];
  const status = requested.status ?? DealStatus.NEW;
  const amount = requested.amount ?? '0.00';
  if (requested.stage !== undefined && !stages.includes(requested.stage)) {
    throw invalidStage(`stage must be one of: ${stages.join(', ')}`);
  }
  const stage = isClosedStatus(status) ? closing : (requested.stage ?? stages[0]);
  checkSemantics({ status, stage, amount }, requested, stages);
  return { status, stage, amount };
}

/** The transitions of the status machine that lead from `new` to each status. */
const PATH_FROM_NEW: Record<DealStatus, readonly DealStatus[]> = {
  [DealStatus.NEW]: [],
  [DealStatus.IN_PROGRESS]: [DealStatus.IN_PROGRESS],
  [DealStatus.WON]: [DealStatus.IN_PROGRESS, DealStatus.WON],
  [DealStatus.LOST]: [DealStatus.LOST],
};

/**
 * A deal created in a later status goes through the status machine from `new`: the changes it
 * makes on the way, as PATCH would record them (`new -> in_progress -> won` with the stage moving
 * to the closing one, `new -> lost`, `new -> in_progress`). A won or lost deal starts at the
 * first stage before it closes. `state` is the valid state of initialDealState.
 */
export function creationEvents(
  state: DealState,
  role: string,
  stages: readonly string[],
): DealEvent[] {
  let current: DealState = {
    status: DealStatus.NEW,
    stage: isClosedStatus(state.status) ? stages[0] : state.stage,
    amount: state.amount,
  };
  const events: DealEvent[] = [];
  for (const status of PATH_FROM_NEW[state.status]) {
    const step = applyDealChange(current, { status }, role, stages);
    events.push(...step.events);
    current = step.next;
  }
  return events;
}

/** Applies a change to a deal; returns the new state and the activities it must record. */
export function applyDealChange(
  current: DealState,
  change: DealChange,
  role: string,
  stages: readonly string[],
): { next: DealState; events: DealEvent[] } {
  const closing = stages[stages.length - 1];
  const status = change.status ?? current.status;
  const statusChanges = status !== current.status;
  // When status becomes won or lost, the stage becomes the closing one by itself.
  const stage = statusChanges && isClosedStatus(status) ? closing : (change.stage ?? current.stage);

  // 403: members and managers only move forward: neither the stage they ask for (even when a
  // won/lost status overrides it) nor the resulting one may be earlier (an unknown stage is a
  // 422 below).
  const from = stages.indexOf(current.stage);
  const targets = [stage, change.stage ?? stage].map((s) => stages.indexOf(s));
  if (from >= 0 && targets.some((to) => to >= 0 && to < from) && !MAY_ROLL_BACK.includes(role)) {
    throw new AppException(
      HttpStatus.FORBIDDEN,
      ErrorCode.STAGE_ROLLBACK_FORBIDDEN,
      'Only owners and admins may move a deal to an earlier stage',
    );
  }
  // 409: the status machine; setting the same status again is a no-op.
  if (statusChanges && !TRANSITIONS[current.status].includes(status)) {
    throw AppException.conflict(
      ErrorCode.INVALID_STATUS_TRANSITION,
      `A deal cannot go from ${current.status} to ${status}`,
    );
  }
  // 422: what the new state must satisfy.
  if (change.stage !== undefined && !stages.includes(change.stage)) {
    throw invalidStage(`stage must be one of: ${stages.join(', ')}`);
  }
  const next: DealState = { status, stage, amount: change.amount ?? current.amount };
  if (isClosedStatus(current.status) && stage !== closing) {
    throw invalidStage(`The stage of a ${current.status} deal stays ${closing}`);
  }
  checkSemantics(next, change, stages);

  const events: DealEvent[] = [];
  if (statusChanges) events.push({ type: 'status_changed', from: current.status, to: status });
  if (stage !== current.stage)
    events.push({ type: 'stage_changed', from: current.stage, to: stage });
  return { next, events };
}

function checkSemantics(next: DealState, requested: DealChange, stages: readonly string[]): void {
  const closing = stages[stages.length - 1];
  if (next.status === DealStatus.WON && !isPositive(next.amount)) {
    throw AppException.unprocessable(
      ErrorCode.AMOUNT_REQUIRED_TO_WIN,
      'A won deal needs an amount greater than 0',
    );
  }
  if (isClosedStatus(next.status) && requested.stage !== undefined && requested.stage !== closing) {
    throw invalidStage(`A ${next.status} deal is at the ${closing} stage`);
  }
  if (!isClosedStatus(next.status) && next.stage === closing) {
    throw invalidStage(`The ${closing} stage needs the status won or lost`);
  }
}
