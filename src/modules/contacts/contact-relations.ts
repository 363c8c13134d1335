import { RelatedReads } from '../../tenancy/related-reads';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { Company } from '../companies/company.entity';
import { CompanyDto } from '../companies/dto/company.dto';
import type { ContactDto } from './dto/contact.dto';
import type { ContactInclude, ContactWithRelationsDto } from './dto/contact-with-relations.dto';

/**
 * `contacts` with the related records `include` names (API.md section 18): their companies, in
 * one statement whatever the number of contacts, read with the actor's visibility of companies.
 */
export async function withContactRelations(
  reader: TenantReader,
  contacts: ContactDto[],
  include: readonly ContactInclude[],
): Promise<ContactWithRelationsDto[]> {
  const companies = include.includes('company')
    ? await new RelatedReads(reader).byId(
        Company,
        contacts.map((contact) => contact.companyId),
        (company) => CompanyDto.from(company),
      )
    : undefined;
  return contacts.map((contact) => {
    // A copy: the contact's ETag stays behind (the answer also changes with its company).
    const answer: ContactWithRelationsDto = { ...contact };
    if (companies) answer.company = (contact.companyId && companies.get(contact.companyId)) || null;
    return answer;
  });
}
