import { Injectable } from '@nestjs/common';
import { selectAs } from '../../common/pagination/select-as';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { oldestFirst, type UserDataProvider } from '../../tenancy/user-data';
import { COMPANY_COLUMNS } from './companies.service';
import { Company } from './company.entity';
import { CompanyDto } from './dto/company.dto';

/** The companies part of a user's data export: the companies they own, oldest first. */
@Injectable()
export class CompaniesUserData implements UserDataProvider {
  forUserExport(reader: TenantReader, userId: string): AsyncGenerator<CompanyDto> {
    const query = reader
      .query(Company, 'co')
      .select(selectAs('co', COMPANY_COLUMNS))
      .andWhere('co.owner_id = :userId', { userId });
    return oldestFirst(reader, query, 'co', (row: Company) => CompanyDto.from(row));
  }
}
