import { Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { ListResult } from '../common/pagination/list-result.dto';
import { UuidParam } from '../common/pipes/validation';
import { TenantGet, TenantList } from '../tenancy/access/tenant-routes.decorator';
import { CurrentActor } from '../tenancy/access/context.decorators';
import type { Actor } from '../tenancy/actor';
import { EventEnvelopeDto, EventListQueryDto } from './dto/event.dto';
import { EventsService } from './events.service';

const ABOUT =
  'Every change records a domain event in the same transaction (CloudEvents 1.0 envelopes; the catalog is the EventType enum). ' +
  'Events of the organization only, newest first (order=asc: oldest first), in commit order; kept EVENTS_RETENTION_DAYS days.';

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @TenantList('', {
    permission: 'events:read',
    summary: "List the organization's domain events",
    description: ABOUT,
    type: EventEnvelopeDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: EventListQueryDto,
  ): Promise<ListResult<EventEnvelopeDto>> {
    return this.events.list(actor, query);
  }

  @TenantGet(':id', {
    permission: 'events:read',
    summary: 'Get one domain event (its envelope)',
    description: ABOUT,
    type: EventEnvelopeDto,
  })
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<EventEnvelopeDto> {
    return this.events.get(actor, id);
  }
}
