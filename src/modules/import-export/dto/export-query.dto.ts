import { OmitType } from '@nestjs/swagger';
import { CompanyListQueryDto } from '../../companies/dto/company-input.dto';
import { ContactListQueryDto } from '../../contacts/dto/contact-input.dto';
import { DealListQueryDto } from '../../deals/dto/deal-input.dto';

/** An export is the whole list: every list parameter but the pagination ones. */
const PAGINATION = ['page', 'pageSize', 'limit', 'cursor'] as const;

/** GET /contacts/export: the filters and ordering of GET /contacts. */
export class ContactExportQueryDto extends OmitType(ContactListQueryDto, PAGINATION) {}

/** GET /deals/export: the filters and ordering of GET /deals. */
export class DealExportQueryDto extends OmitType(DealListQueryDto, PAGINATION) {}

/** GET /companies/export: the filters and ordering of GET /companies. */
export class CompanyExportQueryDto extends OmitType(CompanyListQueryDto, PAGINATION) {}
