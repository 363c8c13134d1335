import { type EventType, subjectOf } from '../../events/catalog';
import type { TenantTx } from '../../tenancy/unit-of-work';
import { isClosedStatus } from './deal-rules';
import { DealStatus } from './deal.enums';
import { DEAL_COLUMNS, type DealDto } from './dto/deal.dto';

/**
 * The domain events of deal writes (API.md section 12), recorded in the writing transaction:
 * `data` is `{ deal }` exactly as GET /deals/{id} answers after the change, plus `previous` (the
 * changed fields' earlier values) on updated and state events.
 */

const DEAL_EVENT = {
  created: 'crm.deal.created.v1',
  updated: 'crm.deal.updated.v1',
  stageChanged: 'crm.deal.stage_changed.v1',
  won: 'crm.deal.won.v1',
  lost: 'crm.deal.lost.v1',
  deleted: 'crm.deal.deleted.v1',
} as const satisfies Record<string, EventType>;

/** The fields of a deal's representation a change may touch (all but id and the timestamps). */
type Changeable = Exclude<
  (typeof DEAL_COLUMNS)[number],
  'id' | 'organizationId' | 'createdAt' | 'updatedAt'
>;
const FIXED: readonly string[] = ['id', 'organizationId', 'createdAt', 'updatedAt'];
const CHANGEABLE = DEAL_COLUMNS.filter((key): key is Changeable => !FIXED.includes(key));

const subject = (deal: DealDto): string => subjectOf('deals', deal.id);

const pick = (deal: DealDto, keys: readonly Changeable[]): Partial<DealDto> =>
  Object.fromEntries(keys.map((key) => [key, deal[key]]));

/**
 * A new deal: one `deal.created` with its final representation, even when it is created in a
 * later status (a deal created won is one created event, not created + stage_changed + won: the
 * status machine steps it goes through on creation are timeline entries, not separate changes).
 * Every creation path goes through DealsService.createIn (POST /deals, lead conversion).
 */
export function emitDealCreated(tx: TenantTx, deal: DealDto): void {
  tx.emit(DEAL_EVENT.created, subject(deal), { deal });
}

/**
 * A changed deal (PATCH, move-stage, win, lose), in this order: `deal.updated` for fields other
 * than the stage and a closing status, `deal.stage_changed` when the stage moved (requested, or
 * automatic when won/lost closes it), then `deal.won` / `deal.lost` when the status became so
 * (with the lost reason `lose` sets). Nothing when nothing changed.
 */
export function emitDealChanged(tx: TenantTx, before: DealDto, after: DealDto): void {
  const changed = CHANGEABLE.filter((key) => before[key] !== after[key]);
  const closedBy = changed.includes('status') && isClosedStatus(after.status) ? after.status : null;
  const stateFields: readonly Changeable[] = closedBy
    ? ['stage', 'status', 'lostReason']
    : ['stage'];
  const updated = changed.filter((key) => !stateFields.includes(key));
  if (updated.length) {
    tx.emit(DEAL_EVENT.updated, subject(after), { deal: after, previous: pick(before, updated) });
  }
  if (changed.includes('stage')) {
    tx.emit(DEAL_EVENT.stageChanged, subject(after), {
      deal: after,
      previous: pick(before, ['stage']),
    });
  }
  if (closedBy) {
    const previous = pick(
      before,
      changed.filter((key) => key === 'status' || key === 'lostReason'),
    );
    const type = closedBy === DealStatus.WON ? DEAL_EVENT.won : DEAL_EVENT.lost;
    tx.emit(type, subject(after), { deal: after, previous });
  }
}

/** A deleted deal, as it was before the deletion (its tasks and activities go with it). */
export function emitDealDeleted(tx: TenantTx, deal: DealDto): void {
  tx.emit(DEAL_EVENT.deleted, subject(deal), { deal });
}
