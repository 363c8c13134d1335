import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../common/decorators/api-error.decorator';
import { ErrorCode } from '../common/errors/error-code.enum';
import { ApiListResponse, type ListResult } from '../common/pagination/list-result.dto';
import { UuidParam } from '../common/pipes/validation';
import { Roles } from '../tenancy/access/access.decorator';
import { CurrentActor } from '../tenancy/access/context.decorators';
import type { Actor } from '../tenancy/actor';
import { Role } from '../tenancy/role';
import { EventEnvelopeDto, EventListQueryDto } from './dto/event.dto';
import { EventsService } from './events.service';

const ABOUT =
  'Every change records a domain event in the same transaction (CloudEvents 1.0 envelopes; the catalog is the EventType enum). ' +
  'Events of the organization only, newest first (order=asc: oldest first), in commit order; kept EVENTS_RETENTION_DAYS days.';

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get()
  @Roles(Role.OWNER, Role.ADMIN)
  @ApiOperation({ summary: "List the organization's domain events", description: ABOUT })
  @ApiListResponse(EventEnvelopeDto)
  list(
    @CurrentActor() actor: Actor,
    @Query() query: EventListQueryDto,
  ): Promise<ListResult<EventEnvelopeDto>> {
    return this.events.list(actor, query);
  }

  @Get(':id')
  @Roles(Role.OWNER, Role.ADMIN)
  @ApiOperation({ summary: 'Get one domain event (its envelope)', description: ABOUT })
  @ApiOkResponse({ type: EventEnvelopeDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<EventEnvelopeDto> {
    return this.events.get(actor, id);
  }
}
