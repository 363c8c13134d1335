import { RelatedReads } from '../../tenancy/related-reads';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { Contact } from '../contacts/contact.entity';
import { ContactDto } from '../contacts/dto/contact.dto';
import { Deal } from '../deals/deal.entity';
import { DealDto } from '../deals/dto/deal.dto';
import type { LeadDto } from './dto/lead.dto';
import type { LeadInclude, LeadWithRelationsDto } from './dto/lead-with-relations.dto';

/**
 * `leads` with the related records `include` names (API.md section 18): the contact and the
 * deal of their conversion, one statement each whatever the number of leads, each read with the
 * actor's visibility of its own resource. A conversion may reuse a contact the lead's owner
 * cannot see (API.md section 11): it is then null for them.
 */
export async function withLeadRelations(
  reader: TenantReader,
  leads: LeadDto[],
  include: readonly LeadInclude[],
): Promise<LeadWithRelationsDto[]> {
  const related = new RelatedReads(reader);
  const [contacts, deals] = await Promise.all([
    include.includes('convertedContact')
      ? related.byId(
          Contact,
          leads.map((lead) => lead.convertedContactId),
          (contact) => ContactDto.from(contact),
        )
      : undefined,
    include.includes('convertedDeal')
      ? related.byId(
          Deal,
          leads.map((lead) => lead.convertedDealId),
          (deal) => DealDto.from(deal),
        )
      : undefined,
  ]);
  return leads.map((lead) => {
    // A copy: the lead's ETag stays behind (the answer also changes with the embedded records).
    const answer: LeadWithRelationsDto = { ...lead };
    if (contacts) {
      answer.convertedContact =
        (lead.convertedContactId && contacts.get(lead.convertedContactId)) || null;
    }
    if (deals)
      answer.convertedDeal = (lead.convertedDealId && deals.get(lead.convertedDealId)) || null;
    return answer;
  });
}
