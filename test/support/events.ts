/** A domain event as GET /events answers it (API.md section 12: CloudEvents 1.0). */
export interface Envelope {
  specversion: string;
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: string;
  organizationid: string;
  actorid: string | null;
  requestid: string | null;
  data: Record<string, unknown>;
}

/** A page of GET /events (keyset). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
