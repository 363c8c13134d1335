import { Body, Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { TenantCreate, TenantList } from '../../tenancy/access/tenant-routes.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { ActivitiesService } from './activities.service';
import { ActivityDto, CreateActivityDto } from './dto/activity.dto';

@ApiTags('activities')
@Controller('deals/:dealId/activities')
export class ActivitiesController {
  constructor(private readonly activities: ActivitiesService) {}

  @TenantList('', {
    permission: 'activities:read',
    summary: "A deal's activity timeline, newest first",
    description: 'Members see the timeline of deals they own only.',
    type: ActivityDto,
  })
  // The deal named by the controller's :dealId (not in the route's own path, so not automatic).
  @ApiError(404, [ErrorCode.NOT_FOUND])
  list(
    @CurrentActor() actor: Actor,
    @UuidParam('dealId') dealId: string,
    @Query() query: ListQueryDto,
  ): Promise<ListResult<ActivityDto>> {
    return this.activities.list(actor, dealId, query);
  }

  @TenantCreate('', {
    permission: 'activities:create',
    summary: 'Comment on a deal',
    description:
      'Adds a comment (`{type: "comment", payload: {text}}`, 1..5000 characters) to the timeline of ' +
      'a deal the caller may see (404 otherwise); the other activity types are written by the ' +
      'server only (400).',
    type: ActivityDto,
  })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  comment(
    @CurrentActor() actor: Actor,
    @UuidParam('dealId') dealId: string,
    @Body() body: CreateActivityDto,
  ): Promise<ActivityDto> {
    return this.activities.comment(actor, dealId, body);
  }
}
