export enum DealStatus {
  NEW = 'new',
  IN_PROGRESS = 'in_progress',
  WON = 'won',
  LOST = 'lost',
}

export const DEAL_STATUSES: readonly DealStatus[] = Object.values(DealStatus);

export enum DealStage {
  QUALIFICATION = 'qualification',
  PROPOSAL = 'proposal',
  NEGOTIATION = 'negotiation',
  CLOSED = 'closed',
}

/** Stage order (API.md section 6): the last stage is the closing one. */
export const DEAL_STAGES: readonly DealStage[] = [
  DealStage.QUALIFICATION,
  DealStage.PROPOSAL,
  DealStage.NEGOTIATION,
  DealStage.CLOSED,
];
