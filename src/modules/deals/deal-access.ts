import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import type { Actor } from '../../common/http/request-context';
import { visibleTo } from '../../common/visibility/visibility';
import { Deal } from './deal.entity';

/**
 * "May this actor see deal X?" for deals, their tasks and their timeline: one place, the
 * visibility rule of API.md section 4; an invisible deal is 404 NOT_FOUND.
 */
@Injectable()
export class DealAccess {
  async findVisible(manager: EntityManager, actor: Actor, id: string, lock = false): Promise<Deal> {
    const query = visibleTo(
      manager.getRepository(Deal).createQueryBuilder('d'),
      actor,
      'd',
    ).andWhere('d.id = :id', {
      id,
    });
    if (lock) query.setLock('pessimistic_write');
    const deal = await query.getOne();
    if (!deal) throw AppException.notFound('Deal');
    return deal;
  }
}
