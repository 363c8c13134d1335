export enum LeadStatus {
  NEW = 'new',
  CONTACTED = 'contacted',
  QUALIFIED = 'qualified',
  DISQUALIFIED = 'disqualified',
  CONVERTED = 'converted',
}

export const LEAD_STATUSES: readonly LeadStatus[] = Object.values(LeadStatus);
