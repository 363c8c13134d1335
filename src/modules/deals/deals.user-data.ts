import { Injectable } from '@nestjs/common';
import { selectAs } from '../../common/pagination/select-as';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { oldestFirst, type UserDataProvider } from '../../tenancy/user-data';
import { Deal } from './deal.entity';
import { DEAL_COLUMNS } from './dto/deal.dto';
import { DealDto } from './dto/deal.dto';

/** The deals part of a user's data export: the deals they own, oldest first. */
@Injectable()
export class DealsUserData implements UserDataProvider {
  forUserExport(reader: TenantReader, userId: string): AsyncGenerator<DealDto> {
    const query = reader
      .query(Deal, 'd')
      .select(selectAs('d', DEAL_COLUMNS))
      .andWhere('d.owner_id = :userId', { userId });
    return oldestFirst(reader, query, 'd', (row: Deal) => DealDto.from(row));
  }
}
