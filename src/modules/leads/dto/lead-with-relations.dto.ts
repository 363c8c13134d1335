import { ApiPropertyOptional } from '@nestjs/swagger';
import { IncludeNames } from '../../../common/validation/include';
import { ContactDto } from '../../contacts/dto/contact.dto';
import { DealDto } from '../../deals/dto/deal.dto';
import { LeadDto } from './lead.dto';

/** What `include` may name on GET /leads and GET /leads/{id} (API.md section 18). */
export const LEAD_INCLUDES = ['convertedContact', 'convertedDeal'] as const;
export type LeadInclude = (typeof LEAD_INCLUDES)[number];

export const LEAD_INCLUDE_DESCRIPTION =
  'Related records to embed, in the shape of their own GET: convertedContact, convertedDeal ' +
  '(null when the lead is not converted, or the caller may not read the record). With include, ' +
  'GET /leads/{id} carries no ETag (the embedded records change without the lead).';

/** GET /leads/{id}: only `include`. */
export class LeadGetQueryDto {
  @IncludeNames(LEAD_INCLUDES, 'LeadInclude', LEAD_INCLUDE_DESCRIPTION)
  include?: LeadInclude[];
}

/** A lead with the related records `include` named; without include, exactly a LeadDto. */
export class LeadWithRelationsDto extends LeadDto {
  @ApiPropertyOptional({
    type: ContactDto,
    nullable: true,
    description:
      'include=convertedContact: the contact the conversion used, as GET /contacts/{id} answers ' +
      'it; null when the lead is not converted or the caller may not read the contact',
  })
  convertedContact?: ContactDto | null;

  @ApiPropertyOptional({
    type: DealDto,
    nullable: true,
    description:
      'include=convertedDeal: the deal the conversion created, as GET /deals/{id} answers it; ' +
      'null when the lead is not converted or the caller may not read the deal',
  })
  convertedDeal?: DealDto | null;
}
