import { Injectable } from '@nestjs/common';
import type { TenantReader } from '../../tenancy/unit-of-work';
import { oldestFirst, type UserDataProvider } from '../../tenancy/user-data';
import { Deal } from '../deals/deal.entity';
import { TaskDto } from './dto/task.dto';
import { Task } from './task.entity';
import { taskSelection } from './tasks.service';

/** The tasks part of a user's data export: the tasks of the deals they own, oldest first. */
@Injectable()
export class TasksUserData implements UserDataProvider {
  forUserExport(reader: TenantReader, userId: string): AsyncGenerator<TaskDto> {
    const query = reader
      .query(Task, 't')
      .innerJoin(Deal, 'd', 'd.id = t.deal_id')
      .select(taskSelection('t'))
      .andWhere('d.owner_id = :userId', { userId });
    return oldestFirst(reader, query, 't', (row: Task) => TaskDto.from(row));
  }
}
