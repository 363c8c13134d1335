import { ApiPropertyOptional } from '@nestjs/swagger';
import { IncludeNames } from '../../../common/validation/include';
import { CompanyDto } from '../../companies/dto/company.dto';
import { ContactDto } from './contact.dto';

/** What `include` may name on GET /contacts and GET /contacts/{id} (API.md section 18). */
export const CONTACT_INCLUDES = ['company'] as const;
export type ContactInclude = (typeof CONTACT_INCLUDES)[number];

export const CONTACT_INCLUDE_DESCRIPTION =
  "Related records to embed, in the shape of their own GET: company (the contact's company; " +
  'null when it has none or the caller may not read it). With include, GET /contacts/{id} ' +
  'carries no ETag (the embedded company changes without the contact).';

/** GET /contacts/{id}: only `include`. */
export class ContactGetQueryDto {
  @IncludeNames(CONTACT_INCLUDES, 'ContactInclude', CONTACT_INCLUDE_DESCRIPTION)
  include?: ContactInclude[];
}

/** A contact with the related records `include` named; without include, exactly a ContactDto. */
export class ContactWithRelationsDto extends ContactDto {
  @ApiPropertyOptional({
    type: CompanyDto,
    nullable: true,
    description:
      "include=company: the contact's company as GET /companies/{id} answers it; null when the " +
      'contact has none or the caller may not read it',
  })
  company?: CompanyDto | null;
}
