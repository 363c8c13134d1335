import { Injectable } from '@nestjs/common';
import { selectAs } from '../../common/pagination/select-as';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { oldestFirst, type UserDataProvider } from '../../tenancy/user-data';
import { LeadDto } from './dto/lead.dto';
import { Lead } from './lead.entity';
import { LEAD_COLUMNS } from './leads.service';

/** The leads part of a user's data export: the leads they own, oldest first. */
@Injectable()
export class LeadsUserData implements UserDataProvider {
  forUserExport(reader: TenantReader, userId: string): AsyncGenerator<LeadDto> {
    const query = reader
      .query(Lead, 'l')
      .select(selectAs('l', LEAD_COLUMNS))
      .andWhere('l.owner_id = :userId', { userId });
    return oldestFirst(reader, query, 'l', (row: Lead) => LeadDto.from(row));
  }
}
